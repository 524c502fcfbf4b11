/**
 * The thumbnail request handler: `(req, res, next?) => void` for node:http, Express/Connect
 * (`app.use(handler)`) and Fastify (`handler(request.raw, reply.raw)` after `reply.hijack()`).
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

import { RestthumbsError } from '../errors.js'
import { resolveConfig, type ServerConfig } from './config.js'
import { createStats, type GeneratorCache, type HandlerStats, type ThumbnailSpec } from './contracts.js'
import { buildDependencies, type HandlerDependencies, splitHandlerOptions } from './dependencies.js'
import { ThumbnailGoneError } from './errors.js'
import { ThumbnailGenerator } from './generator.js'
import { chooseFormat, enabledFormats, NEGOTIATED_PATH, variantSpec } from './negotiate.js'
import type { RequestOutcome, ThumbnailMetrics } from './metrics.js'
import { createObservability } from './observability.js'
import { sendRedirect } from './redirect.js'
import { defaultRenderSlots, RenderSlots } from './render-slots.js'
import { HotFiles, NEVER_CACHE, sendApache, sendBuffer, sendError, sendNginx, sendStream, type ThumbnailFile } from './responses.js'

export type { HandlerDependencies }

/** Options of {@link createThumbnailHandler}: settings plus optional ready-made collaborators. */
export type ThumbnailHandlerOptions = Omit<Partial<ServerConfig>, 'cache'> &
  Partial<Omit<HandlerDependencies, 'cache'>> & {
    /** A cache location (`'memory'`, `redis://…`), a registry alias, or a ready cache instance. @default 'memory' */
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
  414: 'Path too long',
  415: 'Unsupported or undecodable image',
  422: 'Image too large to process',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Temporarily unavailable, retry shortly',
  504: 'Origin timed out',
  507: 'Insufficient storage, retry later',
}

/**
 * Creates the thumbnail handler.
 * @param options - settings (see {@link ServerConfig}) and optional collaborators; missing ones
 *   are built from the settings (memory or Redis cache, local or HTTP sources, the native renderer)
 */
export function createThumbnailHandler(options: ThumbnailHandlerOptions = {}): ThumbnailHandler {
  const { settings, given } = splitHandlerOptions(options)
  const config = resolveConfig(settings)
  const obs = createObservability(config, given.logger ?? console)
  const deps = buildDependencies(config, given, { oldKey: () => obs.episodes.problem('keys') })
  obs.watch(deps)
  const stats = createStats()
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
    slots: new RenderSlots(config.renderSlots || defaultRenderSlots(), config.renderQueue, config.retryAfter),
    hooks: obs.hooks,
  })
  const respondOpts = { maxAge: config.maxAge }
  const negotiated = enabledFormats(config.negotiate)

  const hot = new HotFiles(config.hotCacheBytes, config.hotCacheMs)
  // Inside a disk-full episode (logged once, at its start).
  let diskFull = false

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
      if (ensured.via === 'render') diskFull = false
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
    const operational = obs.operational(req, res, pathname)
    if (operational) return operational
    const outcome = obs.begin(res)
    outcome.status = await serveThumbnail(req, res, pathname, outcome, next)
    return obs.end(outcome)
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
    // Every answer of a negotiated URL varies with Accept, errors and 304s included, so no
    // shared cache hands one client's format to another.
    const varies = negotiated.length > 0 && NEGOTIATED_PATH.test(pathname)
    if (varies) res.setHeader('Vary', 'Accept')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return fail(req, res, 405, { ...NEVER_CACHE, Allow: 'GET, HEAD' })
    }
    try {
      const parsed = deps.parse(pathname, config.basePath)
      if (!deps.verify(parsed)) return fail(req, res, 401)
      // The signature of the URL covers its variants: only the stored file and the type change.
      const format = varies ? chooseFormat(req.headers.accept, negotiated) : undefined
      const spec = format ? variantSpec(parsed, format) : parsed
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
      obs.failed(err)
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
    const retryAfter = (err as { retryAfter?: unknown })?.retryAfter
    if (code === 'ERR_STORAGE_FULL') {
      // Once per episode: a full disk fails every cold render until space is freed, and a log
      // line per request would help fill whatever disk the log is on.
      if (!diskFull) deps.logger.error(err)
      diskFull = true
    }
    if ((status === 503 || status === 507) && typeof retryAfter === 'number') {
      // Busy or full, not broken (another worker renders it, the render queue is full, the disk
      // is full): say when to retry.
      return fail(req, res, status, { ...NEVER_CACHE, 'Retry-After': String(retryAfter) }, code)
    }
    if (code === 'ERR_ORIGIN' || code === 'ERR_ORIGIN_FORBIDDEN') {
      // One answer for every "could not fetch" (refused connection, refused address or redirect,
      // origin error status): distinct answers would make the server a port scanner for
      // whoever can make the origin redirect.
      return fail(req, res, 502, NEVER_CACHE, 'ERR_ORIGIN')
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
    metrics: { value: obs.metrics },
    handle: { value: handle },
    close: { value: () => deps.close() },
  })
  return handler
}

function hasCode(err: unknown): boolean {
  return typeof (err as { code?: unknown })?.code === 'string' && /^ERR_/.test((err as { code: string }).code)
}

/** HTTP status for an error: its own `status` when it is one of ours, else 500. */
export function statusOf(err: unknown): number {
  const s = (err as { status?: unknown })?.status
  if ((err instanceof RestthumbsError || hasCode(err)) && typeof s === 'number' && s >= 400 && s < 600) return s
  return 500
}
