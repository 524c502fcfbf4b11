#!/usr/bin/env node
// Thumbnail throughput, latency and memory: restthumbs vs sharp vs @napi-rs/image on real photos.
//
// Task, identical for every peer: encoded source bytes already in memory → 256×256 cover crop
// (centre) → JPEG quality 80. For each set (JPEG, PNG, WebP) and peer:
//   - sequential latency, median and p95, one job at a time;
//   - throughput in images/s with 1 and with 2 jobs in flight (the machines have 2 cores);
//   - peak RSS of the process doing the work.
// Each peer runs in its own child process, one after another (never at once), so RSS is its own
// and no peer shares a core with another. Then a scaling check: the same JPEGs at 64, 256 and
// 1024 px, which shows whether cost follows the output size or the input size.
//
//   usage: node bench/thumbnail.mjs [--quick] [--sets jpeg,png,webp] [--peers restthumbs,sharp,napi-image]
//                                   [--rounds N] [--size 256] [--json FILE]
// Needs the corpus (bench/corpus.sh fetches it on first use) and a built restthumbs: the release
// build (`npm run build`) for figures worth quoting; `npm run build:native:dev` also works.
import { execFileSync, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.join(HERE, '..')
const PEERS = ['restthumbs', 'sharp', 'napi-image']
const SETS = ['jpeg', 'png', 'webp']
const QUALITY = 80

const argv = process.argv.slice(2)
if (argv[0] === '--child') {
  await child(JSON.parse(argv[1]))
} else {
  await parent(parseArgs(argv))
}

function parseArgs(args) {
  const opts = { quick: false, sets: SETS, peers: PEERS, rounds: 0, size: 256, json: null }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    const value = () => {
      if (i + 1 >= args.length) throw new Error(`Expected a value after ${a}`)
      return args[++i]
    }
    if (a === '--quick') opts.quick = true
    else if (a === '--sets') opts.sets = value().split(',')
    else if (a === '--peers') opts.peers = value().split(',')
    else if (a === '--rounds') opts.rounds = Number(value())
    else if (a === '--size') opts.size = Number(value())
    else if (a === '--json') opts.json = value()
    else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/thumbnail.mjs [--quick] [--sets jpeg,png,webp] [--peers restthumbs,sharp,napi-image] [--rounds N] [--size 256] [--json FILE]')
      process.exit(0)
    } else throw new Error(`Unknown option ${a}`)
  }
  for (const s of opts.sets) if (!SETS.includes(s)) throw new Error(`Expected one of ${SETS.join(', ')} in --sets but received ${s}`)
  for (const p of opts.peers) if (!PEERS.includes(p)) throw new Error(`Expected one of ${PEERS.join(', ')} in --peers but received ${p}`)
  if (!Number.isInteger(opts.size) || opts.size <= 0) throw new Error(`Expected positive integer for --size but received ${opts.size}`)
  // throughput rounds: enough jobs that 2-in-flight reaches steady state on every set
  if (!opts.rounds) opts.rounds = opts.quick ? 1 : 2
  return opts
}

// ---------------------------------------------------------------------------------------------
// parent: corpus, one child per (set, peer), the table

async function parent(opts) {
  const corpus = execFileSync('bash', [path.join(HERE, 'corpus.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const files = {}
  const all = {}
  for (const set of SETS) {
    const dir = path.join(corpus, set)
    let names = (await readdir(dir)).sort().map((n) => path.join(dir, n))
    all[set] = names
    // --quick: a few images, but keep the expensive kinds (large progressive JPEGs) in the mix
    if (opts.quick) names = names.filter((_, i) => i % Math.ceil(names.length / 6) === 0)
    files[set] = names
  }
  const results = []
  for (const set of opts.sets) {
    for (const peer of opts.peers) {
      results.push(await runChild({ mode: 'set', peer, set, files: files[set], rounds: opts.rounds, size: opts.size }))
    }
  }
  // scaling: big progressive and baseline JPEGs of different input sizes at 3 output sizes
  const scaling = []
  const scalingFiles = pickScalingFiles(all.jpeg)
  for (const peer of opts.peers) {
    scaling.push(await runChild({ mode: 'scaling', peer, files: scalingFiles, sizes: [64, 256, 1024], repeat: opts.quick ? 3 : 5 }))
  }
  process.stderr.write('\r\x1b[K')
  printTable(results, opts)
  printScaling(scaling)
  if (opts.json) await writeFile(opts.json, JSON.stringify({ results, scaling }, null, 2))
}

function pickScalingFiles(jpegs) {
  const want = ['-Elephants.jpg', 'Elephants_5640x3172.jpg', '2004default.jpg', '087-5120x2880.jpg']
  const picked = want.map((w) => jpegs.find((f) => f.endsWith(w))).filter(Boolean)
  return picked.length ? picked : jpegs.slice(0, 2)
}

function runChild(spec) {
  return new Promise((resolve, reject) => {
    const proc = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(spec)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--expose-gc'],
    })
    let result
    proc.on('message', (m) => {
      result = m
    })
    proc.on('error', reject)
    proc.on('exit', (code) => {
      if (code === 0 && result) resolve(result)
      else reject(new Error(`${spec.peer} ${spec.set ?? 'scaling'} child exited with code ${code}`))
    })
  })
}

function fmt(n, digits = 1) {
  return Number.isFinite(n) ? n.toFixed(digits) : '-'
}

function printTable(results, opts) {
  console.log(`\nsource bytes in memory → ${opts.size}×${opts.size} cover crop → JPEG q${QUALITY}; ratios are vs sharp (higher is better for img/s, lower for ms and RSS)\n`)
  const head = ['set', 'peer', 'imgs', 'seq median ms', 'seq p95 ms', 'img/s ×1', 'img/s ×2', 'peak RSS MB', '×2 vs sharp', 'median vs sharp', 'RSS vs sharp', 'output']
  const rows = [head]
  for (const r of results) {
    const base = results.find((x) => x.set === r.set && x.peer === 'sharp')
    rows.push([
      r.set,
      r.peer,
      String(r.images),
      fmt(r.median),
      fmt(r.p95),
      fmt(r.tput1),
      fmt(r.tput2),
      fmt(r.rssMb, 0),
      base ? `${fmt(r.tput2 / base.tput2, 2)}×` : '-',
      base ? `${fmt(r.median / base.median, 2)}×` : '-',
      base ? `${fmt(r.rssMb / base.rssMb, 2)}×` : '-',
      r.output,
    ])
  }
  printRows(rows)
}

function printScaling(scaling) {
  console.log('\nscaling: sequential median ms for the same source at each output size (cover crop, JPEG q80)\n')
  const sizes = scaling[0]?.sizes ?? []
  const rows = [['peer', 'source', 'source px', ...sizes.map((s) => `${s}px`)]]
  for (const s of scaling) {
    for (const f of s.files) rows.push([s.peer, f.name, f.dims, ...f.medians.map((m) => fmt(m))])
  }
  printRows(rows)
}

function printRows(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
  for (const [i, r] of rows.entries()) {
    console.log(r.map((v, c) => (c < 2 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }
}

// ---------------------------------------------------------------------------------------------
// child: one peer, all in this process

/** Returns `async (buf, size) => Buffer` producing a size×size cover crop encoded as JPEG q80. */
async function loadPeer(peer) {
  if (peer === 'sharp') {
    const sharp = (await import('sharp')).default
    // libvips' operation cache would serve repeated rounds of the same bytes from memory; a
    // thumbnail server sees each source once, so measure the real work
    sharp.cache(false)
    return (buf, size) => sharp(buf).resize(size, size, { fit: 'cover' }).jpeg({ quality: QUALITY }).toBuffer()
  }
  if (peer === 'napi-image') {
    const { Transformer, ResizeFit } = await import('@napi-rs/image')
    return (buf, size) => new Transformer(buf).resize({ width: size, height: size, fit: ResizeFit.Cover }).jpeg(QUALITY)
  }
  const facade = path.join(ROOT, 'dist', 'index.js')
  let thumbnail
  if (existsSync(facade)) ({ thumbnail } = await import(pathToFileURL(facade).href))
  if (typeof thumbnail !== 'function') {
    // TypeScript not built: the raw binding takes the same options
    const binding = createRequire(import.meta.url)(path.join(ROOT, 'binding.cjs'))
    thumbnail = (buf, o) => binding.thumbnail(buf, o)
  }
  return async (buf, size) => (await thumbnail(buf, { width: size, height: size, method: 'crop', format: 'jpeg', quality: QUALITY })).data
}

/** Width and height from a JPEG's SOF marker, to check every peer made the same output. */
function jpegSize(buf) {
  let i = 2
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null
    const m = buf[i + 1]
    const len = buf.readUInt16BE(i + 2)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return `${buf.readUInt16BE(i + 7)}×${buf.readUInt16BE(i + 5)}`
    i += 2 + len
  }
  return null
}

function sourceDims(buf) {
  // JPEG only; the scaling table is JPEG
  return jpegSize(buf) ?? '?'
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]
}

function progress(text) {
  process.stderr.write(`\r\x1b[K${text}`)
}

async function child(spec) {
  let peakRss = process.memoryUsage().rss
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 10)
  const run = await loadPeer(spec.peer)
  const inputs = []
  for (const f of spec.files) inputs.push({ name: path.basename(f), buf: await readFile(f) })
  const label = spec.mode === 'set' ? `${spec.set} ${spec.peer}` : `scaling ${spec.peer}`

  if (spec.mode === 'scaling') {
    const files = []
    for (const input of inputs) {
      await run(input.buf, 64) // warm up code paths and thread pools
      const medians = []
      for (const size of spec.sizes) {
        const times = []
        for (let r = 0; r < spec.repeat; r++) {
          progress(`${label}: ${input.name} @${size}px ${r + 1}/${spec.repeat}`)
          const t = performance.now()
          await run(input.buf, size)
          times.push(performance.now() - t)
        }
        medians.push(quantile(times.sort((a, b) => a - b), 0.5))
      }
      files.push({ name: input.name, dims: sourceDims(input.buf), medians })
    }
    clearInterval(sampler)
    process.send({ peer: spec.peer, sizes: spec.sizes, files })
    return
  }

  // warm-up: one image, so library initialisation does not count as the first latency
  const first = await run(inputs[0].buf, spec.size)
  const outputs = new Set([jpegSize(first)])

  // 1. sequential latency
  const latencies = []
  for (const [i, input] of inputs.entries()) {
    progress(`${label}: sequential ${i + 1}/${inputs.length} ${input.name}`)
    const t = performance.now()
    const out = await run(input.buf, spec.size)
    latencies.push(performance.now() - t)
    outputs.add(jpegSize(out))
  }
  latencies.sort((a, b) => a - b)

  // 2. throughput with 1 and 2 jobs in flight over the whole set, `rounds` times
  const throughput = async (inFlight) => {
    const jobs = []
    for (let r = 0; r < spec.rounds; r++) jobs.push(...inputs)
    let next = 0
    let done = 0
    const t = performance.now()
    const worker = async () => {
      while (next < jobs.length) {
        const input = jobs[next++]
        await run(input.buf, spec.size)
        done++
        if (done % 4 === 0) progress(`${label}: ${inFlight} in flight ${done}/${jobs.length}`)
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
    return (jobs.length * 1000) / (performance.now() - t)
  }
  const tput1 = await throughput(1)
  const tput2 = await throughput(2)

  clearInterval(sampler)
  peakRss = Math.max(peakRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024)
  process.send({
    peer: spec.peer,
    set: spec.set,
    images: inputs.length,
    median: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    tput1,
    tput2,
    rssMb: peakRss / 2 ** 20,
    output: [...outputs].join(','),
  })
}
