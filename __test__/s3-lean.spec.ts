import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type Server } from 'node:http'
import { connect, createServer as createTcpServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'

import { StorageUnavailableError } from '../ts/server/errors.js'
import { createThumbnailHandler } from '../ts/server/handler.js'
import { Signer } from '../ts/server/signing.js'
import { S3Connection, type S3ConnectionOptions } from '../ts/server/storage/s3-client.js'
import { S3OutputStorage } from '../ts/server/storage/s3-output.js'
import { S3SourceStorage } from '../ts/server/storage/s3-source.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { freePort } from './helpers/process.js'
import { startSeaweedFS, type TestS3 } from './helpers/seaweedfs.js'

let s3: TestS3
let sdk: S3Client
let bucketNo = 0

test.before(async () => {
  s3 = await startSeaweedFS()
  sdk = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  })
})

test.after.always(async () => {
  sdk?.destroy()
  await s3?.stop()
})

async function bucket(): Promise<string> {
  const name = `lean-${process.pid}-${bucketNo++}`
  await s3.createBucket(name)
  return name
}

function options(extra: Partial<S3ConnectionOptions> = {}): S3ConnectionOptions {
  return { endpoint: s3.endpoint, region: s3.region, pathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...extra }
}

// Names a URL can carry after decoding: spaces, Unicode (composed and not), `+` (a space in a
// query string, not in a path), lone `%`, RFC 3986 sub-delimiters the SDK encodes by hand.
const ODD_KEYS = [
  'a b/c  d.jpg',
  'ünïcödé/日本語/ß.png',
  'cafe\u0301/e\u0301.webp',
  'plus+sign/a+b.jpg',
  '100% off/x%y.jpg',
  "quote'(x)!*/=&;,$@:~.jpg",
  'emoji/🖼️ tile.avif',
]

test('the lean path is on by default and takes a path-style SeaweedFS bucket; s3LeanClient off keeps the SDK', async (t) => {
  const b = await bucket()
  const on = new S3Connection(options())
  const off = new S3Connection(options({ lean: false }))
  try {
    const lean = (await on.open()).lean
    t.truthy(lean)
    t.true(await lean!.supports(b))
    t.is((await off.open()).lean, undefined)
  } finally {
    await on.close()
    await off.close()
  }
})

for (const lean of [true, false]) {
  const name = lean ? 'lean' : 'SDK'
  test(`odd keys round trip: written by the ${name} PUT, read by the other client, with content type and cache control`, async (t) => {
    const b = await bucket()
    const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-lean-'))
    const out = new S3OutputStorage({ ...options({ lean }), bucket: b, prefix: 'p r+e', root: dir, cacheControl: 'public, max-age=60' })
    try {
      for (const key of ODD_KEYS) {
        const bytes = randomBytes(1000 + key.length)
        await out.commit(key, path.join(dir, 'unused'), bytes)
        t.deepEqual(await s3.get(b, `p r+e/${key}`), bytes, key)
        const head = await sdk.send(new HeadObjectCommand({ Bucket: b, Key: `p r+e/${key}` }))
        t.is(head.ContentType, `image/${key.endsWith('.jpg') ? 'jpeg' : key.slice(key.lastIndexOf('.') + 1)}`, key)
        t.is(head.CacheControl, 'public, max-age=60', key)
      }
      t.is((await s3.list(b)).length, ODD_KEYS.length, 'one object per key, none under a mangled name')
    } finally {
      await out.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  test(`odd keys round trip: written by the SDK, read by the ${name} GET; a missing key is SourceNotFound`, async (t) => {
    const b = await bucket()
    const source = new S3SourceStorage({ ...options({ lean }), bucket: b, prefix: 'src/' })
    try {
      for (const key of ODD_KEYS) {
        const bytes = randomBytes(2000 + key.length)
        await s3.put(b, `src/${key}`, bytes)
        t.deepEqual(await source.read(key), bytes, key)
      }
      // The same names with one character changed: no near-miss encoding finds another object.
      for (const key of ODD_KEYS) {
        const err = await t.throwsAsync(source.read(key.replace('.', '-.')))
        t.is((err as { code?: string }).code, 'ERR_SOURCE_NOT_FOUND', key)
        t.is((err as { status?: number }).status, 404)
      }
    } finally {
      await source.close()
    }
  })

  test(`a wrong secret is a StorageUnavailableError (503) naming the credentials, on the ${name} path`, async (t) => {
    const b = await bucket()
    await s3.put(b, 'x.jpg', randomBytes(100))
    const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-lean-'))
    const bad = options({ lean, secretAccessKey: 'not-the-secret', retryAfter: 7 })
    const source = new S3SourceStorage({ ...bad, bucket: b })
    const out = new S3OutputStorage({ ...bad, bucket: b, root: dir })
    try {
      for (const attempt of [() => source.read('x.jpg'), () => source.read('missing.jpg'), () => out.commit('y.jpg', path.join(dir, 'y'), randomBytes(10))]) {
        const err = await t.throwsAsync(attempt(), { instanceOf: StorageUnavailableError })
        t.is(err.code, 'ERR_STORAGE_UNAVAILABLE')
        t.is(err.status, 503)
        t.is(err.retryAfter, 7)
        t.regex(err.message, /SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/)
        t.regex(err.message, /check the S3 credentials/)
      }
      t.deepEqual(await s3.list(b), ['x.jpg'], 'nothing was written')
    } finally {
      await source.close()
      await out.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  test(`a dead endpoint answers 503 with Retry-After, on the ${name} path`, async (t) => {
    const dead = `http://127.0.0.1:${await freePort()}`
    const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-lean-'))
    const handler = createThumbnailHandler({
      keys: ['k'],
      outputRoot: dir,
      ...s3.settings,
      s3Endpoint: dead,
      s3LeanClient: lean,
      sourceBucket: 'sources',
      outputBucket: 'outputs',
      retryAfter: 3,
    })
    const server: Server = createHttpServer((req, res) => handler(req, res))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const { port } = server.address() as { port: number }
      const rel = thumbnailUrl('a b+c.jpg', '40x40', 'crop', '.jpg', { signer: new Signer({ keys: ['k'] }), baseUrl: '' })
      const started = Date.now()
      const res = await fetch(`http://127.0.0.1:${port}/thumbnails${rel}`)
      await res.arrayBuffer()
      t.is(res.status, 503)
      t.is(res.headers.get('retry-after'), '3')
      t.true(Date.now() - started < 4000, 'a refused connection fails fast, not at the deadline')
    } finally {
      await new Promise((r) => server.close(r))
      await handler.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  test(`a store answering 503 SlowDown is asked twice (one retry, as the SDK does), then 503 with Retry-After, on the ${name} path`, async (t) => {
    const seen: string[] = []
    const busy = createHttpServer((req, res) => {
      // The SDK adds ?x-id=GetObject; the path is what both must agree on.
      seen.push(`${req.method} ${req.url!.split('?')[0]} ${req.headers.authorization ? 'signed' : 'unsigned'}`)
      req.resume()
      res.writeHead(503, { 'content-type': 'application/xml' })
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>')
    })
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    const endpoint = `http://127.0.0.1:${(busy.address() as { port: number }).port}`
    const source = new S3SourceStorage({ ...options({ lean, endpoint, retryAfter: 4 }), bucket: 'b' })
    try {
      const err = await t.throwsAsync(source.read('a b.jpg'), { instanceOf: StorageUnavailableError })
      t.is(err.retryAfter, 4)
      t.regex(err.message, /SlowDown/)
      t.deepEqual(seen, ['GET /b/a%20b.jpg signed', 'GET /b/a%20b.jpg signed'])
    } finally {
      await source.close()
      await new Promise((r) => busy.close(r))
    }
  })

  test(`aborting mid-GET stops the download at once and closes its connection, on the ${name} path`, async (t) => {
    const b = await bucket()
    await s3.put(b, 'big.bin', randomBytes(8 * 1024 * 1024))
    // A relay that passes the request and the first 64 KiB of the answer, then holds the rest.
    const target = new URL(s3.endpoint)
    const closed: Promise<void>[] = []
    let delivered = (): void => undefined
    const someBytes = new Promise<void>((r) => (delivered = r))
    const relay = createTcpServer((client: Socket) => {
      const upstream = connect(Number(target.port), target.hostname)
      client.pipe(upstream)
      let passed = 0
      upstream.on('data', (chunk: Buffer) => {
        if (passed >= 65536) return upstream.pause()
        passed += chunk.length
        client.write(chunk)
        if (passed >= 65536) delivered()
      })
      closed.push(new Promise((r) => client.on('close', () => r())))
      client.on('close', () => upstream.destroy())
      client.on('error', () => undefined)
      upstream.on('error', () => client.destroy())
    })
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
    const source = new S3SourceStorage({ ...options({ lean, timeout: 30 }), endpoint: `http://127.0.0.1:${(relay.address() as { port: number }).port}`, bucket: b })
    try {
      const abort = new AbortController()
      const reading = source.read('big.bin', { signal: abort.signal })
      await someBytes
      const started = Date.now()
      abort.abort(new Error('client went away'))
      const err = await t.throwsAsync(reading)
      t.is(err.message, 'client went away', 'the caller gets its own abort reason, not a storage error')
      t.true(Date.now() - started < 1000)
      await Promise.race([Promise.all(closed), new Promise((_, no) => setTimeout(() => no(new Error('connection left open')), 2000))])
      t.pass()
    } finally {
      await source.close()
      await new Promise((r) => relay.close(r))
    }
  })
}
