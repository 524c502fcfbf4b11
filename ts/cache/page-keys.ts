/**
 * Django's per-view cache keys (`django/utils/cache.py`, 6.x): `get_cache_key` and
 * `learn_cache_key`, plus the header helpers the page cache needs (`Cache-Control` and `Vary`
 * parsing). Keys hash the absolute URL and the values of the headers the response varies on,
 * each as a netstring (`len:value,`, absent as `-,`), so a key never mixes up variants.
 * @module
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

import type { BaseCache } from './base.js'

/** What the key functions need from a request (a node `IncomingMessage` is one). */
export interface PageRequest {
  method?: string
  url?: string
  /** Express keeps the full URL here when routers rewrite `url`. */
  originalUrl?: string
  headers: IncomingMessage['headers']
  socket?: object | null
}

function md5(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex')
}

/** Django's `build_absolute_uri()`: scheme, Host header and the full path with query. */
export function absoluteUri(req: PageRequest): string {
  const scheme = (req.socket as { encrypted?: boolean } | null | undefined)?.encrypted ? 'https' : 'http'
  return `${scheme}://${req.headers.host ?? 'localhost'}${req.originalUrl ?? req.url ?? '/'}`
}

/**
 * `views.decorators.cache.cache_header.<prefix>.<md5(url)>`: where the Vary header list is kept.
 * @param urlHash - the URL's MD5 when the caller already has it
 */
export function cacheHeaderKey(keyPrefix: string, req: PageRequest, urlHash = md5(absoluteUri(req))): string {
  return `views.decorators.cache.cache_header.${keyPrefix}.${urlHash}`
}

/** A WSGI `META` name (`HTTP_ACCEPT_ENCODING`) as a node header name (`accept-encoding`). */
function headerName(meta: string): string {
  return meta.replace(/^HTTP_/, '').toLowerCase().replace(/_/g, '-')
}

/**
 * `views.decorators.cache.cache_page.<prefix>.<method>.<md5(url)>.<md5(header values)>`
 * @param urlHash - the URL's MD5 when the caller already has it
 */
export function pageKey(
  req: PageRequest,
  method: string,
  headerList: readonly string[],
  keyPrefix: string,
  urlHash = md5(absoluteUri(req)),
): string {
  const ctx = createHash('md5')
  for (const meta of headerList) {
    const raw = req.headers[headerName(meta)]
    if (raw === undefined) {
      // An absent field must not share a key with a present but empty one (RFC 9111, 4.1).
      ctx.update('-,')
      continue
    }
    const data = Buffer.from(Array.isArray(raw) ? raw.join(', ') : raw)
    ctx.update(`${data.length}:`)
    ctx.update(data)
    ctx.update(',')
  }
  return `views.decorators.cache.cache_page.${keyPrefix}.${method}.${urlHash}.${ctx.digest('hex')}`
}

/**
 * Django's `get_cache_key`: the page key for `req` from the header list a previous response
 * taught, or undefined when nothing was learned for this URL.
 * @param req - the request
 * @param cache - where header lists are kept
 * @param keyPrefix - the page cache's prefix
 * @param method - the method part of the key
 */
export async function getCacheKey(req: PageRequest, cache: BaseCache, keyPrefix = '', method = 'GET'): Promise<string | undefined> {
  const urlHash = md5(absoluteUri(req))
  const headerList = await cache.get<string[]>(cacheHeaderKey(keyPrefix, req, urlHash))
  return Array.isArray(headerList) ? pageKey(req, method, headerList, keyPrefix, urlHash) : undefined
}

/**
 * Django's `learn_cache_key`: stores which request headers the response varies on (from its
 * `Vary`) for `timeout` seconds and returns the page key for this request.
 * @param req - the request
 * @param vary - the response's `Vary` header, if any
 * @param timeout - seconds
 * @param cache - where header lists are kept
 * @param keyPrefix - the page cache's prefix
 */
export async function learnCacheKey(
  req: PageRequest,
  vary: string | undefined,
  timeout: number,
  cache: BaseCache,
  keyPrefix = '',
): Promise<string> {
  const headerList = varyHeaders(vary)
    .map((h) => `HTTP_${h.toUpperCase().replace(/-/g, '_')}`)
    .sort()
  const urlHash = md5(absoluteUri(req))
  await cache.set(cacheHeaderKey(keyPrefix, req, urlHash), headerList, timeout)
  return pageKey(req, req.method ?? 'GET', headerList, keyPrefix, urlHash)
}

/** The field names of a `Vary` header, without duplicates (case-insensitive). */
export function varyHeaders(vary: string | undefined): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const name of (vary ?? '').split(',')) {
    const h = name.trim()
    if (h !== '' && !seen.has(h.toLowerCase())) {
      seen.add(h.toLowerCase())
      out.push(h)
    }
  }
  return out
}

/** `Cache-Control` directives, lower-cased; valueless ones map to `true`. */
export function parseCacheControl(header: string | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>()
  for (const part of (header ?? '').split(',')) {
    const [k, ...v] = part.split('=')
    const name = k.trim().toLowerCase()
    if (name !== '') out.set(name, v.length > 0 ? v.join('=').trim().replace(/^"|"$/g, '') : true)
  }
  return out
}

/** Serializes directives back, as Django's `patch_cache_control`. */
export function formatCacheControl(directives: Map<string, string | true>): string {
  return [...directives].map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(', ')
}
