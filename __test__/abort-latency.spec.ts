/**
 * How fast an `AbortSignal` stops a render that is already running, for every decoder and for
 * the resize and encode stages. Rejection waits for the native task to notice the abort, so the
 * time from `abort()` to rejection is the longest stretch of native work between two checks of
 * the cancel flag. Each case aborts at three points of a measured render and asserts the median.
 */
import test, { type ExecutionContext } from 'ava'
import sharp from 'sharp'

import { thumbnail, type ThumbnailOptions } from '../ts/index.js'

/** The bound of the median, with headroom for a loaded 2-core machine (the aim is ~100 ms). */
const BOUND_MS = 150

const noise = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })

async function render(input: Buffer, options: ThumbnailOptions, abortAfter?: number): Promise<number> {
  const controller = new AbortController()
  const started = performance.now()
  const rendering = thumbnail(input, { ...options, maxInputBytes: 400_000_000, maxInputPixels: 400_000_000, maxOutputSide: 20_000, signal: controller.signal })
  if (abortAfter === undefined) {
    await rendering
    return performance.now() - started
  }
  await new Promise((resolve) => setTimeout(resolve, abortAfter))
  const aborted = performance.now()
  controller.abort()
  try {
    await rendering
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_ABORTED') throw err
  }
  return performance.now() - aborted
}

/** A case at linear scale `k` (1 = the size below): its input and options. */
type Case = (k: number) => Promise<{ input: Buffer; options: ThumbnailOptions }>

/** Whole pixels at scale `k`. */
const at = (k: number, side: number) => Math.round(side * k)

async function assertStopsFast(t: ExecutionContext, make: Case): Promise<void> {
  // A faster machine renders the base size sooner; the work grows until a render is long enough
  // for the check to mean something (the middle abort must leave more than twice the bound of
  // work, or a render that ignores aborts would pass too).
  let k = 1
  let { input, options } = await make(k)
  let full = await render(input, options)
  for (let tries = 0; tries < 3 && full <= 4 * BOUND_MS; tries++) {
    k *= Math.min(2, Math.sqrt((5 * BOUND_MS) / full))
    ;({ input, options } = await make(k))
    full = await render(input, options)
  }
  const latencies: number[] = []
  for (const when of [0.3, 0.5, 0.7]) latencies.push(await render(input, options, full * when))
  latencies.sort((a, b) => a - b)
  const median = latencies[1]
  t.log(`scale ${k.toFixed(2)}: render ${full.toFixed(0)} ms; abort to rejection ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`)
  t.true(full > 4 * BOUND_MS, `the render (${full.toFixed(0)} ms) is long enough to measure`)
  t.true(median < BOUND_MS, `median ${median.toFixed(1)} ms from abort to rejection`)
}

// One at a time: parallel renders would measure each other.
test.serial('an abort stops a progressive JPEG decode within the bound', async (t) => {
  await assertStopsFast(t, async (k) => ({
    input: await noise(at(k, 7000), at(k, 5000)).jpeg({ quality: 90, progressive: true }).toBuffer(),
    options: { width: at(k, 3500), height: at(k, 2500), format: 'jpeg' },
  }))
})

test.serial('an abort stops a baseline JPEG decode within the bound', async (t) => {
  await assertStopsFast(t, async (k) => ({
    input: await noise(at(k, 8000), at(k, 6000)).jpeg({ quality: 90 }).toBuffer(),
    options: { width: at(k, 4000), height: at(k, 3000), format: 'jpeg' },
  }))
})

test.serial('an abort stops a PNG decode within the bound', async (t) => {
  await assertStopsFast(t, async (k) => ({
    input: await noise(at(k, 8000), at(k, 6000)).png({ compressionLevel: 1 }).toBuffer(),
    options: { width: 400, height: 300, format: 'jpeg' },
  }))
})

test.serial('an abort stops an interlaced PNG decode within the bound', async (t) => {
  await assertStopsFast(t, async (k) => ({
    input: await noise(at(k, 7000), at(k, 5000)).png({ compressionLevel: 1, progressive: true }).toBuffer(),
    options: { width: 400, height: 300, format: 'jpeg' },
  }))
})

test.serial('an abort stops a WebP decode within the bound', async (t) => {
  await assertStopsFast(t, async (k) => ({
    input: await noise(Math.min(16383, at(k, 7000)), Math.min(16383, at(k, 5000))).webp({ quality: 80, effort: 0 }).toBuffer(),
    options: { width: 400, height: 300, format: 'jpeg' },
  }))
})

test.serial('an abort stops a GIF decode within the bound', async (t) => {
  await assertStopsFast(t, async (k) => ({
    input: await noise(at(k, 6000), at(k, 4500)).gif({ effort: 1 }).toBuffer(),
    options: { width: 400, height: 300, format: 'jpeg' },
  }))
})

test.serial('an abort stops a large resize and WebP encode within the bound', async (t) => {
  // cheap to decode (flat baseline JPEG), expensive to resize and encode at this size
  await assertStopsFast(t, async (k) => ({
    input: await sharp({ create: { width: at(k, 6000), height: at(k, 4000), channels: 3, background: '#3a6b8c' } })
      .jpeg({ quality: 90 })
      .toBuffer(),
    options: { width: Math.min(16383, at(k, 5000)), height: Math.min(16383, at(k, 3300)), method: 'scale', format: 'webp' },
  }))
})

test.serial('an abort stops a large upscale and PNG encode within the bound', async (t) => {
  // a small source: nearly all the time goes to the resize and the encode
  const input = await noise(1000, 700).jpeg({ quality: 90 }).toBuffer()
  await assertStopsFast(t, async (k) => ({ input, options: { width: at(k, 8000), height: at(k, 5600), upscale: true, format: 'png' } }))
})
