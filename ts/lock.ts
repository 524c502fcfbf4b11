/**
 * Dogpile protection for expensive work keyed by a string: in-process single flight plus a
 * cross-process lock held in a shared cache.
 *
 * restthumbnails' lock did `get` then `set` and deleted the key without an owner check, so two
 * workers could both render and one could free the other's lock. Here the
 * lock is an atomic `add` of a random token, kept alive with `touch` while the owner works, and
 * released with a compare-and-delete (`deleteIfEquals`, a Lua script on Redis).
 * @module
 */
import { randomBytes } from 'node:crypto'

import { RestthumbsError } from './errors.js'
import { invalidOption, mergeDefaults, string } from './validate.js'

/**
 * The cache primitives the lock needs. Every `BaseCache` of restthumbs satisfies it. Timeouts are
 * in seconds, as in Django.
 */
export interface LockCache {
  /** Stores `value` only when `key` is absent; resolves `true` when it stored it. */
  add(key: string, value: unknown, timeout?: number | null): Promise<boolean> | boolean
  /** Sets a new expiry on an existing key; resolves `true` when the key existed. */
  touch(key: string, timeout?: number | null): Promise<boolean> | boolean
  /** Deletes `key` only when it still holds `expected`; resolves `true` when it deleted it. */
  deleteIfEquals(key: string, expected: unknown): Promise<boolean> | boolean
  /** Reads a key; `undefined`/`null` when absent. */
  get(key: string): Promise<unknown> | unknown
}

/** Options of {@link DogpileLock}. */
export interface DogpileLockOptions {
  /**
   * Seconds a lock lives without being extended. A crashed owner frees it after this long.
   * @default 10
   */
  timeout?: number
  /**
   * Prefix of lock keys in the cache, so locks never collide with cached values.
   * @default '_lock_:'
   */
  prefix?: string
  /**
   * How often, as a fraction of `timeout`, the owner extends its lock while it works.
   * @default 0.4
   */
  refreshRatio?: number
}

/** Defaults of {@link DogpileLockOptions}, merged in one place. */
export const LOCK_DEFAULTS: Readonly<Required<DogpileLockOptions>> = Object.freeze({
  timeout: 10,
  prefix: '_lock_:',
  refreshRatio: 0.4,
})

/** Thrown when an argument of the lock API is invalid. HTTP 500: a configuration bug. */
export class LockOptionError extends RestthumbsError {
  /** @param message - expected vs received */
  constructor(message: string) {
    super('ERR_LOCK_OPTION', message, { status: 500 })
  }
}

/** A lock this process owns. Release it exactly once, in a `finally`. */
export interface LockHandle {
  /** The cache key of the lock. */
  readonly key: string
  /** The random token stored under the key; proves ownership at release. */
  readonly token: string
  /** Extends the lock by the full timeout; resolves `false` when it was lost (expired). */
  extend(): Promise<boolean>
  /** Stops the keep-alive and deletes the lock if this process still owns it. */
  release(): Promise<boolean>
}

/**
 * A cross-process mutex in a shared cache, after djblets' `CacheLock` but atomic and owned.
 * `tryAcquire` never waits: the caller decides what a loser does (wait for the result, answer
 * 503, …), which is what the thumbnail handler needs.
 */
export class DogpileLock {
  /** Merged options. */
  readonly options: Readonly<Required<DogpileLockOptions>>

  /**
   * @param cache - shared cache (memory for one process, Redis across processes)
   * @param options - see {@link DogpileLockOptions}
   */
  constructor(
    readonly cache: LockCache,
    options: DogpileLockOptions = {},
  ) {
    const merged = mergeDefaults<Required<DogpileLockOptions>>(LOCK_DEFAULTS, options)
    const error = (message: string) => new LockOptionError(message)
    if (typeof merged.timeout !== 'number' || !(merged.timeout > 0) || !Number.isFinite(merged.timeout)) {
      throw invalidOption('timeout', 'positive number', merged.timeout, error)
    }
    if (typeof merged.refreshRatio !== 'number' || !(merged.refreshRatio > 0 && merged.refreshRatio < 1)) {
      throw invalidOption('refreshRatio', 'number between 0 and 1', merged.refreshRatio, error)
    }
    string('prefix', merged.prefix, { error })
    this.options = Object.freeze(merged)
  }

  /** The cache key guarding `name`. */
  keyFor(name: string): string {
    return this.options.prefix + name
  }

  /**
   * Takes the lock for `name` if nobody holds it. The handle extends itself every
   * `timeout × refreshRatio` seconds until released, so long renders keep it.
   * @param name - what is being protected (e.g. the thumbnail's output path)
   * @returns the handle, or `null` when another owner holds the lock
   */
  async tryAcquire(name: string): Promise<LockHandle | null> {
    const key = this.keyFor(name)
    const token = randomBytes(16).toString('hex')
    const { timeout, refreshRatio } = this.options
    if (!(await this.cache.add(key, token, timeout))) return null
    const cache = this.cache
    let released = false
    const timer = setInterval(
      () => {
        // A failed touch means the lock expired under us: nothing to do but let release no-op.
        void Promise.resolve(cache.touch(key, timeout)).catch(() => false)
      },
      Math.max(10, timeout * refreshRatio * 1000),
    )
    timer.unref()
    return {
      key,
      token,
      async extend() {
        if (released) return false
        if ((await cache.get(key)) !== token) return false
        return Boolean(await cache.touch(key, timeout))
      },
      async release() {
        if (released) return false
        released = true
        clearInterval(timer)
        return Boolean(await cache.deleteIfEquals(key, token))
      },
    }
  }

  /** Whether anybody currently holds the lock for `name`. */
  async isLocked(name: string): Promise<boolean> {
    const v = await this.cache.get(this.keyFor(name))
    return v !== undefined && v !== null
  }
}

/**
 * In-process single flight: concurrent calls for one key share one promise, so a burst of
 * requests for the same new thumbnail costs one render and one lock round-trip per process.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Promise<T>>()

  /**
   * Runs `fn` unless a call for `key` is already running, in which case its promise is shared.
   * @param key - identity of the work
   * @param fn - the work
   */
  do(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key)
    if (running) return running
    const p = (async () => {
      try {
        return await fn()
      } finally {
        this.#inflight.delete(key)
      }
    })()
    this.#inflight.set(key, p)
    return p
  }

  /** Number of keys with work in flight. */
  get size(): number {
    return this.#inflight.size
  }
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds. */
  timeoutMs: number
  /**
   * First delay between polls in milliseconds; doubles up to `maxDelayMs`, with jitter so waiters
   * in several processes do not poll in lock step.
   * @default 10
   */
  initialDelayMs?: number
  /**
   * Longest delay between polls in milliseconds.
   * @default 250
   */
  maxDelayMs?: number
  /** Stops waiting early. */
  signal?: AbortSignal
}

/**
 * Polls `check` with jittered exponential backoff until it returns something other than
 * `undefined`, or the time runs out.
 * @param check - resolves a value when done, `undefined` to keep waiting
 * @param options - see {@link WaitForOptions}
 * @returns the value, or `undefined` on timeout
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  options: WaitForOptions,
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs
  let delay = options.initialDelayMs ?? 10
  const maxDelay = options.maxDelayMs ?? 250
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    const left = deadline - Date.now()
    if (left <= 0 || options.signal?.aborted) return undefined
    const jittered = delay * (0.75 + Math.random() * 0.5)
    await new Promise((r) => setTimeout(r, Math.min(left, jittered)))
    delay = Math.min(maxDelay, delay * 2)
  }
}
