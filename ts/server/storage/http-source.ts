/**
 * Source images from an HTTP origin, fetched with a pooled undici `Agent`, hardened against SSRF
 * and resource exhaustion:
 * - every hop (redirects included) must stay on the base URL's origin (scheme, host and port) or
 *   match `allowedHosts` (scheme, host and port too), without credentials in the URL;
 * - the connected address must be public unicast, checked at connect time (see
 *   `guarded-connect.ts`), unless the origin is the base URL's with `allowPrivate`, or is listed
 *   by exact name;
 * - redirects are followed by hand, at most `maxRedirects`;
 * - the body is counted while streaming and aborted at `maxBytes`;
 * - connect, headers, body-idle and total deadlines.
 * No cookies or client headers are forwarded.
 * @module
 */
import type { Agent, request } from 'undici'

import { AbortError } from '../../errors.js'
import { integer, invalidOption, mergeDefaults } from '../../validate.js'
import { OriginError, OriginForbiddenError, OriginTimeoutError, SourceNotFoundError, SourceTooLargeError } from '../errors.js'
import type { LookupFunction } from '../net/guarded-connect.js'
import { HostAllowlist } from '../net/host-allowlist.js'
import { checkRelativePath } from '../paths.js'

/** Options of {@link HttpSourceStorage}. */
export interface HttpSourceStorageOptions {
  /** Origin URL the source paths are appended to, e.g. `https://media.example.com/uploads/`. */
  baseUrl: string
  /**
   * Other origins redirects may go to: `host`, `host:port` or `scheme://host:port`, with
   * `*.example.com` for subdomains. Without a scheme both http and https match; without a port
   * only the default port. The base URL's origin is always allowed. Origins listed by exact
   * name may also resolve to private addresses (an explicit operator decision, e.g. an internal
   * media server); wildcard matches may not.
   * @default []
   */
  allowedHosts?: readonly string[]
  /**
   * Let the base URL's origin resolve to loopback, private, link-local, CGNAT and other
   * non-public addresses (an origin on a trusted network). Redirects elsewhere are still checked.
   * @default false
   */
  allowPrivate?: boolean
  /**
   * Largest body accepted, in bytes; larger sources throw {@link SourceTooLargeError} (413).
   * @default 52428800 (50 MiB)
   */
  maxBytes?: number
  /**
   * Redirects followed before {@link OriginError}.
   * @default 3
   */
  maxRedirects?: number
  /**
   * Milliseconds to resolve and connect.
   * @default 5000
   */
  connectTimeout?: number
  /**
   * Milliseconds to wait for the response headers.
   * @default 10000
   */
  headersTimeout?: number
  /**
   * Milliseconds the body may stall between two chunks.
   * @default 10000
   */
  bodyTimeout?: number
  /**
   * Milliseconds for the whole fetch, redirects included.
   * @default 30000
   */
  timeout?: number
  /**
   * A `dns.lookup`-compatible resolver (split-horizon DNS, tests).
   * @default dns.lookup
   */
  lookup?: LookupFunction
}

/** Defaults of {@link HttpSourceStorageOptions}. */
export const HTTP_SOURCE_DEFAULTS = Object.freeze({
  allowedHosts: Object.freeze([]) as readonly string[],
  allowPrivate: false,
  maxBytes: 50 * 1024 * 1024,
  maxRedirects: 3,
  connectTimeout: 5000,
  headersTimeout: 10000,
  bodyTimeout: 10000,
  timeout: 30000,
})

// Every option set; `baseUrl` has no default and is checked by parseBaseUrl.
type Resolved = Omit<Required<HttpSourceStorageOptions>, 'lookup'> & Pick<HttpSourceStorageOptions, 'lookup'>

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** Reads source images over HTTP(S). Call {@link HttpSourceStorage.close} when done. */
export class HttpSourceStorage {
  readonly #base: URL
  readonly #hosts: HostAllowlist
  readonly #o: Readonly<Omit<Required<HttpSourceStorageOptions>, 'lookup' | 'baseUrl' | 'allowedHosts'>>
  readonly #connect: { timeout: number; headersTimeout: number; bodyTimeout: number; lookup?: LookupFunction }
  // undici (and its WebAssembly HTTP parser) is loaded on the first fetch, not at import time.
  #client: Promise<{ agent: Agent; request: typeof request }> | undefined

  /** @param options - see {@link HttpSourceStorageOptions} */
  constructor(options: HttpSourceStorageOptions) {
    const merged = mergeDefaults<Resolved>(HTTP_SOURCE_DEFAULTS as Resolved, options)
    this.#base = parseBaseUrl(merged.baseUrl)
    for (const name of ['maxBytes', 'connectTimeout', 'headersTimeout', 'bodyTimeout', 'timeout'] as const) {
      integer(name, merged[name], { min: 1 })
    }
    integer('maxRedirects', merged.maxRedirects)
    if (!Array.isArray(merged.allowedHosts)) throw invalidOption('allowedHosts', 'array', merged.allowedHosts)
    this.#hosts = new HostAllowlist(merged.allowedHosts)
    this.#o = Object.freeze({
      allowPrivate: merged.allowPrivate === true,
      maxBytes: merged.maxBytes,
      maxRedirects: merged.maxRedirects,
      connectTimeout: merged.connectTimeout,
      headersTimeout: merged.headersTimeout,
      bodyTimeout: merged.bodyTimeout,
      timeout: merged.timeout,
    })
    this.#connect = { timeout: merged.connectTimeout, headersTimeout: merged.headersTimeout, bodyTimeout: merged.bodyTimeout, lookup: merged.lookup }
  }

  /** The pooled agent, created with undici on first use. */
  #dispatcher(): Promise<{ agent: Agent; request: typeof request }> {
    this.#client ??= Promise.all([import('undici'), import('../net/guarded-connect.js')]).then(([undici, net]) => ({
      request: undici.request,
      agent: new undici.Agent({
        connect: net.guardedConnector({
          timeout: this.#connect.timeout,
          trusted: (origin) => (this.#o.allowPrivate && origin.origin === this.#base.origin) || this.#hosts.isExact(origin),
          lookup: this.#connect.lookup,
        }),
        headersTimeout: this.#connect.headersTimeout,
        bodyTimeout: this.#connect.bodyTimeout,
      }),
    }))
    return this.#client
  }

  /**
   * The origin URL of a source path.
   * @param source - decoded relative source path
   */
  urlFor(source: string): URL {
    const encoded = checkRelativePath(source).map(encodeURIComponent).join('/')
    return new URL(`${this.#base.pathname}${encoded}`, this.#base)
  }

  /**
   * Fetches a source image.
   * @param source - decoded relative source path
   * @param options - `maxBytes` overrides the storage limit; `signal` cancels
   * @throws {@link SourceNotFoundError} (origin 404/410), {@link SourceTooLargeError} (413),
   *   {@link OriginTimeoutError} (504), {@link OriginError} (502), {@link OriginForbiddenError}
   *   (403), {@link AbortError}
   */
  async read(source: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const maxBytes = options.maxBytes === undefined ? this.#o.maxBytes : integer('maxBytes', options.maxBytes, { min: 1 })
    let url = this.urlFor(source)
    const deadline = AbortSignal.timeout(this.#o.timeout)
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
    const client = await this.#dispatcher()
    for (let hop = 0; ; hop++) {
      this.#checkTarget(url)
      let res: Awaited<ReturnType<typeof request>>
      try {
        res = await client.request(url, {
          dispatcher: client.agent,
          method: 'GET',
          headers: { accept: 'image/*', 'accept-encoding': 'identity', 'user-agent': 'restthumbs' },
          signal,
        })
      } catch (err) {
        throw this.#mapError(err, url, deadline, options.signal)
      }
      const status = res.statusCode
      if (REDIRECTS.has(status)) {
        await res.body.dump().catch(() => undefined)
        const location = res.headers.location
        if (typeof location !== 'string') throw new OriginError(url.href, `Origin ${url.host} answered ${status} without a Location`, { originStatus: status })
        if (hop >= this.#o.maxRedirects) {
          throw new OriginError(url.href, `Origin ${url.host} redirected more than ${this.#o.maxRedirects} times`, { originStatus: status })
        }
        try {
          url = new URL(location, url)
        } catch (err) {
          throw new OriginError(url.href, `Origin ${url.host} redirected to an invalid URL`, { originStatus: status, cause: err })
        }
        continue
      }
      if (status === 404 || status === 410) {
        await res.body.dump().catch(() => undefined)
        throw new SourceNotFoundError(source)
      }
      if (status !== 200) {
        await res.body.dump().catch(() => undefined)
        throw new OriginError(url.href, `Origin ${url.host} answered ${status}`, { originStatus: status })
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > maxBytes) {
        discard(res.body)
        throw new SourceTooLargeError(maxBytes)
      }
      const chunks: Buffer[] = []
      let total = 0
      try {
        for await (const chunk of res.body) {
          total += (chunk as Buffer).length
          if (total > maxBytes) {
            discard(res.body)
            throw new SourceTooLargeError(maxBytes)
          }
          chunks.push(chunk as Buffer)
        }
      } catch (err) {
        if (err instanceof SourceTooLargeError) throw err
        throw this.#mapError(err, url, deadline, options.signal)
      }
      return Buffer.concat(chunks, total)
    }
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    if (this.#client) await (await this.#client).agent.close()
  }

  #checkTarget(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OriginForbiddenError(url.protocol, `Refusing to fetch a ${url.protocol} URL; only http and https origins are allowed`)
    }
    if (url.username || url.password) {
      throw new OriginForbiddenError(url.host, 'Refusing to fetch a URL with credentials')
    }
    // Origins compare scheme, host and port, all normalised by the URL parser.
    if (url.origin !== this.#base.origin && !this.#hosts.matches(url)) {
      throw new OriginForbiddenError(url.host, `Refusing to fetch from ${url.origin}: not the base URL's origin and not in allowedHosts`)
    }
  }

  #mapError(err: unknown, url: URL, deadline: AbortSignal, userSignal: AbortSignal | undefined): unknown {
    const forbidden = findCause(err, (e) => e instanceof OriginForbiddenError)
    if (forbidden) return forbidden
    if (userSignal?.aborted) return new AbortError('The origin fetch was aborted', { cause: err })
    if (deadline.aborted) {
      return new OriginTimeoutError(url.href, `Origin ${url.host} did not answer within ${this.#o.timeout} ms`, { cause: err })
    }
    const timeout = findCause(err, (e) => TIMEOUT_CODES.has((e as { code?: string }).code ?? ''))
    if (timeout) {
      const which = (timeout as unknown as { code: string }).code.replace('UND_ERR_', '').replace('_TIMEOUT', '').toLowerCase()
      return new OriginTimeoutError(url.href, `Origin ${url.host} timed out (${which})`, { cause: err })
    }
    const code = (findCause(err, (e) => typeof (e as { code?: unknown }).code === 'string') as { code?: string } | undefined)?.code
    return new OriginError(url.href, `Fetching from ${url.host} failed${code ? ` (${code})` : ''}`, { cause: err })
  }
}

/* Closing the socket is the point (the rest may be gigabytes); undici then emits an "aborted"
   error nobody is waiting for, which must not become an uncaught exception. */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => undefined)
  body.destroy()
}

function findCause(err: unknown, pred: (e: Error) => boolean): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (pred(e)) return e
    if (e instanceof AggregateError) {
      for (const inner of e.errors) if (inner instanceof Error && pred(inner)) return inner
    }
  }
  return undefined
}

function parseBaseUrl(raw: unknown): URL {
  let url: URL
  try {
    url = new URL(String(raw))
  } catch {
    throw invalidOption('baseUrl', 'an absolute http(s) URL', raw)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    throw invalidOption('baseUrl', 'an http(s) URL without credentials, query or fragment', raw)
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/'
  return url
}
