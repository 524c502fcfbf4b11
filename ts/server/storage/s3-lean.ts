/**
 * A lean path for the three requests of a cold render on S3: the output check and the source
 * download (`GetObject`, often a 404) and the upload (`PutObject` of bytes in memory). The full
 * `@aws-sdk/client-s3` stack (middleware, endpoint rules, retry strategy, response parsing)
 * costs 1.3–1.8 ms of CPU per request; the same request signed with the SDK's own SigV4 signer
 * (`@smithy/signature-v4`) and sent on an undici keep-alive pool costs about a third of that,
 * CPU the renders on the same cores need.
 *
 * Everything that decides *what* is sent still comes from the SDK client: the credentials (its
 * provider, so the whole AWS chain with its caching and refresh), the region, the clock skew
 * correction, and the bucket URL from the SDK's own endpoint rules (path-style or virtual-host,
 * custom endpoint, FIPS, dual-stack). A bucket whose rules ask for anything but plain SigV4
 * (S3 Express, multi-region access points) stays on the SDK. Failures are thrown in the SDK's
 * shape (`name` from the S3 error code, `$metadata.httpStatusCode`) so the connection maps them
 * to the same typed errors. Every other operation stays on the SDK.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'

import type { S3Client } from '@aws-sdk/client-s3'
import type { SignatureV4 } from '@smithy/signature-v4'
// undici is loaded on the first request: importing it reserves address space (its WebAssembly
// HTTP parser), which the package must not pay on import.
import type { Dispatcher, Pool } from 'undici'

type Body = Dispatcher.ResponseData['body']

type SignerModule = typeof import('@smithy/signature-v4')

/** A GET answer: its declared length and its body, as the SDK's `GetObject` output has them. */
export interface LeanObject {
  /** `Content-Length`, when the store sent one. */
  ContentLength?: number
  /** The body stream (destroy it to stop reading). */
  Body: Body
}

/** Where one bucket's requests go and how they are signed. */
interface BucketRoute {
  origin: string
  /** Path of the bucket on the origin, `/` or `/bucket/`. */
  base: string
  host: string
  signer: SignatureV4
}

/** An error in the SDK's shape, so `S3Connection.call` maps it like the SDK's own. */
class LeanS3Error extends Error {
  readonly $metadata: { httpStatusCode: number }
  constructor(name: string, message: string, status: number) {
    super(message)
    this.name = name
    this.$metadata = { httpStatusCode: status }
  }
}

// Statuses the SDK's standard retry strategy retries once (maxAttempts 2), as it does errors
// that never got an answer (a keep-alive socket the store closed, a refused connection).
const RETRIED = new Set([500, 502, 503, 504])

/**
 * S3 object keys as the SDK puts them in the path: each segment percent-encoded with
 * `encodeURIComponent` plus `!'()*` (RFC 3986), slashes kept. S3 signs the path as sent
 * (no second encoding), which is what `uriEscapePath: false` tells the signer.
 * @param key - the object key
 */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/')
}

/** GetObject and PutObject signed by the SDK's signer and sent on undici pools. */
export class LeanS3 {
  readonly #client: S3Client
  readonly #sigv4: SignerModule
  readonly #connectMs: number
  readonly #pools = new Map<string, Pool>()
  readonly #routes = new Map<string, Promise<BucketRoute | undefined>>()

  /**
   * @param client - the SDK client whose configuration decides credentials, region and URLs
   * @param sigv4 - the `@smithy/signature-v4` module
   * @param connectMs - connection timeout in milliseconds
   */
  constructor(client: S3Client, sigv4: SignerModule, connectMs: number) {
    this.#client = client
    this.#sigv4 = sigv4
    this.#connectMs = connectMs
  }

  /**
   * Whether a bucket can take the lean path (plain SigV4 on its endpoint); resolved once.
   * @param bucket - bucket name
   */
  async supports(bucket: string): Promise<boolean> {
    return (await this.#route(bucket)) !== undefined
  }

  /**
   * `GetObject`: the object's body, or a `NoSuchKey`-shaped error for a 404.
   * @param bucket - bucket name
   * @param key - object key
   * @param signal - aborts the request and the body
   */
  async get(bucket: string, key: string, signal: AbortSignal): Promise<LeanObject> {
    const res = await this.#send(bucket, key, 'GET', {}, undefined, signal)
    const length = res.headers['content-length']
    return { ContentLength: typeof length === 'string' ? Number(length) : undefined, Body: res.body }
  }

  /**
   * `PutObject` of bytes in memory. The payload is signed with its SHA-256 (as the SDK does over
   * plain HTTP, where S3 refuses `UNSIGNED-PAYLOAD`); hashing a thumbnail costs microseconds.
   * @param bucket - bucket name
   * @param key - object key
   * @param body - the bytes
   * @param headers - `content-type`, `cache-control`
   * @param signal - aborts the upload
   */
  async put(bucket: string, key: string, body: Uint8Array, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
    const res = await this.#send(bucket, key, 'PUT', { ...headers, 'content-length': String(body.byteLength) }, body, signal)
    await res.body.dump()
  }

  /** Closes the pools. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)))
  }

  async #send(bucket: string, key: string, method: 'GET' | 'PUT', extra: Record<string, string>, body: Uint8Array | undefined, signal: AbortSignal) {
    const route = await this.#route(bucket)
    if (!route) throw new Error(`bucket ${bucket} needs the SDK's signing (S3 Express or an access point)`)
    const path = route.base + encodeKey(key)
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted()
      const signed = await route.signer.sign(
        { method, protocol: '', hostname: route.host, path, query: {}, headers: { host: route.host, ...extra }, body },
        { signingDate: new Date(Date.now() + (this.#client.config.systemClockOffset ?? 0)) },
      )
      let res: Dispatcher.ResponseData
      try {
        res = await (await this.#pool(route.origin)).request({ method, path, headers: signed.headers, body, signal })
      } catch (err) {
        if (signal.aborted || attempt >= 2) throw err
        continue
      }
      if (res.statusCode >= 200 && res.statusCode < 300) return res
      const text = await readError(res.body)
      if (RETRIED.has(res.statusCode) && attempt < 2) {
        // A store that said it is busy gets a moment, jittered like the SDK's first backoff.
        await sleep(Math.random() * 100, undefined, { signal })
        continue
      }
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? (res.statusCode === 404 ? 'NotFound' : `HTTP${res.statusCode}`)
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `status ${res.statusCode}`
      throw new LeanS3Error(code, message, res.statusCode)
    }
  }

  async #pool(origin: string): Promise<Pool> {
    let pool = this.#pools.get(origin)
    if (!pool) {
      const { Pool } = await import('undici')
      pool = this.#pools.get(origin) ?? new Pool(origin, { connect: { timeout: this.#connectMs }, keepAliveTimeout: 4000 })
      this.#pools.set(origin, pool)
    }
    return pool
  }

  #route(bucket: string): Promise<BucketRoute | undefined> {
    let route = this.#routes.get(bucket)
    if (!route) {
      route = this.#resolve(bucket)
      this.#routes.set(bucket, route)
      // A failed resolution (credentials or region not ready) is asked again next time.
      route.catch(() => this.#routes.delete(bucket))
    }
    return route
  }

  async #resolve(bucket: string): Promise<BucketRoute | undefined> {
    const config = this.#client.config
    const region = await config.region()
    const endpoint = config.isCustomEndpoint && config.endpoint ? await config.endpoint() : undefined
    const resolved = config.endpointProvider({
      Bucket: bucket,
      Region: region,
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ForcePathStyle: await value(config.forcePathStyle),
      Accelerate: await value(config.useAccelerateEndpoint),
      UseGlobalEndpoint: await value(config.useGlobalEndpoint),
      ...(endpoint ? { Endpoint: `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path}` } : {}),
    })
    const schemes = (resolved.properties?.authSchemes ?? []) as { name?: string; signingRegion?: string; signingName?: string; disableDoubleEncoding?: boolean }[]
    const scheme = schemes[0]
    if (schemes.length > 0 && scheme?.name !== 'sigv4') return undefined
    if (Object.keys(resolved.headers ?? {}).length > 0) return undefined
    const url = resolved.url
    const signer = new this.#sigv4.SignatureV4({
      credentials: () => config.credentials(),
      region: scheme?.signingRegion ?? region,
      service: scheme?.signingName ?? 's3',
      sha256: config.sha256,
      uriEscapePath: false,
      applyChecksum: true,
    })
    const base = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`
    return { origin: url.origin, base, host: url.host, signer }
  }
}

/** A client setting that may be a value or a provider of one, as the SDK allows. */
async function value<T>(setting: T | (() => Promise<T>) | undefined): Promise<T | undefined> {
  return typeof setting === 'function' ? (setting as () => Promise<T>)() : setting
}

/** The start of an error body (S3 answers errors with a small XML document). */
async function readError(body: Body): Promise<string> {
  try {
    const text = await body.text()
    return text.slice(0, 4096)
  } catch {
    return ''
  }
}
