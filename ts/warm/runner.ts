/**
 * Runs warm tasks with a fixed number in flight. The renders themselves run on the libuv pool
 * (the native pipeline is an async task), so `concurrency` = cores keeps every core busy while
 * the event loop only schedules. Tasks are pulled from the listing one at a time as slots free
 * up, so memory stays bounded whatever the size of the tree. An abort stops taking new tasks and
 * waits for those in flight: each ends with its output renamed into place or not written at all.
 * @module
 */
import { errorCode } from '../fs.js'
import type { ThumbnailSpec } from '../server/contracts.js'
import type { EnsureResult } from '../server/generator.js'
import type { WarmTask } from './tasks.js'

/** Live counters of a run (read by the progress display). */
export interface WarmCounters {
  /** Tasks taken from the listing so far. */
  listed: number
  /** Whether the listing is exhausted (then `listed` is the total). */
  listingDone: boolean
  /** Tasks finished, whatever the outcome. */
  done: number
  /** Thumbnails this run rendered. */
  rendered: number
  /** Outputs that already existed (skipped). */
  present: number
  /** Outputs another process rendered while this one waited for its lock. */
  waited: number
  /** Failed tasks. */
  failed: number
  /** Bytes this run wrote. */
  bytes: number
}

/** Zeroed {@link WarmCounters}. */
export function createCounters(): WarmCounters {
  return { listed: 0, listingDone: false, done: 0, rendered: 0, present: 0, waited: 0, failed: 0, bytes: 0 }
}

/** One failed task, as written to the report. */
export interface WarmFailure {
  /** Source name. */
  source: string
  /** Preset as `size:method:ext`. */
  preset: string
  /** Output path under the output root, when the URL could be built. */
  output?: string
  /** Stable error code (`ERR_DECODE`, `ERR_SOURCE_NOT_FOUND`, …, or a system code). */
  code: string
  /** HTTP status the server would answer for the same URL. */
  status?: number
  /** What went wrong. */
  message: string
}

/** Options of {@link runWarm}. */
export interface WarmRunOptions {
  /** The tasks (usually {@link warmTasks}); an array is the presets of one source, run together (see `group`). */
  tasks: AsyncIterable<WarmTask | WarmTask[]>
  /** Makes one thumbnail exist: the server's `ThumbnailGenerator.ensure`. */
  ensure(spec: ThumbnailSpec): Promise<Pick<EnsureResult, 'via' | 'size'>>
  /**
   * Runs the tasks of one source (a `WarmTask[]` from the listing) together, e.g. so they share
   * one decode; `run` makes them all. Without it, the tasks of a group still run together.
   */
  group?(specs: ThumbnailSpec[], run: () => Promise<void>): Promise<void>
  /** Called before `ensure` when re-rendering existing outputs (`--force`): removes them. */
  discard?(spec: ThumbnailSpec): Promise<void>
  /** Tasks in flight. */
  concurrency: number
  /** Stops taking new tasks. */
  signal?: AbortSignal
  /** Called for each failure as it happens. */
  onFailure?(failure: WarmFailure): void
  /** Counters to update (created when absent). */
  counters?: WarmCounters
}

/** Outcome of {@link runWarm}. */
export interface WarmRunResult {
  /** Final counters. */
  counters: WarmCounters
  /** True when the signal stopped the run before the listing was exhausted. */
  interrupted: boolean
}

/** The report entry of a failed task. */
export function failureOf(task: WarmTask, error: unknown): WarmFailure {
  const e = error as { code?: unknown; status?: unknown; message?: unknown } | null
  return {
    source: task.source,
    preset: task.preset.text,
    ...(task.spec ? { output: task.spec.outputPath } : {}),
    code: errorCode(error) ?? (error instanceof Error ? error.name : 'ERR_UNKNOWN'),
    ...(typeof e?.status === 'number' ? { status: e.status } : {}),
    message: typeof e?.message === 'string' ? e.message : String(error),
  }
}

/**
 * Runs every task; never throws for a failed task (it is counted and reported), only for a
 * listing that cannot be read.
 * @param options - see {@link WarmRunOptions}
 */
export async function runWarm(options: WarmRunOptions): Promise<WarmRunResult> {
  const counters = options.counters ?? createCounters()
  const { signal } = options
  const iterator = options.tasks[Symbol.asyncIterator]()
  let exhausted = false

  async function one(task: WarmTask): Promise<void> {
    try {
      if (task.error !== undefined || !task.spec) throw task.error
      if (options.discard) await options.discard(task.spec)
      const result = await options.ensure(task.spec)
      if (result.via === 'render') {
        counters.rendered++
        counters.bytes += result.size ?? 0
      } else if (result.via === 'wait') counters.waited++
      else counters.present++
    } catch (error) {
      counters.failed++
      options.onFailure?.(failureOf(task, error))
    } finally {
      counters.done++
    }
  }

  // Async generators queue concurrent next() calls, so the slots can share one iterator.
  // A listing that blocks (stdin, a slow origin) must not keep an interrupted run waiting.
  const stopped = new Promise<IteratorResult<WarmTask | WarmTask[]>>((resolve) => {
    if (signal?.aborted) resolve({ done: true, value: undefined })
    signal?.addEventListener('abort', () => resolve({ done: true, value: undefined }), { once: true })
  })

  async function slot(): Promise<void> {
    while (!signal?.aborted) {
      const step = await Promise.race([iterator.next(), stopped])
      if (signal?.aborted) return
      if (step.done) {
        exhausted = true
        counters.listingDone = true
        return
      }
      if (!Array.isArray(step.value)) {
        counters.listed++
        await one(step.value)
        continue
      }
      const group = step.value
      counters.listed += group.length
      const run = async () => void (await Promise.all(group.map(one)))
      const specs = group.flatMap((t) => (t.spec && t.error === undefined ? [t.spec] : []))
      await (options.group ? options.group(specs, run) : run())
    }
  }

  try {
    // allSettled: a listing error must not return before the other slots' renders have ended.
    const settled = await Promise.allSettled(Array.from({ length: Math.max(1, options.concurrency) }, slot))
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
  } finally {
    // Closes the walk's open directory handles when the run stopped early. Not awaited: a
    // listing blocked in a read only returns once that read ends.
    if (!exhausted) void iterator.return?.(undefined)?.catch(() => undefined)
  }
  return { counters, interrupted: !exhausted }
}
