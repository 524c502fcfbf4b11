/**
 * Per-view caching, Django's `cache_page` / `CacheMiddleware` for node:http handlers, Express and
 * Fastify: `cachePage(seconds, { cache, keyPrefix })`.
 * @module
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'

import { invalidOption, mergeDefaults } from '../validate.js'
import { BaseCache } from './base.js'
import { formatCacheControl, getCacheKey, learnCacheKey, parseCacheControl, varyHeaders, type PageRequest } from './page-keys.js'
import { caches } from './registry.js'

/** Options of {@link cachePage}. */
export interface CachePageOptions {
  /**
   * A cache alias of the registry, or a cache instance.
   * @default 'default'
   */
  cache?: string | BaseCache
  /**
   * Prefix inside page keys (Django's `key_prefix`), to keep several page caches apart.
   * @default ''
   */
  keyPrefix?: string
  /**
   * Also cache requests carrying `Authorization`, varied on it (one entry per credential). Off,
   * such requests are only cached when the response says `Cache-Control: public`.
   * @default false
   */
  allowAuthorized?: boolean
  /**
   * Bodies are written to the cache in parts of this many bytes as they stream out, so a large
   * response is never held twice and each part fits memcached's default item size.
   * @default 524288
   */
  chunkSize?: number
}

/** Defaults of {@link CachePageOptions}. */
export const CACHE_PAGE_DEFAULTS = Object.freeze({ cache: 'default', keyPrefix: '', allowAuthorized: false, chunkSize: 512 * 1024 })

/** A node:http handler. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown

/** A page cache: wraps node handlers, and plugs into Express and Fastify. */
export interface PageCache {
  /** Wraps a node:http handler. */
  (handler: NodeHandler): (req: IncomingMessage, res: ServerResponse) => Promise<void>
  /** Express middleware: `app.get('/path', page.express, handler)`. */
  readonly express: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void
  /** Fastify route hooks: `fastify.get('/path', { onRequest: page.fastify.onRequest }, handler)`. */
  readonly fastify: {
    onRequest(request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): unknown }): Promise<void>
  }
}

/** What a cached page holds. */
interface StoredPage {
  headers: Array<[string, string | string[]]>
  storedAt: number
  length: number
  body?: Buffer
  parts?: number
  id?: string
}

// Never replayed from the cache: they describe one connection, not the page.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'age'])
// Stored parts outlive their page entry so a hit read at the very end still finds them all.
const PART_GRACE = 60

/**
 * A page is stored as one Buffer: a 4-byte length, the JSON of everything but the body, then the
 * body. Every backend keeps Buffers as raw bytes (MemoryCache by reference), so a hit costs one
 * small `JSON.parse` and no copy of the body.
 */
function encodePage(page: StoredPage): Buffer {
  const { body, ...meta } = page
  const json = Buffer.from(JSON.stringify(meta))
  const out = Buffer.allocUnsafe(4 + json.length + (body?.length ?? 0))
  out.writeUInt32BE(json.length, 0)
  json.copy(out, 4)
  body?.copy(out, 4 + json.length)
  return out
}

function decodePage(v: unknown): StoredPage | undefined {
  if (!Buffer.isBuffer(v) || v.length < 4) return undefined
  const end = 4 + v.readUInt32BE(0)
  if (end > v.length) return undefined
  try {
    const page = JSON.parse(v.toString('utf8', 4, end)) as StoredPage
    if (!Array.isArray(page.headers) || typeof page.length !== 'number') return undefined
    if (!page.parts) page.body = v.subarray(end)
    return page
  } catch {
    return undefined
  }
}

function partKey(key: string, page: { id?: string }, i: number): string {
  return `${key}.part${i}.${page.id}`
}

/** A GET/HEAD hit, or whether the response may be stored afterwards (false on a cache outage). */
async function lookup(req: PageRequest, cache: BaseCache, keyPrefix: string): Promise<{ page?: StoredPage; key?: string; update: boolean }> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return { update: false }
  try {
    let key = await getCacheKey(req, cache, keyPrefix, 'GET')
    if (key === undefined) return { update: true }
    let page = decodePage(await cache.get(key))
    if (page === undefined && req.method === 'HEAD') {
      key = await getCacheKey(req, cache, keyPrefix, 'HEAD')
      page = key === undefined ? undefined : decodePage(await cache.get(key))
    }
    if (page === undefined || key === undefined) return { update: true }
    // A cache may drop any write (eviction, item size): replay only a page whose parts are all in.
    if (!page.parts) return { page, key, update: false }
    const found = page
    const parts = await Promise.all(Array.from({ length: page.parts }, (_, i) => cache.has(partKey(key as string, found, i))))
    return parts.every(Boolean) ? { page, key, update: false } : { update: true }
  } catch (err) {
    cache.logger.warn('cachePage: cache lookup failed; serving uncached', err)
    return { update: false }
  }
}

function header(page: StoredPage, name: string): string | undefined {
  const found = page.headers.find(([k]) => k === name)?.[1]
  return Array.isArray(found) ? found.join(', ') : found
}

/** RFC 9110 13.1.2 / 13.1.3: If-None-Match (weak comparison) wins over If-Modified-Since. */
function notModified(req: PageRequest, page: StoredPage): boolean {
  const inm = req.headers['if-none-match']
  if (inm !== undefined) {
    const etag = header(page, 'etag')
    if (etag === undefined) return false
    const weak = (t: string) => t.trim().replace(/^W\//, '')
    return inm.trim() === '*' || inm.split(',').some((t) => weak(t) === weak(etag))
  }
  const ims = req.headers['if-modified-since']
  const lastModified = header(page, 'last-modified')
  if (ims === undefined || lastModified === undefined) return false
  const since = Date.parse(ims)
  return !Number.isNaN(since) && Date.parse(lastModified) <= since
}

/** Replays a stored page; large bodies are read back part by part. */
async function send(req: PageRequest, res: ServerResponse, page: StoredPage, key: string, cache: BaseCache): Promise<void> {
  res.setHeader('Age', String(Math.max(0, Math.floor((Date.now() - page.storedAt) / 1000))))
  if (notModified(req, page)) {
    for (const [k, v] of page.headers) if (['etag', 'cache-control', 'expires', 'vary', 'last-modified'].includes(k)) res.setHeader(k, v)
    res.writeHead(304).end()
    return
  }
  for (const [k, v] of page.headers) res.setHeader(k, v)
  if (!res.hasHeader('content-length')) res.setHeader('Content-Length', String(page.length))
  res.writeHead(200)
  if (req.method === 'HEAD') return void res.end()
  if (page.body !== undefined) return void res.end(page.body)
  for (let i = 0; i < (page.parts ?? 0); i++) {
    const part = await cache.get(partKey(key, page, i)).catch(() => undefined)
    if (!Buffer.isBuffer(part)) {
      // Headers are out: cut the response so the client sees a short body, not a wrong one.
      res.destroy(new Error(`cachePage: part ${i} of a cached page is missing`))
      return
    }
    if (!res.write(part)) await once(res, 'drain')
  }
  res.end()
}

/** Collects a response body into cache parts as it is written. */
class Recorder {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private readonly writes: Promise<unknown>[] = []
  private readonly page: StoredPage
  private failed = false

  constructor(
    private readonly cache: BaseCache,
    private readonly key: Promise<string>,
    headers: StoredPage['headers'],
    private readonly timeout: number,
    private readonly chunkSize: number,
  ) {
    this.page = { headers, storedAt: Date.now(), length: 0, parts: 0, id: randomBytes(8).toString('hex') }
    key.catch(() => (this.failed = true))
  }

  push(chunk: Buffer): void {
    this.page.length += chunk.length
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(chunk.length - at, this.chunkSize - this.pendingBytes)
      this.pending.push(take === chunk.length ? chunk : chunk.subarray(at, at + take))
      this.pendingBytes += take
      at += take
      if (this.pendingBytes >= this.chunkSize) this.flush()
    }
  }

  private flush(): void {
    const part = Buffer.concat(this.pending)
    const i = this.page.parts ?? 0
    this.page.parts = i + 1
    this.pending = []
    this.pendingBytes = 0
    this.writes.push(
      this.key
        .then((k) => this.cache.set(partKey(k, this.page, i), part, this.timeout + PART_GRACE))
        .catch(() => (this.failed = true)),
    )
  }

  /** Stores the page once every part is in; a failed part stores nothing. */
  async finish(): Promise<void> {
    try {
      const key = await this.key
      if (this.page.parts === 0) {
        this.page.body = Buffer.concat(this.pending)
        this.pending = []
      } else if (this.pendingBytes > 0) this.flush()
      await Promise.all(this.writes)
      if (!this.failed) await this.cache.set(key, encodePage(this.page), this.timeout)
    } catch (err) {
      this.cache.logger.warn('cachePage: could not store a page', err)
    }
  }
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
}

interface Settings {
  seconds: number | null
  keyPrefix: string
  allowAuthorized: boolean
  chunkSize: number
}

/** Decides, when headers go out, whether the response is stored (Django's `UpdateCacheMiddleware`). */
function cacheable(req: PageRequest, res: ServerResponse, s: Settings): number | undefined {
  const status = res.statusCode
  if (status !== 200 && status !== 304) return undefined
  if (res.hasHeader('set-cookie')) return undefined
  const cc = parseCacheControl(String(res.getHeader('cache-control') ?? ''))
  if (cc.has('private') || cc.has('no-store') || cc.has('no-cache')) return undefined
  const vary = varyHeaders(String(res.getHeader('vary') ?? ''))
  if (vary.includes('*')) return undefined
  if (req.headers.authorization !== undefined && !cc.has('public')) {
    if (!s.allowAuthorized) return undefined
    if (!vary.some((h) => h.toLowerCase() === 'authorization')) res.setHeader('Vary', [...vary, 'Authorization'].join(', '))
  }
  const maxAge = Number(cc.get('max-age'))
  const timeout = s.seconds ?? (Number.isFinite(maxAge) ? maxAge : 600)
  if (!(timeout > 0)) return undefined
  // Django's patch_response_headers: Expires if absent, max-age never above the page timeout.
  if (!res.hasHeader('expires')) res.setHeader('Expires', new Date(Date.now() + timeout * 1000).toUTCString())
  cc.set('max-age', String(Number.isFinite(maxAge) ? Math.min(maxAge, timeout) : timeout))
  res.setHeader('Cache-Control', formatCacheControl(cc))
  return timeout
}

/** Hooks `writeHead`/`write`/`end` so the response is stored while it streams out. */
function capture(req: PageRequest, res: ServerResponse, cache: BaseCache, s: Settings): void {
  const writeHead = res.writeHead
  const write = res.write
  const end = res.end
  let recorder: Recorder | undefined
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const fields = rest.find((a) => typeof a === 'object' && a !== null) as Record<string, string> | string[] | undefined
    if (Array.isArray(fields)) for (let i = 0; i + 1 < fields.length; i += 2) res.setHeader(fields[i], fields[i + 1])
    else if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) res.setHeader(k, v)
    res.statusCode = status
    const timeout = cacheable(req, res, s)
    if (timeout !== undefined && status === 200) {
      const headers = Object.entries(res.getHeaders())
        .filter(([k]) => !HOP_BY_HOP.has(k))
        .map(([k, v]): [string, string | string[]] => [k, Array.isArray(v) ? v : String(v)])
      const key = learnCacheKey(req, String(res.getHeader('vary') ?? ''), timeout, cache, s.keyPrefix)
      recorder = new Recorder(cache, key, headers, timeout, s.chunkSize)
    }
    const reason = typeof rest[0] === 'string' ? [rest[0]] : []
    return writeHead.call(this, status, ...(reason as []))
  } as ServerResponse['writeHead']
  // Node writes headers implicitly inside write/end, so the recorder exists once they return.
  res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    const ok = write.call(this, chunk as never, encoding as never, cb as never)
    const buf = toBuffer(chunk, encoding)
    if (buf && recorder) recorder.push(buf)
    return ok
  } as ServerResponse['write']
  res.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    const out = end.call(this, chunk as never, encoding as never, cb as never)
    const buf = toBuffer(chunk, encoding)
    if (buf && recorder) recorder.push(buf)
    if (recorder) void recorder.finish()
    recorder = undefined
    return out
  } as ServerResponse['end']
}

/**
 * Caches whole responses, as Django's `cache_page(timeout, cache=…, key_prefix=…)`: GET and HEAD
 * with status 200 are stored under a key of the absolute URL plus the request headers named by
 * the response's `Vary` (Django's `learn_cache_key` / `get_cache_key`), and replayed with `Age`;
 * conditional requests get 304 from the cached `ETag` / `Last-Modified`. Never stored: responses
 * with `Set-Cookie`, `Cache-Control: private`, `no-cache` or `no-store`, `Vary: *`, and requests
 * with `Authorization` (unless `allowAuthorized`, or the response is `public`). Stored responses
 * get `Expires` and a `max-age` of at most `seconds`. When the cache fails, pages are served
 * uncached.
 * @param seconds - page lifetime; `null` takes the response's `max-age`, else 600 (Django's default)
 * @param options - see {@link CachePageOptions}
 * @example
 * ```ts
 * const page = cachePage(60)
 * http.createServer(page((req, res) => res.end('hello')))
 * app.get('/news', page.express, (req, res) => res.send(render()))
 * fastify.get('/news', { onRequest: page.fastify.onRequest }, async () => render())
 * ```
 */
export function cachePage(seconds: number | null, options: CachePageOptions = {}): PageCache {
  if (seconds !== null && (typeof seconds !== 'number' || !(seconds >= 0))) throw invalidOption('seconds', 'non-negative number or null', seconds)
  const o = mergeDefaults<Required<CachePageOptions>>(CACHE_PAGE_DEFAULTS, options)
  if (typeof o.cache !== 'string' && !(o.cache instanceof BaseCache)) throw invalidOption('cache', 'cache alias or BaseCache', o.cache)
  if (typeof o.keyPrefix !== 'string') throw invalidOption('keyPrefix', 'string', o.keyPrefix)
  if (!Number.isInteger(o.chunkSize) || o.chunkSize < 1) throw invalidOption('chunkSize', 'positive integer', o.chunkSize)
  const s: Settings = { seconds, keyPrefix: o.keyPrefix, allowAuthorized: o.allowAuthorized === true, chunkSize: o.chunkSize }
  const resolve = (): BaseCache => (typeof o.cache === 'string' ? caches.get(o.cache) : o.cache)

  /** Serves a hit and returns true, or arms the recorder and returns false. */
  const handle = async (req: IncomingMessage, res: ServerResponse, beforeSend?: () => void): Promise<boolean> => {
    const cache = resolve()
    const found = await lookup(req, cache, s.keyPrefix)
    if (found.page !== undefined && found.key !== undefined) {
      beforeSend?.()
      await send(req, res, found.page, found.key, cache)
      return true
    }
    if (found.update) capture(req, res, cache, s)
    return false
  }

  const page = ((handler: NodeHandler) => async (req: IncomingMessage, res: ServerResponse) => {
    if (!(await handle(req, res))) await handler(req, res)
  }) as PageCache
  Object.defineProperty(page, 'express', {
    value: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => {
      handle(req, res).then((served) => served || next(), next)
    },
  })
  Object.defineProperty(page, 'fastify', {
    value: Object.freeze({
      async onRequest(request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): unknown }) {
        await handle(request.raw, reply.raw, () => reply.hijack())
      },
    }),
  })
  return page
}
