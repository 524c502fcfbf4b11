/**
 * Four CPU bombs at once against the real `restthumbs serve` (one worker, so the bombs and the
 * warm hits share one process, its event loop and its libuv pool) must not slow the warm hits
 * of an existing thumbnail: renders run in bounded slots apart from the file I/O threads, stop
 * at `renderTimeout`, and answer 413 or 503 (or 200 when a fast machine finishes one in time).
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { startServe } from './helpers/serve-process.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 'bomb-isolation-key'
const signer = new Signer({ keys: [KEY] })

/**
 * A flat 6000×6000 progressive JPEG whose last (refinement) scan is repeated until the file has
 * just under the default scan cap of 100: it passes the cap, and at 3100×3100 (decoded at full
 * scale, so no scan is pruned) each render costs seconds of CPU.
 */
async function scanBomb(): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#808080' } })
    .jpeg({ progressive: true, quality: 80 })
    .toBuffer()
  const sos = Buffer.from([0xff, 0xda])
  let scans = 0
  for (let at = jpeg.indexOf(sos); at !== -1; at = jpeg.indexOf(sos, at + 2)) scans++
  const eoi = jpeg.length - 2
  const last = jpeg.subarray(jpeg.lastIndexOf(sos), eoi)
  return Buffer.concat([jpeg.subarray(0, eoi), ...Array.from({ length: 98 - scans }, () => last), Buffer.from([0xff, 0xd9])])
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

async function timedHit(url: string): Promise<number> {
  const started = performance.now()
  const res = await fetch(url)
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200 || body.length === 0) throw new Error(`warm hit answered ${res.status}`)
  return performance.now() - started
}

test('four concurrent scan bombs do not delay warm hits, and end in time', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bombs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(path.join(dir, 'media'))
  await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(dir, 'media', 'sunset.jpg'))
  await writeFile(path.join(dir, 'media', 'bomb.jpg'), await scanBomb())
  const serve = await startServe(['--port', '0', '--workers', '1', '--render-timeout', '3', '--no-access-log'], { RESTTHUMBS_KEYS: KEY }, dir)
  t.teardown(() => serve.stop('SIGKILL'))
  const url = (file: string, size: string) => serve.url + thumbnailUrl(file, size, 'crop', '.jpg', { signer, baseUrl: '/thumbnails' })

  const warm = url('sunset.jpg', '80x60')
  const first = await fetch(warm)
  t.is(first.status, 200)
  t.is((await sharp(Buffer.from(await first.arrayBuffer())).metadata()).width, 80)
  const idle: number[] = []
  for (let i = 0; i < 20; i++) idle.push(await timedHit(warm))

  let inFlight = 4
  const bombs = ['3100x3100', '3099x3099', '3098x3098', '3097x3097'].map(async (size) => {
    const started = performance.now()
    const res = await fetch(url('bomb.jpg', size))
    await res.arrayBuffer()
    inFlight--
    return { status: res.status, ms: performance.now() - started }
  })
  // let the bombs reach the render slots before measuring
  await new Promise((resolve) => setTimeout(resolve, 200))
  const during: number[] = []
  while (inFlight === 4) during.push(await timedHit(warm))
  const ended = await Promise.all(bombs)

  const base = median(idle)
  const busy = median(during)
  const worst = Math.max(...during)
  t.log(`warm hit median ${base.toFixed(1)} ms idle, ${busy.toFixed(1)} ms (worst ${worst.toFixed(1)} ms, ${during.length} hits) under 4 bombs`)
  t.log(`bombs: ${ended.map((b) => `${b.status} after ${b.ms.toFixed(0)} ms`).join(', ')}`)
  t.true(during.length >= 5, `${during.length} warm hits were measured while all four bombs were in flight`)
  // Each ends with the render timeout's 503 (or 413, or 200 when it finished within the timeout),
  // and none outlives two rounds of the timeout (two render slots, four bombs).
  for (const b of ended) t.true([200, 413, 503].includes(b.status) && b.ms < 2 * 3000 + 2000, `a bomb answered ${b.status} after ${b.ms.toFixed(0)} ms`)
  // Before render slots, warm hits waited for a render to end (41 s in the original report).
  t.true(busy < base + 20, `median warm hit ${busy.toFixed(1)} ms under bombs vs ${base.toFixed(1)} ms idle`)
  t.true(worst < 500, `worst warm hit ${worst.toFixed(1)} ms`)
})
