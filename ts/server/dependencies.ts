/**
 * The collaborators of a thumbnail handler (cache, records, storages, renderer, URL parser and
 * signature check) and how each is built from the settings when the caller does not bring it.
 * @module
 */
import { backendForUrl, cacheFromUrl } from '../cache/url.js'
import { randomUUID } from 'node:crypto'

import { BaseCache } from '../cache/base.js'
import { BUILTIN_BACKENDS, caches, type CacheConfig } from '../cache/registry.js'
import { ThumbnailCache } from './thumbnail-records.js'
import { invalidOption } from '../validate.js'
import { configError, type ServerConfig } from './config.js'
import type {
  GeneratorCache,
  OutputStorageLike,
  RendererLike,
  SourceStorageLike,
  ThumbnailRecordsLike,
  ThumbnailSpec,
} from './contracts.js'
import { ConfigError } from './errors.js'
import { nativeRenderer } from './renderer.js'
import { Signer } from './signing.js'
import { HttpSourceStorage } from './storage/http-source.js'
import { LocalOutputStorage } from './storage/local-output.js'
import { LocalSourceStorage } from './storage/local-source.js'
import { S3Connection, type S3ConnectionOptions } from './storage/s3-client.js'
import { S3OutputStorage } from './storage/s3-output.js'
import { S3SourceStorage } from './storage/s3-source.js'
import { parseThumbnailPath } from './url.js'

/** The collaborators of a handler; each is built from the settings unless given. */
export interface HandlerDependencies {
  /** Cache for locks and negative entries (a `BaseCache`; Redis to share locks across processes). */
  cache: GeneratorCache
  /** Thumbnail records (a `ThumbnailCache`), or `null` for none. */
  records: ThumbnailRecordsLike | null
  /** Source storage (local files or an HTTP origin). */
  source: SourceStorageLike
  /** Output storage. */
  output: OutputStorageLike
  /** The native pipeline. */
  renderer: RendererLike
  /** URL parser: pathname (still encoded) to a thumbnail spec; throws typed 400/404 errors. */
  parse(pathname: string, basePath: string): ThumbnailSpec & { secret: string; size: string }
  /** Signature check of a parsed URL. */
  verify(spec: ThumbnailSpec & { secret: string; size: string }): boolean
  /** Where unexpected (500) errors and operator problems are reported (`console` or pino). */
  logger: { error(...args: unknown[]): void; warn?(...args: unknown[]): void; info?(...args: unknown[]): void }
  /** Releases what the built collaborators hold (connections). */
  close(): Promise<void>
}

const DEPENDENCY_KEYS: ReadonlySet<string> = new Set(['cache', 'records', 'source', 'output', 'renderer', 'parse', 'verify', 'logger', 'close'])

/**
 * Splits handler options into settings and ready-made collaborators. A string `cache` is a
 * setting (a location or alias); a cache object is a collaborator.
 * @param options - what `createThumbnailHandler` received
 */
export function splitHandlerOptions(options: object): { settings: Partial<ServerConfig>; given: Partial<HandlerDependencies> } {
  const settings: Record<string, unknown> = {}
  const given: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(options)) {
    if (DEPENDENCY_KEYS.has(k) && !(k === 'cache' && typeof v === 'string')) given[k] = v
    else settings[k] = v
  }
  return { settings: settings as Partial<ServerConfig>, given: given as Partial<HandlerDependencies> }
}

/**
 * The registry config of the `cache` setting: `'memory'` (a private in-process store) or a
 * `redis://`/`rediss://` URL. The registry itself takes backend names, not URLs, so the scheme is
 * read here. Locks are never given a default timeout (`timeout: null`): they carry their own.
 * @param config - resolved settings
 * @returns the config, or `undefined` when the setting is none of those (then it may be an alias)
 */
export function cacheConfigFor(config: Pick<ServerConfig, 'cache' | 'keyPrefix'>): CacheConfig | undefined {
  if (config.cache === 'memory') {
    // A private namespace and room for many entries: culling must never evict a live lock.
    return { backend: 'memory', location: `restthumbs-${randomUUID()}`, timeout: null, options: { maxEntries: 100_000 } }
  }
  if (/^rediss?:\/\//.test(config.cache)) {
    // strict: an outage must surface as an error so the generator can fail open (render without
    // the cross-process lock) instead of reading "not locked, yet cannot lock" forever.
    return { backend: 'redis', location: config.cache, keyPrefix: config.keyPrefix, timeout: null, options: { strict: true } }
  }
  return undefined
}

/*
 * The handler is built synchronously, so it cannot go through the registry's async getCache():
 * built-in backends are taken from the registry's table, and any other name must be an alias
 * already configured with configureCaches() (shared, so the handler does not close it).
 */
function cacheFromSettings(config: Readonly<ServerConfig>): { cache: BaseCache; owned: boolean } {
  const cfg = cacheConfigFor(config)
  if (cfg) {
    const Backend = BUILTIN_BACKENDS[cfg.backend as string]
    const { options, backend: _backend, ...common } = cfg
    return { cache: new Backend({ ...options, ...common }), owned: true }
  }
  if (backendForUrl(config.cache)) {
    // Same policy as Redis (strict, no expiry); a database table must not cull live locks.
    const table = /^(postgres|sqlite)/.test(config.cache) ? { maxEntries: 100_000 } : {}
    return { cache: cacheFromUrl(config.cache, { keyPrefix: config.keyPrefix, timeout: null, strict: true, ...table }), owned: true }
  }
  if (caches.has(config.cache)) return { cache: caches.get(config.cache), owned: false }
  throw invalidOption(
    'cache',
    "'memory', a redis://, postgres://, sqlite: or memcached:// URL, or a configured cache alias",
    config.cache,
    configError,
  )
}

/**
 * The S3 connection options of the settings (empty credentials: the AWS credential chain).
 * @param config - resolved settings
 */
export function s3ConnectionOptions(config: Readonly<ServerConfig>): S3ConnectionOptions {
  return {
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    pathStyle: config.s3PathStyle,
    accessKeyId: config.s3AccessKeyId || undefined,
    secretAccessKey: config.s3SecretAccessKey || undefined,
    timeout: config.s3Timeout,
    lean: config.s3LeanClient,
    retryAfter: config.retryAfter,
  }
}

/**
 * Builds the collaborators missing from `given` out of the settings.
 * @param config - resolved settings
 * @param given - ready-made collaborators (tests, embedding apps)
 * @param events - `oldKey`: a URL signed with an older key was accepted
 */
export function buildDependencies(
  config: Readonly<ServerConfig>,
  given: Partial<HandlerDependencies>,
  events: { oldKey?(): void } = {},
): HandlerDependencies {
  const closers: (() => Promise<void>)[] = []
  let verify = given.verify
  if (!verify) {
    if (config.keys.length === 0) {
      throw new ConfigError('Expected at least one signing key in keys (or RESTTHUMBS_KEYS) but received none')
    }
    const legacy = config.legacySignatures ? ('restthumbnails' as const) : undefined
    const signer = new Signer({ keys: config.keys, legacy })
    // With several keys, tell the operator (once) that URLs of an older key are still in use.
    const newest = config.keys.length > 1 && events.oldKey ? new Signer({ keys: config.keys.slice(0, 1), legacy }) : undefined
    verify = (spec) => {
      const ok = signer.verify(spec.source, spec.size, spec.method, spec.ext, spec.secret)
      if (ok && newest && !newest.verify(spec.source, spec.size, spec.method, spec.ext, spec.secret)) events.oldKey!()
      return ok
    }
  }
  // One S3 connection for the source and output buckets.
  let s3: S3Connection | undefined
  if (config.sourceBucket || config.outputBucket) {
    const connection = new S3Connection(s3ConnectionOptions(config))
    s3 = connection
    closers.push(() => connection.close())
  }
  let source = given.source
  if (!source) {
    if (config.sourceBucket) {
      source = new S3SourceStorage({ bucket: config.sourceBucket, prefix: config.sourcePrefix, maxBytes: config.maxSourceBytes, connection: s3 })
    } else if (config.sourceUrl) {
      const http = new HttpSourceStorage({
        baseUrl: config.sourceUrl,
        maxBytes: config.maxSourceBytes,
        allowPrivate: config.sourceAllowPrivate,
        allowedHosts: config.allowedHosts,
      })
      source = http
      closers.push(() => http.close())
    } else {
      source = new LocalSourceStorage({ root: config.sourceRoot, maxBytes: config.maxSourceBytes })
    }
  }
  let cache = given.cache
  if (!cache) {
    const built = cacheFromSettings(config)
    cache = built.cache
    if (built.owned) closers.push(() => built.cache.close())
  }
  // Records live next to the locks: in-process for 'memory', shared through Redis otherwise,
  // so with trustCache a warm hit in any worker skips the stat.
  const records =
    given.records !== undefined
      ? given.records
      : new ThumbnailCache({
          backend: cache instanceof BaseCache ? cache : null,
          keyPrefix: `${config.keyPrefix}:thumbnails`,
          maxEntries: 10_000,
        })
  return {
    cache,
    records,
    source,
    output:
      given.output ??
      (config.outputBucket
        ? new S3OutputStorage({
            bucket: config.outputBucket,
            prefix: config.outputPrefix,
            root: config.outputRoot,
            download: config.responseMode === 'stream',
            cacheControl: `public, max-age=${config.maxAge}`,
            connection: s3,
          })
        : new LocalOutputStorage({ root: config.outputRoot })),
    renderer: given.renderer ?? nativeRenderer,
    parse: given.parse ?? ((pathname, basePath) => parseThumbnailPath(pathname, { basePath })),
    verify,
    logger: given.logger ?? console,
    close: async () => {
      await given.close?.()
      for (const c of closers) await c().catch(() => undefined)
    },
  }
}
