#!/usr/bin/env node
// AVIF and TIFF: restthumbs vs sharp (libheif + aom, libtiff) vs @napi-rs/image where it can.
//
// 1. AVIF encode: the corpus photos pre-resized to 256 and 1024 px (PNG, in memory) → AVIF at a
//    few quality / speed settings per peer. Time (sequential median, and img/s with 2 in flight),
//    bytes, and SSIM of the output against the PNG it was made from. "matched" rows pair each
//    sharp setting with the fastest restthumbs setting that is at least as good (SSIM) and at
//    most as big (bytes).
// 2. Decode to a thumbnail: AVIF (made by sharp, 8-bit 4:2:0) and TIFF (LZW, made by sharp)
//    sources of 2048 px → 256×256 cover crop → JPEG q80, like bench/thumbnail.mjs.
// 3. WebP sources (the corpus WebPs) → 256×256, with the time split into decode-only (probe +
//    1×1 crop of a shrunk decode) and the rest, to show where the time goes.
//
// Peers run one after another in this process, each warmed up first; the machine has 2 cores.
//
//   usage: node bench/formats.mjs [--quick] [--only encode,decode,webp]
// Needs the corpus (bench/corpus.sh) and a release build (`npm run build`).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import sharp from 'sharp'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.join(HERE, '..')
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const onlyAt = argv.indexOf('--only')
const only = onlyAt >= 0 ? argv[onlyAt + 1].split(',') : ['encode', 'decode', 'webp']
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: node bench/formats.mjs [--quick] [--only encode,decode,webp]')
  process.exit(0)
}
sharp.cache(false)

const thumbnail = await loadRestthumbs()
const { Transformer, ResizeFit } = await import('@napi-rs/image')
const corpus = execFileSync('bash', [path.join(HERE, 'corpus.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
const jpegs = (await readdir(path.join(corpus, 'jpeg'))).sort().map((n) => path.join(corpus, 'jpeg', n))
const photos = jpegs.filter((_, i) => i % Math.ceil(jpegs.length / (quick ? 3 : 8)) === 0)

async function loadRestthumbs() {
  const facade = path.join(ROOT, 'dist', 'index.js')
  if (existsSync(facade)) return (await import(pathToFileURL(facade).href)).thumbnail
  const binding = createRequire(import.meta.url)(path.join(ROOT, 'binding.cjs'))
  return (buf, o) => binding.thumbnail(buf, { method: 'crop', quality: 80, ...o })
}

function progress(text) {
  process.stderr.write(`\r\x1b[K${text}`)
}

function printRows(title, rows) {
  process.stderr.write('\r\x1b[K')
  console.log(`\n${title}\n`)
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
  for (const [i, r] of rows.entries()) {
    console.log(r.map((v, c) => (c < 2 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-')
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Sequential median ms and img/s with 2 jobs in flight of `run` over `inputs`. */
async function measure(label, inputs, run, rounds = quick ? 1 : 2) {
  await run(inputs[0])
  const times = []
  for (const [i, input] of inputs.entries()) {
    progress(`${label}: ${i + 1}/${inputs.length}`)
    const t = performance.now()
    await run(input)
    times.push(performance.now() - t)
  }
  const jobs = Array.from({ length: rounds }, () => inputs).flat()
  let next = 0
  const t = performance.now()
  const worker = async () => {
    while (next < jobs.length) await run(jobs[next++])
  }
  await Promise.all([worker(), worker()])
  return { median: median(times), tput: (jobs.length * 1000) / (performance.now() - t) }
}

/** Mean SSIM of the luma of two same-size RGB buffers, 8×8 windows with a stride of 4. */
function ssim(a, b, width, height, channels) {
  const luma = (buf, ch) => {
    const out = new Float64Array(width * height)
    for (let i = 0; i < out.length; i++) out[i] = 0.299 * buf[i * ch] + 0.587 * buf[i * ch + 1] + 0.114 * buf[i * ch + 2]
    return out
  }
  const x = luma(a, channels)
  const y = luma(b, channels)
  const c1 = (0.01 * 255) ** 2
  const c2 = (0.03 * 255) ** 2
  let sum = 0
  let n = 0
  for (let wy = 0; wy + 8 <= height; wy += 4) {
    for (let wx = 0; wx + 8 <= width; wx += 4) {
      let mx = 0, my = 0, vx = 0, vy = 0, cov = 0
      for (let j = 0; j < 8; j++) for (let i = 0; i < 8; i++) { const k = (wy + j) * width + wx + i; mx += x[k]; my += y[k] }
      mx /= 64
      my /= 64
      for (let j = 0; j < 8; j++) for (let i = 0; i < 8; i++) {
        const k = (wy + j) * width + wx + i
        vx += (x[k] - mx) ** 2
        vy += (y[k] - my) ** 2
        cov += (x[k] - mx) * (y[k] - my)
      }
      vx /= 63
      vy /= 63
      cov /= 63
      sum += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
      n++
    }
  }
  return sum / n
}

async function rawOf(buf) {
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height }
}

// ---------------------------------------------------------------------------------------------

async function encodeBench() {
  const ENCODERS = [
    ...[6, 8, 10].flatMap((speed) => [50, 65, 80].map((q) => ({ peer: 'restthumbs', setting: `q${q} speed ${speed}`, q, run: (png, size) => thumbnail(png, { width: size, height: size, format: 'avif', quality: q, speed }).then((o) => o.data) }))),
    ...[2, 4, 6].flatMap((effort) => [50, 65, 80].map((q) => ({ peer: 'sharp', setting: `q${q} effort ${effort}`, q, run: (png) => sharp(png).avif({ quality: q, effort, chromaSubsampling: '4:2:0' }).toBuffer() }))),
    ...[50, 65, 80].map((q) => ({ peer: 'napi-image', setting: `q${q} speed 10`, q, run: (png) => new Transformer(png).avif({ quality: q, speed: 10 }) })),
  ]
  for (const size of [256, 1024]) {
    const inputs = []
    // 1024 px encodes take seconds at the slower settings: half the photos there
    for (const f of size > 512 ? photos.filter((_, i) => i % 2 === 0) : photos) {
      progress(`preparing ${size}px sources`)
      const png = await sharp(await readFile(f)).resize(size, size, { fit: 'cover' }).png({ compressionLevel: 1 }).toBuffer()
      inputs.push({ png, raw: await rawOf(png) })
    }
    const results = []
    for (const e of ENCODERS) {
      if (quick && !/q65/.test(e.setting)) continue
      let bytes = 0
      let quality = 0
      for (const input of inputs) {
        const out = await e.run(input.png, size)
        bytes += out.length
        const back = await rawOf(out)
        quality += ssim(input.raw.data, back.data, size, size, 3)
      }
      const m = await measure(`encode ${size}px ${e.peer} ${e.setting}`, inputs, (input) => e.run(input.png, size))
      results.push({ ...e, ...m, kb: bytes / inputs.length / 1024, ssim: quality / inputs.length })
    }
    const rows = [['peer', 'setting', 'median ms', 'img/s ×2', 'KB', 'SSIM']]
    for (const r of results) rows.push([r.peer, r.setting, fmt(r.median), fmt(r.tput), fmt(r.kb), fmt(r.ssim, 4)])
    printRows(`AVIF encode, ${size}×${size} PNG in memory → AVIF (${inputs.length} photos, means per image)`, rows)
    const matched = [['sharp setting', 'restthumbs setting', 'img/s vs sharp', 'KB vs sharp', 'SSIM (ours / sharp)']]
    for (const s of results.filter((r) => r.peer === 'sharp')) {
      const best = results
        .filter((r) => r.peer === 'restthumbs' && r.ssim >= s.ssim - 0.0005 && r.kb <= s.kb)
        .sort((a, b) => b.tput - a.tput)[0]
      matched.push([s.setting, best ? best.setting : 'none', best ? `${fmt(best.tput / s.tput, 2)}×` : '-', best ? `${fmt(best.kb / s.kb, 2)}×` : '-', best ? `${fmt(best.ssim, 4)} / ${fmt(s.ssim, 4)}` : '-'])
    }
    printRows(`matched at ${size}px: fastest restthumbs setting with SSIM ≥ sharp's and bytes ≤ sharp's`, matched)
  }
}

async function decodeBench() {
  const sources = { avif: [], tiff: [] }
  for (const f of photos) {
    progress('preparing AVIF and TIFF sources')
    const base = sharp(await readFile(f)).resize(2048, 2048, { fit: 'inside' })
    sources.avif.push(await base.clone().avif({ quality: 60, effort: 2, chromaSubsampling: '4:2:0' }).toBuffer())
    sources.tiff.push(await base.clone().tiff({ compression: 'lzw', predictor: 'horizontal' }).toBuffer())
  }
  const PEERS = {
    restthumbs: (buf) => thumbnail(buf, { width: 256, height: 256, format: 'jpeg', quality: 80 }).then((o) => o.data),
    sharp: (buf) => sharp(buf).resize(256, 256, { fit: 'cover' }).jpeg({ quality: 80 }).toBuffer(),
    'napi-image': (buf) => new Transformer(buf).resize({ width: 256, height: 256, fit: ResizeFit.Cover }).jpeg(80),
  }
  const rows = [['set', 'peer', 'median ms', 'img/s ×2', '×2 vs sharp']]
  for (const [set, inputs] of Object.entries(sources)) {
    const results = {}
    for (const [peer, run] of Object.entries(PEERS)) {
      try {
        results[peer] = await measure(`${set} ${peer}`, inputs, run)
      } catch (e) {
        results[peer] = { error: String(e.message ?? e).slice(0, 40) }
      }
    }
    for (const [peer, r] of Object.entries(results)) {
      rows.push([set, peer, r.error ?? fmt(r.median), r.error ? '-' : fmt(r.tput), r.error ? '-' : `${fmt(r.tput / results.sharp.tput, 2)}×`])
    }
  }
  printRows(`decode: 2048 px AVIF (sharp q60, 4:2:0) and TIFF (LZW) in memory → 256×256 cover crop → JPEG q80 (${photos.length} photos each)`, rows)
}

async function webpBench() {
  const files = (await readdir(path.join(corpus, 'webp'))).sort().map((n) => path.join(corpus, 'webp', n))
  const inputs = await Promise.all(files.filter((_, i) => !quick || i % 3 === 0).map((f) => readFile(f)))
  const rows = [['what', 'peer', 'median ms', 'img/s ×2', '×2 vs sharp']]
  const full = {
    restthumbs: (buf) => thumbnail(buf, { width: 256, height: 256, format: 'jpeg', quality: 80 }),
    sharp: (buf) => sharp(buf).resize(256, 256, { fit: 'cover' }).jpeg({ quality: 80 }).toBuffer(),
  }
  // Decode-dominated variants: a 16×16 output needs the same shrink-on-load decode of a quarter
  // or less of the source, while resize and encode become negligible.
  const tiny = {
    restthumbs: (buf) => thumbnail(buf, { width: 16, height: 16, format: 'png' }),
    sharp: (buf) => sharp(buf).resize(16, 16, { fit: 'cover' }).png().toBuffer(),
  }
  for (const [what, peers] of [['256 px JPEG', full], ['16 px PNG (≈ decode only)', tiny]]) {
    const r = {}
    for (const [peer, run] of Object.entries(peers)) r[peer] = await measure(`webp ${what} ${peer}`, inputs, run)
    for (const [peer, x] of Object.entries(r)) rows.push([what, peer, fmt(x.median), fmt(x.tput), `${fmt(x.tput / r.sharp.tput, 2)}×`])
  }
  printRows(`WebP sources (${inputs.length} corpus files) → cover crop`, rows)
}

if (only.includes('encode')) await encodeBench()
if (only.includes('decode')) await decodeBench()
if (only.includes('webp')) await webpBench()
