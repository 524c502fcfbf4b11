/**
 * What a handler tells operators: Prometheus metrics, the liveness and readiness paths, the
 * outcome of every request (for metrics and the access log), and problem episodes (a cache,
 * storage, disk or key problem is logged once when it starts and once when it ends).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

import type { ServerConfig } from './config.js'
import type { RenderHooks } from './contracts.js'
import type { HandlerDependencies } from './dependencies.js'
import { cacheCheck, type ReadinessCheck, sendHealth, storageCheck } from './health.js'
import { Episodes, setOutcome } from './log.js'
import { type RequestOutcome, ThumbnailMetrics } from './metrics.js'

/** The observability of one handler; see {@link createObservability}. */
export interface Observability {
  /** Prometheus metrics. */
  readonly metrics: ThumbnailMetrics
  /** Problem episodes, logged once per start and end. */
  readonly episodes: Episodes
  /** Render hooks for the generator (histograms, slots, failed uploads). */
  readonly hooks: RenderHooks
  /** Sets up the readiness checks of the handler's cache and storages. */
  watch(deps: Pick<HandlerDependencies, 'cache' | 'source' | 'output'>): void
  /** Answers the metrics, health or readiness path; `undefined` for any other path. */
  operational(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<number> | undefined
  /** The outcome of a thumbnail request, attached to the response for the access log. */
  begin(res: ServerResponse): RequestOutcome
  /** Records a finished request (its status set); returns the status. */
  end(outcome: RequestOutcome): number
  /** Notes an error of a request that points at an outage (storage down, disk full). */
  failed(err: unknown): void
}

/**
 * Builds the observability of a handler.
 * @param config - resolved settings
 * @param logger - where problem episodes are logged
 */
export function createObservability(config: Readonly<ServerConfig>, logger: HandlerDependencies['logger']): Observability {
  const episodes = new Episodes(logger)
  // Node's process metrics sample the event loop on a timer: only when someone can scrape them.
  const metrics = new ThumbnailMetrics({ defaultMetrics: Boolean(config.metricsPath || config.metricsPort) })
  let ready: Record<string, ReadinessCheck | undefined> = {}
  return {
    metrics,
    episodes,
    hooks: {
      ...metrics.hooks,
      publishFailed: (err) => {
        metrics.hooks.publishFailed?.(err)
        episodes.problem('storage', err)
      },
    },
    watch(deps) {
      ready = {
        cache: cacheCheck(deps.cache as { get(key: string): unknown }, `${config.keyPrefix}:ready`),
        source: storageCheck(deps.source as object, false),
        output: storageCheck(deps.output as object, true),
      }
    },
    operational(req, res, pathname) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return undefined
      if (config.metricsPath && pathname === config.metricsPath) return metrics.respond(req, res)
      if (config.healthPath && pathname === config.healthPath) return sendHealth(req, res, 'live')
      if (config.readyPath && pathname === config.readyPath) {
        return sendHealth(req, res, ready, (name, err) => episodes.problem(name === 'cache' ? 'cache' : 'storage', err))
      }
      return undefined
    },
    begin(res) {
      const outcome: RequestOutcome = { status: 0, mode: config.responseMode }
      setOutcome(res, outcome)
      return outcome
    },
    end(outcome) {
      if (outcome.status === 0) return 0
      if (outcome.status >= 400) outcome.mode = 'error'
      metrics.observe(outcome)
      if (outcome.cacheError !== undefined) episodes.problem('cache', outcome.cacheError)
      else if (outcome.via === 'render' || outcome.via === 'wait') episodes.ok('cache')
      if (outcome.status < 500 && outcome.via !== undefined) episodes.ok('storage')
      if (outcome.via === 'render') episodes.ok('disk')
      return outcome.status
    },
    failed(err) {
      const code = (err as { code?: unknown })?.code
      if (code === 'ERR_STORAGE_UNAVAILABLE') episodes.problem('storage', err)
      else if (code === 'ENOSPC') episodes.problem('disk', err)
    },
  }
}
