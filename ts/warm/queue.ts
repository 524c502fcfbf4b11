/**
 * Warm across many hosts on BullMQ, on the Redis that already holds the render locks. The
 * enqueuer turns the listing into jobs (batched, with an id derived from the thumbnail so the same
 * tree enqueued twice is one set of jobs); workers on any number of hosts render them through the
 * server's generator and dogpile lock, retry with backoff, and keep failed jobs for inspection.
 * BullMQ is an optional peer dependency, imported here only when a queue is used.
 * @module
 */
import { hostname } from 'node:os'

import type { ConnectionOptions, Job, Queue, Worker } from 'bullmq'

import { hashKey } from '../server/generator.js'
import { invalidOption } from '../validate.js'
import { MissingDependencyError } from './errors.js'
import type { Preset } from './presets.js'
import { failureOf, type WarmCounters, type WarmFailure } from './runner.js'
import type { WarmTask } from './tasks.js'

/** What a queued job carries: the canonical thumbnail, signed by the worker with its own keys. */
export interface WarmJobData {
  /** Source name. */
  source: string
  /** Canonical size (`500x0`). */
  size: string
  /** Resize method. */
  method: Preset['method']
  /** Output extension with its dot. */
  ext: Preset['ext']
}

/** What a completed job returns (kept in Redis with the job). */
export interface WarmJobResult {
  /** How the output came to exist. */
  via: 'hit' | 'render' | 'wait'
  /** Output path under the output root. */
  output: string
  /** Bytes written when rendered. */
  size?: number
}

/** Defaults of the queue mode. */
export const QUEUE_DEFAULTS = Object.freeze({
  /** Queue name; the keys live under `<keyPrefix>:<name>:`. */
  name: 'warm',
  /** Attempts per job before it is kept as failed. */
  attempts: 5,
  /** First retry delay, doubled on each attempt. */
  backoffMs: 1000,
  /** Jobs per `addBulk` round trip. */
  batch: 500,
  /** Seconds before the job of a dead worker goes back to the queue. */
  stalledAfter: 30,
  /** Seconds completed jobs are kept (for `--status` and to make re-enqueueing a no-op). */
  keepCompleted: 86_400,
})

type Bullmq = typeof import('bullmq')

/** Imports BullMQ, or explains how to install it. */
export async function loadBullmq(): Promise<Bullmq> {
  try {
    return await import('bullmq')
  } catch (err) {
    throw new MissingDependencyError('bullmq', 'The queue mode (--queue)', err)
  }
}

/**
 * BullMQ connection options from a `redis://[user:password@]host[:port][/db]` URL (`rediss://`
 * for TLS). BullMQ opens its own connections (a worker needs a blocking one), so options are
 * handed over rather than a client.
 */
export function connectionFromUrl(url: string): ConnectionOptions {
  const u = URL.canParse(url) ? new URL(url) : undefined
  if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:')) throw invalidOption('--queue', 'a redis:// or rediss:// URL', url)
  const db = Number(u.pathname.replace(/^\//, '') || 0)
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number.isInteger(db) ? db : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  }
}

/** Where the queue lives. */
export interface QueueLocation {
  /** `redis://…` */
  url: string
  /** Key prefix (the server's `keyPrefix`). */
  prefix: string
  /** Queue name. @default QUEUE_DEFAULTS.name */
  name?: string
}

/** Opens the queue (producer side). */
export async function openQueue(where: QueueLocation): Promise<Queue<WarmJobData, WarmJobResult>> {
  const { Queue } = await loadBullmq()
  const queue = new Queue<WarmJobData, WarmJobResult>(where.name ?? QUEUE_DEFAULTS.name, {
    connection: connectionFromUrl(where.url),
    prefix: where.prefix,
  })
  await queue.waitUntilReady()
  return queue
}

/** The job id of a thumbnail: the same thumbnail always gets the same id, whoever enqueues it. */
export function jobIdOf(data: WarmJobData): string {
  return hashKey(`${data.source}|${data.size}|${data.method}|${data.ext}`)
}

/** Options of {@link enqueue}. */
export interface EnqueueOptions {
  /** Jobs per round trip. @default QUEUE_DEFAULTS.batch */
  batch?: number
  /** Stops reading the listing (what was sent stays queued). */
  signal?: AbortSignal
  /** Live counters: `listed`, `done` (sent), `failed` (tasks with no URL). */
  counters: WarmCounters
  /** Tasks that could not become jobs (invalid names). */
  onFailure?(failure: WarmFailure): void
}

/**
 * Sends every task to the queue in batches. Jobs whose id is already queued or kept as completed
 * are left alone by BullMQ, so enqueuing a tree twice does not double the work.
 * @returns whether the signal stopped it early
 */
export async function enqueue(queue: Queue<WarmJobData, WarmJobResult>, tasks: AsyncIterable<WarmTask>, options: EnqueueOptions): Promise<{ interrupted: boolean }> {
  const size = options.batch ?? QUEUE_DEFAULTS.batch
  const c = options.counters
  const opts = {
    attempts: QUEUE_DEFAULTS.attempts,
    backoff: { type: 'exponential', delay: QUEUE_DEFAULTS.backoffMs },
    removeOnComplete: { age: QUEUE_DEFAULTS.keepCompleted },
    removeOnFail: false,
  }
  let batch: { name: string; data: WarmJobData; opts: typeof opts & { jobId: string } }[] = []
  const flush = async () => {
    if (batch.length === 0) return
    await queue.addBulk(batch)
    c.done += batch.length
    batch = []
  }
  for await (const task of tasks) {
    c.listed++
    if (!task.spec) {
      c.failed++
      c.done++
      options.onFailure?.(failureOf(task, task.error))
    } else {
      const data: WarmJobData = { source: task.source, size: task.preset.size, method: task.preset.method, ext: task.preset.ext }
      batch.push({ name: 'thumbnail', data, opts: { ...opts, jobId: jobIdOf(data) } })
      if (batch.length >= size) await flush()
    }
    if (options.signal?.aborted) {
      await flush()
      return { interrupted: true }
    }
  }
  await flush()
  c.listingDone = true
  return { interrupted: false }
}

/** Progress of the queue across every worker. */
export interface QueueStatus {
  /** Jobs waiting (including prioritized). */
  waiting: number
  /** Jobs being rendered now. */
  active: number
  /** Jobs done (kept for `keepCompleted` seconds). */
  completed: number
  /** Jobs that failed every attempt, kept for inspection. */
  failed: number
  /** Jobs waiting for a retry. */
  delayed: number
  /** Connected workers. */
  workers: number
  /** Jobs per second over the most recent completions (0 when idle for a minute). */
  rate: number
  /** The most recent failures. */
  recentFailures: { id: string; source: string; preset: string; reason: string }[]
}

/** Reads the queue's counts, its rate and recent failures. */
export async function queueStatus(queue: Queue<WarmJobData, WarmJobResult>): Promise<QueueStatus> {
  const [counts, recent, failed, workers] = await Promise.all([
    queue.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed'),
    queue.getJobs(['completed'], 0, 199, false),
    queue.getJobs(['failed'], 0, 9, false),
    queue.getWorkersCount(),
  ])
  const times = recent.map((j) => j.finishedOn ?? 0).filter((t) => t > 0)
  const newest = Math.max(...times, 0)
  const oldest = Math.min(...times)
  const rate = times.length > 1 && Date.now() - newest < 60_000 && newest > oldest ? ((times.length - 1) * 1000) / (newest - oldest) : 0
  return {
    waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
    active: counts.active ?? 0,
    completed: counts.completed ?? 0,
    failed: counts.failed ?? 0,
    delayed: counts.delayed ?? 0,
    workers,
    rate,
    recentFailures: failed.map((j: Job<WarmJobData>) => ({
      id: String(j.id),
      source: j.data.source,
      preset: `${j.data.size}:${j.data.method}:${j.data.ext}`,
      reason: j.failedReason ?? '',
    })),
  }
}

/** Options of {@link startWorker}. */
export interface WorkerOptions extends QueueLocation {
  /** Jobs in flight. */
  concurrency: number
  /** Seconds before a dead worker's jobs are handed to another. @default QUEUE_DEFAULTS.stalledAfter */
  stalledAfter?: number
  /** Renders one job; throws to fail (retried unless `permanent` says otherwise). */
  process(data: WarmJobData): Promise<WarmJobResult>
  /** True for errors no retry can fix (bad source, corrupt image). */
  permanent(err: unknown): boolean
}

/** Starts a BullMQ worker on the queue. Close it with `worker.close()` (waits for active jobs). */
export async function startWorker(options: WorkerOptions): Promise<Worker<WarmJobData, WarmJobResult>> {
  const { Worker, UnrecoverableError } = await loadBullmq()
  const stalledMs = (options.stalledAfter ?? QUEUE_DEFAULTS.stalledAfter) * 1000
  const worker = new Worker<WarmJobData, WarmJobResult>(
    options.name ?? QUEUE_DEFAULTS.name,
    async (job) => {
      try {
        return await options.process(job.data)
      } catch (err) {
        // BullMQ keeps only the message; the code goes in front so --status shows it.
        const e = err as { code?: string; message?: string }
        const reason = `${e?.code ?? 'ERR_UNKNOWN'}: ${e?.message ?? String(err)}`
        throw options.permanent(err) ? new UnrecoverableError(reason) : new Error(reason, { cause: err })
      }
    },
    {
      connection: connectionFromUrl(options.url),
      prefix: options.prefix,
      // Shown as each active job's `processedBy`, so an operator can tell which host holds it.
      name: `${hostname()}:${process.pid}`,
      concurrency: options.concurrency,
      lockDuration: stalledMs,
      stalledInterval: Math.max(500, stalledMs / 2),
      maxStalledCount: 3,
    },
  )
  await worker.waitUntilReady()
  return worker
}
