#!/usr/bin/env node
// Generates the sample images in media/ procedurally (no third-party pictures), so `restthumbs
// serve` has something to show. Uses sharp from devDependencies only as an encoder.
//   usage: node scripts/make-media.mjs [outDir]
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import sharp from 'sharp'

const here = path.dirname(fileURLToPath(import.meta.url))
const out = path.resolve(process.argv[2] ?? path.join(here, '..', 'media'))

/** Fills a raw RGB(A) buffer from a per-pixel function. */
function paint(width, height, channels, fn) {
  const buf = Buffer.alloc(width * height * channels)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const px = fn(x, y)
      buf.set(px.slice(0, channels), (y * width + x) * channels)
    }
  }
  return { buf, raw: { width, height, channels } }
}

const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)))

// A landscape "sunset": sky gradient, a sun off-centre (so smart crop has a subject), hills.
function sunset(x, y, w = 960, h = 640) {
  const sun = Math.hypot(x - w * 0.7, y - h * 0.38)
  const hill = h * 0.72 + Math.sin(x / 70) * 28 + Math.sin(x / 23) * 9
  if (y > hill) {
    const t = (y - hill) / (h - hill)
    return [clamp(30 + 40 * t), clamp(70 + 50 * Math.sin(x / 9) * 0.2 + 30 * t), clamp(40)]
  }
  if (sun < 70) return [255, clamp(230 - sun), clamp(120 - sun)]
  const t = y / hill
  return [clamp(255 * t + 30), clamp(120 * t + 60 - sun / 20), clamp(200 * (1 - t) + 40)]
}

// A portrait of a Mandelbrot set: lots of detail in one place, flat colour elsewhere.
function mandel(x, y, w = 480, h = 720) {
  const cr = -2.1 + (x / w) * 2.8
  const ci = -1.6 + (y / h) * 3.2
  let zr = 0
  let zi = 0
  let i = 0
  for (; i < 60 && zr * zr + zi * zi < 4; i++) {
    const t = zr * zr - zi * zi + cr
    zi = 2 * zr * zi + ci
    zr = t
  }
  if (i === 60) return [10, 10, 30]
  return [clamp(i * 9), clamp(i * 4 + 40), clamp(255 - i * 3)]
}

// A logo-like PNG with transparency: coloured rings on a transparent background.
function rings(x, y, w = 512, h = 512) {
  const d = Math.hypot(x - w / 2, y - h / 2)
  const ring = Math.floor(d / 32)
  if (d > w / 2 - 8) return [0, 0, 0, 0]
  const colours = [[230, 57, 70], [241, 250, 238], [168, 218, 220], [69, 123, 157], [29, 53, 87]]
  const c = colours[ring % colours.length]
  return [c[0], c[1], c[2], ring % 2 ? 255 : 200]
}

// Square tiles: sharp edges that show resampling quality.
function tiles(x, y) {
  const check = (Math.floor(x / 40) + Math.floor(y / 40)) % 2
  const r = clamp((x / 800) * 255)
  const b = clamp((y / 800) * 255)
  return check ? [r, 200, b] : [40, clamp(255 - r), 90]
}

await mkdir(out, { recursive: true })
const jobs = [
  ['sunset.jpg', paint(960, 640, 3, (x, y) => sunset(x, y)), (s) => s.jpeg({ quality: 82 })],
  ['mandelbrot.jpg', paint(480, 720, 3, (x, y) => mandel(x, y)), (s) => s.jpeg({ quality: 85 })],
  ['rings.png', paint(512, 512, 4, (x, y) => rings(x, y)), (s) => s.png({ compressionLevel: 9, palette: true })],
  ['tiles.webp', paint(800, 800, 3, (x, y) => tiles(x, y)), (s) => s.webp({ quality: 80 })],
]
for (const [name, { buf, raw }, enc] of jobs) {
  await enc(sharp(buf, { raw })).toFile(path.join(out, name))
  console.log(`wrote ${name} (${raw.width}x${raw.height})`)
}
