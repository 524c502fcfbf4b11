/**
 * Test images, generated with sharp (never checked in) and built once per test process.
 * Helpers decode outputs back to raw pixels so tests assert pixels, not bytes.
 */
import { deflateSync } from 'node:zlib'

import sharp, { type Sharp } from 'sharp'

/** Raw interleaved pixels. */
export interface Raw {
  data: Buffer
  width: number
  height: number
  channels: number
}

/** Colours of the four quadrants of {@link quadrants}: top-left, top-right, bottom-left, bottom-right. */
export const QUADRANT_COLOURS = [
  [220, 30, 30],
  [30, 200, 30],
  [30, 30, 220],
  [230, 220, 40],
] as const

/** An RGB image whose four quadrants have distinct colours, so any flip or rotation shows. */
export function quadrants(width: number, height: number): Raw {
  const data = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const q = (y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)
      data.set(QUADRANT_COLOURS[q], (y * width + x) * 3)
    }
  }
  return { data, width, height, channels: 3 }
}

/** A flat gray RGB image with a square of pseudo-random noise at (`px`, `py`). */
export function flatWithNoise(width: number, height: number, px: number, py: number, size: number): Raw {
  const data = Buffer.alloc(width * height * 3, 128)
  let seed = 42
  for (let y = py; y < py + size; y++) {
    for (let x = px; x < px + size; x++) {
      for (let c = 0; c < 3; c++) {
        seed = (seed * 1103515245 + 12345) >>> 0
        data[(y * width + x) * 3 + c] = seed >>> 24
      }
    }
  }
  return { data, width, height, channels: 3 }
}

/** Wraps raw pixels for sharp. */
export function fromRaw(raw: Raw): Sharp {
  return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels as 1 | 2 | 3 | 4 } })
}

/** Decodes any encoded image to raw pixels (alpha kept if present). */
export async function decode(buf: Buffer): Promise<Raw> {
  const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, channels: info.channels }
}

/** The pixel at (`x`, `y`). */
export function pixelAt(raw: Raw, x: number, y: number): number[] {
  const i = (y * raw.width + x) * raw.channels
  return [...raw.data.subarray(i, i + raw.channels)]
}

/** Mean of each channel. */
export function meanColour(raw: Raw, channels = raw.channels): number[] {
  const sums = new Array(channels).fill(0)
  const n = raw.width * raw.height
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) sums[c] += raw.data[i * raw.channels + c]
  return sums.map((s) => s / n)
}

/** Mean absolute difference per sample between two same-sized images (first `channels` channels). */
export function meanAbsDiff(a: Raw, b: Raw, channels = 3): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`size mismatch ${a.width}x${a.height} vs ${b.width}x${b.height}`)
  let sum = 0
  const n = a.width * a.height
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) sum += Math.abs(a.data[i * a.channels + c] - b.data[i * b.channels + c])
  return sum / (n * channels)
}

/**
 * The stored pixels of an image that, displayed with EXIF orientation `o`, looks like `upright`.
 * Each step runs in its own sharp pipeline so the order of operations is explicit.
 */
export async function storedFor(upright: Raw, o: number): Promise<Raw> {
  const step = async (raw: Raw, op: (s: Sharp) => Sharp): Promise<Raw> => {
    const { data, info } = await op(fromRaw(raw)).raw().toBuffer({ resolveWithObject: true })
    return { data, width: info.width, height: info.height, channels: info.channels }
  }
  switch (o) {
    case 2:
      return step(upright, (s) => s.flop())
    case 3:
      return step(upright, (s) => s.rotate(180))
    case 4:
      return step(upright, (s) => s.flip())
    case 5:
      return step(await step(upright, (s) => s.rotate(90)), (s) => s.flop())
    case 6:
      return step(upright, (s) => s.rotate(270))
    case 7:
      return step(await step(upright, (s) => s.rotate(90)), (s) => s.flip())
    case 8:
      return step(upright, (s) => s.rotate(90))
    default:
      return upright
  }
}

const memo = new Map<string, Promise<Buffer>>()
/** Builds a fixture once per process. */
export function once(name: string, build: () => Promise<Buffer>): Promise<Buffer> {
  let p = memo.get(name)
  if (!p) {
    p = build()
    memo.set(name, p)
  }
  return p
}

/** The upright reference image of the orientation tests. */
export const ORIENTED_UPRIGHT = quadrants(64, 48)

/** `ORIENTED_UPRIGHT` stored for orientation `o` in `format`, with the EXIF tag set. */
export function oriented(o: number, format: 'jpeg' | 'png' | 'webp'): Promise<Buffer> {
  return once(`oriented-${o}-${format}`, async () => {
    const stored = await storedFor(ORIENTED_UPRIGHT, o)
    const s = fromRaw(stored).withMetadata({ orientation: o })
    return format === 'jpeg' ? s.jpeg({ quality: 95 }).toBuffer() : format === 'webp' ? s.webp({ lossless: true }).toBuffer() : s.png().toBuffer()
  })
}

/** Named fixtures. */
export const fixtures = {
  /** 300×200 quadrants as a quality-95 JPEG. */
  jpeg: () => once('jpeg', () => fromRaw(quadrants(300, 200)).jpeg({ quality: 95 }).toBuffer()),
  /** 300×200 quadrants as an 8-bit RGB PNG. */
  png: () => once('png', () => fromRaw(quadrants(300, 200)).png().toBuffer()),
  /** 300×200 quadrants as an Adam7-interlaced PNG. */
  pngInterlaced: () => once('png-interlaced', () => fromRaw(quadrants(300, 200)).png({ progressive: true }).toBuffer()),
  /** 300×200 quadrants as a palette PNG. */
  pngPalette: () => once('png-palette', () => fromRaw(quadrants(300, 200)).png({ palette: true, colours: 16, dither: 0 }).toBuffer()),
  /** 120×80 16-bit RGB PNG whose samples ramp 0..65535 along x (hand-encoded: sharp takes 8-bit raw input only). */
  png16: () =>
    once('png16', async () => {
      const w = 120
      const h = 80
      const rows: Buffer[] = []
      for (let y = 0; y < h; y++) {
        const row = Buffer.alloc(1 + w * 6)
        for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) row.writeUInt16BE(Math.round((x / (w - 1)) * 65535), 1 + x * 6 + c * 2)
        rows.push(row)
      }
      return encodePng(w, h, 16, 2, Buffer.concat(rows))
    }),
  /** 100×100 red square, left half opaque, right half fully transparent. */
  pngAlpha: () =>
    once('png-alpha', () => {
      const raw = Buffer.alloc(100 * 100 * 4)
      for (let y = 0; y < 100; y++) for (let x = 0; x < 100; x++) raw.set([255, 0, 0, x < 50 ? 255 : 0], (y * 100 + x) * 4)
      return sharp(raw, { raw: { width: 100, height: 100, channels: 4 } }).png().toBuffer()
    }),
  /** 300×200 quadrants as lossy WebP. */
  webpLossy: () => once('webp-lossy', () => fromRaw(quadrants(300, 200)).webp({ quality: 90 }).toBuffer()),
  /** 300×200 quadrants as lossless WebP. */
  webpLossless: () => once('webp-lossless', () => fromRaw(quadrants(300, 200)).webp({ lossless: true }).toBuffer()),
  /** 100×100 lossless WebP, left half opaque green, right half transparent. */
  webpAlpha: () =>
    once('webp-alpha', () => {
      const raw = Buffer.alloc(100 * 100 * 4)
      for (let y = 0; y < 100; y++) for (let x = 0; x < 100; x++) raw.set([0, 255, 0, x < 50 ? 255 : 0], (y * 100 + x) * 4)
      return sharp(raw, { raw: { width: 100, height: 100, channels: 4 } }).webp({ lossless: true }).toBuffer()
    }),
  /** 300×200 quadrants as GIF. */
  gif: () => once('gif', () => fromRaw(quadrants(300, 200)).gif().toBuffer()),
  /** Patches of known colours as a CMYK JPEG, with the CMYK profile embedded or not. */
  cmykJpeg: (embedProfile: boolean) =>
    once(`cmyk-${embedProfile}`, () => {
      const s = fromRaw(quadrants(200, 200)).toColourspace('cmyk')
      return (embedProfile ? s.withIccProfile('cmyk') : s).jpeg({ quality: 95 }).toBuffer()
    }),
  /** 2000×1500 noisy-ish JPEG, big enough for shrink-on-load and for the event-loop test. */
  largeJpeg: () =>
    once('large-jpeg', () => fromRaw(flatWithNoise(2000, 1500, 0, 0, 1500)).jpeg({ quality: 85 }).toBuffer()),
}

/** Frames of the same size as one animated image (GIF or WebP). */
export function animated(frames: Raw[], format: 'gif' | 'webp'): Promise<Buffer> {
  const { width, height, channels } = frames[0]
  const s = sharp(Buffer.concat(frames.map((f) => f.data)), {
    raw: { width, height: height * frames.length, channels: channels as 3 | 4, pageHeight: height },
  })
  return format === 'gif' ? s.gif().toBuffer() : s.webp({ lossless: true }).toBuffer()
}

/** A minimal PNG from already-filtered scanlines (each row starts with its filter byte). */
export function encodePng(width: number, height: number, depth: number, colorType: number, scanlines: Buffer): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([depth, colorType, 0, 0, 0], 8)
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(scanlines)), chunk('IEND', Buffer.alloc(0))])
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/** A PNG whose IHDR claims `width` × `height` and that has no image data. */
export function pngHeaderBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr)])
}

function crc32(buf: Buffer): number {
  let c = 0xffffffff
  for (const b of buf) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}
