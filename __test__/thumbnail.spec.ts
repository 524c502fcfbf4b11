import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import {
  AbortError,
  DecodeError,
  InvalidOptionError,
  IoError,
  probe,
  probeFile,
  thumbnail,
  THUMBNAIL_DEFAULTS,
  thumbnailFile,
  TooLargeError,
  type ThumbnailOptions,
} from '../ts/index.js'
import { decode, fixtures, flatWithNoise, fromRaw, meanColour, pixelAt, QUADRANT_COLOURS, type Raw } from './helpers/fixtures.js'

/** 300×100: left third red, middle green, right third blue. */
const thirds = (() => {
  const raw: Raw = { data: Buffer.alloc(300 * 100 * 3), width: 300, height: 100, channels: 3 }
  for (let y = 0; y < 100; y++) for (let x = 0; x < 300; x++) raw.data.set(x < 100 ? [255, 0, 0] : x < 200 ? [0, 255, 0] : [0, 0, 255], (y * 300 + x) * 3)
  return fromRaw(raw).png().toBuffer()
})()

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-thumbnail-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function near(t: { true: (v: boolean, m?: string) => void }, got: number[], want: readonly number[], tol: number, what = ''): void {
  want.forEach((w, c) => t.true(Math.abs(got[c] - w) <= tol, `${what} got ${got} want ${want}`))
}

/** Standard deviation of the first channel, to tell flat regions from noise. */
function spread(raw: Raw, x0: number, x1: number): number {
  const values: number[] = []
  for (let y = 0; y < raw.height; y++) for (let x = x0; x < x1; x++) values.push(raw.data[(y * raw.width + x) * raw.channels])
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)
}

test('the defaults are frozen and documented values', (t) => {
  t.true(Object.isFrozen(THUMBNAIL_DEFAULTS))
  t.like(THUMBNAIL_DEFAULTS, {
    method: 'crop',
    format: 'jpeg',
    quality: 80,
    progressive: false,
    upscale: false,
    background: '#ffffff',
    maxInputPixels: 50_000_000,
    maxInputBytes: 64 * 1024 * 1024,
    maxOutputSide: 8192,
  })
})

test('crop covers the box and keeps the centre by default', async (t) => {
  const out = await thumbnail(await thirds, { width: 100, height: 100, format: 'png' })
  t.deepEqual([out.width, out.height, out.format], [100, 100, 'png'])
  const raw = await decode(out.data)
  near(t, meanColour(raw), [0, 255, 0], 1)
})

test('gravity picks the side that crop keeps', async (t) => {
  const expected = { west: [255, 0, 0], east: [0, 0, 255], north: [0, 255, 0], southwest: [255, 0, 0] } as const
  for (const [gravity, colour] of Object.entries(expected)) {
    const out = await thumbnail(await thirds, { width: 100, height: 100, format: 'png', gravity: gravity as ThumbnailOptions['gravity'] })
    near(t, meanColour(await decode(out.data)), colour, 1, gravity)
  }
})

test('a focal point keeps that point as central as the bounds allow', async (t) => {
  const blue = await thumbnail(await thirds, { width: 100, height: 100, format: 'png', focalPoint: { x: 0.9, y: 0.5 } })
  near(t, meanColour(await decode(blue.data)), [0, 0, 255], 1, 'x=0.9')
  // Centred on x = 0.4 * 300 = 120: the window spans 70..170, red then green.
  const mixed = await decode((await thumbnail(await thirds, { width: 100, height: 100, format: 'png', focalPoint: { x: 0.4, y: 0.5 } })).data)
  near(t, pixelAt(mixed, 10, 50), [255, 0, 0], 2, 'left edge')
  near(t, pixelAt(mixed, 90, 50), [0, 255, 0], 2, 'right edge')
})

test('scale fits inside the box, and one auto side follows the aspect ratio', async (t) => {
  const input = await fixtures.png()
  const cases: Array<[ThumbnailOptions, number, number]> = [
    [{ width: 100, height: 100, method: 'scale' }, 100, 67],
    [{ width: 150 }, 150, 100],
    [{ height: 50 }, 75, 50],
    [{ width: 150, height: 0, method: 'smart' }, 150, 100],
  ]
  for (const [opts, w, h] of cases) {
    const out = await thumbnail(input, { ...opts, format: 'png' })
    t.deepEqual([out.width, out.height], [w, h], JSON.stringify(opts))
    const raw = await decode(out.data)
    t.deepEqual([raw.width, raw.height], [w, h])
    near(t, pixelAt(raw, 2, 2), QUADRANT_COLOURS[0], 10, 'top-left')
    near(t, pixelAt(raw, w - 3, h - 3), QUADRANT_COLOURS[3], 10, 'bottom-right')
  }
})

test('images are never upscaled unless upscale is set', async (t) => {
  const input = await fixtures.png()
  // B3: without upscaling, crop only removes what exceeds the target (diff = W - min(W, tx)).
  const small = await thumbnail(input, { width: 600, height: 600, format: 'png' })
  t.deepEqual([small.width, small.height], [300, 200])
  const narrow = await thumbnail(input, { width: 100, height: 600, format: 'png' })
  t.deepEqual([narrow.width, narrow.height], [100, 200])
  const scaled = await thumbnail(input, { width: 600, height: 600, method: 'scale', format: 'png' })
  t.deepEqual([scaled.width, scaled.height], [300, 200])
  const big = await thumbnail(input, { width: 600, height: 600, upscale: true, format: 'png' })
  t.deepEqual([big.width, big.height], [600, 600])
  const raw = await decode(big.data)
  t.deepEqual([raw.width, raw.height], [600, 600])
})

// A flat source with a noisy patch near its right edge, which a centre crop to a square misses.
const SMART_CROPS: { title: string; source: Parameters<typeof flatWithNoise>; side: number; patchFrom: number; minSpread: number }[] = [
  {
    title: 'smart crop keeps a high-entropy corner patch that a centre crop cuts off',
    source: [600, 200, 520, 60, 80],
    side: 200,
    patchFrom: 120,
    minSpread: 20,
  },
  {
    title: 'smart crop also works when the source is downscaled first',
    source: [1200, 400, 1000, 100, 200],
    side: 100,
    patchFrom: 60,
    // Downscaling by 4 averages the noise, so its spread is smaller than at full size.
    minSpread: 5,
  },
]

for (const c of SMART_CROPS) {
  test(c.title, async (t) => {
    const input = await fromRaw(flatWithNoise(...c.source)).png().toBuffer()
    const box = { width: c.side, height: c.side, format: 'png' } as const
    const centre = await decode((await thumbnail(input, box)).data)
    t.true(spread(centre, 0, c.side) < 1, 'the centre crop is flat')
    const smart = await decode((await thumbnail(input, { ...box, method: 'smart' })).data)
    t.deepEqual([smart.width, smart.height], [c.side, c.side])
    const patch = spread(smart, c.patchFrom, c.side)
    t.true(patch > c.minSpread, `the patch is in the right part of the smart crop (spread ${patch})`)
  })
}

test('jpeg, png and webp outputs decode to the requested size', async (t) => {
  for (const format of ['jpeg', 'png', 'webp'] as const) {
    const out = await thumbnail(await fixtures.jpeg(), { width: 120, height: 80, format })
    const meta = await sharp(out.data).metadata()
    t.is(meta.format, format)
    t.deepEqual([meta.width, meta.height], [120, 80])
    t.falsy(meta.exif, 'no EXIF is written')
    t.falsy(meta.icc, 'no ICC profile is written')
  }
})

test('quality, progressive and lossless reach the encoders', async (t) => {
  const input = await fromRaw(flatWithNoise(300, 200, 0, 0, 200)).png().toBuffer()
  const low = await thumbnail(input, { width: 200, height: 200, quality: 20 })
  const high = await thumbnail(input, { width: 200, height: 200, quality: 95 })
  t.true(low.data.length < high.data.length)
  t.true((await sharp((await thumbnail(input, { width: 100, progressive: true })).data).metadata()).isProgressive)
  t.false((await sharp(low.data).metadata()).isProgressive)
  const lossless = await thumbnail(input, { width: 200, height: 200, format: 'webp', lossless: true })
  const direct = await decode((await thumbnail(input, { width: 200, height: 200, format: 'png' })).data)
  t.is(Buffer.compare((await decode(lossless.data)).data, direct.data), 0)
})

test('invalid options are rejected before native code with expected-vs-received messages', async (t) => {
  const input = await fixtures.png()
  const cases: Array<[ThumbnailOptions, string]> = [
    [{ width: -3 }, 'Expected positive integer for width but received -3 of type number'],
    [{ width: 1.5 }, 'Expected positive integer for width but received 1.5 of type number'],
    [{ width: '100' as unknown as number }, 'Expected positive integer for width but received "100" of type string'],
    [{ width: 0, height: 0 }, 'Expected a positive integer for width or height but both are 0'],
    [{ width: 10, quality: 0 }, 'Expected integer between 1 and 100 for quality but received 0 of type number'],
    [{ width: 10, method: 'fit' as 'crop' }, 'Expected one of crop, scale, smart for method but received "fit" of type string'],
    [{ width: 10, format: 'gif' as 'png' }, 'Expected one of jpeg, png, webp for format but received "gif" of type string'],
    [{ width: 10, background: 'red' }, 'Expected hex colour like #ffffff for background but received "red" of type string'],
    [{ width: 10, focalPoint: { x: 2, y: 0 } }, 'Expected number between 0 and 1 for focalPoint.x but received 2 of type number'],
    [{ width: 10, upscale: 'yes' as unknown as boolean }, 'Expected boolean for upscale but received "yes" of type string'],
    [{ width: 9000 }, 'Expected width at most maxOutputSide (8192) but received 9000; raise maxOutputSide to allow it'],
  ]
  for (const [opts, message] of cases) {
    const err = await t.throwsAsync(thumbnail(input, opts), { instanceOf: InvalidOptionError, message })
    t.is(err!.code, 'ERR_INVALID_OPTION')
    t.is((err as InvalidOptionError).status, 400)
  }
  await t.throwsAsync(thumbnail('nope' as unknown as Buffer, { width: 10 }), { instanceOf: InvalidOptionError })
})

test('maxOutputSide is enforced on the computed output too', async (t) => {
  const input = await fixtures.png()
  const err = await t.throwsAsync(thumbnail(input, { height: 100, maxOutputSide: 120 }), { instanceOf: TooLargeError })
  t.regex(err!.message, /maxOutputSide/)
})

test('probe reads format, upright size, orientation, alpha and frames from headers', async (t) => {
  t.deepEqual(probe(await fixtures.png()), { format: 'png', width: 300, height: 200, orientation: 1, hasAlpha: false, frames: 1 })
  t.deepEqual(probe(await fixtures.pngAlpha()), { format: 'png', width: 100, height: 100, orientation: 1, hasAlpha: true, frames: 1 })
  t.throws(() => probe(Buffer.from('\x89PNG\r\n\x1a\nbroken', 'latin1')), { instanceOf: DecodeError })
})

test('probeFile reads the header of a file and maps a missing file to IoError', async (t) => {
  const dir = await tempDir(t)
  const file = path.join(dir, 'a.gif')
  await writeFile(file, await fixtures.gif())
  t.like(await probeFile(file), { format: 'gif', width: 300, height: 200, frames: 1 })
  await t.throwsAsync(probeFile(path.join(dir, 'missing.gif')), { instanceOf: IoError })
})

test('an AbortSignal aborted before the call rejects with AbortError', async (t) => {
  const ac = new AbortController()
  ac.abort()
  const err = await t.throwsAsync(thumbnail(await fixtures.jpeg(), { width: 10, signal: ac.signal }), { instanceOf: AbortError })
  t.is(err!.code, 'ERR_ABORTED')
})

test('aborting while thumbnails are queued or running rejects them with ERR_ABORTED', async (t) => {
  const input = await fixtures.largeJpeg()
  const ac = new AbortController()
  const jobs = Array.from({ length: 8 }, () => thumbnail(input, { width: 1900, height: 1400, format: 'png', signal: ac.signal }))
  setImmediate(() => ac.abort())
  const results = await Promise.allSettled(jobs)
  for (const r of results) {
    t.is(r.status, 'rejected')
    if (r.status === 'rejected') {
      t.true(r.reason instanceof AbortError, String(r.reason))
      t.is(r.reason.code, 'ERR_ABORTED')
    }
  }
})

// Serial (ava runs these first): other tests' synchronous pixel loops would add stalls that
// are not ours.
test.serial('the event loop keeps ticking while 20 thumbnails run', async (t) => {
  const input = await fixtures.largeJpeg()
  let ticks = 0
  let last = performance.now()
  let maxGap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
    ticks++
  }, 5)
  const started = performance.now()
  const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => thumbnail(input, { width: 200 + i, height: 150, method: i % 2 ? 'smart' : 'crop' })))
  const elapsed = performance.now() - started
  clearInterval(timer)
  outs.forEach((o, i) => t.deepEqual([o.width, o.height], [200 + i, 150]))
  t.true(ticks >= Math.min(5, elapsed / 20), `${ticks} ticks in ${elapsed.toFixed(0)} ms`)
  t.true(maxGap < 400, `longest stall ${maxGap.toFixed(0)} ms`)
})

test('thumbnailFile writes the thumbnail and leaves no temporary file', async (t) => {
  const dir = await tempDir(t)
  const src = path.join(dir, 'src.jpg')
  await writeFile(src, await fixtures.jpeg())
  const dst = path.join(dir, 'out', 'deep', 'thumb.webp')
  const info = await thumbnailFile(src, dst, { width: 100, height: 100, format: 'webp', fsync: true })
  t.deepEqual(info, { format: 'webp', width: 100, height: 100, sourceWidth: 300, sourceHeight: 200, size: (await stat(dst)).size })
  const raw = await decode(await readFile(dst))
  t.deepEqual([raw.width, raw.height], [100, 100])
  t.deepEqual(await readdir(path.dirname(dst)), ['thumb.webp'])
})

test('thumbnailFile leaves nothing behind when decoding fails', async (t) => {
  const dir = await tempDir(t)
  const src = path.join(dir, 'bad.png')
  await writeFile(src, (await fixtures.png()).subarray(0, 200))
  const err = await t.throwsAsync(thumbnailFile(src, path.join(dir, 'out.jpg'), { width: 50 }))
  t.true(err instanceof DecodeError, String(err))
  t.deepEqual(await readdir(dir), ['bad.png'])
})

test('thumbnailFile on a missing source is an IoError and writes nothing', async (t) => {
  const dir = await tempDir(t)
  const err = await t.throwsAsync(thumbnailFile(path.join(dir, 'missing.jpg'), path.join(dir, 'out.jpg'), { width: 50 }), { instanceOf: IoError })
  t.is(err!.code, 'ERR_IO')
  t.deepEqual(await readdir(dir), [])
})

test('thumbnailFile refuses a source over maxInputBytes without reading it', async (t) => {
  const dir = await tempDir(t)
  const src = path.join(dir, 'src.png')
  await writeFile(src, await fixtures.png())
  await t.throwsAsync(thumbnailFile(src, path.join(dir, 'out.jpg'), { width: 50, maxInputBytes: 100 }), { instanceOf: TooLargeError })
  t.deepEqual(await readdir(dir), ['src.png'])
})

test('thumbnailFile replaces the destination atomically: readers only ever see complete files', async (t) => {
  const dir = await tempDir(t)
  const src = path.join(dir, 'src.jpg')
  await writeFile(src, await fixtures.largeJpeg())
  const dst = path.join(dir, 'thumb.jpg')
  await thumbnailFile(src, dst, { width: 64 })
  let writing = true
  let reads = 0
  const reader = (async () => {
    while (writing) {
      const bytes = await readFile(dst)
      t.deepEqual([...bytes.subarray(-2)], [0xff, 0xd9], 'every read ends with the JPEG EOI marker')
      reads++
    }
  })()
  for (let i = 0; i < 12; i++) await thumbnailFile(src, dst, { width: 64 + i * 40 })
  writing = false
  await reader
  t.true(reads > 0)
  t.is((await sharp(dst).metadata()).width, 64 + 11 * 40)
  t.deepEqual(await readdir(dir), ['src.jpg', 'thumb.jpg'])
})
