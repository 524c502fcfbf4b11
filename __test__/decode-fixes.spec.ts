import test from 'ava'
import sharp from 'sharp'

import { DecodeError, thumbnail } from '../ts/index.js'
import { decode, fromRaw, pixelAt, type Raw } from './helpers/fixtures.js'

/** 200×200: left half opaque dark gray, right half fully transparent with bright red hidden under it. */
function hiddenRed(): Raw {
  const data = Buffer.alloc(200 * 200 * 4)
  for (let i = 0; i < 200 * 200; i++) data.set(i % 200 < 100 ? [20, 20, 20, 255] : [255, 0, 0, 0], i * 4)
  return { data, width: 200, height: 200, channels: 4 }
}

/** Mean red of the pixels that are partly transparent (the edge the resize blends). */
function edgeRed(raw: Raw): number {
  let sum = 0
  let n = 0
  for (let i = 0; i < raw.width * raw.height; i++) {
    const a = raw.data[i * 4 + 3]
    if (a > 0 && a < 255) {
      sum += raw.data[i * 4]
      n++
    }
  }
  if (n === 0) throw new Error('no partly transparent pixel')
  return sum / n
}

test('a lossy WebP with alpha is resized without the hidden colour bleeding into the edge', async (t) => {
  const webp = await fromRaw(hiddenRed()).webp({ quality: 90, alphaQuality: 100, exact: true }).toBuffer()
  t.is((await sharp(webp).metadata()).hasAlpha, true)
  const png = await fromRaw(hiddenRed()).png().toBuffer()
  const viaWebp = edgeRed(await decode((await thumbnail(webp, { width: 50, height: 50, format: 'png' })).data))
  const viaPng = edgeRed(await decode((await thumbnail(png, { width: 50, height: 50, format: 'png' })).data))
  t.true(viaPng < 30, `PNG path edge red ${viaPng}`)
  t.true(Math.abs(viaWebp - viaPng) < 12, `edge red: WebP ${viaWebp.toFixed(1)}, PNG ${viaPng.toFixed(1)}`)
})

test('a CMYK JPEG without a profile keeps its printed colours, like sharp', async (t) => {
  // Print-like cyan, magenta, a dark gray and paper white, converted by sharp to CMYK.
  const colours = [[0, 158, 224], [228, 0, 125], [40, 40, 40], [255, 255, 255]]
  const raw = Buffer.alloc(80 * 20 * 3)
  for (let y = 0; y < 20; y++) for (let x = 0; x < 80; x++) raw.set(colours[Math.floor(x / 20)], (y * 80 + x) * 3)
  const cmyk = await sharp(raw, { raw: { width: 80, height: 20, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer()
  const meta = await sharp(cmyk).metadata()
  t.is(meta.space, 'cmyk')
  t.false(Boolean(meta.icc))
  const ours = await decode((await thumbnail(cmyk, { width: 80, height: 20, format: 'png' })).data)
  const { data, info } = await sharp(cmyk).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })
  const ref = { data, width: info.width, height: info.height, channels: info.channels }
  for (const i of [0, 1, 3]) {
    const got = pixelAt(ours, i * 20 + 10, 10)
    const want = pixelAt(ref, i * 20 + 10, 10)
    got.forEach((v, c) => t.true(Math.abs(v - want[c]) <= 16, `patch ${i}: got ${got} sharp ${want}`))
  }
  // Two standard profiles (FOGRA39 here, libvips' built-in one in sharp) differ most in the
  // shadows: the dark gray stays dark in both.
  const dark = pixelAt(ours, 50, 10)
  t.true(dark.every((v) => v < 64), `dark patch ${dark}, sharp ${pixelAt(ref, 50, 10)}`)
  // The naive (1 − C)(1 − K) formula would turn print cyan into screen cyan (0, 255, 255).
  t.true(pixelAt(ours, 10, 10)[1] < 200)
})

/** A GIF89a with no global and no local colour table: `w` × `h`, left half index 0, right half 1. */
function gifWithoutColourTable(w: number, h: number): Buffer {
  // LZW with minimum code size 2: clear (4) before every index keeps codes 3 bits wide.
  const codes: number[] = []
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) codes.push(4, x < w / 2 ? 0 : 1)
  codes.push(5)
  const bytes: number[] = []
  let acc = 0
  let bits = 0
  for (const c of codes) {
    acc |= c << bits
    bits += 3
    while (bits >= 8) {
      bytes.push(acc & 255)
      acc >>= 8
      bits -= 8
    }
  }
  if (bits > 0) bytes.push(acc & 255)
  const blocks: number[] = []
  for (let i = 0; i < bytes.length; i += 255) blocks.push(Math.min(255, bytes.length - i), ...bytes.slice(i, i + 255))
  const size = (v: number): number[] => [v & 255, v >> 8]
  return Buffer.from([
    ...Buffer.from('GIF89a', 'latin1'), ...size(w), ...size(h), 0x00, 0, 0,
    0x2c, 0, 0, 0, 0, ...size(w), ...size(h), 0x00,
    2, ...blocks, 0, 0x3b,
  ])
}

test('a GIF frame with no colour table at all uses the default table (black, white, …)', async (t) => {
  const out = await decode((await thumbnail(gifWithoutColourTable(8, 8), { width: 8, height: 8, format: 'png' })).data)
  t.deepEqual(pixelAt(out, 1, 4), [0, 0, 0])
  t.deepEqual(pixelAt(out, 6, 4), [255, 255, 255])
})

test('a JPEG whose header declares far more pixels than its data holds is a DecodeError', async (t) => {
  const noise = Buffer.alloc(960 * 640 * 3)
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2_654_435_761) >>> 24
  const jpeg = Buffer.from(await sharp(noise, { raw: { width: 960, height: 640, channels: 3 } }).jpeg({ quality: 80 }).toBuffer())
  // SOF0: FF C0, length, precision, then height and width.
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]))
  t.true(sof > 0)
  t.deepEqual([jpeg.readUInt16BE(sof + 5), jpeg.readUInt16BE(sof + 7)], [640, 960])
  jpeg.writeUInt16BE(7000, sof + 5)
  jpeg.writeUInt16BE(7000, sof + 7)
  const err = await t.throwsAsync(thumbnail(jpeg, { width: 256 }))
  t.true(err instanceof DecodeError, String(err))
  t.is((err as DecodeError).code, 'ERR_DECODE')
})
