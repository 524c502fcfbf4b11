import test from 'ava'

import { AbortError, InvalidOptionError } from '../ts/errors.js'
import { OriginError, OriginTimeoutError, SourceNotFoundError, SourceTooLargeError } from '../ts/server/errors.js'
import { HostAllowlist } from '../ts/server/net/host-allowlist.js'
import { HttpSourceStorage } from '../ts/server/storage/http-source.js'
import { origin, storage } from './helpers/origin.js'

test('a streamed body over maxBytes is aborted with a 413 error', async (t) => {
  const o = await origin(t, {
    '/chunked.png': (_req, res) => {
      res.writeHead(200)
      // No content-length: the limit must be enforced while streaming.
      const chunk = Buffer.alloc(64 * 1024, 1)
      let sent = 0
      const pump = () => {
        while (sent < 64 && res.write(chunk)) sent++
        if (sent < 64) res.once('drain', pump)
        else res.end()
      }
      pump()
    },
    '/declared.png': (_req, res) => res.writeHead(200, { 'content-length': 5000 }).end(Buffer.alloc(5000)),
  })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true, maxBytes: 100_000 })
  const err = await t.throwsAsync(s.read('chunked.png'), { instanceOf: SourceTooLargeError })
  t.is(err.status, 413)
  t.is(err.code, 'ERR_SOURCE_TOO_LARGE')
  await t.throwsAsync(s.read('declared.png', { maxBytes: 4999 }), { instanceOf: SourceTooLargeError })
  t.is((await s.read('declared.png', { maxBytes: 5000 })).length, 5000)
})

test('an origin that stalls mid-body fails with a 504 error within the body timeout', async (t) => {
  const o = await origin(t, {
    '/slow.png': (_req, res) => {
      res.writeHead(200, { 'content-length': 100 })
      res.write(Buffer.alloc(10))
    },
  })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true, bodyTimeout: 300 })
  const started = Date.now()
  const err = await t.throwsAsync(s.read('slow.png'), { instanceOf: OriginTimeoutError })
  t.is(err.status, 504)
  t.regex(err.message, /timed out \(body\)/)
  t.true(Date.now() - started < 3000)
})

test('an origin that never sends headers fails with a 504 error within the headers timeout', async (t) => {
  const o = await origin(t, { '/hang.png': () => undefined })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true, headersTimeout: 300 })
  const started = Date.now()
  await t.throwsAsync(s.read('hang.png'), { instanceOf: OriginTimeoutError, message: /timed out \(headers\)/ })
  t.true(Date.now() - started < 3000)
})

test('the overall deadline covers slow drips that reset the idle timer', async (t) => {
  const o = await origin(t, {
    '/drip.png': (_req, res) => {
      res.writeHead(200)
      const timer = setInterval(() => res.write('x'), 50)
      res.on('close', () => clearInterval(timer))
    },
  })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true, timeout: 400 })
  await t.throwsAsync(s.read('drip.png'), { instanceOf: OriginTimeoutError, message: /within 400 ms/ })
})

test('origin 404 and 410 are SourceNotFoundError, other failures are 502', async (t) => {
  const o = await origin(t, {
    '/gone.png': (_req, res) => res.writeHead(410).end(),
    '/boom.png': (_req, res) => res.writeHead(500).end('stack trace here'),
    '/forbidden.png': (_req, res) => res.writeHead(403).end(),
  })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true })
  const missing = await t.throwsAsync(s.read('missing.png'), { instanceOf: SourceNotFoundError })
  t.is(missing.status, 404)
  t.is(missing.source, 'missing.png')
  await t.throwsAsync(s.read('gone.png'), { instanceOf: SourceNotFoundError })
  const boom = await t.throwsAsync(s.read('boom.png'), { instanceOf: OriginError })
  t.is(boom.status, 502)
  t.is(boom.originStatus, 500)
  t.false(boom.message.includes('stack trace'))
  t.is((await t.throwsAsync(s.read('forbidden.png'), { instanceOf: OriginError })).originStatus, 403)
})

test('a refused connection is a 502 origin error', async (t) => {
  // Port 1 on loopback is closed on any sane test machine.
  const closed = storage(t, { baseUrl: 'http://127.0.0.1:1/', allowPrivate: true })
  const err = await t.throwsAsync(closed.read('a.png'), { instanceOf: OriginError })
  t.is(err.status, 502)
  t.is(err.originStatus, undefined)
  t.regex(err.message, /ECONNREFUSED/)
})

test('the caller can abort a fetch with its signal', async (t) => {
  const o = await origin(t, { '/hang.png': () => undefined })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true })
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 50)
  await t.throwsAsync(s.read('hang.png', { signal: ac.signal }), { instanceOf: AbortError })
})

test('source names are checked for traversal before any request', async (t) => {
  const o = await origin(t, {})
  const s = storage(t, { baseUrl: `${o.url}public/`, allowPrivate: true })
  await t.throwsAsync(s.read('../private/a.png'), { message: /relative path/ })
  t.is(s.urlFor('a b/c#d?.png').href, `${o.url}public/a%20b/c%23d%3F.png`)
  t.deepEqual(o.seen, [])
})

test('options are validated with expected-versus-received messages', (t) => {
  t.throws(() => new HttpSourceStorage({ baseUrl: 'ftp://x/' }), { instanceOf: InvalidOptionError, message: /http\(s\) URL/ })
  t.throws(() => new HttpSourceStorage({ baseUrl: 'http://u:p@x/' }), { instanceOf: InvalidOptionError })
  t.throws(() => new HttpSourceStorage({ baseUrl: 'http://x/', maxBytes: -3 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected positive integer for maxBytes but received -3 of type number',
  })
  for (const bad of ['*', '**', '*.com', 'a.*.com', 'ftp://example.com', 'http://u:p@example.com', 'example.com/path', 'example.com?x', 'example.com:0', 'example.com:70000', '*.1.2.3']) {
    t.throws(() => new HostAllowlist([bad]), { instanceOf: InvalidOptionError }, bad)
  }
})
