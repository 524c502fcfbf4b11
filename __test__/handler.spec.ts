import { randomUUID } from 'node:crypto'
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { MemoryCache } from '../ts/cache/memory.js'
import { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions } from '../ts/server/handler.js'
import { Signer } from '../ts/server/signing.js'
import { HttpSourceStorage } from '../ts/server/storage/http-source.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { startRedis } from './helpers/redis.js'
import { makeTempDir, removeDir } from './helpers/tmp.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 'handler-spec-key'
const signer = new Signer({ keys: [KEY] })
const sign = (source: string, size: string, method: string, ext: string) =>
  thumbnailUrl(source, size, method, ext, { signer, baseUrl: '/thumbnails' })

interface Rig {
  url: string
  handler: ThumbnailHandler
  dir: string
  sources: string
  outputs: string
  server: Server
  close(): Promise<void>
}

async function rig(options: ThumbnailHandlerOptions = {}, wrap?: (h: ThumbnailHandler) => (req: IncomingMessage, res: ServerResponse) => void): Promise<Rig> {
  const dir = await makeTempDir('handler')
  const sources = path.join(dir, 'media')
  const outputs = path.join(dir, 'thumbnails')
  await mkdir(sources)
  for (const f of ['sunset.jpg', 'rings.png']) await copyFile(path.join(MEDIA, f), path.join(sources, f))
  const handler = createThumbnailHandler({
    keys: [KEY],
    sourceRoot: sources,
    outputRoot: outputs,
    cache: new MemoryCache({ location: `handler-${randomUUID()}`, timeout: null, maxEntries: 10_000 }),
    logger: { error: () => undefined },
    ...options,
  })
  const server = createServer(wrap ? wrap(handler) : (req, res) => handler(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    handler,
    dir,
    sources,
    outputs,
    server,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      })
      await handler.close()
      await removeDir(dir)
    },
  }
}

/** GET without client-side URL normalisation (fetch would resolve `%2e%2e` before sending). */
function rawGet(base: string, pathname: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + '/', { path: pathname }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function get(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init)
  const body = Buffer.from(await res.arrayBuffer())
  return { res, body, text: body.toString('utf8') }
}

test('a valid signed URL renders the thumbnail once and streams it with validators', async (t) => {
  const r = await rig()
  try {
    const u = sign('sunset.jpg', '120x80', 'crop', '.jpg')
    const { res, body } = await get(r.url + u)
    t.is(res.status, 200)
    t.is(res.headers.get('content-type'), 'image/jpeg')
    t.is(Number(res.headers.get('content-length')), body.length)
    t.regex(res.headers.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/)
    t.truthy(res.headers.get('last-modified'))
    t.is(res.headers.get('cache-control'), 'public, max-age=86400')
    const meta = await sharp(body).metadata()
    t.is(meta.format, 'jpeg')
    t.is(meta.width, 120)
    t.is(meta.height, 80)
    t.is(r.handler.stats.renders, 1)
    const again = await get(r.url + u)
    t.is(again.res.status, 200)
    t.deepEqual(again.body, body)
    t.is(r.handler.stats.renders, 1, 'the second request is a hit')
    t.is(r.handler.stats.hits, 1)
    // The file sits where nginx's try_files looks for it: output root + URL path after basePath.
    const onDisk = await readFile(path.join(r.outputs, u.slice('/thumbnails/'.length)))
    t.deepEqual(onDisk, body)
  } finally {
    await r.close()
  }
})

test('png and webp extensions pick the encoder and the content type', async (t) => {
  const r = await rig()
  try {
    const png = await get(r.url + sign('rings.png', '64x', 'scale', '.png'))
    t.is(png.res.status, 200)
    t.is(png.res.headers.get('content-type'), 'image/png')
    const pm = await sharp(png.body).metadata()
    t.is(pm.format, 'png')
    t.is(pm.width, 64)
    t.is(pm.height, 64)
    const webp = await get(r.url + sign('sunset.jpg', 'x50', 'scale', '.webp'))
    t.is(webp.res.headers.get('content-type'), 'image/webp')
    const wm = await sharp(webp.body).metadata()
    t.is(wm.format, 'webp')
    t.is(wm.height, 50)
    t.is(wm.width, 75)
  } finally {
    await r.close()
  }
})

test('conditional requests answer 304 and HEAD answers headers without a body', async (t) => {
  const r = await rig()
  try {
    const u = r.url + sign('sunset.jpg', '100x100', 'smart', '.jpg')
    const first = await get(u)
    const etag = first.res.headers.get('etag')!
    const lastModified = first.res.headers.get('last-modified')!
    const inm = await get(u, { headers: { 'If-None-Match': `"nope", ${etag}` } })
    t.is(inm.res.status, 304)
    t.is(inm.body.length, 0)
    t.is(inm.res.headers.get('etag'), etag)
    const ims = await get(u, { headers: { 'If-Modified-Since': lastModified } })
    t.is(ims.res.status, 304)
    const stale = await get(u, { headers: { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified } })
    t.is(stale.res.status, 200, 'If-None-Match wins over If-Modified-Since')
    t.is(stale.body.length, first.body.length)
    const old = await get(u, { headers: { 'If-Modified-Since': 'Thu, 01 Jan 2004 00:00:00 GMT' } })
    t.is(old.res.status, 200)
    const head = await get(u, { method: 'HEAD' })
    t.is(head.res.status, 200)
    t.is(head.body.length, 0)
    t.is(Number(head.res.headers.get('content-length')), first.body.length)
    t.is(head.res.headers.get('content-type'), 'image/jpeg')
    t.is(r.handler.stats.notModified, 2)
  } finally {
    await r.close()
  }
})

test('malformed sizes, methods, extensions and traversal answer 400 without touching storage', async (t) => {
  const r = await rig()
  try {
    const good = sign('sunset.jpg', '100x100', 'crop', '.jpg')
    const secret = good.split('/').pop()!.replace('.jpg', '')
    const cases = [
      `/thumbnails/sunset.jpg/100y100/crop/${secret}.jpg`,
      `/thumbnails/sunset.jpg/0x0/crop/${secret}.jpg`,
      `/thumbnails/sunset.jpg/100x100/stretch/${secret}.jpg`,
      `/thumbnails/sunset.jpg/100x100/crop/${secret}.bmp`,
      `/thumbnails/%2e%2e/etc/passwd/100x100/crop/${secret}.jpg`,
      `/thumbnails/a%2F..%2F..%2Fsecret.jpg/100x100/crop/${secret}.jpg`,
    ]
    for (const c of cases) {
      const { status, text } = await rawGet(r.url, c)
      t.is(status, 400, c)
      t.regex(text, /^Bad request \(ERR_[A-Z_]+\)\n$/, c)
    }
    t.is(r.handler.stats.renders, 0)
  } finally {
    await r.close()
  }
})

test('a wrong signature answers 401 and renders nothing', async (t) => {
  const r = await rig()
  try {
    const other = new Signer({ keys: ['another-key'] })
    const u = thumbnailUrl('sunset.jpg', '100x100', 'crop', '.jpg', { signer: other, baseUrl: '/thumbnails' })
    const { res, text } = await get(r.url + u)
    t.is(res.status, 401)
    t.is(text, 'Invalid signature\n')
    t.regex(res.headers.get('cache-control') ?? '', /no-store/)
    t.is(r.handler.stats.renders, 0)
  } finally {
    await r.close()
  }
})

test('a missing source answers a briefly cacheable 404 and is remembered as missing', async (t) => {
  const r = await rig({ negativeTtl: 30 })
  try {
    const u = r.url + sign('late.jpg', '50x50', 'crop', '.jpg')
    const first = await get(u)
    t.is(first.res.status, 404)
    t.is(first.text, 'Not found (ERR_SOURCE_NOT_FOUND)\n')
    t.is(first.res.headers.get('cache-control'), 'public, max-age=30')
    // The source appears, but the negative entry still answers for negativeTtl seconds.
    await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(r.sources, 'late.jpg'))
    const second = await get(u)
    t.is(second.res.status, 404)
    t.is(r.handler.stats.renders, 0)
  } finally {
    await r.close()
  }
})

test('methods other than GET and HEAD answer 405 with Allow', async (t) => {
  const r = await rig()
  try {
    const { res } = await get(r.url + sign('sunset.jpg', '100x100', 'crop', '.jpg'), { method: 'POST', body: 'x' })
    t.is(res.status, 405)
    t.is(res.headers.get('allow'), 'GET, HEAD')
  } finally {
    await r.close()
  }
})

test('an undecodable source answers 415 and a source over the byte limit answers 413', async (t) => {
  const r = await rig({ maxSourceBytes: 20_000 })
  try {
    await writeFile(path.join(r.sources, 'junk.jpg'), Buffer.from('this is not a jpeg at all, just text'))
    const junk = await get(r.url + sign('junk.jpg', '50x50', 'crop', '.jpg'))
    t.is(junk.res.status, 415)
    t.regex(junk.text, /^Unsupported or undecodable image \(ERR_[A-Z_]+\)\n$/)
    // sunset.jpg is ~25 kB, over the 20 kB cap.
    const big = await get(r.url + sign('sunset.jpg', '50x50', 'crop', '.jpg'))
    t.is(big.res.status, 413)
    t.is(r.handler.stats.renders, 0)
  } finally {
    await r.close()
  }
})

test('origin failures answer 502 and origin timeouts answer 504', async (t) => {
  const origin = createServer((req, res) => {
    if (req.url?.includes('slow')) {
      setTimeout(() => res.end('late'), 2000)
      return
    }
    if (req.url?.includes('gone')) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(500).end('boom at /srv/secret/path')
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const { port } = origin.address() as { port: number }
  const source = new HttpSourceStorage({ baseUrl: `http://127.0.0.1:${port}/`, allowPrivate: true, headersTimeout: 200, timeout: 1000 })
  const r = await rig({ source })
  try {
    const bad = await get(r.url + sign('broken.jpg', '50x50', 'crop', '.jpg'))
    t.is(bad.res.status, 502)
    t.false(bad.text.includes('/srv'), 'the origin message does not leak')
    const slow = await get(r.url + sign('slow.jpg', '50x50', 'crop', '.jpg'))
    t.is(slow.res.status, 504)
    const gone = await get(r.url + sign('gone.jpg', '50x50', 'crop', '.jpg'))
    t.is(gone.res.status, 404)
  } finally {
    await r.close()
    await source.close()
    origin.closeAllConnections()
    await new Promise((res) => origin.close(res))
  }
})

test('remote sources render through the HTTP storage and are written atomically', async (t) => {
  const bytes = await readFile(path.join(MEDIA, 'sunset.jpg'))
  const origin = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(bytes)
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const { port } = origin.address() as { port: number }
  const source = new HttpSourceStorage({ baseUrl: `http://127.0.0.1:${port}/`, allowPrivate: true })
  const r = await rig({ source })
  try {
    const { res, body } = await get(r.url + sign('photos/sunset.jpg', '90x60', 'crop', '.jpg'))
    t.is(res.status, 200)
    const meta = await sharp(body).metadata()
    t.is(meta.width, 90)
    t.is(meta.height, 60)
  } finally {
    await r.close()
    await source.close()
    origin.closeAllConnections()
    await new Promise((res) => origin.close(res))
  }
})

test("the '503' waiter mode answers 503 with Retry-After while another worker holds the lock", async (t) => {
  const r = await rig({ waiter: '503', retryAfter: 2 })
  try {
    const u = sign('sunset.jpg', '70x70', 'crop', '.jpg')
    const outputPath = decodeURIComponent(u.slice('/thumbnails/'.length))
    const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath }))
    t.truthy(held)
    const busy = await get(r.url + u)
    t.is(busy.res.status, 503)
    t.is(busy.res.headers.get('retry-after'), '2')
    t.regex(busy.res.headers.get('cache-control') ?? '', /no-store/)
    await held!.release()
    const ok = await get(r.url + u)
    t.is(ok.res.status, 200)
  } finally {
    await r.close()
  }
})

test("the '404' waiter mode answers the seed's never-cache 404 while another worker holds the lock", async (t) => {
  const r = await rig({ waiter: '404' })
  try {
    const u = sign('sunset.jpg', '71x71', 'crop', '.jpg')
    const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath: u.slice(12) }))
    const res = await get(r.url + u)
    t.is(res.res.status, 404)
    t.is(res.res.headers.get('cache-control'), 'max-age=0, no-cache, no-store, must-revalidate, private')
    t.truthy(res.res.headers.get('expires'))
    await held!.release()
  } finally {
    await r.close()
  }
})

test("the 'wait' waiter mode serves the file once the other worker has written it", async (t) => {
  const r = await rig({ waiter: 'wait', lockTimeout: 5 })
  try {
    const u = sign('sunset.jpg', '72x72', 'crop', '.jpg')
    const outputPath = u.slice('/thumbnails/'.length)
    const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath }))
    const pending = get(r.url + u)
    await new Promise((res) => setTimeout(res, 300))
    // "The other worker" finishes: a complete file appears (rename), then its lock goes away.
    const png = await sharp({ create: { width: 72, height: 72, channels: 3, background: '#336699' } }).jpeg().toBuffer()
    await mkdir(path.dirname(path.join(r.outputs, outputPath)), { recursive: true })
    await writeFile(path.join(r.outputs, outputPath + '.tmp'), png)
    await (await import('node:fs/promises')).rename(path.join(r.outputs, outputPath + '.tmp'), path.join(r.outputs, outputPath))
    await held!.release()
    const { res, body } = await pending
    t.is(res.status, 200)
    t.deepEqual(body, png)
    t.is(r.handler.stats.renders, 0, 'the waiter did not render')
    t.is(r.handler.stats.waits, 1)
  } finally {
    await r.close()
  }
})

test("in 'wait' mode a waiter whose lock owner never finishes gives up with 503 after lockTimeout", async (t) => {
  const r = await rig({ waiter: 'wait', lockTimeout: 0.5 })
  try {
    const u = sign('sunset.jpg', '73x73', 'crop', '.jpg')
    // Keep-alive on: the owner is alive but slow, so the lock never expires during the wait.
    const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath: u.slice(12) }))
    const started = Date.now()
    const { res } = await get(r.url + u)
    t.is(res.status, 503)
    t.true(Date.now() - started >= 450)
    await held!.release()
  } finally {
    await r.close()
  }
})

test('concurrent requests for one new thumbnail in one process render it once', async (t) => {
  const r = await rig()
  try {
    const u = r.url + sign('sunset.jpg', '150x100', 'smart', '.jpg')
    const all = await Promise.all(Array.from({ length: 25 }, () => get(u)))
    t.true(all.every((x) => x.res.status === 200))
    t.is(new Set(all.map((x) => x.body.toString('base64'))).size, 1)
    t.is(r.handler.stats.renders, 1)
  } finally {
    await r.close()
  }
})

test('Express-style mounting calls next() for paths that are not thumbnails', async (t) => {
  let nextCalls = 0
  const r = await rig({}, (h) => (req, res) => {
    h(req, res, () => {
      nextCalls++
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('app route')
    })
  })
  try {
    const other = await get(r.url + '/about')
    t.is(other.text, 'app route')
    t.is(nextCalls, 1)
    const thumb = await get(r.url + sign('sunset.jpg', '40x40', 'crop', '.jpg'))
    t.is(thumb.res.status, 200)
    t.is(nextCalls, 1)
  } finally {
    await r.close()
  }
  const standalone = await rig()
  try {
    const { res } = await get(standalone.url + '/about')
    t.is(res.status, 404)
  } finally {
    await standalone.close()
  }
})

test('nginx mode answers X-Accel-Redirect with no body and no Content-Type; apache mode answers X-Sendfile', async (t) => {
  const r = await rig({ responseMode: 'nginx', sendfileBase: '/_internal/' })
  try {
    const u = sign('sunset.jpg', '60x60', 'crop', '.jpg')
    const { res, body } = await get(r.url + u)
    t.is(res.status, 200)
    t.is(res.headers.get('x-accel-redirect'), '/_internal/' + u.slice('/thumbnails/'.length))
    t.is(res.headers.get('content-type'), null)
    t.is(body.length, 0)
    const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
    t.is((await sharp(file).metadata()).width, 60)
  } finally {
    await r.close()
  }
  const a = await rig({ responseMode: 'apache' })
  try {
    const u = sign('sunset.jpg', '61x61', 'crop', '.jpg')
    const { res } = await get(a.url + u)
    const sendfile = res.headers.get('x-sendfile')!
    t.true(path.isAbsolute(sendfile))
    t.true((await stat(sendfile)).isFile())
  } finally {
    await a.close()
  }
})

test('a bug answers a bare 500 and error bodies never contain paths', async (t) => {
  const r = await rig({
    output: {
      pathFor() {
        throw new TypeError('cannot read properties of undefined at /srv/app/thumbnails/x.jpg')
      },
    },
  })
  try {
    const { res, text } = await get(r.url + sign('sunset.jpg', '10x10', 'crop', '.jpg'))
    t.is(res.status, 500)
    t.is(text, 'Internal server error\n')
  } finally {
    await r.close()
  }
  const s = await rig()
  try {
    const bodies = await Promise.all(
      [
        sign('missing/deep/file.jpg', '10x10', 'crop', '.jpg'),
        '/thumbnails/..%2f..%2fetc/10x10/crop/abc.jpg',
        '/thumbnails/%2e%2e/%2e%2e/etc/passwd/10x10/crop/abc.jpg',
        '/thumbnails/sunset.jpg/10x10/crop/wrongsecret.jpg',
      ].map((u) => rawGet(s.url, u)),
    )
    for (const b of bodies) {
      t.true(b.status >= 400)
      t.false(b.text.includes(s.dir), b.text)
      t.false(b.text.includes('/'), b.text)
    }
  } finally {
    await s.close()
  }
})

test('a thumbnail deleted on disk is served from memory for at most hotCacheMs, then restored', async (t) => {
  // Long enough that a loaded machine still makes the second request inside the window.
  const r = await rig({ hotCacheMs: 1500 })
  try {
    const u = sign('sunset.jpg', '55x55', 'crop', '.jpg')
    const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
    const first = await get(r.url + u)
    t.is(first.res.status, 200)
    await rm(file)
    const fromMemory = await get(r.url + u)
    t.is(fromMemory.res.status, 200)
    t.deepEqual(fromMemory.body, first.body)
    await t.throwsAsync(stat(file), { code: 'ENOENT' }, 'memory answered: the disk was not touched')
    await new Promise((res) => setTimeout(res, 1600))
    const again = await get(r.url + u)
    t.is(again.res.status, 200)
    t.is((await sharp(again.body).metadata()).width, 55)
    t.true((await stat(file)).isFile(), 'the file is back on disk (re-linked from its variant)')
  } finally {
    await r.close()
  }
})

test('with the hot cache off every warm hit goes to the disk', async (t) => {
  const r = await rig({ hotCacheBytes: 0 })
  try {
    const u = sign('sunset.jpg', '56x56', 'crop', '.jpg')
    const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
    t.is((await get(r.url + u)).res.status, 200)
    await rm(file)
    const again = await get(r.url + u)
    t.is(again.res.status, 200)
    t.true((await stat(file)).isFile())
  } finally {
    await r.close()
  }
})

test('when the shared Redis is down, a request still renders (fail open without the lock)', async (t) => {
  const redis = await startRedis()
  const url = redis.url
  await redis.stop()
  const r = await rig({ cache: url })
  try {
    const started = Date.now()
    const { res, body } = await get(r.url + sign('sunset.jpg', '57x57', 'crop', '.jpg'))
    t.is(res.status, 200)
    t.is((await sharp(body).metadata()).width, 57)
    t.is(r.handler.stats.renders, 1)
    t.true(Date.now() - started < 5000)
  } finally {
    await r.close()
  }
})

test('with trustCache a recorded thumbnail is served without a stat, and a vanished file is rendered again', async (t) => {
  const r = await rig({ trustCache: true, hotCacheBytes: 0 })
  try {
    const u = sign('sunset.jpg', '58x58', 'crop', '.jpg')
    const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
    t.is((await get(r.url + u)).res.status, 200)
    const record = await r.handler.generator.records!.get(u.slice('/thumbnails/'.length))
    t.like(record, { width: 58, height: 58, format: 'jpeg' })
    await rm(file)
    const again = await get(r.url + u)
    t.is(again.res.status, 200)
    t.is((await sharp(again.body).metadata()).width, 58)
    t.true((await stat(file)).isFile())
    // One hit from the trusted record (no stat), one from re-linking the variant after the open
    // failed; without trustCache the stat would have found no file and counted only the second.
    t.is(r.handler.stats.hits, 2)
  } finally {
    await r.close()
  }
})

test('a render that outlives renderTimeout is aborted, answered 503 and its lock released', async (t) => {
  const origin = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'image/jpeg' })
    res.write(Buffer.from([0xff, 0xd8, 0xff]))
    // Never finishes the body: only the render deadline can end this.
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const { port } = origin.address() as { port: number }
  const source = new HttpSourceStorage({ baseUrl: `http://127.0.0.1:${port}/`, allowPrivate: true })
  const r = await rig({ source, renderTimeout: 0.3 })
  try {
    const u = sign('stuck.jpg', '50x50', 'crop', '.jpg')
    const started = Date.now()
    const { res, text } = await get(r.url + u)
    t.is(res.status, 503)
    t.is(text, 'Temporarily unavailable, retry shortly (ERR_ABORTED)\n')
    t.true(Date.now() - started < 5000)
    t.false(await r.handler.generator.lock.isLocked(r.handler.generator.lockName({ outputPath: u.slice(12) })))
  } finally {
    await r.close()
    await source.close()
    origin.closeAllConnections()
    await new Promise((res) => origin.close(res))
  }
})

test('large thumbnails are streamed from the open descriptor with the same headers', async (t) => {
  const r = await rig()
  try {
    // Noise does not compress: a 900×900 PNG is well over the 256 KiB buffered-read threshold.
    const noise = await sharp({ create: { width: 900, height: 900, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .png()
      .toBuffer()
    await writeFile(path.join(r.sources, 'noise.png'), noise)
    const u = r.url + sign('noise.png', '900x900', 'scale', '.png')
    const { res, body } = await get(u)
    t.is(res.status, 200)
    t.true(body.length > 256 * 1024, `only ${body.length} bytes`)
    t.is(Number(res.headers.get('content-length')), body.length)
    const meta = await sharp(body).metadata()
    t.is(meta.width, 900)
    t.is(meta.height, 900)
    const head = await get(u, { method: 'HEAD' })
    t.is(head.body.length, 0)
    t.is(Number(head.res.headers.get('content-length')), body.length)
    const cond = await get(u, { headers: { 'If-None-Match': res.headers.get('etag')! } })
    t.is(cond.res.status, 304)
  } finally {
    await r.close()
  }
})
