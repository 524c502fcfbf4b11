/**
 * `CacheBackend`: the contract every cache backend implements (the `_primitives` and their
 * default compositions) and the policy helpers the primitives and the public API share: key
 * making and validation, timeout normalisation, and the outage guard. `BaseCache` extends it with
 * the public API; backends extend `BaseCache`. Together they are Django's `BaseCache`
 * (`django/core/cache/backends/base.py`).
 * @module
 */
import { sha256Hex } from '../hash.js'
import { bool, integer, invalidOption, mergeDefaults, string } from '../validate.js'
import { CacheKeyNotFoundError, CacheUnavailableError, CacheValueError, InvalidCacheKeyError } from './errors.js'
import { CACHE_KEY_WARNING, CACHE_KEY_WARNING_CODE, cacheKeyProblem, keyPattern, showKey } from './key-rules.js'
import { BASE_CACHE_DEFAULTS, defaultKeyFunction, type BaseCacheOptions, type CacheLogger, type KeyFunction } from './options.js'
import { serialize } from './serialize.js'

/**
 * A stored value with its absolute expiry: epoch milliseconds, `null` for never, `undefined`
 * when the backend cannot tell.
 */
export interface CacheEntry {
  /** The value. */
  value: unknown
  /** Absolute expiry in epoch ms, `null` = never, `undefined` = unknown. */
  expiresAt: number | null | undefined
}

/**
 * Time to live handed to primitives: milliseconds (> 0), or `null` for "forever". Expired
 * timeouts never reach primitives: the base class turns them into deletes.
 */
export type Ttl = number | null

// Bounds of the made-key memo and of the warned key patterns; cleared wholesale when full.
const MADE_KEYS_LIMIT = 10_000

/**
 * A made key, as `madeKey` returns it: the stored key plus a slot in which an
 * in-process backend may remember where that key's value lives (MemoryCache keeps its store
 * entry there, so a hit on a hot key costs one Map lookup, not two). Memoized at the default
 * version, so the slot outlives the call.
 */
export interface MadeKey {
  /** The stored key. */
  readonly key: string
  /** Owned by the backend; `undefined` until it sets it. */
  hint: unknown
}
const WARNED_LIMIT = 1_000
/** Integer bounds that allow any safe integer. */
export const ANY_INTEGER = Object.freeze({ min: Number.MIN_SAFE_INTEGER, expected: 'integer' })

/** Whether a resolved {@link Ttl} means "already expired". */
export const isExpired = (ttl: Ttl): boolean => ttl !== null && ttl <= 0

/** Seconds (`null`/`Infinity` = forever, `<= 0` = already expired) to a {@link Ttl} or `-1`. */
function toTtl(seconds: number | null): Ttl {
  if (seconds === null) return null
  if (seconds <= 0) return -1
  return Number.isFinite(seconds) ? seconds * 1000 : null
}

/**
 * The backend half of `BaseCache`: primitives, keys, timeouts and the outage guard. Extend
 * `BaseCache`, not this class.
 */
export abstract class CacheBackend {
  /** Default timeout in seconds (`null` = forever). */
  readonly defaultTimeout: number | null
  /** Prefix of every stored key. */
  readonly keyPrefix: string
  /** Default key version. */
  readonly version: number
  /** Whether outages raise {@link CacheUnavailableError} instead of acting as misses. */
  readonly strict: boolean
  /** Where outages and recoveries are reported. */
  readonly logger: CacheLogger
  /** Stored-key builder. */
  protected readonly keyFunction: KeyFunction
  /** Whether invalid keys are hashed (SHA-256) instead of validated. */
  protected readonly hashLongKeys: boolean
  /** The default timeout as a {@link Ttl}, resolved once. */
  protected readonly defaultTtl: Ttl
  /** Recently made keys at the default version (only with the default key function). */
  protected readonly madeKeys: Map<string, MadeKey> | undefined
  /** Whether a subclass overrides {@link makeKey} (DatabaseCache fits keys to its column). */
  private readonly ownMakeKey: boolean
  /** Whether the backend is currently considered down (set by `guard`). */
  protected outage = false
  private readonly warnedPatterns = new Set<string>()

  /** @param options - see {@link BaseCacheOptions} */
  constructor(options: BaseCacheOptions = {}) {
    const o = mergeDefaults(BASE_CACHE_DEFAULTS, options)
    if (o.timeout !== null && (typeof o.timeout !== 'number' || Number.isNaN(o.timeout))) {
      throw invalidOption('timeout', 'number or null', o.timeout)
    }
    this.keyPrefix = string('keyPrefix', o.keyPrefix)
    this.version = integer('version', o.version, ANY_INTEGER)
    if (typeof o.keyFunction !== 'function') throw invalidOption('keyFunction', 'function', o.keyFunction)
    if (!o.logger || typeof o.logger.warn !== 'function' || typeof o.logger.info !== 'function') {
      throw invalidOption('logger', '{ warn, info } functions', o.logger)
    }
    this.madeKeys = o.keyFunction === defaultKeyFunction ? new Map() : undefined
    this.ownMakeKey = this.makeKey !== CacheBackend.prototype.makeKey
    this.defaultTimeout = o.timeout
    this.defaultTtl = toTtl(o.timeout)
    this.keyFunction = o.keyFunction
    this.hashLongKeys = bool('hashLongKeys', o.hashLongKeys)
    this.strict = bool('strict', o.strict)
    this.logger = o.logger
  }

  // ---- primitives -------------------------------------------------------------------------
  // Primitives work on made keys with a resolved Ttl and simply throw when the backend fails:
  // the public methods run them under `guard`, which turns outages (`isUnavailable`) into misses
  // and dropped writes, or raises in strict mode. A primitive that guards itself is harmless.
  // A backend with `_*Sync` primitives must keep them equivalent to the async ones: the public
  // methods take the synchronous path when it exists.

  /** @internal Value at a made key, `undefined` on a miss. */
  abstract _get(key: string): Promise<unknown>
  /** @internal Stores a value. */
  abstract _set(key: string, value: unknown, ttl: Ttl): Promise<void>
  /** @internal Stores only if absent (or expired); true when stored. */
  abstract _add(key: string, value: unknown, ttl: Ttl): Promise<boolean>
  /** @internal Deletes; true when something was deleted. */
  abstract _delete(key: string): Promise<boolean>
  /** @internal Sets a new time to live on a live key; true when the key exists. */
  abstract _touch(key: string, ttl: Ttl): Promise<boolean>
  /** @internal Removes everything this cache stores. */
  abstract _clear(): Promise<void>

  /**
   * @internal Optional synchronous `_get` of in-process backends. `made` is `key` with its slot
   * when the caller has it (see {@link MadeKey}).
   */
  _getSync?(key: string, made?: MadeKey): unknown
  /** @internal Optional synchronous `_set`. */
  _setSync?(key: string, value: unknown, ttl: Ttl): void
  /** @internal Optional synchronous `_has`. */
  _hasSync?(key: string): boolean
  /** @internal Optional synchronous `_delete`. */
  _deleteSync?(key: string): boolean

  /** @internal Value plus absolute expiry, for `ChainCache` back-fills and `incrVersion`. */
  async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const value = await this._get(key)
    return value === undefined ? undefined : { value, expiresAt: undefined }
  }

  /** @internal Whether a live value exists. */
  async _has(key: string): Promise<boolean> {
    return (await this._get(key)) !== undefined
  }

  /** @internal Hits only, keyed by made key. */
  async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const values = await Promise.all(keys.map((k) => this._get(k)))
    const out = new Map<string, unknown>()
    keys.forEach((k, i) => values[i] !== undefined && out.set(k, values[i]))
    return out
  }

  /** @internal Stores many values; returns the made keys that failed (an outage rejects). */
  async _setMany(entries: [string, unknown][], ttl: Ttl): Promise<string[]> {
    const failed: string[] = []
    const one = (k: string, v: unknown) =>
      this._set(k, v, ttl).catch((err: unknown) => {
        if (this.isUnavailable(err)) throw err
        failed.push(k)
      })
    await Promise.all(entries.map(([k, v]) => one(k, v)))
    return failed
  }

  /** @internal Deletes many keys. */
  async _deleteMany(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => this._delete(k)))
  }

  /**
   * @internal Adds `delta` to a numeric value, keeping its expiry. This default is get + set and
   * not atomic; backends with an atomic counter override it.
   */
  async _incr(key: string, delta: number): Promise<number> {
    const entry = await this._getEntry(key)
    if (entry === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    if (typeof entry.value !== 'number') {
      throw new CacheValueError(`Cannot increment key '${key}': its value is of type ${typeof entry.value}`)
    }
    const next = entry.value + delta
    await this._set(key, next, this.remainingTtl(entry.expiresAt))
    return next
  }

  /**
   * @internal Deletes only when the stored value serializes to the same bytes as `expected`.
   * This default is get + compare + delete, not atomic; backends override it where they can.
   */
  async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const current = await this._get(key)
    if (current === undefined || !serialize(current).equals(serialize(expected))) return false
    return this._delete(key)
  }

  /** @internal Releases connections and handles. */
  async _close(): Promise<void> {}

  // ---- keys --------------------------------------------------------------------------------

  /**
   * Builds the stored key for `key` at `version` and validates it with {@link validateKey}.
   * With `hashLongKeys` a key breaking memcached's rules is replaced by its SHA-256 first.
   * @param key - the caller's key
   * @param version - defaults to the cache's `version`
   * @throws {@link InvalidCacheKeyError} for a key that is not a string, or from `validateKey`
   */
  makeKey(key: string, version?: number): string {
    // Hot keys at the default version skip building and validating the key again (a third of a
    // MemoryCache hit); only the built-in key function is pure enough to memoize. Kept tiny so
    // it inlines into the hot paths.
    const memo = version === undefined ? this.madeKeys?.get(key) : undefined
    return memo !== undefined ? memo.key : this.madeKeySlow(key, version).key
  }

  /**
   * @internal {@link makeKey} with the key's backend slot (memoized like the key). A subclass
   * that overrides `makeKey` gets a fresh slot around its own key each time.
   */
  madeKey(key: string, version?: number): MadeKey {
    if (this.ownMakeKey) return { key: this.makeKey(key, version), hint: undefined }
    const memo = version === undefined ? this.madeKeys?.get(key) : undefined
    return memo !== undefined ? memo : this.madeKeySlow(key, version)
  }

  private madeKeySlow(key: string, version: number | undefined): MadeKey {
    const atDefault = version === undefined || version === this.version
    if (atDefault) {
      const memo = this.madeKeys?.get(key)
      if (memo !== undefined) return memo
    }
    const made: MadeKey = { key: this.buildKey(key, version), hint: undefined }
    if (atDefault && this.madeKeys !== undefined) {
      if (this.madeKeys.size >= MADE_KEYS_LIMIT) this.madeKeys.clear()
      this.madeKeys.set(key, made)
    }
    return made
  }

  private buildKey(key: string, version: number | undefined): string {
    if (typeof key !== 'string') throw invalidOption('key', 'string', key, (m) => new InvalidCacheKeyError(m))
    const v = version ?? this.version
    if (!Number.isInteger(v)) throw invalidOption('version', 'integer', v)
    let made = this.keyFunction(key, this.keyPrefix, v)
    if (this.hashLongKeys && cacheKeyProblem(made) !== undefined) made = this.keyFunction(sha256Hex(key), this.keyPrefix, v)
    this.validateKey(made)
    return made
  }

  /**
   * Checks a made key against memcached's rules (Django's `validate_key`). This default warns
   * and lets the key be stored, as Django does on every backend but memcached: one
   * `process.emitWarning` of type `CacheKeyWarning` and code `RESTTHUMBS_CACHE_KEY` per key
   * pattern and cache. Override it to raise (call {@link rejectInvalidKey}), or with a no-op to
   * accept any key silently.
   * @param key - a made key
   */
  validateKey(key: string): void {
    const problem = cacheKeyProblem(key)
    if (problem === undefined) return
    const pattern = keyPattern(key, problem)
    if (this.warnedPatterns.has(pattern)) return
    if (this.warnedPatterns.size >= WARNED_LIMIT) this.warnedPatterns.clear()
    this.warnedPatterns.add(pattern)
    process.emitWarning(
      `Cache key will cause errors if used with memcached: ${showKey(key)}: ${problem}; pass hashLongKeys: true to hash such keys`,
      { type: CACHE_KEY_WARNING, code: CACHE_KEY_WARNING_CODE },
    )
  }

  /**
   * Throws {@link InvalidCacheKeyError} for a key breaking memcached's rules: the `validateKey`
   * of backends that cannot store such keys.
   * @param key - a made key
   */
  protected rejectInvalidKey(key: string): void {
    const problem = cacheKeyProblem(key)
    if (problem === undefined) return
    throw new InvalidCacheKeyError(
      `Invalid cache key ${showKey(key)}: ${problem}${this.hashLongKeys ? '' : '; pass hashLongKeys: true to hash such keys'}`,
    )
  }

  // ---- timeouts ----------------------------------------------------------------------------

  /**
   * Resolves a timeout in seconds into a {@link Ttl} in ms, or `-1` for "already expired".
   * @param timeout - `undefined` = default, `null` or `Infinity` = forever, `<= 0` = expired
   */
  protected resolveTimeout(timeout: number | null | undefined): Ttl {
    if (timeout === undefined) return this.defaultTtl
    if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
      throw invalidOption('timeout', 'number, null or undefined', timeout)
    }
    return toTtl(timeout)
  }

  /**
   * Remaining time to live of an absolute expiry; unknown expiries get the default timeout and
   * already-passed ones 1 ms so a racing reader still sees them expire.
   * @param expiresAt - epoch ms, `null` = never, `undefined` = unknown
   */
  protected remainingTtl(expiresAt: number | null | undefined): Ttl {
    if (expiresAt === null) return null
    if (expiresAt === undefined) return this.defaultTtl === null ? null : Math.max(1, this.defaultTtl)
    return Math.max(1, expiresAt - Date.now())
  }

  // ---- outage policy -----------------------------------------------------------------------

  /**
   * @internal Runs a primitive under the outage policy: on failure, `strict` caches raise
   * {@link CacheUnavailableError}; others log once per outage and return `fallback`. The first
   * success after an outage logs a recovery. `ChainCache` drives its tiers through it.
   * @param what - the operation, for messages
   * @param op - the primitive call
   * @param fallback - the result to use when the backend is down
   */
  async guard<T>(what: string, op: () => Promise<T>, fallback: T): Promise<T> {
    let result: T
    try {
      result = await op()
    } catch (err) {
      return this.failed(what, err, fallback)
    }
    if (this.outage) this.recovered()
    return result
  }

  /**
   * The failure half of `guard`: rethrows errors that are not outages, raises in `strict`
   * mode, else logs once and returns `fallback`.
   */
  protected failed<T>(what: string, err: unknown, fallback: T): T {
    if (!this.isUnavailable(err)) throw err
    const name = this.constructor.name
    if (!this.outage) {
      this.outage = true
      this.logger.warn(`${name} unavailable (${what}); reads miss and writes are dropped until it recovers`, err)
    }
    if (!this.strict) return fallback
    if (err instanceof CacheUnavailableError) throw err
    const reason = err instanceof Error ? err.message : String(err)
    throw new CacheUnavailableError(`${name} unavailable during ${what}: ${reason}`, { cause: err })
  }

  /** The success half of `guard`: ends an outage, logging the recovery once. */
  protected recovered(): void {
    if (!this.outage) return
    this.outage = false
    this.logger.info(`${this.constructor.name} recovered`)
  }

  /**
   * Whether an error means "backend unavailable" (handled by `guard`) rather than a bug or
   * a bad value (rethrown). Backends with a network or a disk refine this.
   * @param err - what the backend threw
   */
  protected isUnavailable(err: unknown): boolean {
    return err instanceof CacheUnavailableError
  }

}
