import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent, createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { createThumbnailHandler, type ThumbnailHandler } from '../ts/server/handler.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { startRedis, type TestRedis } from './helpers/redis.js'
import { startSeaweedFS, type TestS3 } from './helpers/seaweedfs.js'

// What a cold render costs the store: the requests restthumbs sends to a real SeaweedFS, counted
// by a plain HTTP relay in front of it (the relay forwards the signed requests unchanged).

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 's3-requests-key'
const signer = new Signer({ keys: [KEY] })

interface Sent {
  method: string
  key: string
  status: number
  /** `performance.now()` when the request reached the relay and when its answer was passed on. */
  arrived: number
  answered: number
}

let s3: TestS3
let redis: TestRedis
let relay: { url: string; sent: Sent[]; slow: Set<string>; close(): Promise<void> }
let bucketNo = 0

/* Relays every request to the store and records method, `bucket/key`, the store's status and
   when; answers to GETs of keys in `slow` are held back 300 ms (a distant store). */
async function startRelay(target: string): Promise<typeof relay> {
  const sent: Sent[] = []
  const slow = new Set<string>()
  const agent = new Agent({ keepAlive: true })
  const server: Server = createServer((req, res) => {
    const arrived = performance.now()
    const key = decodeURIComponent(new URL(req.url!, target).pathname.slice(1))
    const up = request(target + req.url, { method: req.method, headers: req.headers, agent }, async (answer) => {
      if (req.method === 'GET' && slow.has(key)) await new Promise((r) => setTimeout(r, 300))
      sent.push({ method: req.method!, key, status: answer.statusCode!, arrived, answered: performance.now() })
      res.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    slow,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      agent.destroy()
    },
  }
}

test.before(async () => {
  ;[s3, redis] = await Promise.all([startSeaweedFS(), startRedis()])
  relay = await startRelay(s3.endpoint)
})

test.after.always(async () => {
  await relay?.close()
  await Promise.all([s3?.stop(), redis?.stop()])
})

async function host(bucket: string): Promise<{ url: string; handler: ThumbnailHandler; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-s3-requests-'))
  const handler = createThumbnailHandler({
    keys: [KEY],
    ...s3.settings,
    s3Endpoint: relay.url,
    // Shared records and locks, as a farm runs.
    cache: redis.url,
    keyPrefix: `s3req-${bucket}`,
    sourceBucket: bucket,
    sourcePrefix: 'media/',
    outputBucket: bucket,
    outputPrefix: 'thumbs/',
    outputRoot: path.join(dir, 'out'),
  })
  const server = createServer((req, res) => handler(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/thumbnails`,
    handler,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await handler.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function bucketWithSunset(): Promise<string> {
  const name = `requests-${process.pid}-${bucketNo++}`
  await s3.createBucket(name)
  await s3.put(name, 'media/sunset.jpg', await readFile(path.join(MEDIA, 'sunset.jpg')), 'image/jpeg')
  return name
}

/* The requests sent for keys of one bucket since `from`, as `METHOD key status` lines. */
function sentFor(bucket: string, from: number): string[] {
  return relay.sent
    .slice(from)
    .filter((s) => s.key.startsWith(`${bucket}/`))
    .map((s) => `${s.method} ${s.key.slice(bucket.length + 1)} ${s.status}`)
    .sort()
}

async function fetchImage(url: string): Promise<{ status: number; body: Buffer; width?: number; height?: number }> {
  const res = await fetch(url)
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) return { status: res.status, body }
  const meta = await sharp(body).metadata()
  return { status: res.status, body, width: meta.width, height: meta.height }
}

test('a cold render asks the bucket once for the output, downloads the source once and uploads once; the next request costs no S3 request', async (t) => {
  const bucket = await bucketWithSunset()
  const a = await host(bucket)
  try {
    const rel = thumbnailUrl('sunset.jpg', '120x90', 'crop', '.jpg', { signer, baseUrl: '' })
    const from = relay.sent.length
    const first = await fetchImage(a.url + rel)
    t.like(first, { status: 200, width: 120, height: 90 })
    t.is(a.handler.stats.renders, 1)
    await s3.listWhen(bucket, 'thumbs/', 1)
    const key = `thumbs${rel}`
    // The output check is the only GET of the output key, and it found nothing: the response
    // came from the rendered bytes, not from the object read back.
    t.deepEqual(sentFor(bucket, from), [`GET ${key} 404`, 'GET media/sunset.jpg 200', `PUT ${key} 200`].sort())
    t.deepEqual(await s3.get(bucket, key), first.body, 'the object holds the bytes that were served')

    const again = relay.sent.length
    const second = await fetchImage(a.url + rel)
    t.is(second.status, 200)
    t.deepEqual(second.body, first.body)
    t.deepEqual(sentFor(bucket, again), [], 'served from the local copy')
    t.is(a.handler.stats.renders, 1)
  } finally {
    await a.close()
  }
})

test('a thumbnail another host rendered costs one GET of the object, and the source download started meanwhile is dropped', async (t) => {
  const bucket = await bucketWithSunset()
  const a = await host(bucket)
  const b = await host(bucket)
  try {
    const rel = thumbnailUrl('sunset.jpg', '96x64', 'crop', '.jpg', { signer, baseUrl: '' })
    const first = await fetchImage(a.url + rel)
    t.like(first, { status: 200, width: 96, height: 64 })
    await s3.listWhen(bucket, 'thumbs/', 1)
    const from = relay.sent.length
    const other = await fetchImage(b.url + rel)
    t.is(other.status, 200)
    t.deepEqual(other.body, first.body)
    t.is(b.handler.stats.renders, 0)
    const sent = sentFor(bucket, from)
    t.deepEqual(
      sent.filter((s) => !s.startsWith('GET media/')),
      [`GET thumbs${rel} 200`],
      'no upload, no second look',
    )
    // The early source download may or may not have reached the store before it was cancelled.
    t.true(sent.filter((s) => s.startsWith('GET media/')).length <= 1)
  } finally {
    await a.close()
    await b.close()
  }
})

test('20 concurrent requests for one new thumbnail download its source once and render it once', async (t) => {
  const bucket = await bucketWithSunset()
  const a = await host(bucket)
  try {
    const rel = thumbnailUrl('sunset.jpg', '80x80', 'crop', '.webp', { signer, baseUrl: '' })
    const from = relay.sent.length
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetchImage(a.url + rel)))
    for (const answer of answers) t.like(answer, { status: 200, width: 80, height: 80 })
    t.is(a.handler.stats.renders, 1)
    await s3.listWhen(bucket, 'thumbs/', 1)
    const sent = sentFor(bucket, from)
    t.deepEqual(
      sent.filter((s) => s.startsWith('GET media/')),
      ['GET media/sunset.jpg 200'],
    )
    t.deepEqual(
      sent.filter((s) => s.startsWith('PUT ')),
      [`PUT thumbs${rel} 200`],
    )
  } finally {
    await a.close()
  }
})

test('the source download starts while the bucket is still asked for the output, so a cold render waits for one round trip, not two', async (t) => {
  const bucket = await bucketWithSunset()
  const a = await host(bucket)
  const rel = thumbnailUrl('sunset.jpg', '100x75', 'crop', '.jpg', { signer, baseUrl: '' })
  const key = `${bucket}/thumbs${rel}`
  relay.slow.add(key)
  try {
    const from = relay.sent.length
    const first = await fetchImage(a.url + rel)
    t.like(first, { status: 200, width: 100, height: 75 })
    const sent = relay.sent.slice(from)
    const check = sent.find((s) => s.method === 'GET' && s.key === key)!
    const source = sent.find((s) => s.method === 'GET' && s.key === `${bucket}/media/sunset.jpg`)!
    t.is(check.status, 404)
    t.true(source.arrived < check.answered, 'the source GET was sent before the output check answered')
    await s3.listWhen(bucket, 'thumbs/', 1)
  } finally {
    relay.slow.delete(key)
    await a.close()
  }
})
