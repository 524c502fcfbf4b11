/**
 * The thumbnail request handler: `(req, res, next?) => void` for node:http, Express/Connect
 * (`app.use(handler)`) and Fastify (`handler(request.raw, reply.raw)` after `reply.hijack()`).
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

import { BaseCache } from '../cache/base.js'
import { MemoryCache } from '../cache/memory.js'
import { RedisCache } from '../cache/redis.js'
import { ThumbnailCache } from '../cache/thumbnails.js'

import { RestthumbsError } from '../errors.js'
import { ConfigError, resolveConfig, type ServerConfig } from './config.js'
import {
  createStats,
  type GeneratorCache,
  type HandlerStats,
  type RendererLike,
  type SourceStorageLike,
  nativeRenderer,
  type OutputStorageLike,
  ThumbnailGenerator,
  type ThumbnailRecordsLike,
  type ThumbnailSpec,
} from './generator.js'
import {
  HotFiles,
  NEVER_CACHE,
  sendApache,
  sendBuffer,
  sendError,
  sendNginx,
  sendStream,
  type ThumbnailFile,
  ThumbnailGoneError,
} from './responses.js'
import { cacheCheck, sendHealth, storageCheck } from './health.js'
import { Episodes, setOutcome } from './log.js'
import { ThumbnailMetrics, type RequestOutcome } from './metrics.js'
import { sendRedirect } from './redirect.js'
import { Signer } from './signing.js'
import { HttpSourceStorage } from './storage/http-source.js'
import { LocalOutputStorage } from './storage/local-output.js'
import { LocalSourceStorage } from './storage/local-source.js'
import { S3Connection } from './storage/s3-client.js'
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

/** Options of {@link createThumbnailHandler}: settings plus optional ready-made collaborators. */
export type ThumbnailHandlerOptions = Omit<Partial<ServerConfig>, 'cache'> &
  Partial<Omit<HandlerDependencies, 'cache'>> & {
    /** A cache location (`'memory'`, `redis://…`) or a ready cache instance. @default 'memory' */
    cache?: string | GeneratorCache
  }

/** A request handler with its counters. */
export interface ThumbnailHandler {
  /** Handles one request; calls `next()` for paths outside `basePath`. */
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void
  /** Counters: requests, renders, hits, waits, notModified, errors. */
  readonly stats: HandlerStats
  /** The resolved settings. */
  readonly config: Readonly<ServerConfig>
  /** The generator (lock, renderer) behind the handler. */
  readonly generator: ThumbnailGenerator
  /** Prometheus metrics (answered on `metricsPath` when set). */
  readonly metrics: ThumbnailMetrics
  /** Resolves the result of the last response once it is written; for tests. */
  handle(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): Promise<number>
  /** Closes what the handler opened itself (e.g. its Redis connection). */
  close(): Promise<void>
}

// Fixed phrases: error bodies never echo paths, origin messages or stacks.
const PHRASES: Record<number, string> = {
  400: 'Bad request',
  401: 'Invalid signature',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  413: 'Image too large',
  415: 'Unsupported or undecodable image',
  422: 'Image too large to process',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Temporarily unavailable, retry shortly',
  504: 'Origin timed out',
}

/**
 * Creates the thumbnail handler.
 * @param options - settings (see {@link ServerConfig}) and optional collaborators; missing ones
 *   are built from the settings (memory or Redis cache, local or HTTP sources, the native renderer)
 */
export function createThumbnailHandler(options: ThumbnailHandlerOptions = {}): ThumbnailHandler {
  const settings: Partial<ServerConfig> = {}
  const given: Partial<HandlerDependencies> = {}
  for (const [k, v] of Object.entries(options)) {
    if (DEPENDENCY_KEYS.has(k) && !(k === 'cache' && typeof v === 'string')) (given as Record<string, unknown>)[k] = v
    else (settings as Record<string, unknown>)[k] = v
  }
  const config = resolveConfig(settings)
  const episodes = new Episodes(given.logger ?? console)
  const deps = buildDependencies(config, given, { oldKey: () => episodes.problem('keys') })
  const stats = createStats()
  // Node's process metrics sample the event loop on a timer: only when someone can scrape them.
  const metrics = new ThumbnailMetrics({ defaultMetrics: Boolean(config.metricsPath || config.metricsPort) })
  const ready = {
    cache: cacheCheck(deps.cache as { get(key: string): unknown }, `${config.keyPrefix}:ready`),
    source: storageCheck(deps.source as object, false),
    output: storageCheck(deps.output as object, true),
  }
  const generator = new ThumbnailGenerator({
    cache: deps.cache,
    records: deps.records,
    source: deps.source,
    output: deps.output,
    renderer: deps.renderer,
    lockTimeout: config.lockTimeout,
    waiter: config.waiter,
    retryAfter: config.retryAfter,
    keyPrefix: config.keyPrefix,
    negativeTtl: config.negativeTtl,
    trustCache: config.trustCache,
    quality: config.quality,
    maxSourceBytes: config.maxSourceBytes,
    renderTimeout: config.renderTimeout,
    stats,
    hooks: {
      ...metrics.hooks,
      publishFailed: (err) => {
        metrics.hooks.publishFailed?.(err)
        episodes.problem('storage', err)
      },
    },
  })
  const respondOpts = { maxAge: config.maxAge }

  const hot = new HotFiles(config.hotCacheBytes, config.hotCacheMs)

  async function respond(req: IncomingMessage, res: ServerResponse, spec: ThumbnailSpec, fresh: boolean, trace: RequestOutcome): Promise<number> {
    const warm = fresh ? undefined : hot.get(spec.outputPath)
    let file: ThumbnailFile
    if (warm) {
      stats.hits++
      trace.via = 'hit'
      file = warm.file
      if (config.responseMode === 'stream' && warm.body) {
        const status = sendBuffer(req, res, file, warm.body, warm.etag!, warm.mtimeMs!, respondOpts)
        if (status === 304) stats.notModified++
        return status
      }
    } else {
      if (fresh) hot.delete(spec.outputPath)
      const ensured = await generator.ensure(spec, { fresh, trace })
      if (ensured.via === 'hit') stats.hits++
      else if (ensured.via === 'wait') stats.waits++
      file = { absolutePath: ensured.absolutePath, outputPath: ensured.outputPath, ext: ensured.ext }
      if (config.responseMode !== 'stream') hot.set(spec.outputPath, { file })
      else if (ensured.size !== undefined) file = { ...file, size: ensured.size }
    }
    switch (config.responseMode) {
      case 'nginx':
        return sendNginx(res, file, config.sendfileBase, respondOpts)
      case 'apache':
        return sendApache(res, file, respondOpts)
      case 'redirect':
        return sendRedirect(res, file, config.redirectBase, respondOpts)
      default: {
        const status = await sendStream(req, res, file, respondOpts, { cache: hot, key: spec.outputPath })
        if (status === 304) stats.notModified++
        return status
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): Promise<number> {
    const raw = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/'
    const q = raw.indexOf('?')
    const pathname = q === -1 ? raw : raw.slice(0, q)
    // Operational paths first; they are not thumbnail requests and are not counted as such.
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (config.metricsPath && pathname === config.metricsPath) return metrics.respond(req, res)
      if (config.healthPath && pathname === config.healthPath) return sendHealth(req, res, 'live')
      if (config.readyPath && pathname === config.readyPath) {
        return sendHealth(req, res, ready, (name, err) => episodes.problem(name === 'cache' ? 'cache' : 'storage', err))
      }
    }
    const outcome: RequestOutcome = { status: 0, mode: config.responseMode }
    setOutcome(res, outcome)
    outcome.status = await serveThumbnail(req, res, pathname, outcome, next)
    if (outcome.status === 0) return 0
    if (outcome.status >= 400) outcome.mode = 'error'
    metrics.observe(outcome)
    if (outcome.cacheError !== undefined) episodes.problem('cache', outcome.cacheError)
    else if (outcome.via === 'render' || outcome.via === 'wait') episodes.ok('cache')
    if (outcome.status < 500 && outcome.via !== undefined) episodes.ok('storage')
    if (outcome.via === 'render') episodes.ok('disk')
    return outcome.status
  }

  async function serveThumbnail(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
    outcome: RequestOutcome,
    next?: (err?: unknown) => void,
  ): Promise<number> {
    stats.requests++
    if (!pathname.startsWith(config.basePath)) {
      if (next) {
        next()
        return 0
      }
      return fail(req, res, 404)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return fail(req, res, 405, { ...NEVER_CACHE, Allow: 'GET, HEAD' })
    }
    try {
      const spec = deps.parse(pathname, config.basePath)
      if (!deps.verify(spec)) return fail(req, res, 401)
      try {
        return await respond(req, res, spec, false, outcome)
      } catch (err) {
        // A cleaner removed the file after the lookup: render it again, once.
        if (err instanceof ThumbnailGoneError) return await respond(req, res, spec, true, outcome)
        throw err
      }
    } catch (err) {
      const code = (err as { code?: unknown })?.code
      if (typeof code === 'string') outcome.code = code
      if (code === 'ERR_STORAGE_UNAVAILABLE') episodes.problem('storage', err)
      else if (code === 'ENOSPC') episodes.problem('disk', err)
      return failWith(req, res, err)
    }
  }

  function fail(req: IncomingMessage, res: ServerResponse, status: number, headers?: OutgoingHttpHeaders, detail?: string) {
    stats.errors++
    if (res.headersSent) {
      res.destroy()
      return status
    }
    const phrase = PHRASES[status] ?? 'Error'
    return sendError(req, res, status, detail ? `${phrase} (${detail})` : phrase, headers)
  }

  function failWith(req: IncomingMessage, res: ServerResponse, err: unknown): number {
    const status = statusOf(err)
    const code = err instanceof RestthumbsError || hasCode(err) ? (err as { code: string }).code : undefined
    if (status === 500) deps.logger.error(err)
    // Busy renders and unavailable storages say when to come back.
    const retryAfter = (err as { retryAfter?: unknown })?.retryAfter
    if (status === 503 && typeof retryAfter === 'number') {
      return fail(req, res, 503, { ...NEVER_CACHE, 'Retry-After': String(retryAfter) }, code)
    }
    if (status === 404 && code === 'ERR_SOURCE_NOT_FOUND') {
      // Missing sources are remembered for negativeTtl; let proxies remember them as long.
      return fail(req, res, 404, { 'Cache-Control': `public, max-age=${config.negativeTtl}` }, code)
    }
    return fail(req, res, status, NEVER_CACHE, status === 500 ? undefined : code)
  }

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    handle(req, res, next).catch((err) => {
      deps.logger.error(err)
      if (!res.headersSent) sendError(req, res, 500, PHRASES[500])
      else res.destroy()
    })
  }) as ThumbnailHandler
  Object.defineProperties(handler, {
    stats: { value: stats, enumerable: true },
    config: { value: config, enumerable: true },
    generator: { value: generator },
    metrics: { value: metrics },
    handle: { value: handle },
    close: { value: () => deps.close() },
  })
  return handler
}

const DEPENDENCY_KEYS = new Set<string>([
  'cache',
  'records',
  'source',
  'output',
  'renderer',
  'parse',
  'verify',
  'logger',
  'close',
])

function hasCode(err: unknown): boolean {
  return typeof (err as { code?: unknown })?.code === 'string' && /^ERR_/.test((err as { code: string }).code)
}

/** HTTP status for an error: its own `status` when it is one of ours, else 500. */
export function statusOf(err: unknown): number {
  const s = (err as { status?: unknown })?.status
  if ((err instanceof RestthumbsError || hasCode(err)) && typeof s === 'number' && s >= 400 && s < 600) return s
  return 500
}

/**
 * Builds the collaborators missing from `given` out of the settings.
 * @param config - resolved settings
 * @param given - ready-made collaborators (tests, embedding apps)
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
    s3 = new S3Connection({
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      pathStyle: config.s3PathStyle,
      accessKeyId: config.s3AccessKeyId || undefined,
      secretAccessKey: config.s3SecretAccessKey || undefined,
      timeout: config.s3Timeout,
      retryAfter: config.retryAfter,
    })
    const connection = s3
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
      })
      source = http
      closers.push(() => http.close())
    } else {
      source = new LocalSourceStorage({ root: config.sourceRoot, maxBytes: config.maxSourceBytes })
    }
  }
  let cache = given.cache
  if (!cache) {
    const built = createCache(config)
    cache = built
    closers.push(() => built.close())
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

function createCache(config: Readonly<ServerConfig>): BaseCache {
  if (config.cache === 'memory') {
    // A private namespace and room for many entries: culling must never evict a live lock.
    return new MemoryCache({ location: `restthumbs-${randomUUID()}`, maxEntries: 100_000, timeout: null })
  }
  if (/^rediss?:\/\//.test(config.cache)) {
    // strict: an outage must surface as an error so the generator can fail open (render without
    // the cross-process lock) instead of reading "not locked, yet cannot lock" forever.
    return new RedisCache({ location: config.cache, keyPrefix: config.keyPrefix, timeout: null, strict: true })
  }
  throw new ConfigError(`Expected 'memory' or a redis:// URL for cache but received ${JSON.stringify(config.cache)}`)
}

