import test from 'ava'
import sharp from 'sharp'

import { DecodeError, probe, thumbnail, TooLargeError, UnsupportedFormatError } from '../ts/index.js'
import { decode, fromRaw, meanAbsDiff, once, pixelAt, QUADRANT_COLOURS, quadrants, type Raw } from './helpers/fixtures.js'
import { clap, imir, irot, withProperties } from './helpers/heif.js'

type T = { true: (v: boolean, m?: string) => void }

function near(t: T, got: number[], want: readonly number[], tol: number, what: string): void {
  want.forEach((w, c) => t.true(Math.abs(got[c] - w) <= tol, `${what}: got ${got} want ${want}`))
}

/** Checks that each quadrant centre of `raw` has the colour `colours[q]`. */
function quadrantsAre(t: T, raw: Raw, colours: readonly (readonly number[])[], tol: number, what: string): void {
  const { width: w, height: h } = raw
  const centres = [
    [w / 4, h / 4],
    [(3 * w) / 4, h / 4],
    [w / 4, (3 * h) / 4],
    [(3 * w) / 4, (3 * h) / 4],
  ]
  centres.forEach(([x, y], q) => near(t, pixelAt(raw, Math.floor(x), Math.floor(y)).slice(0, 3), colours[q], tol, `${what} quadrant ${q}`))
}

const SOURCE = quadrants(64, 48)
const avifAt = (bitdepth: 8 | 10 | 12): Promise<Buffer> =>
  once(`avif-${bitdepth}`, () => fromRaw(SOURCE).avif({ quality: 90, bitdepth, chromaSubsampling: '4:2:0' }).toBuffer())

for (const bitdepth of [8, 10, 12] as const) {
  test(`a ${bitdepth}-bit AVIF decodes to the right colours in the right places`, async (t) => {
    const input = await avifAt(bitdepth)
    t.like(probe(input), { format: 'avif', width: 64, height: 48, hasAlpha: false })
    const out = await thumbnail(input, { width: 64, height: 48, format: 'png' })
    t.deepEqual([out.width, out.height], [64, 48])
    quadrantsAre(t, await decode(out.data), QUADRANT_COLOURS, 10, `${bitdepth}-bit`)
    // And it agrees with libheif (through sharp) on the whole picture.
    const ref = await decode(await sharp(input).png().toBuffer())
    t.true(meanAbsDiff(await decode(out.data), ref) < 3)
  })
}

test('a 4:4:4 AVIF and a small thumbnail of a 4:2:0 one keep their colours', async (t) => {
  const full = await fromRaw(SOURCE).avif({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer()
  quadrantsAre(t, await decode((await thumbnail(full, { width: 64, format: 'png' })).data), QUADRANT_COLOURS, 10, '4:4:4')
  // 16×12 is a quarter of the source: the 4:2:0 decode halves while converting.
  const small = await thumbnail(await avifAt(8), { width: 16, height: 12, format: 'png' })
  quadrantsAre(t, await decode(small.data), QUADRANT_COLOURS, 12, 'halved')
})

test('an AVIF with alpha keeps its transparency', async (t) => {
  const rgba = Buffer.alloc(64 * 48 * 4)
  for (let i = 0; i < 64 * 48; i++) rgba.set([30, 60, 200, i % 64 < 32 ? 255 : 0], i * 4)
  const input = await sharp(rgba, { raw: { width: 64, height: 48, channels: 4 } }).avif({ quality: 90 }).toBuffer()
  t.true(probe(input).hasAlpha)
  const raw = await decode((await thumbnail(input, { width: 64, height: 48, format: 'png' })).data)
  t.is(raw.channels, 4)
  near(t, pixelAt(raw, 10, 20), [30, 60, 200, 255], 8, 'opaque half')
  t.is(pixelAt(raw, 54, 20)[3], 0)
})

/** `raw` turned `quarter` times anti-clockwise, then mirrored about `axis` (0 = left ↔ right). */
function transformed(raw: Raw, quarter: number, axis?: number): Raw {
  let cur = raw
  for (let i = 0; i < quarter; i++) {
    const { width: w, height: h, channels: c } = cur
    const data = Buffer.alloc(w * h * c)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) cur.data.copy(data, (((w - 1 - x) * h) + y) * c, (y * w + x) * c, (y * w + x + 1) * c)
    cur = { data, width: h, height: w, channels: c }
  }
  if (axis === undefined) return cur
  const { width: w, height: h, channels: c } = cur
  const data = Buffer.alloc(w * h * c)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [sx, sy] = axis === 0 ? [w - 1 - x, y] : [x, h - 1 - y]
      cur.data.copy(data, (y * w + x) * c, (sy * w + sx) * c, (sy * w + sx + 1) * c)
    }
  return { data, width: w, height: h, channels: c }
}

const colourAtCentres = (raw: Raw): number[][] =>
  [
    [raw.width / 4, raw.height / 4],
    [(3 * raw.width) / 4, raw.height / 4],
    [raw.width / 4, (3 * raw.height) / 4],
    [(3 * raw.width) / 4, (3 * raw.height) / 4],
  ].map(([x, y]) => pixelAt(raw, Math.floor(x), Math.floor(y)))

for (const quarter of [0, 1, 2, 3]) {
  for (const axis of [undefined, 0, 1]) {
    const name = `irot ${quarter}${axis === undefined ? '' : ` + imir ${axis}`}`
    test(`an AVIF with ${name} comes out upright`, async (t) => {
      const props = [...(quarter ? [irot(quarter)] : []), ...(axis === undefined ? [] : [imir(axis)])]
      if (props.length === 0) return t.pass()
      const input = withProperties(await avifAt(8), props)
      const want = transformed(SOURCE, quarter, axis)
      t.like(probe(input), { width: want.width, height: want.height })
      const out = await decode((await thumbnail(input, { width: want.width, height: want.height, format: 'png' })).data)
      t.deepEqual([out.width, out.height], [want.width, want.height])
      quadrantsAre(t, out, colourAtCentres(want), 12, name)
    })
  }
}

test('an AVIF clean aperture crops the picture', async (t) => {
  // 32×24 window whose centre is 16 px left and 12 px up of the image centre: the top-left quadrant.
  const input = withProperties(await avifAt(8), [clap(32, 24, -16, -12)])
  t.like(probe(input), { width: 32, height: 24 })
  const out = await decode((await thumbnail(input, { width: 32, height: 24, format: 'png' })).data)
  t.deepEqual([out.width, out.height], [32, 24])
  for (const [x, y] of [[2, 2], [29, 21], [16, 12]]) near(t, pixelAt(out, x, y), QUADRANT_COLOURS[0], 14, `(${x}, ${y})`)
})

test('AVIF output decodes in sharp with the right pixels, alpha included', async (t) => {
  const png = await fromRaw(quadrants(300, 200)).png().toBuffer()
  const out = await thumbnail(png, { width: 150, height: 100, format: 'avif', quality: 85 })
  t.is(out.data.subarray(4, 12).toString('latin1'), 'ftypavif')
  const meta = await sharp(out.data).metadata()
  t.like(meta, { format: 'heif', width: 150, height: 100, hasAlpha: false })
  quadrantsAre(t, await decode(await sharp(out.data).png().toBuffer()), QUADRANT_COLOURS, 12, 'round trip')
  const rgba = Buffer.alloc(100 * 100 * 4)
  for (let i = 0; i < 100 * 100; i++) rgba.set([200, 40, 40, i % 100 < 50 ? 255 : 0], i * 4)
  const withAlpha = await sharp(rgba, { raw: { width: 100, height: 100, channels: 4 } }).png().toBuffer()
  const a = await thumbnail(withAlpha, { width: 50, height: 50, format: 'avif', speed: 6 })
  const back = await decode(await sharp(a.data).png().toBuffer())
  t.is(back.channels, 4)
  near(t, pixelAt(back, 10, 25), [200, 40, 40, 255], 12, 'opaque')
  t.true(pixelAt(back, 45, 25)[3] < 8)
})

test('the AVIF quality and speed options change the output', async (t) => {
  const png = await fromRaw(quadrants(300, 200)).png().toBuffer()
  const low = await thumbnail(png, { width: 150, format: 'avif', quality: 20 })
  const high = await thumbnail(png, { width: 150, format: 'avif', quality: 95 })
  t.true(low.data.length < high.data.length)
  await t.throwsAsync(thumbnail(png, { width: 150, format: 'avif', speed: 11 }), { message: /speed/ })
})

test('HEIC is refused with ERR_UNSUPPORTED_FORMAT and a message that names it', async (t) => {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1')])
  const input = Buffer.concat([ftyp, Buffer.alloc(64)])
  const err = await t.throwsAsync(thumbnail(input, { width: 10 }))
  t.true(err instanceof UnsupportedFormatError, String(err))
  t.is((err as UnsupportedFormatError).code, 'ERR_UNSUPPORTED_FORMAT')
  t.regex(err!.message, /HEIC/)
})

test('an AVIF or TIFF that declares a huge size is refused before decoding', async (t) => {
  const avif = Buffer.from(await avifAt(8))
  const ispe = avif.indexOf('ispe') + 8
  avif.writeUInt32BE(100_000, ispe)
  avif.writeUInt32BE(100_000, ispe + 4)
  const tiff = Buffer.from(await fromRaw(SOURCE).tiff().toBuffer())
  patchTiffSize(tiff, 100_000, 100_000)
  for (const input of [avif, tiff]) {
    const err = await t.throwsAsync(thumbnail(input, { width: 10 }))
    t.true(err instanceof TooLargeError, String(err))
  }
})

/** Rewrites ImageWidth / ImageLength of the first IFD of a little-endian TIFF. */
function patchTiffSize(tiff: Buffer, width: number, height: number): void {
  const ifd = tiff.readUInt32LE(4)
  const n = tiff.readUInt16LE(ifd)
  for (let i = 0; i < n; i++) {
    const at = ifd + 2 + i * 12
    const tag = tiff.readUInt16LE(at)
    if (tag !== 256 && tag !== 257) continue
    tiff.writeUInt16LE(4, at + 2) // LONG
    tiff.writeUInt32LE(1, at + 4)
    tiff.writeUInt32LE(tag === 256 ? width : height, at + 8)
  }
}

test('a truncated AVIF is a DecodeError', async (t) => {
  const input = await avifAt(8)
  const err = await t.throwsAsync(thumbnail(input.subarray(0, input.length - 40), { width: 10 }))
  t.true(err instanceof DecodeError, String(err))
})
