#!/usr/bin/env node
// Batch warm: `restthumbs warm` vs libvips' own batch thumbnailer (`vipsthumbnail`, Debian's
// libvips-tools) vs a sharp script, on a tree made from the benchmark corpus with three presets;
// then `warm --queue` + 1, 2 and 3 BullMQ `restthumbs worker` processes against the local warm.
//
// Task, identical for every peer, per source image: 100x100 centre crop → JPEG q85,
// 500 px wide → WebP q85, 200 px high → JPEG q85 (metadata stripped, EXIF orientation applied).
//   - restthumbs: `restthumbs warm --jobs <cores>` (signed URL paths, temp file + rename, variant link;
//     the three presets of a source come from one decode at the largest size they need);
//   - sharp: `sharp.concurrency(1)` and <cores> images in flight (one thread per image, as ours),
//     cache off, `.rotate().resize(...).jpeg/webp({ quality: 85 }).toFile()` (each output decodes
//     again: a `clone()` shares the input, not the decode); WebP at sharp's default effort 4, as ours
//     (libwebp method 4) and vipsthumbnail's;
//   - vipsthumbnail: one process per preset over the file list (libvips threads each image itself),
//     and the same split over <cores> processes; the faster of the two is the peer.
// Each run is a separate process measured by GNU time: wall time, user+system CPU, peak RSS.
//
//   usage: node bench/warm.mjs [--quick] [--rounds N] [--no-queue] [--json FILE] [--from-json FILE]
// (--from-json reprints the tables of a saved --json run.)
// Needs the corpus (bench/corpus.sh fetches it), a built restthumbs (`npm run build`),
// /usr/bin/time, vipsthumbnail (apt-get install libvips-tools), redis-server and bullmq for the queue part.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { freePort } from './lib.mjs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.join(HERE, '..')
const BIN = path.join(ROOT, 'bin', 'restthumbs.js')
const CORES = availableParallelism()
const PRESETS = [
  { text: '100x100:crop:.jpg', width: 100, height: 100, crop: true, ext: 'jpg', vips: '100x100' },
  { text: '500x:scale:.webp', width: 500, height: 0, crop: false, ext: 'webp', vips: '500x' },
  { text: 'x200:scale:.jpg', width: 0, height: 200, crop: false, ext: 'jpg', vips: 'x200' },
]
const QUALITY = 85

const argv = process.argv.slice(2)
if (argv[0] === '--sharp-child') await sharpChild(JSON.parse(argv[1]))
else await parent(parseArgs(argv))

function parseArgs(args) {
  const o = { quick: false, rounds: 1, queue: true, json: null, fromJson: null }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--quick') o.quick = true
    else if (a === '--rounds') o.rounds = Number(args[++i])
    else if (a === '--no-queue') o.queue = false
    else if (a === '--json') o.json = args[++i]
    else if (a === '--from-json') o.fromJson = args[++i]
    else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/warm.mjs [--quick] [--rounds N] [--no-queue] [--json FILE] [--from-json FILE]')
      process.exit(0)
    } else throw new Error(`Unknown option ${a}`)
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error(`Expected positive integer for --rounds but received ${o.rounds}`)
  return o
}

function log(msg) {
  process.stderr.write(`bench: ${msg}\n`)
}

/** Runs argv under GNU time; resolves wall/user/sys seconds and peak RSS in MB. */
function timed(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const out = path.join(tmpdir(), `restthumbs-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`)
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', async (code) => {
      const text = await readFile(out, 'utf8').catch(() => '')
      await rm(out, { force: true })
      const m = /([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(text)
      if (!m) return reject(new Error(`${cmd} ${args.join(' ')} exited ${code} without timings: ${stderr.slice(-2000)}`))
      resolve({ code, stdout, stderr, wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), rssMb: Number(m[4]) / 1024 })
    })
  })
}

async function countFiles(dir, re) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile() && re.test(e.name) && !e.name.startsWith('.')).length
}

/** The tree: every corpus image, hard-linked (no copy) under <set>/<set>-<name>. */
async function makeTree(corpus, dir, quick) {
  const files = []
  for (const set of ['jpeg', 'png', 'webp']) {
    let names = (await readdir(path.join(corpus, set))).sort()
    if (quick) names = names.slice(0, 6)
    await mkdir(path.join(dir, set), { recursive: true })
    for (const n of names) {
      const dst = path.join(dir, set, `${set}-${n}`)
      await link(path.join(corpus, set, n), dst)
      files.push(dst)
    }
  }
  return files
}

async function runRestthumbs(media, out) {
  const args = [BIN, 'warm', '--source-root', media, '--output-root', out, '--jobs', String(CORES), '--no-progress', '--json']
  for (const p of PRESETS) args.push('--preset', p.text)
  const r = await timed(process.execPath, args, { env: { ...process.env, RESTTHUMBS_KEYS: 'bench-key' } })
  const summary = JSON.parse(r.stdout.trim().split('\n').pop())
  return { ...r, made: summary.rendered, failed: summary.failed }
}

async function runSharp(files, out) {
  const r = await timed(process.execPath, [fileURLToPath(import.meta.url), '--sharp-child', JSON.stringify({ files, out })])
  const summary = JSON.parse(r.stdout.trim().split('\n').pop())
  return { ...r, made: summary.made, failed: summary.failed }
}

async function sharpChild({ files, out }) {
  const { default: sharp } = await import('sharp')
  sharp.cache(false)
  sharp.concurrency(1)
  const jobs = files.flatMap((file) => PRESETS.map((p, i) => ({ file, p, dst: path.join(out, String(i), path.basename(file, path.extname(file)) + '.' + p.ext) })))
  for (let i = 0; i < PRESETS.length; i++) await mkdir(path.join(out, String(i)), { recursive: true })
  let next = 0
  let made = 0
  let failed = 0
  await Promise.all(
    Array.from({ length: CORES }, async () => {
      while (next < jobs.length) {
        const { file, p, dst } = jobs[next++]
        try {
          let img = sharp(file, { failOn: 'none' })
            .rotate()
            .resize(p.width || null, p.height || null, { fit: p.crop ? 'cover' : 'inside' })
          img = p.ext === 'webp' ? img.webp({ quality: QUALITY }) : img.jpeg({ quality: QUALITY })
          await img.toFile(dst)
          made++
        } catch {
          failed++
        }
      }
    }),
  )
  process.stdout.write(JSON.stringify({ made, failed }) + '\n')
}

/** vipsthumbnail over `lanes` processes in parallel, each running the three presets on its share. */
async function runVips(files, out, lanes) {
  const shares = Array.from({ length: lanes }, (_, i) => files.filter((_, j) => j % lanes === i))
  const script = shares
    .map((share) => {
      const cmds = PRESETS.map((p, i) => {
        const o = `${path.join(out, String(i))}/%s.${p.ext}[Q=${QUALITY},strip]`
        const crop = p.crop ? ['-m', 'centre'] : []
        return ['vipsthumbnail', '-s', p.vips, ...crop, '-o', o, ...share].map(shellQuote).join(' ')
      })
      return `( ${cmds.join(' && ')} ) &`
    })
    .join('\n')
  for (let i = 0; i < PRESETS.length; i++) await mkdir(path.join(out, String(i)), { recursive: true })
  const r = await timed('bash', ['-c', `${script}\nwait`])
  const made = await countFiles(out, /\.(jpg|webp)$/)
  return { ...r, made, failed: files.length * PRESETS.length - made }
}

function shellQuote(s) {
  return /^[\w./=:,%[\]+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}


/** `warm --queue` then `workers` worker processes until every job is done. */
async function runQueue(media, out, workers, redisUrl, total) {
  const { Queue } = await import('bullmq')
  const env = { ...process.env, RESTTHUMBS_KEYS: 'bench-key' }
  const port = Number(new URL(redisUrl).port)
  const queue = new Queue('warm', { connection: { host: '127.0.0.1', port }, prefix: 'restthumbs' })
  // A clean slate: no jobs, and no thumbnail records or locks of the previous run.
  await (await queue.client).flushall()
  const started = Date.now()
  const enqueueArgs = [BIN, 'warm', '--queue', redisUrl, '--source-root', media, '--no-progress', '--json']
  for (const p of PRESETS) enqueueArgs.push('--preset', p.text)
  const enq = await timed(process.execPath, enqueueArgs, { env })
  const procs = Array.from({ length: workers }, () => {
    const args = [BIN, 'worker', '--queue', redisUrl, '--source-root', media, '--output-root', out, '--concurrency', String(CORES), '--no-progress']
    return timed(process.execPath, args, { env })
  })
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed')
    if (c.completed + c.failed >= total) break
    await new Promise((r) => setTimeout(r, 50))
  }
  const wall = (Date.now() - started) / 1000
  const counts = await queue.getJobCounts('completed', 'failed')
  await queue.close()
  for (const pid of await workerPids()) process.kill(pid, 'SIGTERM')
  const results = await Promise.all(procs)
  return {
    wall,
    cpu: enq.cpu + results.reduce((a, r) => a + r.cpu, 0),
    rssMb: Math.max(...results.map((r) => r.rssMb)),
    made: counts.completed,
    failed: counts.failed,
    enqueueWall: enq.wall,
  }
}

/* The worker processes are children of the /usr/bin/time processes this script started. */
async function workerPids() {
  const out = execFileSync('ps', ['-o', 'pid=,ppid=,args=', '-e'], { encoding: 'utf8' })
  const rows = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map(([pid, ppid, ...args]) => ({ pid: Number(pid), ppid: Number(ppid), args: args.join(' ') }))
  const timers = new Set(rows.filter((r) => r.ppid === process.pid && r.args.startsWith('/usr/bin/time')).map((r) => r.pid))
  return rows.filter((r) => timers.has(r.ppid) && r.args.includes(' worker ')).map((r) => r.pid)
}

function fmt(n, d = 1) {
  return Number.isFinite(n) ? n.toFixed(d) : '–'
}

/** The Markdown tables of a run. */
function tables(report) {
  const { peers: rows, total, cores } = report
  const vips = rows.filter((r) => r.name.startsWith('vipsthumbnail')).sort((a, b) => b.rate - a.rate)[0]
  const vipsCpu = rows.filter((r) => r.name.startsWith('vipsthumbnail')).sort((a, b) => a.cpuMs - b.cpuMs)[0]
  const sharpRow = rows.find((r) => r.name === 'sharp')
  const lines = [
    `### Warm: ${report.sources} corpus images × 3 presets = ${total} thumbnails, ${cores} cores`,
    '',
    '| peer | thumbnails/s | vs vipsthumbnail | vs sharp | CPU ms/thumbnail | CPU vs vipsthumbnail | CPU vs sharp | peak RSS MB | made |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.rate)} | ${fmt(r.rate / vips.rate, 2)}× | ${fmt(r.rate / sharpRow.rate, 2)}× | ${fmt(r.cpuMs)} | ` +
        `${fmt(vipsCpu.cpuMs / r.cpuMs, 2)}× | ${fmt(sharpRow.cpuMs / r.cpuMs, 2)}× | ${fmt(r.rssMb, 0)} | ${r.made}/${total} |`,
    ),
  ]
  if (report.queue) {
    const local = rows.find((r) => r.name === 'restthumbs')
    lines.push(
      '',
      `### BullMQ: warm --queue + N restthumbs worker processes (each --concurrency ${cores}) vs local warm`,
      '',
      '| run | thumbnails/s | vs local | CPU ms/thumbnail | queue CPU ms/job over local | wall ms/job over local | peak RSS MB/worker |',
      '|---|---|---|---|---|---|---|',
      `| local warm | ${fmt(local.rate)} | 1.00× | ${fmt(local.cpuMs)} | – | – | ${fmt(local.rssMb, 0)} |`,
      ...report.queue.map(
        (q) =>
          `| ${q.workers} worker${q.workers > 1 ? 's' : ''} | ${fmt(q.rate)} | ${fmt(q.rate / local.rate, 2)}× | ${fmt(q.cpuMs)} | ` +
          `${fmt(q.cpuMs - local.cpuMs, 2)} | ${fmt(((q.wall - local.wall) * 1000) / total, 2)} | ${fmt(q.rssMb, 0)} |`,
      ),
    )
  }
  return lines.join('\n') + '\n'
}

async function parent(opts) {
  if (opts.fromJson) {
    process.stdout.write(tables(JSON.parse(await readFile(opts.fromJson, 'utf8'))))
    return
  }
  for (const tool of ['/usr/bin/time', 'vipsthumbnail']) {
    try {
      execFileSync(tool === 'vipsthumbnail' ? 'vipsthumbnail' : tool, ['--version'], { stdio: 'ignore' })
    } catch {
      throw new Error(`${tool} is required: apt-get install ${tool === 'vipsthumbnail' ? 'libvips-tools' : 'time'}`)
    }
  }
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('Build restthumbs first: npm run build')
  const corpus = execFileSync('bash', [path.join(HERE, 'corpus.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const work = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-warm-'))
  try {
    const media = path.join(work, 'media')
    const files = await makeTree(corpus, media, opts.quick)
    const total = files.length * PRESETS.length
    log(`${files.length} sources × ${PRESETS.length} presets = ${total} thumbnails, ${CORES} cores, ${opts.rounds} round(s)`)
    const peers = {
      restthumbs: (out) => runRestthumbs(media, out),
      sharp: (out) => runSharp(files, out),
      'vipsthumbnail ×1': (out) => runVips(files, out, 1),
      [`vipsthumbnail ×${CORES}`]: (out) => runVips(files, out, CORES),
    }
    const best = {}
    for (let round = 0; round < opts.rounds; round++) {
      for (const [name, run] of Object.entries(peers)) {
        const out = path.join(work, 'out', name.replace(/\W+/g, '-'))
        await rm(out, { recursive: true, force: true })
        await rm(`${out}.variants`, { recursive: true, force: true })
        const r = await run(out)
        log(`${name}: ${r.made}/${total} in ${fmt(r.wall, 2)} s, cpu ${fmt(r.cpu, 2)} s, peak RSS ${fmt(r.rssMb, 0)} MB`)
        if (!best[name] || r.wall < best[name].wall) best[name] = r
      }
    }
    const rows = Object.entries(best).map(([name, r]) => ({ name, ...r, rate: r.made / r.wall, cpuMs: (r.cpu * 1000) / r.made }))
    const report = { sources: files.length, total, cores: CORES, peers: rows }
    if (opts.queue) {
      const dir = path.join(work, 'redis')
      await mkdir(dir)
      const port = await freePort()
      const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
      try {
        await new Promise((r) => setTimeout(r, 500))
        const queueRows = []
        for (const workers of [1, 2, 3]) {
          const out = path.join(work, 'out', `queue-${workers}`)
          const r = await runQueue(media, out, workers, `redis://127.0.0.1:${port}/0`, total)
          log(`queue, ${workers} workers: ${r.made}/${total} in ${fmt(r.wall, 2)} s (enqueue ${fmt(r.enqueueWall, 2)} s), cpu ${fmt(r.cpu, 2)} s`)
          queueRows.push({ workers, ...r, rate: r.made / r.wall, cpuMs: (r.cpu * 1000) / r.made })
          await rm(out, { recursive: true, force: true })
        }
        report.queue = queueRows
      } finally {
        redis.kill('SIGTERM')
      }
    }
    process.stdout.write(tables(report))
    if (opts.json) await writeFile(opts.json, JSON.stringify(report, null, 2))
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
