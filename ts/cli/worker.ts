/**
 * `restthumbs worker --queue redis://…`: renders the jobs `warm --queue` enqueued, through the same
 * generator and dogpile lock as `serve`, with concurrency = cores. Any number of workers on any
 * number of hosts may consume one queue. SIGINT/SIGTERM finish the jobs in flight and exit; a
 * worker that dies instead has its jobs handed to another after `--stalled-after` seconds.
 * @module
 */
import { availableParallelism } from 'node:os'

import type { Command } from 'commander'

import { RestthumbsError } from '../errors.js'
import type { ServerConfig } from '../server/config.js'
import { createWarmEngine } from '../warm/engine.js'
import { onStopSignals } from '../warm/signals.js'
import { rerunWithThreadPool } from '../warm/threadpool.js'
import { formatBytes } from '../warm/progress.js'
import type { WarmJobData, WarmJobResult } from '../warm/queue.js'
import { createCounters } from '../warm/runner.js'
import { specFor } from '../warm/tasks.js'
import { integer } from '../validate.js'
import { settingFlags } from './flags.js'
import { cliSettings, DEV_KEY_WARNING } from './settings.js'
import { addServerSettings, positiveInt } from './warm.js'

/** Options of the `worker` command. */
export interface WorkerCommandOptions extends Partial<ServerConfig> {
  /** JSON config file. */
  config?: string
  /** `redis://…` of the queue. */
  queue: string
  /** Queue name. */
  queueName?: string
  /** Jobs in flight. @default cores */
  concurrency?: number
  /** Seconds before a dead worker's jobs go to another. @default 30 */
  stalledAfter?: number
  /** `false`: no progress lines. */
  progress?: boolean
  /** Seconds between progress lines. @default 5 */
  progressInterval?: number
}

/**
 * True for errors a retry cannot fix: the server's own 4xx answers (missing, corrupt, too large
 * or refused sources), as opposed to busy locks, timeouts and outages.
 */
export function isPermanent(err: unknown): boolean {
  const status = (err as { status?: unknown })?.status
  return err instanceof RestthumbsError && typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429
}

/** Runs a worker until SIGINT/SIGTERM. */
export async function workerCommand(options: WorkerCommandOptions): Promise<void> {
  const { config: file, queue, queueName, concurrency: jobs, stalledAfter, progress, progressInterval, ...flags } = options
  const concurrency = integer('--concurrency', jobs ?? availableParallelism(), { min: 1, max: 1024 })
  const rerun = rerunWithThreadPool(concurrency)
  if (rerun) return rerun
  // The render locks belong on the shared Redis; with the default in-process cache two workers
  // could render the same thumbnail, so the queue's Redis holds them unless --cache says otherwise.
  const { config, devKey } = cliSettings(flags, file)
  const settings = config.cache === 'memory' && flags.cache === undefined && !process.env.RESTTHUMBS_CACHE ? cliSettings({ ...flags, cache: queue }, file).config : config
  if (devKey) process.stderr.write(DEV_KEY_WARNING + '\n')
  const { loadBullmq, startWorker } = await import('../warm/queue.js')
  await loadBullmq()
  const engine = createWarmEngine(settings)
  const counters = createCounters()
  const worker = await startWorker({
    url: queue,
    prefix: settings.keyPrefix,
    name: queueName,
    concurrency,
    stalledAfter,
    permanent: isPermanent,
    async process(data: WarmJobData): Promise<WarmJobResult> {
      const spec = specFor(data.source, data, engine.urls)
      const r = await engine.ensure(spec)
      if (r.via === 'render') {
        counters.rendered++
        counters.bytes += r.size ?? 0
      } else if (r.via === 'wait') counters.waited++
      else counters.present++
      return { via: r.via, output: spec.outputPath, ...(r.size !== undefined ? { size: r.size } : {}) }
    },
  })
  worker.on('completed', () => counters.done++)
  worker.on('failed', () => counters.failed++)
  worker.on('error', (err) => process.stderr.write(`worker: ${(err as Error).message}\n`))
  const started = Date.now()
  const line = () =>
    `worker: ${counters.done} done (${counters.rendered} rendered, ${counters.present} already there, ${counters.waited} by another process), ` +
    `${counters.failed} failed attempts, ${formatBytes(counters.bytes)} written, ${(counters.done / ((Date.now() - started) / 1000)).toFixed(1)}/s`
  const timer = progress === false ? undefined : setInterval(() => process.stderr.write(line() + '\n'), (progressInterval ?? 5) * 1000)
  process.stdout.write(`worker: consuming ${queueName ?? 'warm'} with ${concurrency} jobs in flight\n`)
  let offSignals = () => {}
  await new Promise<void>((resolve) => {
    offSignals = onStopSignals(() => {
      process.stderr.write('worker: finishing the jobs in flight (Ctrl-C again to quit at once; its jobs then go to other workers)\n')
      resolve()
    })
  })
  clearInterval(timer)
  await worker.close()
  await engine.close()
  offSignals()
  process.stdout.write(line() + '\n')
}

/** Registers `worker` on the program. */
export function addWorkerCommand(program: Command): void {
  const cmd = program
    .command('worker')
    .description('render the thumbnails `warm --queue` enqueued (BullMQ; run one per host, any number of hosts)')
    .requiredOption('--queue <redis-url>', 'the Redis of the queue, e.g. redis://127.0.0.1:6379/0 (npm install bullmq)')
    .option('--queue-name <name>', 'BullMQ queue name (default warm)')
    .option('--concurrency <n>', 'jobs in flight (default: the number of cores)', positiveInt('--concurrency'))
    .option('--stalled-after <seconds>', "seconds before a dead worker's jobs are given to another (default 30)", positiveInt('--stalled-after'))
    .option('--no-progress', 'no progress lines')
    .option('--progress-interval <seconds>', 'seconds between progress lines (default 5)', positiveInt('--progress-interval'))
  addServerSettings(cmd)
    .addHelpText('after', '\nThe render locks live on --cache, which defaults to the queue\'s Redis. SIGINT/SIGTERM finish the jobs in flight, then exit.')
    .action(async (opts: WorkerCommandOptions, command: Command) => {
      await workerCommand({ ...opts, ...settingFlags(command) })
    })
}
