import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { envName, type ServerConfig } from '../ts/server/config.js'
import { createThumbnailHandler, type ThumbnailHandler } from '../ts/server/handler.js'
import { createServer as createThumbnailServer } from '../ts/server/server.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { jsonSummary, runCli } from './helpers/cli.js'
import { startNginx, type TestNginx } from './helpers/nginx.js'
import { startSeaweedFS, type TestS3 } from './helpers/seaweedfs.js'
import { assertServedImage } from './helpers/served-image.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 's3-spec-key'
const signer = new Signer({ keys: [KEY] })

let s3: TestS3
let bucketNo = 0

test.before(async () => {
  s3 = await startSeaweedFS()
})

test.after.always(async () => {
  await s3?.stop()
})

async function bucket(): Promise<string> {
  const name = `spec-${process.pid}-${bucketNo++}`
  await s3.createBucket(name)
  return name
}

async function serve(settings: Partial<ServerConfig>): Promise<{ url: string; handler: ThumbnailHandler; dir: string; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-s3-'))
  const handler = createThumbnailHandler({ keys: [KEY], outputRoot: path.join(dir, 'out'), ...s3.settings, ...settings })
  const server: Server = createServer((req, res) => handler(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    handler,
    dir,
    async close() {
      await new Promise((r) => server.close(r))
      server.closeAllConnections()
      await handler.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

test('sources and thumbnails live in buckets: the object key is the URL path, and a second host serves it without rendering', async (t) => {
  const sources = await bucket()
  const outputs = await bucket()
  await s3.put(sources, 'media/sunset.jpg', await readFile(path.join(MEDIA, 'sunset.jpg')), 'image/jpeg')
  const a = await serve({ sourceBucket: sources, sourcePrefix: 'media/', outputBucket: outputs, outputPrefix: 't' })
  const b = await serve({ sourceBucket: sources, sourcePrefix: 'media/', outputBucket: outputs, outputPrefix: 't' })
  try {
    const rel = thumbnailUrl('sunset.jpg', '120x90', 'crop', '.jpg', { signer, baseUrl: '' })
    const first = await fetch(a.url + '/thumbnails' + rel)
    const body = Buffer.from(await first.arrayBuffer())
    t.is(first.status, 200)
    const meta = await sharp(body).metadata()
    t.is(meta.width, 120)
    t.is(meta.height, 90)
    t.is(a.handler.stats.renders, 1)
    const key = 't' + rel
    t.deepEqual(await s3.listWhen(outputs, '', 1), [key])
    const object = await s3.get(outputs, key)
    t.deepEqual(object, body, 'the bucket holds the bytes that were served')

    const second = await fetch(b.url + '/thumbnails' + rel)
    t.is(second.status, 200)
    t.deepEqual(Buffer.from(await second.arrayBuffer()), body)
    t.is(b.handler.stats.renders, 0, 'the other host downloaded the object instead of rendering')

    const missing = await fetch(a.url + '/thumbnails' + thumbnailUrl('nope.jpg', '120x90', 'crop', '.jpg', { signer, baseUrl: '' }))
    t.is(missing.status, 404)
  } finally {
    await a.close()
    await b.close()
  }
})

test('warm writes thumbnails to the output bucket at the keys serve uses; a serving host answers them without rendering', async (t) => {
  const outputs = await bucket()
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-s3-warm-'))
  const env: NodeJS.ProcessEnv = { RESTTHUMBS_KEYS: KEY }
  for (const [k, v] of Object.entries(s3.settings)) env[envName(k as keyof ServerConfig)] = String(v)
  const list = path.join(dir, 'names.txt')
  const args = ['warm', '--source-root', MEDIA, '--list', list, '--output-root', path.join(dir, 'warm'), '--output-bucket', outputs, '--output-prefix', 't']
  const presets = ['--preset', '120x90:crop:.jpg', '--preset', '64x:scale:.webp', '--json']
  const host = await serve({ sourceRoot: MEDIA, outputBucket: outputs, outputPrefix: 't' })
  try {
    await writeFile(list, 'sunset.jpg\nrings.png\n')
    const first = await runCli([...args, ...presets], { env })
    t.is(first.code, 0, first.stderr)
    t.like(jsonSummary(first), { done: 4, rendered: 4, failed: 0 })
    const urls = ['sunset.jpg', 'rings.png'].flatMap((name) => [
      thumbnailUrl(name, '120x90', 'crop', '.jpg', { signer, baseUrl: '' }),
      thumbnailUrl(name, '64x0', 'scale', '.webp', { signer, baseUrl: '' }),
    ])
    t.deepEqual((await s3.listWhen(outputs, '', 4)).sort(), urls.map((u) => 't' + u).sort())
    for (const rel of urls) {
      const object = await s3.get(outputs, 't' + rel)
      const meta = await sharp(object!).metadata()
      if (rel.endsWith('.jpg')) t.like(meta, { format: 'jpeg', width: 120, height: 90 }, rel)
      else t.like(meta, { format: 'webp', width: 64 }, rel)
      const res = await fetch(host.url + '/thumbnails' + rel)
      t.is(res.status, 200)
      t.deepEqual(Buffer.from(await res.arrayBuffer()), object, 'served the bytes warm uploaded')
    }
    t.is(host.handler.stats.renders, 0, 'warm uploaded every thumbnail serve was asked for')

    // Present in the bucket: nothing to do, even with an empty local copy.
    await rm(path.join(dir, 'warm'), { recursive: true, force: true })
    t.like(jsonSummary(await runCli([...args, ...presets], { env })), { done: 4, rendered: 0, present: 4 })
    // --force deletes the objects and renders them again.
    t.like(jsonSummary(await runCli([...args, ...presets, '--force'], { env })), { done: 4, rendered: 4, present: 0 })
  } finally {
    await host.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('S3 outputs answer by redirect to the public base URL or by X-Accel-Redirect, without downloading', async (t) => {
  const outputs = await bucket()
  const redirect = await serve({ sourceRoot: MEDIA, outputBucket: outputs, responseMode: 'redirect', redirectBase: 'https://cdn.example.com/thumbs/' })
  const accel = await serve({ sourceRoot: MEDIA, outputBucket: outputs, responseMode: 'nginx' })
  try {
    const rel = thumbnailUrl('rings.png', '64x64', 'scale', '.png', { signer, baseUrl: '' })
    const res = await fetch(redirect.url + '/thumbnails' + rel, { redirect: 'manual' })
    t.is(res.status, 302)
    t.is(res.headers.get('location'), 'https://cdn.example.com/thumbs' + rel)
    t.deepEqual(await s3.list(outputs), [rel.slice(1)], 'a redirect is answered only once the object is in the bucket')
    const object = await s3.get(outputs, rel.slice(1))
    t.truthy(object)
    const meta = await sharp(object!).metadata()
    t.is(meta.format, 'png')
    t.is(Math.max(meta.width!, meta.height!), 64)

    const viaAccel = await fetch(accel.url + '/thumbnails' + rel)
    t.is(viaAccel.status, 200)
    t.is(viaAccel.headers.get('x-accel-redirect'), '/_restthumbs_internal' + rel)
    t.is(accel.handler.stats.renders, 0, 'the object exists: no render')
  } finally {
    await redirect.close()
    await accel.close()
  }
})

test('a hung store mid-load gives 503 with Retry-After within the S3 timeout, then recovers', async (t) => {
  const outputs = await bucket()
  const h = await serve({ sourceRoot: MEDIA, outputBucket: outputs, s3Timeout: 1, retryAfter: 2 })
  try {
    const urls = Array.from({ length: 12 }, (_, i) => h.url + '/thumbnails' + thumbnailUrl('tiles.webp', `${40 + i}x${40 + i}`, 'crop', '.webp', { signer, baseUrl: '' }))
    const warm = await fetch(urls[0])
    t.is(warm.status, 200)
    await warm.arrayBuffer()
    s3.pause()
    const started = Date.now()
    let answers: Response[]
    try {
      answers = await Promise.all(urls.slice(1).map((u) => fetch(u, { signal: AbortSignal.timeout(10_000) })))
    } finally {
      s3.resume()
    }
    const elapsed = Date.now() - started
    for (const r of answers) {
      t.is(r.status, 503)
      t.is(r.headers.get('retry-after'), '2')
      t.regex(await r.text(), /ERR_STORAGE_UNAVAILABLE/)
    }
    t.true(elapsed < 5000, `answered in ${elapsed} ms`)
    // The store needs a moment after SIGCONT (its own heartbeats); readiness says when it is back.
    let ready = 0
    for (let i = 0; i < 100 && ready !== 200; i++) {
      ready = (await fetch(h.url + '/readyz')).status
      if (ready !== 200) await new Promise((r) => setTimeout(r, 100))
    }
    t.is(ready, 200)
    const again = await fetch(urls[1])
    t.is(again.status, 200)
    t.is((await sharp(Buffer.from(await again.arrayBuffer())).metadata()).width, 41)
  } finally {
    await h.close()
  }
})

test('nginx in front of a bucket: X-Accel-Redirect into a location that proxies to the bucket', async (t) => {
  const store = await startSeaweedFS({ anonymousRead: true })
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-s3-nginx-'))
  let nginx: TestNginx | undefined
  const server = createThumbnailServer({
    keys: [KEY],
    port: 0,
    sourceRoot: MEDIA,
    outputRoot: path.join(dir, 'copy'),
    outputBucket: 'public',
    outputPrefix: 'thumbs',
    responseMode: 'nginx',
    accessLog: false,
    ...store.settings,
  })
  try {
    await store.createBucket('public')
    const backend = new URL(await server.start())
    nginx = await startNginx({ backend: backend.host, bucketUrl: `${store.endpoint}/public/thumbs` })
    const rel = thumbnailUrl('mandelbrot.jpg', '96x64', 'crop', '.webp', { signer, baseUrl: '' })
    for (const round of ['render', 'hit']) {
      const res = await fetch(nginx.url + '/thumbnails' + rel)
      const body = Buffer.from(await res.arrayBuffer())
      t.is(res.status, 200, round)
      t.is(res.headers.get('x-accel-redirect'), null)
      t.is(res.headers.get('x-amz-request-id'), null, 'store headers are hidden')
      await assertServedImage(t, res, body, 'webp', 96, 64)
    }
    t.is(server.handler.stats.renders, 1)
    t.is((await fetch(nginx.url + '/_restthumbs_internal' + rel)).status, 404, 'the internal location is not public')
  } finally {
    await nginx?.stop()
    await server.stop()
    await store.stop()
    await rm(dir, { recursive: true, force: true })
  }
})
