/**
 * Prometheus metrics of one thumbnail handler through `prom-client`, in a registry of its own (so
 * several handlers in one process do not collide): requests by status and response mode, renders
 * and render seconds, hits / misses / negative hits, lock waits, wait timeouts, cache and storage
 * errors, renders in flight against the render slots, and the default process metrics.
 * @module
 */
import { availableParallelism } from 'node:os'
import type { IncomingMessage, ServerResponse } from 'node:http'

import { createRequire } from 'node:module'

import type { Counter, Gauge, Histogram, Registry } from 'prom-client'


// prom-client is loaded with the first metrics object, not at import: most processes that import
// the package (the CLI's `url`, apps that keep metrics off) never need it.
let promClient: typeof import('prom-client') | undefined
function prom(): typeof import('prom-client') {
  return (promClient ??= createRequire(import.meta.url)('prom-client') as typeof import('prom-client'))
}
import type { EnsureTrace, RenderHooks } from './contracts.js'

/** What the handler knows about a finished request. */
export interface RequestOutcome extends EnsureTrace {
  /** HTTP status sent. */
  status: number
  /** Response mode used (`stream`, `nginx`, `apache`, `redirect`), or `error`. */
  mode: string
  /** Stable error code of a failed request. */
  code?: string
}

/** Options of {@link ThumbnailMetrics}. */
export interface ThumbnailMetricsOptions {
  /** Name prefix. @default 'restthumbs_' */
  prefix?: string
  /** Also collect Node's default process metrics. @default true */
  defaultMetrics?: boolean
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

// Renders run on the libuv pool: its size is the number of render slots.
const SLOTS = Number(process.env.UV_THREADPOOL_SIZE) || 4

/** The counters, histograms and gauges of one handler. */
export class ThumbnailMetrics {
  /** The registry (scrape it, or add it to a cluster aggregation). */
  readonly registry = new (prom().Registry)()
  /**
   * Produces the text answered on the metrics path; replaced in a cluster worker by a call that
   * asks the primary for every worker's metrics.
   */
  text: () => Promise<string> = () => this.registry.metrics()
  readonly #requests: Counter<'status' | 'mode'>
  readonly #renders: Counter
  readonly #renderFailures: Counter
  readonly #renderSeconds: Histogram
  readonly #hits: Counter
  readonly #misses: Counter
  readonly #negative: Counter
  readonly #waits: Counter
  readonly #waitSeconds: Histogram
  readonly #waitTimeouts: Counter
  readonly #cacheErrors: Counter
  readonly #storageErrors: Counter
  readonly #inFlight: Gauge
  readonly #queued: Gauge
  #running = 0

  /** @param options - see {@link ThumbnailMetricsOptions} */
  constructor(options: ThumbnailMetricsOptions = {}) {
    const p = options.prefix ?? 'restthumbs_'
    const registers = [this.registry]
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
      new (prom().Counter<L>)({ name: p + name, help, labelNames, registers })
    this.#requests = counter('requests_total', 'Thumbnail requests by status and response mode', ['status', 'mode'])
    this.#renders = counter('renders_total', 'Thumbnails rendered by this process')
    this.#renderFailures = counter('render_failures_total', 'Renders that failed (source, decode, storage, timeout)')
    this.#renderSeconds = new (prom().Histogram)({ name: p + 'render_seconds', help: 'Render time (fetch, decode, encode, write)', buckets: SECONDS, registers })
    this.#hits = counter('hits_total', 'Requests served from an existing thumbnail')
    this.#misses = counter('misses_total', 'Requests that found no thumbnail and got none (errors, busy)')
    this.#negative = counter('negative_hits_total', 'Requests answered 404 from the missing-source cache')
    this.#waits = counter('lock_waits_total', "Requests that waited for another worker's render")
    this.#waitSeconds = new (prom().Histogram)({ name: p + 'lock_wait_seconds', help: 'Time spent waiting for another render', buckets: SECONDS, registers })
    this.#waitTimeouts = counter('lock_wait_timeouts_total', 'Waits that ended without the thumbnail (503)')
    this.#cacheErrors = counter('cache_errors_total', 'Shared cache failures (renders went ahead without the lock)')
    this.#storageErrors = counter('storage_errors_total', 'Source or output storage failures (503)')
    this.#inFlight = new (prom().Gauge)({ name: p + 'renders_in_flight', help: 'Renders running now', registers })
    this.#queued = new (prom().Gauge)({ name: p + 'render_queue_length', help: 'Renders waiting for a render slot', registers })
    new (prom().Gauge)({ name: p + 'render_slots', help: 'Render slots (libuv thread pool size)', registers }).set(SLOTS)
    new (prom().Gauge)({ name: p + 'cpu_cores', help: 'Cores available to the process', registers }).set(availableParallelism())
    if (options.defaultMetrics !== false) prom().collectDefaultMetrics({ register: this.registry })
  }

  /** Hooks for the generator: renders in flight, queue, durations. */
  readonly hooks: RenderHooks = {
    start: () => {
      this.#running++
      this.#gauges()
    },
    end: (seconds, ok) => {
      this.#running--
      this.#gauges()
      if (ok) {
        this.#renders.inc()
        this.#renderSeconds.observe(seconds)
      } else {
        this.#renderFailures.inc()
      }
    },
    publishFailed: () => this.#storageErrors.inc(),
  }

  /**
   * Counts one finished request.
   * @param o - status, mode and what the generator did
   */
  observe(o: RequestOutcome): void {
    this.#requests.inc({ status: String(o.status), mode: o.mode })
    if (o.via === 'hit') this.#hits.inc()
    else if (o.via === 'negative') this.#negative.inc()
    else if (o.via === 'wait') this.#waits.inc()
    else if (o.via === undefined && o.status >= 400 && o.code !== undefined) this.#misses.inc()
    if (o.waitMs !== undefined) this.#waitSeconds.observe(o.waitMs / 1000)
    if (o.waitTimedOut) this.#waitTimeouts.inc()
    if (o.cacheError !== undefined) this.#cacheErrors.inc()
    if (o.code === 'ERR_STORAGE_UNAVAILABLE') this.#storageErrors.inc()
  }

  /**
   * Answers a scrape (GET or HEAD) with the Prometheus text format.
   * @returns the status sent
   */
  async respond(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const body = await this.text()
    res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) })
    res.end(req.method === 'HEAD' ? undefined : body)
    return 200
  }

  #gauges(): void {
    this.#inFlight.set(this.#running)
    this.#queued.set(Math.max(0, this.#running - SLOTS))
  }
}

/**
 * Cluster aggregation (prom-client's `AggregatorRegistry`): in a worker, makes `registry` the one
 * the primary collects; in the primary, returns a function that gathers every worker's metrics.
 * @param registry - the worker's registry (ignored in the primary)
 */
export function clusterMetrics(registry?: Registry): () => Promise<string> {
  const { AggregatorRegistry } = prom()
  const aggregator = new AggregatorRegistry()
  if (registry) AggregatorRegistry.setRegistries([registry])
  return () => aggregator.clusterMetrics()
}
