import test from 'ava'
import sharp from 'sharp'

import { probe, thumbnail } from '../ts/index.js'
import { decode, fromRaw, meanAbsDiff, pixelAt, QUADRANT_COLOURS, quadrants, type Raw } from './helpers/fixtures.js'

const SOURCE = quadrants(64, 48)

/** sharp's own decode of `input` as 8-bit sRGB, the reference for each layout. */
async function reference(input: Buffer): Promise<Raw> {
  const { data, info } = await sharp(input).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height, channels: info.channels }
}

async function ours(input: Buffer): Promise<Raw> {
  return decode((await thumbnail(input, { width: 64, height: 48, format: 'png' })).data)
}

const LAYOUTS: Record<string, () => Promise<Buffer>> = {
  'uncompressed RGB': () => fromRaw(SOURCE).tiff({ compression: 'none' }).toBuffer(),
  'LZW RGB with a predictor': () => fromRaw(SOURCE).tiff({ compression: 'lzw', predictor: 'horizontal' }).toBuffer(),
  'Deflate RGB': () => fromRaw(SOURCE).tiff({ compression: 'deflate' }).toBuffer(),
  'PackBits RGB': () => fromRaw(SOURCE).tiff({ compression: 'packbits' }).toBuffer(),
  'JPEG-compressed RGB': () => fromRaw(SOURCE).tiff({ compression: 'jpeg', quality: 95 }).toBuffer(),
  'tiled RGB': () => fromRaw(SOURCE).tiff({ tile: true, tileWidth: 16, tileHeight: 16 }).toBuffer(),
  '16-bit RGB': () => fromRaw(SOURCE).toColourspace('rgb16').tiff({ compression: 'lzw' }).toBuffer(),
  // sharp's default TIFF compression is JPEG, which drops alpha and 16-bit samples
  'RGBA': () => fromRaw(SOURCE).ensureAlpha(0.5).tiff({ compression: 'lzw' }).toBuffer(),
  'CMYK with a profile': () => fromRaw(SOURCE).toColourspace('cmyk').withIccProfile('cmyk').tiff({ compression: 'lzw' }).toBuffer(),
}

const GRAY_LAYOUTS: Record<string, () => Promise<Buffer>> = {
  '8-bit gray': () => fromRaw(SOURCE).toColourspace('b-w').tiff().toBuffer(),
  '16-bit gray': () => fromRaw(SOURCE).toColourspace('grey16').tiff({ compression: 'lzw' }).toBuffer(),
  'MinIsWhite gray': () => fromRaw(SOURCE).toColourspace('b-w').tiff({ miniswhite: true }).toBuffer(),
  'gray with alpha': () => fromRaw(SOURCE).toColourspace('b-w').ensureAlpha(1).tiff({ compression: 'lzw' }).toBuffer(),
  '1-bit CCITT Group 4': () => fromRaw(SOURCE).toColourspace('b-w').threshold(100).tiff({ compression: 'ccittfax4', bitdepth: 1 }).toBuffer(),
  '4-bit gray': () => fromRaw(SOURCE).toColourspace('b-w').tiff({ bitdepth: 4 }).toBuffer(),
}

for (const [name, build] of Object.entries({ ...LAYOUTS, ...GRAY_LAYOUTS })) {
  test(`a ${name} TIFF decodes like libtiff does`, async (t) => {
    const input = await build()
    t.like(probe(input), { format: 'tiff', width: 64, height: 48 })
    const got = await ours(input)
    const want = await reference(input)
    t.deepEqual([got.width, got.height], [64, 48])
    // Compare colour channels only (PNG output drops an opaque alpha).
    const diff = meanAbsDiff(got, want, 3)
    t.true(diff < (name.startsWith('CMYK') ? 6 : 2.5), `mean difference ${diff}`)
    if (name in LAYOUTS && !name.startsWith('CMYK')) {
      const { width: w, height: h } = got
      const centres = [[w / 4, h / 4], [(3 * w) / 4, h / 4], [w / 4, (3 * h) / 4], [(3 * w) / 4, (3 * h) / 4]]
      centres.forEach(([x, y], q) =>
        QUADRANT_COLOURS[q].forEach((v, c) => t.true(Math.abs(pixelAt(got, x, y)[c] - v) <= 8, `${name} quadrant ${q}`)),
      )
    }
  })
}

test('an RGBA TIFF keeps its alpha', async (t) => {
  const got = await ours(await LAYOUTS.RGBA())
  t.is(got.channels, 4)
  t.true(Math.abs(pixelAt(got, 5, 5)[3] - 128) <= 1)
})

/** A little-endian, uncompressed, 8-bit palette TIFF of `indices` (hand-made: sharp writes none). */
function paletteTiff(width: number, height: number, indices: Buffer, colours: number[][]): Buffer {
  const entries: Array<[number, number, number, number]> = [
    [256, 4, 1, width],
    [257, 4, 1, height],
    [258, 3, 1, 8],
    [259, 3, 1, 1],
    [262, 3, 1, 3],
    [273, 4, 1, 0], // strip offset, patched below
    [277, 3, 1, 1],
    [278, 4, 1, height],
    [279, 4, 1, indices.length],
    [320, 3, 768, 0], // colour map offset, patched below
  ]
  const ifdSize = 2 + entries.length * 12 + 4
  const mapAt = 8 + ifdSize
  const dataAt = mapAt + 768 * 2
  const out = Buffer.alloc(dataAt + indices.length)
  out.write('II*\0', 0, 'latin1')
  out.writeUInt32LE(8, 4)
  out.writeUInt16LE(entries.length, 8)
  entries.forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12
    out.writeUInt16LE(tag, at)
    out.writeUInt16LE(type, at + 2)
    out.writeUInt32LE(count, at + 4)
    const v = tag === 273 ? dataAt : tag === 320 ? mapAt : value
    if (type === 3 && count === 1) out.writeUInt16LE(v, at + 8)
    else out.writeUInt32LE(v, at + 8)
  })
  for (let c = 0; c < 3; c++) for (let i = 0; i < 256; i++) out.writeUInt16LE((colours[i]?.[c] ?? 0) * 257, mapAt + (c * 256 + i) * 2)
  indices.copy(out, dataAt)
  return out
}

test('a palette TIFF is expanded through its colour map', async (t) => {
  const indices = Buffer.alloc(64 * 48)
  for (let y = 0; y < 48; y++) for (let x = 0; x < 64; x++) indices[y * 64 + x] = (y < 24 ? 0 : 2) + (x < 32 ? 0 : 1)
  const input = paletteTiff(64, 48, indices, QUADRANT_COLOURS.map((c) => [...c]))
  const got = await ours(input)
  t.deepEqual(pixelAt(got, 10, 10), [...QUADRANT_COLOURS[0]])
  t.deepEqual(pixelAt(got, 50, 40), [...QUADRANT_COLOURS[3]])
  t.true(meanAbsDiff(got, await reference(input), 3) < 1)
})

test('a CMYK TIFF without a profile matches sharp, which assumes a standard CMYK profile too', async (t) => {
  const input = await fromRaw(SOURCE).toColourspace('cmyk').tiff({ compression: 'lzw' }).toBuffer()
  t.false(Boolean((await sharp(input).metadata()).icc))
  const got = await ours(input)
  // FOGRA39 here and libvips' built-in CMYK profile in sharp are two standard print conditions;
  // they differ by about 16 levels on average on these saturated quadrants.
  const diff = meanAbsDiff(got, await reference(input), 3)
  t.true(diff < 20, `mean difference ${diff}`)
  // That quadrant is C 53 % + Y 100 %: the naive formula makes its green 255, print is duller.
  t.true(pixelAt(got, 48, 12)[1] < 230, `green quadrant ${pixelAt(got, 48, 12)}`)
})
