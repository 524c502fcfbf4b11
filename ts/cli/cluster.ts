/**
 * `restthumbs serve --workers N` on `node:cluster`: the primary forks N workers that share the
 * listening socket, replaces a worker that dies, drains on SIGTERM/SIGINT (in-flight requests and
 * renders finish, then exit), reloads on SIGHUP (a rolling restart: each new worker reads the
 * config file and keys again and is listening before an old one drains, so no connection is
 * refused), and aggregates every worker's metrics (prom-client's `AggregatorRegistry`).
 * @module
 */
import cluster, { type Worker } from 'node:cluster'
import { createServer as createHttpServer, type Server } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import type { Logger } from 'pino'

import type { ServerConfig } from '../server/config.js'
import { createLogger } from '../server/log.js'
import { clusterMetrics } from '../server/metrics.js'

/** What the primary hands every worker (as its one argument, JSON). */
export interface WorkerBrief {
  /** Settings from command-line flags. */
  flags: Partial<ServerConfig>
  /** `--config` file, read again by every new worker (SIGHUP). */
  file?: string
}

/** Messages between the primary and its workers. */
export type ClusterMessage =
  | { type: 'restthumbs:listening'; url: string }
  | { type: 'restthumbs:drain' }
  | { type: 'restthumbs:metrics-request'; id: number }
  | { type: 'restthumbs:metrics'; id: number; text: string }

/** Options of {@link runPrimary}. */
export interface PrimaryOptions {
  brief: WorkerBrief
  /** The resolved settings (workers, logging, metrics port, drain deadline). */
  config: Readonly<ServerConfig>
  /** Called once, when the first worker listens, with its base URL. */
  onListening(url: string): void
  /** Logger of the primary. @default pino per the settings */
  logger?: Logger
}

/** The running primary (for tests and tools). */
export interface Primary {
  /** Live workers. */
  workers(): Worker[]
  /** Drains every worker and resolves when they have exited. */
  stop(): Promise<void>
  /** Rolling restart: new workers with a fresh config, then old ones drain. */
  reload(): Promise<void>
}

/** Node options a worker must not inherit: `-e <code>` would run the code instead of the worker. */
function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++
      continue
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=') || a.startsWith('--input-type')) continue
    out.push(a)
  }
  return out
}

/** The worker entry next to this module (`.ts` under a loader, `.js` once built). */
export function workerEntry(): string {
  const self = fileURLToPath(import.meta.url)
  return path.join(path.dirname(self), 'cluster-worker' + path.extname(self))
}

/**
 * Starts the primary: forks the workers, replaces dead ones, wires signals and metrics.
 * @param options - see {@link PrimaryOptions}
 * @param count - number of workers (the caller resolves `workers: 0` to the core count)
 */
export function runPrimary(options: PrimaryOptions, count: number): Primary {
  const { config } = options
  const log = options.logger ?? createLogger({ format: config.logFormat, level: config.logLevel })
  cluster.setupPrimary({ exec: workerEntry(), execArgv: workerExecArgv(process.execArgv), args: [JSON.stringify(options.brief)] })
  const aggregate = clusterMetrics()
  const retiring = new WeakSet<Worker>()
  let stopping: Promise<void> | undefined
  let announced = false
  const deaths: number[] = []

  const fork = (): Promise<Worker> =>
    new Promise((resolve) => {
      const worker = cluster.fork()
      worker.on('message', (msg: ClusterMessage) => {
        if (msg?.type === 'restthumbs:listening') {
          if (!announced) {
            announced = true
            options.onListening(msg.url)
          }
          resolve(worker)
        } else if (msg?.type === 'restthumbs:metrics-request') {
          aggregate().then(
            (text) => worker.isConnected() && worker.send({ type: 'restthumbs:metrics', id: msg.id, text }),
            (err: Error) => worker.isConnected() && worker.send({ type: 'restthumbs:metrics', id: msg.id, text: `# metrics unavailable: ${err.message}\n` }),
          )
        }
      })
      worker.once('exit', () => resolve(worker))
    })

  cluster.on('exit', (worker, code, signal) => {
    if (stopping || retiring.has(worker)) return
    log.error({ worker: worker.process.pid, code, signal }, 'worker died; starting a replacement')
    // A crash loop (bad config, missing binary) must not fork as fast as it can.
    const now = Date.now()
    deaths.push(now)
    while (deaths.length && deaths[0] < now - 10_000) deaths.shift()
    setTimeout(() => void fork(), deaths.length > 5 ? 1000 : 0)
  })

  let metricsServer: Server | undefined
  if (config.metricsPort) {
    metricsServer = createHttpServer((req, res) => {
      if (req.url !== (config.metricsPath || '/metrics')) {
        res.writeHead(404).end()
        return
      }
      aggregate().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' })
          res.end(text)
        },
        (err: Error) => res.writeHead(503).end(`metrics unavailable: ${err.message}\n`),
      )
    })
    metricsServer.listen(config.metricsPort, config.host)
  }

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead())

  const drain = (worker: Worker): Promise<void> =>
    new Promise((resolve) => {
      if (worker.isDead()) return resolve()
      retiring.add(worker)
      worker.once('exit', () => resolve())
      if (worker.isConnected()) worker.send({ type: 'restthumbs:drain' })
      else worker.kill('SIGTERM')
    })

  const primary: Primary = {
    workers: live,
    stop() {
      stopping ??= (async () => {
        log.info({ workers: live().length }, 'draining workers')
        await Promise.all(live().map(drain))
        await new Promise<void>((r) => (metricsServer ? metricsServer.close(() => r()) : r()))
      })()
      return stopping
    },
    async reload() {
      log.info('reloading: starting new workers with the current config file and keys')
      for (const old of live()) {
        if (stopping) return
        const fresh = await fork()
        if (fresh.isDead()) {
          log.error('a new worker failed to start; keeping the running ones (check the config)')
          return
        }
        await drain(old)
      }
    },
  }

  for (let i = 0; i < count; i++) void fork()
  const onStop = () => void primary.stop().then(() => process.exit(0))
  process.once('SIGTERM', onStop)
  process.once('SIGINT', onStop)
  process.on('SIGHUP', () => void primary.reload())
  return primary
}
