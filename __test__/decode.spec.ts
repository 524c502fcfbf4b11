import test from 'ava'
import { Transformer } from '@napi-rs/image'
import sharp from 'sharp'

import { DecodeError, probe, thumbnail, TooLargeError, UnsupportedFormatError } from '../ts/index.js'
import { animated, decode, encodePng, fixtures, fromRaw, meanAbsDiff, meanColour, pixelAt, pngHeaderBomb, QUADRANT_COLOURS, quadrants, type Raw } from './helpers/fixtures.js'

/** Asserts each channel of `got` is within `tol` of `want`. */
function near(t: { true: (v: boolean, m?: string) => void }, got: number[], want: readonly number[], tol: number, what: string): void {
  want.forEach((w, c) => t.true(Math.abs(got[c] - w) <= tol, `${what}: got ${got.map((v) => v.toFixed(1))} want ${want}`))
}

/** Quadrant centres of a thumbnail of {@link quadrants}. */
function quadrantCentres(raw: { width: number; height: number }): Array<[number, number]> {
  const { width: w, height: h } = raw
  return [
    [Math.floor(w / 4), Math.floor(h / 4)],
    [Math.floor((3 * w) / 4), Math.floor(h / 4)],
    [Math.floor(w / 4), Math.floor((3 * h) / 4)],
    [Math.floor((3 * w) / 4), Math.floor((3 * h) / 4)],
  ]
}

const QUADRANT_INPUTS = {
  'an 8-bit PNG': fixtures.png,
  'an interlaced PNG': fixtures.pngInterlaced,
  'a palette PNG': fixtures.pngPalette,
  'a lossy WebP': fixtures.webpLossy,
  'a lossless WebP': fixtures.webpLossless,
  'a GIF': fixtures.gif,
  'a JPEG': fixtures.jpeg,
}

for (const [name, build] of Object.entries(QUADRANT_INPUTS)) {
  test(`${name} decodes to the right colours in the right places`, async (t) => {
    const out = await thumbnail(await build(), { width: 150, height: 100, format: 'png' })
    t.deepEqual([out.width, out.height, out.sourceWidth, out.sourceHeight], [150, 100, 300, 200])
    const raw = await decode(out.data)
    quadrantCentres(raw).forEach(([x, y], q) => near(t, pixelAt(raw, x, y), QUADRANT_COLOURS[q], 8, `${name} quadrant ${q}`))
  })

  // @napi-rs/image does not decode GIF; sharp is the reference there.
  const reference = name === 'a GIF' ? 'sharp' : '@napi-rs/image'
  test(`${name} matches ${reference} in size and mean colour`, async (t) => {
    const input = await build()
    let meta: { width: number; height: number }
    let refRaw: { data: Buffer; width: number; height: number; channels: number }
    if (reference === 'sharp') {
      refRaw = await decode(input)
      meta = refRaw
    } else {
      const tr = new Transformer(input)
      meta = tr.metadataSync()
      const px = tr.rawPixelsSync()
      refRaw = { data: px, width: meta.width, height: meta.height, channels: px.length / (meta.width * meta.height) }
    }
    const info = probe(input)
    t.deepEqual([info.width, info.height], [meta.width, meta.height])
    const out = await thumbnail(input, { width: meta.width, height: meta.height, format: 'png' })
    const ours = await decode(out.data)
    t.deepEqual([ours.width, ours.height], [meta.width, meta.height])
    near(t, meanColour(ours, 3), meanColour(refRaw, 3), 2, name)
  })
}

test('a 16-bit PNG is reduced to 8 bits with rounding', async (t) => {
  const out = await thumbnail(await fixtures.png16(), { width: 120, height: 80, format: 'png' })
  const raw = await decode(out.data)
  t.deepEqual(pixelAt(raw, 0, 10), [0, 0, 0])
  t.deepEqual(pixelAt(raw, 119, 10), [255, 255, 255])
  // x = 60 holds round(60/119 * 65535) = 33042 → 33042 * 255 / 65535 = 128.56 → 129 (truncation gives 128).
  t.deepEqual(pixelAt(raw, 60, 10), [129, 129, 129])
})

test('a transparent PNG flattened to JPEG sits on a white background by default', async (t) => {
  const out = await thumbnail(await fixtures.pngAlpha(), { width: 100, height: 100 })
  t.is(out.format, 'jpeg')
  const raw = await decode(out.data)
  t.is(raw.channels, 3)
  near(t, pixelAt(raw, 20, 50), [255, 0, 0], 10, 'opaque half')
  near(t, pixelAt(raw, 80, 50), [255, 255, 255], 4, 'transparent half')
})

test('the flattening background is configurable', async (t) => {
  const out = await thumbnail(await fixtures.pngAlpha(), { width: 100, height: 100, background: '#000080' })
  near(t, pixelAt(await decode(out.data), 80, 50), [0, 0, 128], 6, 'transparent half')
})

test('alpha survives into PNG and WebP outputs', async (t) => {
  for (const format of ['png', 'webp'] as const) {
    const out = await thumbnail(await fixtures.webpAlpha(), { width: 50, height: 50, format })
    const raw = await decode(out.data)
    t.is(raw.channels, 4, format)
    t.is(pixelAt(raw, 10, 25)[3], 255, format)
    t.is(pixelAt(raw, 40, 25)[3], 0, format)
    near(t, pixelAt(raw, 10, 25).slice(0, 3), [0, 255, 0], 3, format)
  }
})

test('a CMYK JPEG with an embedded profile is converted to sRGB through that profile', async (t) => {
  const input = await fixtures.cmykJpeg(true)
  t.true((await sharp(input).metadata()).hasProfile)
  const out = await thumbnail(input, { width: 100, height: 100, format: 'png' })
  const raw = await decode(out.data)
  t.is(raw.channels, 3)
  // The reference is libvips' own profile-based CMYK → sRGB conversion of the same file (the
  // original RGB is partly out of the CMYK gamut, so it cannot be the reference).
  const { data, info } = await sharp(input).toColourspace('srgb').resize(100, 100).raw().toBuffer({ resolveWithObject: true })
  const ref = { data, width: info.width, height: info.height, channels: info.channels }
  quadrantCentres(raw).forEach(([x, y], q) => near(t, pixelAt(raw, x, y), pixelAt(ref, x, y), 12, `quadrant ${q}`))
  // And it is not the naive conversion, which would leave the green far more saturated.
  const naive = await decode((await thumbnail(await fixtures.cmykJpeg(false), { width: 100, height: 100, format: 'png' })).data)
  t.notDeepEqual(pixelAt(naive, 75, 25), pixelAt(raw, 75, 25))
})

test('a CMYK JPEG without a profile keeps black black and white white', async (t) => {
  const raw = Buffer.alloc(40 * 20 * 3, 0)
  for (let y = 0; y < 20; y++) for (let x = 20; x < 40; x++) raw.fill(255, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3)
  const src = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer()
  t.is((await sharp(src).metadata()).space, 'cmyk')
  const out = await decode((await thumbnail(src, { width: 40, height: 20, format: 'png' })).data)
  // The file carries no profile, so it is read through the bundled FOGRA39 print profile: sharp's
  // rich black (made through libvips' own CMYK profile) prints as a deep near-black on coated paper,
  // not as RGB 0; the naive (1 - C)(1 - K) formula, which gave exactly 0, is gone.
  near(t, pixelAt(out, 5, 10), [0, 0, 0], 48, 'black half')
  near(t, pixelAt(out, 35, 10), [255, 255, 255], 8, 'white half')
})

test('a corrupt JPEG is a DecodeError', async (t) => {
  const good = await fixtures.jpeg()
  // Keep every header up to and including SOS, then entropy data that is a run of stuffed 0xFF
  // bytes (all 1 bits: no Huffman table may use that code); and a file cut before its first scan.
  const sos = good.indexOf(Buffer.from([0xff, 0xda]))
  const sosEnd = sos + 2 + good.readUInt16BE(sos + 2)
  const garbage = Buffer.from(Array.from({ length: 512 }, (_, i) => (i % 2 ? 0x00 : 0xff)))
  for (const bad of [Buffer.concat([good.subarray(0, sosEnd), garbage, Buffer.from([0xff, 0xd9])]), good.subarray(0, sos)]) {
    const err = await t.throwsAsync(thumbnail(bad, { width: 50, height: 50 }))
    t.true(err instanceof DecodeError, String(err))
    t.is((err as DecodeError).code, 'ERR_DECODE')
  }
})

test('a truncated PNG is a DecodeError', async (t) => {
  const good = await fixtures.png()
  const err = await t.throwsAsync(thumbnail(good.subarray(0, Math.floor(good.length / 2)), { width: 50, height: 50 }))
  t.true(err instanceof DecodeError, String(err))
  t.is((err as DecodeError).code, 'ERR_DECODE')
})

// Serial: ava runs serial tests first, so the timing is not spent queued behind other
// tests' thumbnails on the libuv pool.
test.serial('a header claiming 100000×100000 fails fast with TooLargeError naming the option', async (t) => {
  const started = performance.now()
  const err = await t.throwsAsync(thumbnail(pngHeaderBomb(100_000, 100_000), { width: 100, height: 100 }))
  t.true(performance.now() - started < 500)
  t.true(err instanceof TooLargeError, String(err))
  t.is((err as TooLargeError).code, 'ERR_TOO_LARGE')
  t.regex((err as Error).message, /maxInputPixels/)
  t.is((err as TooLargeError).status, 413)
})

test('the pixel limit is configurable and counts every animation frame', async (t) => {
  const img = await fixtures.png()
  await t.throwsAsync(thumbnail(img, { width: 10, maxInputPixels: 300 * 200 - 1 }), { instanceOf: TooLargeError })
  await t.notThrowsAsync(thumbnail(img, { width: 10, maxInputPixels: 300 * 200 }))
  // Distinct frames: encoders merge identical consecutive frames.
  const black = { ...quadrants(40, 30), data: Buffer.alloc(40 * 30 * 3) }
  const white = { ...quadrants(40, 30), data: Buffer.alloc(40 * 30 * 3, 255) }
  const anim = await animated([quadrants(40, 30), black, white], 'gif')
  t.is(probe(anim).frames, 3)
  await t.throwsAsync(thumbnail(anim, { width: 10, maxInputPixels: 40 * 30 * 2 }), { instanceOf: TooLargeError })
  const out = await thumbnail(anim, { width: 40, height: 30, format: 'png', maxInputPixels: 40 * 30 * 3 })
  near(t, pixelAt(await decode(out.data), 5, 5), QUADRANT_COLOURS[0], 8, 'first frame')
})

test('the byte limit rejects large inputs before decoding', async (t) => {
  const img = await fixtures.png()
  const err = await t.throwsAsync(thumbnail(img, { width: 10, maxInputBytes: img.length - 1 }), { instanceOf: TooLargeError })
  t.regex(err!.message, /maxInputBytes/)
})

test('random bytes are an UnsupportedFormatError', async (t) => {
  const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251))
  const err = await t.throwsAsync(thumbnail(bytes, { width: 10 }))
  t.true(err instanceof UnsupportedFormatError, String(err))
  t.is((err as UnsupportedFormatError).code, 'ERR_UNSUPPORTED_FORMAT')
  t.throws(() => probe(bytes), { instanceOf: UnsupportedFormatError })
})

test('the format is detected from the bytes, not trusted from anywhere else', async (t) => {
  t.is(probe(await fixtures.png()).format, 'png')
  t.is(probe(await fixtures.jpeg()).format, 'jpeg')
  t.is(probe(await fixtures.webpLossy()).format, 'webp')
  t.is(probe(await fixtures.gif()).format, 'gif')
  t.true(probe(await fixtures.webpAlpha()).hasAlpha)
  t.false(probe(await fixtures.jpeg()).hasAlpha)
})

test('an animated WebP thumbnails its first frame', async (t) => {
  const black = { ...quadrants(40, 30), data: Buffer.alloc(40 * 30 * 3) }
  const anim = await animated([quadrants(40, 30), black], 'webp')
  const info = probe(anim)
  t.is(info.frames, 2)
  const out = await decode((await thumbnail(anim, { width: 40, height: 30, format: 'png' })).data)
  near(t, pixelAt(out, 5, 5), QUADRANT_COLOURS[0], 4, 'top-left of frame 1')
})

for (const format of ['png', 'jpeg', 'webp'] as const) {
  test(`a ${format} with an embedded Display P3 profile is converted to sRGB`, async (t) => {
    const input = await fromRaw(quadrants(40, 40)).withIccProfile('p3')[format]({ quality: 95 } as never).toBuffer()
    // The stored samples are P3 values (green is about 95,197,66): without the conversion the
    // assertion below fails by far more than its tolerance.
    const out = await decode((await thumbnail(input, { width: 40, height: 40, format: 'png' })).data)
    quadrantCentres(out).forEach(([x, y], q) => near(t, pixelAt(out, x, y), QUADRANT_COLOURS[q], format === 'png' ? 6 : 12, `quadrant ${q}`))
  })
}

// Serial: ava runs serial tests first, so the timing is not spent queued behind other
// tests' thumbnails on the libuv pool.
test.serial('a JPEG header claiming 65000×65000 fails fast with TooLargeError', async (t) => {
  const header = Buffer.from([
    0xff, 0xd8,
    0xff, 0xc0, 0x00, 0x11, 0x08, 0xfd, 0xe8, 0xfd, 0xe8, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
    0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xd9,
  ])
  t.deepEqual([probe(header).width, probe(header).height], [65000, 65000])
  const started = performance.now()
  await t.throwsAsync(thumbnail(header, { width: 100 }), { instanceOf: TooLargeError, message: /maxInputPixels/ })
  t.true(performance.now() - started < 500)
})

test('a large WebP is scaled while decoding and keeps its colours and geometry', async (t) => {
  const input = await fromRaw(quadrants(1600, 1200)).webp({ quality: 90 }).toBuffer()
  const out = await thumbnail(input, { width: 100, height: 100, format: 'png' })
  t.deepEqual([out.width, out.height, out.sourceWidth, out.sourceHeight], [100, 100, 1600, 1200])
  const raw = await decode(out.data)
  quadrantCentres(raw).forEach(([x, y], q) => near(t, pixelAt(raw, x, y), QUADRANT_COLOURS[q], 10, `quadrant ${q}`))
  // The quadrant border stays in the middle: a shrink that broke the geometry would move it.
  near(t, pixelAt(raw, 48, 25), QUADRANT_COLOURS[0], 30, 'left of the border')
  near(t, pixelAt(raw, 51, 25), QUADRANT_COLOURS[1], 30, 'right of the border')
})

test('a GIF screen claiming 65535×65535 is refused by the pixel limit', async (t) => {
  const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0]), Buffer.from('garbage')])
  t.like(probe(gif), { format: 'gif', width: 65535, height: 65535 })
  await t.throwsAsync(thumbnail(gif, { width: 100 }), { instanceOf: TooLargeError, message: /maxInputPixels/ })
})

test('gray JPEG and gray+alpha PNG sources come out as neutral RGB', async (t) => {
  const grayJpeg = await fromRaw(quadrants(64, 64)).toColourspace('b-w').jpeg({ quality: 95 }).toBuffer()
  t.is((await sharp(grayJpeg).metadata()).channels, 1)
  const fromJpeg = await decode((await thumbnail(grayJpeg, { width: 32, height: 32, format: 'png' })).data)
  t.is(fromJpeg.channels, 3)
  const [r, g, b] = pixelAt(fromJpeg, 8, 8)
  t.true(r === g && g === b, `${r},${g},${b}`)
  const ga = Buffer.alloc(64 * 64 * 2)
  for (let i = 0; i < 64 * 64; i++) ga.set([i % 64 < 32 ? 40 : 200, i % 64 < 32 ? 255 : 0], i * 2)
  const grayAlpha = await sharp(ga, { raw: { width: 64, height: 64, channels: 2 } }).png().toBuffer()
  const flat = await decode((await thumbnail(grayAlpha, { width: 64, height: 64 })).data)
  near(t, pixelAt(flat, 10, 10), [40, 40, 40], 4, 'opaque gray')
  near(t, pixelAt(flat, 50, 10), [255, 255, 255], 4, 'transparent over white')
})

/** A smooth RGB image (diagonal ramps): JPEG's DC-only and scaled decodes are accurate on it, so progressive and baseline thumbnails can be compared pixel by pixel. */
function smooth(width: number, height: number): Raw {
  const data = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 255) / width, (y * 255) / height, ((x + y) * 255) / (width + height)], (y * width + x) * 3)
  }
  return { data, width, height, channels: 3 }
}

// 2048×1536 → 64 px needs 171×64 source pixels: 1/8 (256×192) is enough, and without chroma
// subsampling a progressive file takes the DC-only decoder. 1024×768 → 128 needs 171×128: 1/4.
for (const [label, side, size, chromaSubsampling] of [
  ['the DC-only path (1/8 scale)', 2048, 64, '4:4:4'],
  ['the 1/4-scale path', 1024, 128, '4:2:0'],
] as const) {
  test(`a progressive JPEG thumbnails like the baseline JPEG of the same image through ${label}`, async (t) => {
    const raw = smooth(side, (side * 3) / 4)
    const baseline = await fromRaw(raw).jpeg({ quality: 90, chromaSubsampling }).toBuffer()
    const progressive = await fromRaw(raw).jpeg({ quality: 90, chromaSubsampling, progressive: true }).toBuffer()
    t.is(baseline.indexOf(Buffer.from([0xff, 0xc2])), -1, 'the baseline input has no SOF2 marker')
    t.not(progressive.indexOf(Buffer.from([0xff, 0xc2])), -1, 'the progressive input has an SOF2 marker')
    const options = { width: size, height: size, format: 'png' } as const
    const a = await decode((await thumbnail(baseline, options)).data)
    const b = await decode((await thumbnail(progressive, options)).data)
    t.deepEqual([b.width, b.height], [size, size])
    t.true(meanAbsDiff(a, b) < 1.5, `mean difference ${meanAbsDiff(a, b)}`)
    const want = await decode(await fromRaw(raw).resize(size, size).png().toBuffer())
    t.true(meanAbsDiff(b, want) < 3, `mean difference from sharp ${meanAbsDiff(b, want)}`)
  })
}


test('a large PNG is shrunk while its rows stream in and keeps its colours and geometry', async (t) => {
  const raw = quadrants(1600, 1200)
  const plain = await fromRaw(raw).png({ compressionLevel: 1 }).toBuffer()
  const out = await thumbnail(plain, { width: 100, height: 100, format: 'png' })
  t.deepEqual([out.width, out.height, out.sourceWidth, out.sourceHeight], [100, 100, 1600, 1200])
  const ours = await decode(out.data)
  quadrantCentres(ours).forEach(([x, y], q) => t.deepEqual(pixelAt(ours, x, y), [...QUADRANT_COLOURS[q]], `quadrant ${q}`))
  near(t, pixelAt(ours, 48, 25), QUADRANT_COLOURS[0], 30, 'left of the border')
  near(t, pixelAt(ours, 51, 25), QUADRANT_COLOURS[1], 30, 'right of the border')
  const want = await decode(await fromRaw(raw).resize(100, 100).png().toBuffer())
  t.true(meanAbsDiff(ours, want) < 2, `mean difference from sharp ${meanAbsDiff(ours, want)}`)
  // Adam7 files are decoded whole, then shrunk by the same boxes: identical pixels.
  const interlaced = await fromRaw(raw).png({ progressive: true, compressionLevel: 1 }).toBuffer()
  const fromInterlaced = await decode((await thumbnail(interlaced, { width: 100, height: 100, format: 'png' })).data)
  t.deepEqual(fromInterlaced.data, ours.data)
})

test('transparent pixels of a large PNG do not bleed their hidden colour into the shrunk edge', async (t) => {
  // Left half opaque red, right half fully transparent but green underneath.
  const w = 1200
  const h = 800
  const rgba = Buffer.alloc(w * h * 4)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgba.set(x < w / 2 ? [255, 0, 0, 255] : [0, 255, 0, 0], (y * w + x) * 4)
  const input = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png({ compressionLevel: 1 }).toBuffer()
  const raw = await decode((await thumbnail(input, { width: 60, height: 40, format: 'png' })).data)
  t.is(raw.channels, 4)
  t.deepEqual(pixelAt(raw, 10, 20), [255, 0, 0, 255])
  t.is(pixelAt(raw, 50, 20)[3], 0)
  for (let x = 0; x < 60; x++) {
    const [r, g, , a] = pixelAt(raw, x, 20)
    if (a > 32) t.true(g <= 2 && r >= 240, `x=${x}: ${pixelAt(raw, x, 20)} carries hidden green`)
  }
})

test('a large 16-bit PNG shrinks like its 8-bit rounding', async (t) => {
  const w = 1200
  const h = 300
  const rows: Buffer[] = []
  const eight = Buffer.alloc(w * h)
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 2)
    for (let x = 0; x < w; x++) {
      const v = Math.round(((x * 7 + y * 3) % 1024) * 64)
      row.writeUInt16BE(v, 1 + x * 2)
      eight[y * w + x] = Math.round((v * 255) / 65535)
    }
    rows.push(row)
  }
  const wide = encodePng(w, h, 16, 0, Buffer.concat(rows))
  const narrow = await sharp(eight, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer()
  const options = { width: 100, height: 25, format: 'png' } as const
  const a = await decode((await thumbnail(wide, options)).data)
  const b = await decode((await thumbnail(narrow, options)).data)
  t.deepEqual([a.width, a.height], [100, 25])
  t.deepEqual(a.data, b.data)
})

/**
 * The progressive-JPEG scan bomb: a flat 2000×2000 progressive JPEG whose last scan (a small
 * refinement scan) is repeated `extra` times before EOI.
 */
async function scanBomb(extra: number): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#808080' } })
    .jpeg({ progressive: true, quality: 80 })
    .toBuffer()
  const eoi = jpeg.length - 2
  const lastSos = jpeg.lastIndexOf(Buffer.from([0xff, 0xda]))
  const scan = jpeg.subarray(lastSos, eoi)
  return Buffer.concat([jpeg.subarray(0, eoi), ...Array.from({ length: extra }, () => scan), Buffer.from([0xff, 0xd9])])
}

test('a progressive JPEG with thousands of repeated scans is refused fast with ERR_TOO_LARGE naming maxScans', async (t) => {
  const bomb = await scanBomb(12_000)
  const start = performance.now()
  const err = await t.throwsAsync(thumbnail(bomb, { width: 1024, height: 1024 }), { instanceOf: TooLargeError })
  const ms = performance.now() - start
  t.is(err?.code, 'ERR_TOO_LARGE')
  t.regex(err?.message ?? '', /maxScans/)
  t.true(ms < 1000, `refused in ${ms.toFixed(0)} ms`)
  // the same file under a cap that lets it through decodes, so the cap is what refused it
  const ok = await thumbnail(await scanBomb(5), { width: 64, height: 64, maxScans: 1000 })
  t.is(ok.width, 64)
})

test('maxScans is validated before native code', async (t) => {
  await t.throwsAsync(thumbnail(Buffer.alloc(4), { width: 10, maxScans: 0 }), {
    message: 'Expected positive integer for maxScans but received 0 of type number',
  })
})

test('an AbortSignal stops a slow render in the middle of decoding', async (t) => {
  const bomb = await scanBomb(3000)
  const controller = new AbortController()
  const render = thumbnail(bomb, { width: 1024, height: 1024, maxScans: 100_000, signal: controller.signal })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const aborted = performance.now()
  controller.abort()
  const err = await t.throwsAsync(render)
  const ms = performance.now() - aborted
  t.is((err as { code?: string }).code, 'ERR_ABORTED')
  t.true(ms < 300, `stopped ${ms.toFixed(0)} ms after the abort`)
})
