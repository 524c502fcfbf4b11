/**
 * A circuit breaker for a cache server. When Redis is frozen (SIGSTOP, a stalled network), every
 * command waits for its timeout, and a cold render that asks the cache three times waits three
 * timeouts. After the first outage the breaker fails fast for `openMs` instead, then lets one
 * probe through: success closes it, failure opens it again. Callers that fail open on
 * `ERR_CACHE_UNAVAILABLE` (the thumbnail generator) then lose nothing but the wait.
 *
 * States as in Fowler's "CircuitBreaker" (https://martinfowler.com/bliki/CircuitBreaker.html):
 * closed, open, half-open.
 * @module
 */
import { errorCode } from '../fs.js'
import { integer, mergeDefaults } from '../validate.js'
import { CacheUnavailableError } from './errors.js'

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive outages that open the circuit.
   * @default 1
   */
  failureThreshold?: number
  /**
   * Milliseconds the circuit stays open (failing fast) before one probe is let through.
   * @default 2000
   */
  openMs?: number
  /**
   * Which errors are outages. Others (a wrong type, a missing key) mean the server answered.
   * @default errors with code `ERR_CACHE_UNAVAILABLE`, `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`
   */
  isOutage?: (err: unknown) => boolean
  /** Clock, for tests. @default Date.now */
  now?: () => number
  /** Called on every state change (to log "cache down" once, not per request). */
  onStateChange?: (state: CircuitState) => void
}

/** `closed`: calls pass; `open`: calls fail fast; `half-open`: one probe is in flight. */
export type CircuitState = 'closed' | 'open' | 'half-open'

const OUTAGE_CODES = new Set(['ERR_CACHE_UNAVAILABLE', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'])

/** Defaults of {@link CircuitBreakerOptions}. */
export const CIRCUIT_BREAKER_DEFAULTS = Object.freeze({
  failureThreshold: 1,
  openMs: 2000,
  isOutage: (err: unknown): boolean => OUTAGE_CODES.has(errorCode(err) ?? ''),
  now: Date.now,
})

/** Guards calls to a cache server; see the module notes. */
export class CircuitBreaker {
  readonly #threshold: number
  readonly #openMs: number
  readonly #isOutage: (err: unknown) => boolean
  readonly #now: () => number
  readonly #onStateChange: ((state: CircuitState) => void) | undefined
  #state: CircuitState = 'closed'
  #failures = 0
  #openUntil = 0

  /** @param options - see {@link CircuitBreakerOptions} */
  constructor(options: CircuitBreakerOptions = {}) {
    const o = mergeDefaults<Required<Omit<CircuitBreakerOptions, 'onStateChange'>>>(CIRCUIT_BREAKER_DEFAULTS, options)
    this.#threshold = integer('failureThreshold', o.failureThreshold, { min: 1 })
    this.#openMs = integer('openMs', o.openMs)
    this.#isOutage = o.isOutage
    this.#now = o.now
    this.#onStateChange = options.onStateChange
  }

  /** The current state (an open circuit whose time is up still reads `open` until probed). */
  get state(): CircuitState {
    return this.#state
  }

  /**
   * Runs `op` unless the circuit is open.
   * @param op - one call to the cache server
   * @throws `CacheUnavailableError` (`ERR_CACHE_UNAVAILABLE`) at once while the circuit is open
   *   or a probe is in flight; otherwise whatever `op` throws
   */
  async run<T>(op: () => Promise<T> | T): Promise<T> {
    this.admit()
    let pending: Promise<T>
    try {
      pending = Promise.resolve(op())
    } catch (err) {
      pending = Promise.reject(err)
    }
    return this.track(pending)
  }

  /**
   * The first half of {@link CircuitBreaker.run}, for hot paths that issue the call themselves:
   * throws while the circuit is open or a probe is in flight, and turns an open circuit whose
   * time is up into a probe. Every admitted call must be reported with
   * {@link CircuitBreaker.track} (or {@link CircuitBreaker.report}).
   * @throws `CacheUnavailableError` when the call must fail fast
   */
  admit(): void {
    if (this.#state === 'half-open' || (this.#state === 'open' && this.#now() < this.#openUntil)) {
      throw new CacheUnavailableError(`The cache server failed recently; failing fast for up to ${this.#openMs} ms before probing it again`)
    }
    if (this.#state === 'open') this.#set('half-open')
  }

  /**
   * Reports the outcome of an admitted call when it settles, and passes it on unchanged.
   * @param pending - the call's promise
   */
  track<T>(pending: Promise<T>): Promise<T> {
    return pending.then(
      (value) => {
        this.report()
        return value
      },
      (err: unknown) => {
        this.report(err)
        throw err
      },
    )
  }

  /**
   * Reports the outcome of an admitted call.
   * @param err - what it failed with; nothing for a success
   */
  report(err?: unknown): void {
    if (err === undefined || !this.#isOutage(err)) {
      // The server answered (a wrong type or a missing key is an answer).
      this.#failures = 0
      this.#set('closed')
      return
    }
    this.#failures++
    if (this.#state === 'half-open' || this.#failures >= this.#threshold) {
      this.#openUntil = this.#now() + this.#openMs
      this.#set('open')
    }
  }

  #set(state: CircuitState): void {
    if (state === this.#state) return
    this.#state = state
    this.#onStateChange?.(state)
  }
}
