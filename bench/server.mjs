#!/usr/bin/env node
// End-to-end server benchmark, one run, one table (build first: `npm run build`):
//   1. warm hit, `stream` mode, vs serve-static on the same file        (target >= 1.0x)
//   2. warm hit, `nginx` mode (headers only, X-Accel-Redirect) req/s
//   3. cold burst of 100 distinct thumbnails through HTTP vs the native thumbnailFile() alone on
//      the same sources, sizes, options and folder depth, for the small samples and for
//      photo-size sources                                               (target overhead < 15%)
//      How: after a warm-up of both sides, each round renders 100 new thumbnails per side, with 2
//      requests in flight (one per core, as the original bench) and then 100 more all at once;
//      the order of the sides rotates every round and the median over rounds is reported,
//      because the machine may be shared. Also reported, to locate the overhead: a bare
//      node:http server around thumbnailFile() (render, read back, answer: the floor any HTTP
//      front pays), the same URLs again as warm hits (the HTTP round trips alone) and the CPU
//      time of the server process against that of thumbnailFile() alone.
// Servers run in a child process so the load generator (in this process) does not share their
// event loop; on a 2-core machine it still shares the cores, and it is counted in wall times.
//   usage: node bench/server.mjs [--duration 5] [--connections 32] [--rounds 5]
//                               [--only warm|cold] [--sets samples|photos]
//   BENCH_PROFILE_DIR=dir also writes a CPU profile of each server process.
import { fork } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { flag, ROOT } from './lib.mjs'

const KEY = 'bench-key'
const args = process.argv.slice(2)

if (args[0] === '--child') {
  await child(JSON.parse(args[1]))
} else {
  await parent()
}

/** Child: one server (restthumbs in a mode, or serve-static) on a free port. */
async function child(spec) {
  let server
  if (spec.kind === 'serve-static') {
    const serveStatic = (await import('serve-static')).default
    const serve = serveStatic(spec.root, { etag: true, lastModified: true, maxAge: 86400_000 })
    server = createServer((req, res) => serve(req, res, () => res.writeHead(404).end()))
  } else if (spec.kind === 'bare') {
    // The least any HTTP front of the native core must do: render, read the file back, answer.
    // No URL grammar, signature, path checks, lock or cache headers. It measures the floor that
    // HTTP itself adds on this machine.
    const { thumbnailFile } = await import(path.join(ROOT, 'dist', 'index.js'))
    const { readFile } = await import('node:fs/promises')
    server = createServer(async (req, res) => {
      const q = new URL(req.url, 'http://x').searchParams
      const [w, h] = [Number(q.get('w')), Number(q.get('h'))]
      const dst = path.join(spec.out, q.get('src'), `${w}x${h}`, 'crop', 'x.jpg')
      await thumbnailFile(path.join(spec.root, q.get('src')), dst, { width: w, height: h, method: 'crop', format: 'jpeg', quality: 85 })
      const body = await readFile(dst)
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': body.length }).end(body)
    })
  } else {
    const { createThumbnailHandler } = await import(path.join(ROOT, 'dist', 'index.js'))
    const handler = createThumbnailHandler({ keys: [KEY], ...spec.options })
    server = createServer((req, res) => handler(req, res))
  }
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('disconnect', () => process.exit(0))
  // CPU time of the whole server process (main thread and thread pool), on request.
  process.on('message', (m) => {
    if (m === 'cpu') {
      const c = process.cpuUsage()
      process.send({ cpuMs: (c.user + c.system) / 1000 })
    }
  })
  // A clean exit, so `--cpu-prof` (see BENCH_PROFILE_DIR) can write its profile.
  process.on('SIGTERM', () => process.exit(0))
}

function startChild(spec) {
  // BENCH_PROFILE_DIR=dir profiles the server processes (open the .cpuprofile in Chrome devtools).
  const prof = process.env.BENCH_PROFILE_DIR
  const execArgv = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []
  const proc = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(spec)], { stdio: 'inherit', execArgv })
  return new Promise((resolve) =>
    proc.once('message', (m) =>
      resolve({
        proc,
        url: `http://127.0.0.1:${m.port}`,
        cpuMs: () =>
          new Promise((r) => {
            proc.once('message', (x) => r(x.cpuMs))
            proc.send('cpu')
          }),
      }),
    ),
  )
}

function cpuMs() {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function fmtAll(xs) {
  return xs.map((x) => x.toFixed(0)).join(' ')
}

async function cannon(url, duration, connections) {
  const autocannon = (await import('autocannon')).default
  const r = await autocannon({ url, duration, connections, pipelining: 1 })
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`)
  return r.requests.average
}

async function parent() {
  const duration = flag('duration', 5)
  const connections = flag('connections', 32)
  const rounds = flag('rounds', 5)
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
  const sets = args.includes('--sets') ? args[args.indexOf('--sets') + 1] : undefined
  const { Signer, thumbnailUrl, thumbnailFile } = await import(path.join(ROOT, 'dist', 'index.js'))
  const signer = new Signer({ keys: [KEY] })
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-'))
  const media = path.join(dir, 'media')
  await mkdir(media)
  for (const f of ['sunset.jpg', 'mandelbrot.jpg', 'tiles.webp', 'rings.png']) await copyFile(path.join(ROOT, 'media', f), path.join(media, f))
  const rows = []
  try {
    // 1 + 2: warm hits.
    if (!only || only === 'warm') await warmHits()
    if (!only || only === 'cold') await coldBursts()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }

  async function warmHits() {
    const out = path.join(dir, 'thumbnails')
    const warm = thumbnailUrl('sunset.jpg', '200x200', 'smart', '.jpg', { signer, baseUrl: '/thumbnails' })
    const stream = await startChild({ kind: 'restthumbs', options: { sourceRoot: media, outputRoot: out, responseMode: 'stream', accessLog: false } })
    const first = await fetch(stream.url + warm)
    if (first.status !== 200) throw new Error(`warm-up failed: ${first.status}`)
    await first.arrayBuffer()
    // Warm up both sides (JIT of the server and of autocannon itself) before measuring.
    await cannon(stream.url + warm, 2, connections)
    const oursStream = await cannon(stream.url + warm, duration, connections)
    const st = await startChild({ kind: 'serve-static', root: out })
    const staticPath = st.url + warm.slice('/thumbnails'.length)
    await cannon(staticPath, 2, connections)
    const staticRps = await cannon(staticPath, duration, connections)
    // Second round in the other order, best of two each: the machine may be shared.
    const staticRps2 = await cannon(staticPath, duration, connections)
    st.proc.kill()
    const oursStream2 = await cannon(stream.url + warm, duration, connections)
    stream.proc.kill()
    const bestOurs = Math.max(oursStream, oursStream2)
    const bestStatic = Math.max(staticRps, staticRps2)
    rows.push(['warm hit, stream mode', bestOurs, 'serve-static, same file', bestStatic, bestOurs / bestStatic, '>= 1.0'])
    // The same without the in-memory hot cache: every hit opens and reads the file, as serve-static does.
    const cold = await startChild({
      kind: 'restthumbs',
      options: { sourceRoot: media, outputRoot: out, responseMode: 'stream', hotCacheBytes: 0, accessLog: false },
    })
    await cannon(cold.url + warm, 2, connections)
    const oursNoHot = await cannon(cold.url + warm, duration, connections)
    cold.proc.kill()
    rows.push(['warm hit, stream mode, hot cache off', oursNoHot, 'serve-static, same file', bestStatic, oursNoHot / bestStatic, 'info'])
    const nginx = await startChild({ kind: 'restthumbs', options: { sourceRoot: media, outputRoot: out, responseMode: 'nginx', accessLog: false } })
    await cannon(nginx.url + warm, 2, connections)
    const oursNginx = await cannon(nginx.url + warm, duration, connections)
    nginx.proc.kill()
    rows.push(['warm hit, nginx mode (headers only)', oursNginx, 'serve-static, same file', bestStatic, oursNginx / bestStatic, 'info'])
  }

  async function coldBursts() {
    // 3: cold burst, 100 distinct thumbnails, on the small samples and on photo-size sources.
    const photos = path.join(dir, 'photos')
    await mkdir(photos)
    const sharp = (await import('sharp')).default
    for (const [name, w, h] of [['a.jpg', 3000, 2000], ['b.jpg', 2400, 3200], ['c.jpg', 4000, 3000], ['d.jpg', 3000, 3000]]) {
      await sharp(path.join(ROOT, 'media', 'sunset.jpg')).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(path.join(photos, name))
    }
    if (sets !== 'photos') rows.push(...(await coldBurst('samples, 0.3-0.6 MP', media, ['sunset.jpg', 'mandelbrot.jpg', 'tiles.webp', 'rings.png'])))
    if (sets !== 'samples') rows.push(...(await coldBurst('photos, 6-12 MP', photos, ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'])))
  }

  async function coldBurst(label, root, sources) {
    const concurrency = Math.max(2, availableParallelism())
    const pool = async (items, fn, width = concurrency) => {
      let next = 0
      await Promise.all(
        Array.from({ length: width }, async () => {
          while (next < items.length) await fn(items[next++])
        }),
      )
    }
    const server = await startChild({
      kind: 'restthumbs',
      options: { sourceRoot: root, outputRoot: path.join(dir, `cold-${label}`), responseMode: 'stream', accessLog: false },
    })
    const bare = await startChild({ kind: 'bare', root, out: path.join(dir, `bare-${label}`) })
    const { Agent, request } = await import('undici')
    // A keep-alive client with one connection per worker of the pool, like a proxy in front.
    const agent = new Agent({ connections: concurrency, pipelining: 1 })
    // The burst proper: all 100 requests at once, one connection each.
    const wide = new Agent({ connections: 100, pipelining: 1 })
    const url = (w) => server.url + thumbnailUrl(w.source, `${w.w}x${w.h}`, 'crop', '.jpg', { signer, baseUrl: '/thumbnails' })
    const directOut = path.join(dir, `direct-${label}`)
    // Same sources, sizes, options and folder depth as the server writes: only the server differs.
    const direct = (w) =>
      thumbnailFile(path.join(root, w.source), path.join(directOut, w.source, `${w.w}x${w.h}`, 'crop', 'x.jpg'), {
        width: w.w,
        height: w.h,
        method: 'crop',
        format: 'jpeg',
        quality: 85,
      })
    const viaBare = async (w) => {
      const res = await request(`${bare.url}/?src=${encodeURIComponent(w.source)}&w=${w.w}&h=${w.h}`, { dispatcher: agent })
      const body = Buffer.from(await res.body.arrayBuffer())
      if (res.statusCode !== 200 || body.length === 0) throw new Error(`bare ${w.source}: ${res.statusCode}`)
    }
    const viaHttp = async (w, dispatcher = agent) => {
      const res = await request(url(w), { dispatcher })
      const body = Buffer.from(await res.body.arrayBuffer())
      if (res.statusCode !== 200 || body.length === 0) throw new Error(`cold ${w.source}: ${res.statusCode}`)
    }
    const batch = (round) => Array.from({ length: 100 }, (_, i) => ({ source: sources[i % 4], w: 100 + round * 100 + i, h: 80 + (i % 17) }))
    // Warm both sides (lazy compilation, first native call, first folders) on thumbnails outside
    // the timed sets.
    for (const side of [direct, viaHttp, viaBare]) await pool(batch(-1).slice(0, 40), side)
    // Rounds alternate which side goes first, each round on 100 new thumbnails; the median per
    // side is reported, because the machine may be shared.
    const times = { http: [], direct: [], bare: [], floor: [] }
    // CPU time spent by the process doing the work: the server child for the HTTP sides, this
    // process for thumbnailFile() alone. Unlike wall time it does not depend on what else the
    // machine runs, and it excludes the load generator.
    const cpu = { http: [], direct: [], bare: [] }
    const burst = { http: [], direct: [] }
    const cpuOf = { http: () => server.cpuMs(), bare: () => bare.cpuMs(), direct: async () => cpuMs() }
    const run = { http: viaHttp, direct, bare: viaBare }
    const orders = [
      ['direct', 'http', 'bare'],
      ['http', 'bare', 'direct'],
      ['bare', 'direct', 'http'],
    ]
    for (let round = 0; round < rounds; round++) {
      const work = batch(round)
      for (const side of orders[round % 3]) {
        const c = await cpuOf[side]()
        const t = performance.now()
        await pool(work, run[side])
        times[side].push(performance.now() - t)
        cpu[side].push((await cpuOf[side]()) - c)
      }
      // 100 more new thumbnails, all requested at once: latency overlaps, only work counts.
      const all = work.map((w) => ({ ...w, h: w.h + 100 }))
      for (const side of round % 2 === 0 ? ['direct', 'http'] : ['http', 'direct']) {
        const t = performance.now()
        await pool(all, side === 'http' ? (w) => viaHttp(w, wide) : direct, all.length)
        burst[side].push(performance.now() - t)
      }
      // The same 100 URLs again: now warm hits from the hot cache, i.e. the HTTP round trip alone.
      const t = performance.now()
      await pool(work, viaHttp)
      times.floor.push(performance.now() - t)
    }
    server.proc.kill()
    bare.proc.kill()
    await agent.close()
    await wide.close()
    const endToEnd = median(times.http)
    const alone = median(times.direct)
    const bareMs = median(times.bare)
    const floor = median(times.floor)
    console.error(
      `${label}: http ${fmtAll(times.http)} | direct ${fmtAll(times.direct)} | bare ${fmtAll(times.bare)} | warm ${fmtAll(times.floor)}`,
    )
    console.error(`${label} CPU ms: http ${fmtAll(cpu.http)} | direct ${fmtAll(cpu.direct)} | bare ${fmtAll(cpu.bare)}`)
    console.error(`${label} all at once: http ${fmtAll(burst.http)} | direct ${fmtAll(burst.direct)}`)
    const cpuOurs = median(cpu.http)
    const cpuAlone = median(cpu.direct)
    return [
      [`cold burst, 100 thumbnails over HTTP, ${label} (ms, median of ${rounds})`, endToEnd, 'thumbnailFile() alone (ms)', alone, endToEnd / alone, '< 1.15'],
      [`  same, vs a bare node:http server around thumbnailFile()`, endToEnd, 'bare server (ms)', bareMs, endToEnd / bareMs, 'info'],
      [`  same 100 URLs warm: the HTTP round trips alone (ms)`, floor, 'thumbnailFile() alone (ms)', alone, floor / alone, 'info'],
      [`  CPU time of the server process for the cold burst (ms)`, cpuOurs, 'thumbnailFile() alone, CPU (ms)', cpuAlone, cpuOurs / cpuAlone, 'info'],
      [`  100 more, all requested at once (ms)`, median(burst.http), '100 thumbnailFile() at once', median(burst.direct), median(burst.http) / median(burst.direct), '< 1.15'],
    ]
  }

  const fmt = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(2))
  const header = ['case', 'restthumbs', 'baseline', 'baseline value', 'ratio', 'target']
  const lines = rows.map((r) => [r[0], fmt(r[1]), r[2], fmt(r[3]), `${r[4].toFixed(2)}x`, r[5]])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)))
  const print = (cells) => console.log('| ' + cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ') + ' |')
  console.log(`\nrestthumbs server bench: ${duration}s per run, ${connections} connections, node ${process.version}, ${availableParallelism()} CPUs (req/s unless noted)\n`)
  print(header)
  print(widths.map((w) => '-'.repeat(w)))
  for (const l of lines) print(l)
}
