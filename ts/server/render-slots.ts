/**
 * A bounded number of renders at a time, with a bounded queue. Native renders run on the libuv
 * thread pool, which also serves every `stat`, `open` and `read` of the warm path: when renders
 * hold every pool thread, a warm hit waits for a render to finish (four slow renders made warm
 * hits wait 41 s). Keeping the renders below the pool size leaves threads for file I/O; past
 * the queue limit a render is refused at once (503 with `Retry-After`) instead of piling up.
 * @module
 */
import { availableParallelism } from 'node:os'

import { typedError } from '../errors.js'
import { integer } from '../validate.js'

/** Too many renders are queued already. HTTP 503 with `Retry-After`. */
export class RenderQueueFullError extends typedError('ERR_RENDER_QUEUE_FULL', 503) {
  /**
   * @param limit - the queue limit that was reached
   * @param retryAfter - seconds a client should wait
   */
  constructor(readonly limit: number, readonly retryAfter: number) {
    super(`${limit} renders are already waiting for a slot; retry shortly or raise renderQueue`)
  }
}

/** Threads of the libuv pool of this process (`UV_THREADPOOL_SIZE`, 4 when unset). */
export function libuvPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE)
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4
}

/**
 * Render slots when none are configured: one per core, but always two pool threads fewer than
 * the libuv pool has, so file I/O never waits behind renders (at least one slot).
 * @param poolSize - threads of the libuv pool
 * @param cores - CPU cores available
 */
export function defaultRenderSlots(poolSize = libuvPoolSize(), cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, poolSize - 2))
}

/**
 * The libuv pool size `restthumbs serve` asks for when `UV_THREADPOOL_SIZE` is not set: room
 * for one render per core plus four threads for file I/O.
 * @param cores - CPU cores available
 */
export function servePoolSize(cores = availableParallelism()): number {
  return cores + 4
}

/** A counting semaphore with a bounded FIFO queue. */
export class RenderSlots {
  /** Renders allowed at once. */
  readonly size: number
  /** Renders allowed to wait for a slot. */
  readonly queueLimit: number
  readonly #retryAfter: number
  #busy = 0
  readonly #queue: Array<() => void> = []

  /**
   * @param size - renders at once (at least 1)
   * @param queueLimit - renders waiting at most (0: refuse whenever every slot is busy)
   * @param retryAfter - `Retry-After` seconds of the 503 past the queue
   */
  constructor(size: number, queueLimit: number, retryAfter = 1) {
    this.size = integer('renderSlots', size, { min: 1 })
    this.queueLimit = integer('renderQueue', queueLimit)
    this.#retryAfter = retryAfter
  }

  /** Renders running now. */
  get busy(): number {
    return this.#busy
  }

  /** Renders waiting for a slot now. */
  get waiting(): number {
    return this.#queue.length
  }

  /**
   * Runs `task` in a slot, after waiting for one.
   * @param task - the render
   * @param signal - stops the wait (the task is then never started)
   * @throws {@link RenderQueueFullError} when the queue is full; the signal's reason when it
   *   aborts the wait
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal)
    try {
      return await task()
    } finally {
      this.#release()
    }
  }

  #acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.#busy < this.size) {
      this.#busy++
      return Promise.resolve()
    }
    if (this.#queue.length >= this.queueLimit) return Promise.reject(new RenderQueueFullError(this.queueLimit, this.#retryAfter))
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = () => {
        const i = this.#queue.indexOf(grant)
        if (i !== -1) this.#queue.splice(i, 1)
        reject(signal!.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(grant)
    })
  }

  #release(): void {
    // The slot passes straight to the next waiter, so `busy` never dips and lets a newcomer
    // jump the queue.
    const next = this.#queue.shift()
    if (next) next()
    else this.#busy--
  }
}
