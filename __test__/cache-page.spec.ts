import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import test from 'ava'
import express from 'express'
import Fastify from 'fastify'

import {
  InvalidOptionError,
  MemcachedCache,
  MemoryCache,
  cachePage,
  getCacheKey,
  learnCacheKey,
  makeTemplateFragmentKey,
} from '../ts/index.js'
import { startMemcached } from './helpers/memcached.js'

let n = 0
const quiet = { warn: () => {}, info: () => {} }
function memory(): MemoryCache {
  return new MemoryCache({ location: `page-${++n}`, maxEntries: 10_000, logger: quiet })
}

async function serve(t: { teardown(fn: () => unknown): void }, listener: RequestListener): Promise<string> {
  const server = createServer(listener)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => server.close(r)))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A handler counting its calls; `respond` shapes the response. */
function counted(respond: (req: IncomingMessage, res: ServerResponse, calls: number) => void | Promise<void>) {
  const state = { calls: 0 }
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    state.calls++
    await respond(req, res, state.calls)
  }
  return { state, handler }
}

test('makeTemplateFragmentKey matches Django 6 (netstring MD5 of the vary-on values)', (t) => {
  // Golden values computed with Python's hashlib following django/core/cache/utils.py (6.x).
  t.is(makeTemplateFragmentKey('sidebar'), 'template.cache.sidebar.d41d8cd98f00b204e9800998ecf8427e')
  t.is(makeTemplateFragmentKey('sidebar', ['abc', 'ünï', 42]), 'template.cache.sidebar.fbbe9ebc14ea6f9dc259a7e5f9adf356')
  t.not(makeTemplateFragmentKey('s', ['a:b']), makeTemplateFragmentKey('s', ['a', 'b']))
})

test('learnCacheKey and getCacheKey build Django keys from the Vary header list', async (t) => {
  const cache = memory()
  const req = { method: 'GET', url: '/news?page=2', headers: { host: 'example.com', 'accept-encoding': 'gzip' } }
  t.is(await getCacheKey(req, cache, 'site'), undefined, 'nothing learned yet')
  const key = await learnCacheKey(req, 'Accept-Encoding, accept-language', 60, cache, 'site')
  // Golden values: Django's _generate_cache_header_key (5.2) and the 6.x netstring page key.
  t.is(key, 'views.decorators.cache.cache_page.site.GET.560f7dcd94ed94f15e380be5e7dd8d24.ca71ed008b91bd31c078fa9b5427962d')
  t.deepEqual(await cache.get('views.decorators.cache.cache_header.site.560f7dcd94ed94f15e380be5e7dd8d24'), [
    'HTTP_ACCEPT_ENCODING',
    'HTTP_ACCEPT_LANGUAGE',
  ])
  t.is(await getCacheKey(req, cache, 'site'), key)
  const other = await getCacheKey({ ...req, headers: { ...req.headers, 'accept-language': '' } }, cache, 'site')
  t.not(other, key, 'an empty header is not an absent one')
})

test('node:http: the second GET is served from the cache with Age, Expires and max-age', async (t) => {
  const { state, handler } = counted((_req, res, calls) => {
    res.setHeader('Content-Type', 'text/plain')
    res.end(`render ${calls}`)
  })
  const url = await serve(t, cachePage(60, { cache: memory() })(handler))
  const storedBy = Date.now()
  const first = await fetch(`${url}/a`)
  t.is(await first.text(), 'render 1')
  t.is(first.headers.get('cache-control'), 'max-age=60')
  const expires = Date.parse(first.headers.get('expires') ?? '')
  t.true(Math.abs(expires - (Date.now() + 60_000)) < 3000)
  await new Promise((r) => setTimeout(r, 50))
  const second = await fetch(`${url}/a`)
  t.is(await second.text(), 'render 1')
  t.is(second.headers.get('content-type'), 'text/plain')
  const age = Number(second.headers.get('age'))
  t.true(Number.isInteger(age) && age >= 0 && age <= Math.ceil((Date.now() - storedBy) / 1000), `Age ${age}`)
  t.is(second.headers.get('expires'), first.headers.get('expires'))
  t.is(state.calls, 1)
  t.is(await (await fetch(`${url}/a?x=1`)).text(), 'render 2', 'the query string is part of the key')
})

test("an existing max-age below the page timeout is kept, one above is lowered (Django's patch_cache_control)", async (t) => {
  const url = await serve(
    t,
    cachePage(60, { cache: memory() })((req, res) => {
      res.setHeader('Cache-Control', `public, max-age=${req.url === '/low' ? 10 : 3600}`)
      res.end('x')
    }),
  )
  t.is((await fetch(`${url}/low`)).headers.get('cache-control'), 'public, max-age=10')
  t.is((await fetch(`${url}/high`)).headers.get('cache-control'), 'public, max-age=60')
})

test('Vary: each variant of the varied header has its own entry', async (t) => {
  const { state, handler } = counted((req, res) => {
    res.setHeader('Vary', 'X-Lang')
    res.end(`lang ${req.headers['x-lang'] ?? 'none'}`)
  })
  const url = await serve(t, cachePage(60, { cache: memory() })(handler))
  const get = async (lang?: string) => (await fetch(url, { headers: lang ? { 'x-lang': lang } : {} })).text()
  t.is(await get('en'), 'lang en')
  t.is(await get('fr'), 'lang fr')
  t.is(await get('en'), 'lang en')
  t.is(await get('fr'), 'lang fr')
  t.is(await get(), 'lang none')
  t.is(state.calls, 3)
})

test('responses with Set-Cookie, private, no-store, no-cache, Vary: *, non-200 status, and POSTs are never cached', async (t) => {
  const shapes: Record<string, (res: ServerResponse) => void> = {
    '/cookie': (res) => res.setHeader('Set-Cookie', 'session=1'),
    '/private': (res) => res.setHeader('Cache-Control', 'private, max-age=60'),
    '/nostore': (res) => res.setHeader('Cache-Control', 'no-store'),
    '/nocache': (res) => res.setHeader('Cache-Control', 'no-cache'),
    '/varystar': (res) => res.setHeader('Vary', '*'),
    '/missing': (res) => (res.statusCode = 404),
    '/post': () => {},
  }
  const { state, handler } = counted((req, res) => {
    shapes[req.url ?? '']?.(res)
    res.end('body')
  })
  const url = await serve(t, cachePage(60, { cache: memory() })(handler))
  for (const path of Object.keys(shapes)) {
    const method = path === '/post' ? 'POST' : 'GET'
    await (await fetch(`${url}${path}`, { method })).text()
    await (await fetch(`${url}${path}`, { method })).text()
  }
  t.is(state.calls, 14, 'every request reached the handler')
})

test('requests with Authorization are cached only when allowed (per credential) or public', async (t) => {
  const { state, handler } = counted((req, res) => {
    if (req.url === '/public') res.setHeader('Cache-Control', 'public')
    res.end(`for ${req.headers.authorization}`)
  })
  const plain = await serve(t, cachePage(60, { cache: memory() })(handler))
  const get = async (base: string, path: string, auth: string) => (await fetch(`${base}${path}`, { headers: { authorization: auth } })).text()
  await get(plain, '/private', 'Bearer a')
  await get(plain, '/private', 'Bearer a')
  t.is(state.calls, 2, 'not cached by default')
  await get(plain, '/public', 'Bearer a')
  t.is(await get(plain, '/public', 'Bearer b'), 'for Bearer a', 'public responses are shared')
  t.is(state.calls, 3)
  const allowed = await serve(t, cachePage(60, { cache: memory(), allowAuthorized: true })(handler))
  const first = await fetch(`${allowed}/x`, { headers: { authorization: 'Bearer a' } })
  t.is(first.headers.get('vary'), 'Authorization')
  await first.text()
  t.is(await get(allowed, '/x', 'Bearer a'), 'for Bearer a')
  t.is(await get(allowed, '/x', 'Bearer b'), 'for Bearer b')
  t.is(state.calls, 5, 'one render per credential')
})

test('conditional requests on a cached page get 304 without a body', async (t) => {
  const { state, handler } = counted((_req, res) => {
    res.setHeader('ETag', '"v1"')
    res.setHeader('Last-Modified', 'Wed, 01 Jan 2025 00:00:00 GMT')
    res.end('content')
  })
  const url = await serve(t, cachePage(60, { cache: memory() })(handler))
  await (await fetch(url)).text()
  const inm = await fetch(url, { headers: { 'if-none-match': 'W/"v1", "v0"' } })
  t.is(inm.status, 304)
  t.is(await inm.text(), '')
  t.is(inm.headers.get('etag'), '"v1"')
  t.is((await fetch(url, { headers: { 'if-none-match': '"other"' } })).status, 200)
  t.is((await fetch(url, { headers: { 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' } })).status, 304)
  t.is((await fetch(url, { headers: { 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT' } })).status, 200)
  t.is(state.calls, 1)
})

test('HEAD is answered from the GET entry, and a HEAD miss is cached for HEAD', async (t) => {
  const { state, handler } = counted((_req, res) => {
    res.setHeader('Content-Type', 'text/plain')
    res.end('twelve bytes')
  })
  const url = await serve(t, cachePage(60, { cache: memory() })(handler))
  t.is((await fetch(`${url}/h`, { method: 'HEAD' })).status, 200)
  await new Promise((r) => setTimeout(r, 50))
  const headAgain = await fetch(`${url}/h`, { method: 'HEAD' })
  t.is(headAgain.headers.get('content-length'), '12')
  t.is(state.calls, 1, 'the second HEAD is a hit')
  await (await fetch(`${url}/g`)).text()
  const head = await fetch(`${url}/g`, { method: 'HEAD' })
  t.is(head.headers.get('content-length'), '12')
  t.is(await head.text(), '')
  t.is(state.calls, 2)
})

test('a cache outage serves every request uncached', async (t) => {
  const down = new MemcachedCache({ location: 'memcached://127.0.0.1:1', strict: true, logger: quiet, connectTimeout: 200 })
  t.teardown(() => down.close())
  const { state, handler } = counted((_req, res) => void res.end('fresh'))
  const url = await serve(t, cachePage(60, { cache: down })(handler))
  for (let i = 0; i < 3; i++) {
    const res = await fetch(url)
    t.is(res.status, 200)
    t.is(await res.text(), 'fresh')
  }
  t.is(state.calls, 3)
})

/** A real MemoryCache that records when each key is written. */
class ObservedCache extends MemoryCache {
  writes: string[] = []
  override set(key: string, value: unknown, timeout?: number | null, version?: number): Promise<void> {
    this.writes.push(key)
    return super.set(key, value, timeout, version)
  }
}

test('a large body streams into the cache in parts while it is sent, and is replayed byte for byte', async (t) => {
  const cache = new ObservedCache({ location: `page-${++n}`, maxEntries: 10_000, logger: quiet })
  const body = randomBytes(3 * 1024 * 1024 + 123)
  let partsBeforeEnd = -1
  const { state, handler } = counted(async (_req, res) => {
    for (let at = 0; at < body.length; at += 64 * 1024) {
      if (!res.write(body.subarray(at, at + 64 * 1024))) await new Promise((r) => res.once('drain', r))
    }
    await new Promise((r) => setTimeout(r, 20))
    partsBeforeEnd = cache.writes.filter((k) => k.includes('.part')).length
    res.end()
  })
  const url = await serve(t, cachePage(60, { cache, chunkSize: 512 * 1024 })(handler))
  t.true(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(body))
  await new Promise((r) => setTimeout(r, 100))
  t.true(partsBeforeEnd >= 5, `${partsBeforeEnd} parts were stored before the response ended`)
  const again = await fetch(url)
  t.is(again.headers.get('content-length'), String(body.length))
  t.true(Buffer.from(await again.arrayBuffer()).equals(body))
  t.is(state.calls, 1)
})

test('large pages fit memcached items: parts stay under the 1 MB item size', async (t) => {
  const server = await startMemcached()
  const cache = new MemcachedCache({ location: `memcached://${server.address}`, logger: quiet, commandTimeout: 10_000 })
  t.teardown(async () => {
    await cache.close()
    await server.stop()
  })
  const body = randomBytes(2_500_000)
  const { state, handler } = counted((_req, res) => void res.end(body))
  const url = await serve(t, cachePage(60, { cache })(handler))
  t.true(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(body))
  await new Promise((r) => setTimeout(r, 200))
  t.true(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(body))
  t.is(state.calls, 1)
})

test('Express: the middleware caches, honours Vary and HEAD', async (t) => {
  const app = express()
  const page = cachePage(60, { cache: memory() })
  let calls = 0
  app.get('/e', page.express, (req, res) => {
    calls++
    res.set('Vary', 'Accept')
    res.send(`express ${req.headers.accept} ${calls}`)
  })
  const url = await serve(t, app)
  const get = async (accept: string) => (await fetch(`${url}/e`, { headers: { accept } })).text()
  t.is(await get('text/html'), 'express text/html 1')
  t.is(await get('text/html'), 'express text/html 1')
  t.is(await get('application/json'), 'express application/json 2')
  const head = await fetch(`${url}/e`, { method: 'HEAD', headers: { accept: 'text/html' } })
  t.is(head.status, 200)
  t.is(head.headers.get('content-length'), String('express text/html 1'.length))
  t.is(calls, 2)
})

test('Fastify: the onRequest hook caches and serves hits without running the handler', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const page = cachePage(60, { cache: memory() })
  let calls = 0
  app.get('/f', { onRequest: page.fastify.onRequest }, async (_req, reply) => {
    calls++
    reply.header('x-render', String(calls))
    return { calls }
  })
  app.get('/cookie', { onRequest: page.fastify.onRequest }, async (_req, reply) => {
    calls++
    reply.header('set-cookie', 'a=1')
    return 'no'
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const first = await fetch(`${url}/f`)
  t.deepEqual(await first.json(), { calls: 1 })
  const second = await fetch(`${url}/f`)
  t.deepEqual(await second.json(), { calls: 1 })
  t.is(second.headers.get('x-render'), '1')
  t.is(second.headers.get('content-type'), 'application/json; charset=utf-8')
  t.is(second.headers.get('cache-control'), 'max-age=60')
  await (await fetch(`${url}/cookie`)).text()
  await (await fetch(`${url}/cookie`)).text()
  t.is(calls, 3)
})

test('cachePage checks its options', (t) => {
  t.throws(() => cachePage(-1), { instanceOf: InvalidOptionError, message: /seconds/ })
  t.throws(() => cachePage(60, { chunkSize: 0 }), { instanceOf: InvalidOptionError, message: /chunkSize/ })
  t.throws(() => cachePage(60, { cache: 42 as never }), { instanceOf: InvalidOptionError, message: /cache/ })
})
