#!/usr/bin/env node
// AVIF and TIFF: restthumbs vs sharp (libheif + aom, libtiff) vs @napi-rs/image where it can.
//
// 1. AVIF encode: the corpus photos pre-resized to 256 and 1024 px (PNG, in memory) → AVIF at a
//    few quality / speed settings per peer: img/s with 2 in flight, bytes, and SSIM of the output
//    against the PNG it was made from. "matched" rows pair each sharp setting with the fastest
//    restthumbs setting that is at least as good (SSIM) and at most as big (bytes).
// 2. Decode to a thumbnail: AVIF (made by sharp, 8-bit 4:2:0) and TIFF (LZW, made by sharp)
//    sources of 2048 px → 256×256 cover crop → JPEG q80, like bench/thumbnail.mjs.
// 3. WebP sources (the corpus WebPs) → 256×256 JPEG, and → 16×16 PNG (≈ decode only).
//
// All peers run in this process, each warmed up first, in rounds whose peer order rotates; ratios
// are the median of the per-round ratios (the machine is shared, so absolute figures drift).
//
//   usage: node bench/formats.mjs [--quick] [--rounds N] [--only encode,decode,webp]
// Needs the corpus (bench/corpus.sh) and a release build (`npm run build`).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import sharp from 'sharp'

import { flag, median } from './lib.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.join(HERE, '..')
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const onlyAt = argv.indexOf('--only')
const only = onlyAt >= 0 ? argv[onlyAt + 1].split(',') : ['encode', 'decode', 'webp']
const ROUNDS = flag('rounds', quick ? 2 : 3)
// --quick: the middle quality of each peer, and restthumbs at its default and fastest speeds
const QUICK_ENCODERS = /q65 (speed (8|10)|effort (2|4))$/
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: node bench/formats.mjs [--quick] [--rounds N] [--only encode,decode,webp]')
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

/** img/s of `run` over `inputs` with 2 jobs in flight. */
async function throughput(inputs, run) {
  let next = 0
  const t = performance.now()
  const worker = async () => {
    while (next < inputs.length) await run(inputs[next++])
  }
  await Promise.all([worker(), worker()])
  return (inputs.length * 1000) / (performance.now() - t)
}

/**
 * img/s (2 jobs in flight) of every peer over the same inputs, in ROUNDS rounds whose peer order
 * rotates, so a load burst on the shared machine skews one pass of each peer rather than all passes
 * of one. Each peer is warmed up first.
 * @returns per peer `{ tput: median img/s, rounds: img/s per round }`; see {@link ratio}
 */
async function compare(label, peers, inputs) {
  const names = Object.keys(peers)
  for (const n of names) await peers[n](inputs[0])
  const perRound = Object.fromEntries(names.map((n) => [n, []]))
  for (let r = 0; r < ROUNDS; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length])
    for (const n of order) {
      progress(`${label}: round ${r + 1}/${ROUNDS}, ${n}`)
      perRound[n].push(await throughput(inputs, peers[n]))
    }
  }
  return Object.fromEntries(names.map((n) => [n, { tput: median(perRound[n]), rounds: perRound[n] }]))
}

/** Median over the rounds of a/b, both measured by the same {@link compare}. */
const ratio = (a, b) => median(a.rounds.map((x, i) => x / b.rounds[i]))

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
    ...[6, 8, 10].flatMap((speed) => [50, 65, 80].map((q) => ({ peer: 'restthumbs', setting: `q${q} speed ${speed}`, run: (png, size) => thumbnail(png, { width: size, height: size, format: 'avif', quality: q, speed }).then((o) => o.data) }))),
    ...[2, 4, 6].flatMap((effort) => [50, 65, 80].map((q) => ({ peer: 'sharp', setting: `q${q} effort ${effort}`, run: (png) => sharp(png).avif({ quality: q, effort, chromaSubsampling: '4:2:0' }).toBuffer() }))),
    ...[50, 65, 80].map((q) => ({ peer: 'napi-image', setting: `q${q} speed 10`, run: (png) => new Transformer(png).avif({ quality: q, speed: 10 }) })),
  ].filter((e) => !quick || QUICK_ENCODERS.test(`${e.peer} ${e.setting}`))
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
      let bytes = 0
      let quality = 0
      for (const input of inputs) {
        progress(`encode ${size}px ${e.peer} ${e.setting}: size and SSIM`)
        const out = await e.run(input.png, size)
        bytes += out.length
        const back = await rawOf(out)
        quality += ssim(input.raw.data, back.data, size, size, 3)
      }
      results.push({ ...e, name: `${e.peer} ${e.setting}`, kb: bytes / inputs.length / 1024, ssim: quality / inputs.length })
    }
    const speed = await compare(`encode ${size}px`, Object.fromEntries(results.map((r) => [r.name, (input) => r.run(input.png, size)])), inputs)
    const rows = [['peer', 'setting', 'img/s ×2', 'KB', 'SSIM']]
    for (const r of results) rows.push([r.peer, r.setting, fmt(speed[r.name].tput), fmt(r.kb), fmt(r.ssim, 4)])
    printRows(`AVIF encode, ${size}×${size} PNG in memory → AVIF (${inputs.length} photos, means per image)`, rows)
    const matched = [['sharp setting', 'restthumbs setting', 'img/s vs sharp', 'KB vs sharp', 'SSIM (ours / sharp)']]
    for (const s of results.filter((r) => r.peer === 'sharp')) {
      const best = results
        .filter((r) => r.peer === 'restthumbs' && r.ssim >= s.ssim - 0.0005 && r.kb <= s.kb)
        .sort((a, b) => speed[b.name].tput - speed[a.name].tput)[0]
      matched.push([s.setting, best ? best.setting : 'none', best ? `${fmt(ratio(speed[best.name], speed[s.name]), 2)}×` : '-', best ? `${fmt(best.kb / s.kb, 2)}×` : '-', best ? `${fmt(best.ssim, 4)} / ${fmt(s.ssim, 4)}` : '-'])
    }
    printRows(`matched at ${size}px: fastest restthumbs setting with SSIM ≥ sharp's − 0.0005 and bytes ≤ sharp's (median ratio of ${ROUNDS} rounds)`, matched)
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
  const rows = [['set', 'peer', 'img/s ×2', 'vs sharp']]
  for (const [set, inputs] of Object.entries(sources)) {
    const peers = {}
    for (const [peer, run] of Object.entries(PEERS)) {
      try {
        await run(inputs[0])
        peers[peer] = run
      } catch (e) {
        rows.push([set, peer, `fails: ${String(e.message ?? e).slice(0, 40)}`, '-'])
      }
    }
    const r = await compare(`decode ${set}`, peers, inputs)
    for (const [peer, x] of Object.entries(r)) rows.push([set, peer, fmt(x.tput), `${fmt(ratio(x, r.sharp), 2)}×`])
  }
  printRows(`decode: 2048 px AVIF (sharp q60, 4:2:0) and TIFF (LZW) in memory → 256×256 cover crop → JPEG q80 (${photos.length} photos each, median of ${ROUNDS} rounds)`, rows)
}

async function webpBench() {
  const files = (await readdir(path.join(corpus, 'webp'))).sort().map((n) => path.join(corpus, 'webp', n))
  const inputs = await Promise.all(files.filter((_, i) => !quick || i % 3 === 0).map((f) => readFile(f)))
  const rows = [['what', 'peer', 'img/s ×2', 'vs sharp']]
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
    const r = await compare(`webp ${what}`, peers, inputs)
    for (const [peer, x] of Object.entries(r)) rows.push([what, peer, fmt(x.tput), `${fmt(ratio(x, r.sharp), 2)}×`])
  }
  printRows(`WebP sources (${inputs.length} corpus files) → cover crop (median of ${ROUNDS} rounds)`, rows)
}

console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
if (only.includes('encode')) await encodeBench()
if (only.includes('decode')) await decodeBench()
if (only.includes('webp')) await webpBench()
console.log(`\nload average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
