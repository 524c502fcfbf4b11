/**
 * `BaseCache`: all cache policy in one place (Django's `BaseCache`). Backends only implement the
 * small `_primitives` on already-made keys with a resolved time to live.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { CacheKeyNotFoundError, CacheUnavailableError, CacheValueError, InvalidCacheKeyError } from './errors.js'
import {
  BASE_CACHE_DEFAULTS,
  MAX_KEY_LENGTH,
  defaultKeyFunction,
  type BaseCacheOptions,
  type CacheLogger,
  type KeyFunction,
} from './options.js'
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

// Bound of the made-key memo; cleared wholesale when full (cheaper than LRU bookkeeping).
const MADE_KEYS_LIMIT = 10_000

// Memcached's rule, which Django enforces for every backend so keys stay portable.
// eslint-disable-next-line no-control-regex
const BAD_KEY_CHARS = /[\x00-\x20\x7f]/

function describe(value: unknown): string {
  return `${typeof value === 'string' ? `'${value}'` : String(value)} of type ${typeof value}`
}

/**
 * Base class of every cache. All operations are async and take the caller's key plus an optional
 * version; the stored key is `keyFunction(key, keyPrefix, version)`.
 *
 * Subclasses implement the `_`-prefixed primitives. They are public only so that `ChainCache`
 * can drive its tiers with already-made keys; treat them as internal.
 */
export abstract class BaseCache {
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
  /** Whether invalid keys are hashed instead of rejected. */
  protected readonly hashLongKeys: boolean
  /** Recently made keys at the default version (only with the default key function). */
  protected readonly madeKeys: Map<string, string> | undefined
  /** Whether the backend is currently considered down (set by {@link guard}). */
  protected outage = false

  /** @param options - see {@link BaseCacheOptions} */
  constructor(options: BaseCacheOptions = {}) {
    const o = { ...BASE_CACHE_DEFAULTS }
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, unknown>)[k] = v
    if (o.timeout !== null && (typeof o.timeout !== 'number' || Number.isNaN(o.timeout))) {
      throw new InvalidOptionError(`Expected number or null for timeout but received ${describe(o.timeout)}`)
    }
    if (typeof o.keyPrefix !== 'string') {
      throw new InvalidOptionError(`Expected string for keyPrefix but received ${describe(o.keyPrefix)}`)
    }
    if (!Number.isInteger(o.version)) {
      throw new InvalidOptionError(`Expected integer for version but received ${describe(o.version)}`)
    }
    if (typeof o.keyFunction !== 'function') {
      throw new InvalidOptionError(`Expected function for keyFunction but received ${describe(o.keyFunction)}`)
    }
    if (!o.logger || typeof o.logger.warn !== 'function' || typeof o.logger.info !== 'function') {
      throw new InvalidOptionError(`Expected { warn, info } functions for logger but received ${describe(o.logger)}`)
    }
    this.madeKeys = o.keyFunction === defaultKeyFunction ? new Map() : undefined
    this.defaultTimeout = o.timeout
    this.keyPrefix = o.keyPrefix
    this.version = o.version
    this.keyFunction = o.keyFunction
    this.hashLongKeys = o.hashLongKeys
    this.strict = o.strict
    this.logger = o.logger
  }

  // ---- primitives -------------------------------------------------------------------------

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

  /** @internal Stores many values; returns the made keys that failed. */
  async _setMany(entries: [string, unknown][], ttl: Ttl): Promise<string[]> {
    const failed: string[] = []
    await Promise.all(
      entries.map(([k, v]) =>
        this._set(k, v, ttl).catch((err: unknown) => {
          if (err instanceof CacheUnavailableError) throw err
          failed.push(k)
        }),
      ),
    )
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

  // ---- policy ------------------------------------------------------------------------------

  /**
   * Builds the stored key for `key` at `version` and validates it (at most 250 UTF-8 bytes, no
   * control characters or spaces). With `hashLongKeys` an invalid key is replaced by its SHA-256.
   * @param key - the caller's key
   * @param version - defaults to the cache's `version`
   * @throws {@link InvalidCacheKeyError}
   */
  makeKey(key: string, version?: number): string {
    // Hot keys at the default version skip building and validating the key again: this is a
    // third of a MemoryCache hit. Only the built-in key function is pure enough to memoize.
    if (version === undefined || version === this.version) {
      const memo = this.madeKeys?.get(key)
      if (memo !== undefined) return memo
    }
    const made = this.buildKey(key, version)
    if (this.madeKeys !== undefined && (version === undefined || version === this.version)) {
      if (this.madeKeys.size >= MADE_KEYS_LIMIT) this.madeKeys.clear()
      this.madeKeys.set(key, made)
    }
    return made
  }

  private buildKey(key: string, version: number | undefined): string {
    if (typeof key !== 'string') throw new InvalidCacheKeyError(`Expected string for key but received ${describe(key)}`)
    const v = version ?? this.version
    if (!Number.isInteger(v)) throw new InvalidOptionError(`Expected integer for version but received ${describe(v)}`)
    const made = this.keyFunction(key, this.keyPrefix, v)
    const problem = keyProblem(made)
    if (problem === undefined) return made
    if (this.hashLongKeys) {
      const hashed = this.keyFunction(sha256Hex(key), this.keyPrefix, v)
      if (keyProblem(hashed) === undefined) return hashed
    }
    throw new InvalidCacheKeyError(
      `Invalid cache key ${JSON.stringify(made.length > 80 ? `${made.slice(0, 80)}…` : made)}: ${problem}` +
        (this.hashLongKeys ? '' : '; pass hashLongKeys: true to hash such keys'),
    )
  }

  /**
   * Resolves a timeout in seconds into a {@link Ttl} in ms, or `-1` for "already expired".
   * @param timeout - `undefined` = default, `null` or `Infinity` = forever, `<= 0` = expired
   */
  protected resolveTimeout(timeout: number | null | undefined): number | null {
    const t = timeout === undefined ? this.defaultTimeout : timeout
    if (t === null) return null
    if (typeof t !== 'number' || Number.isNaN(t)) {
      throw new InvalidOptionError(`Expected number, null or undefined for timeout but received ${describe(t)}`)
    }
    if (t <= 0) return -1
    return Number.isFinite(t) ? t * 1000 : null
  }

  /**
   * Remaining time to live of an absolute expiry; unknown expiries get the default timeout and
   * already-passed ones 1 ms so a racing reader still sees them expire.
   * @param expiresAt - epoch ms, `null` = never, `undefined` = unknown
   */
  protected remainingTtl(expiresAt: number | null | undefined): Ttl {
    if (expiresAt === null) return null
    if (expiresAt === undefined) {
      const t = this.resolveTimeout(undefined)
      return t === null ? null : Math.max(1, t)
    }
    return Math.max(1, expiresAt - Date.now())
  }

  /**
   * Runs a backend call under the outage policy: on failure, `strict` caches raise
   * {@link CacheUnavailableError}; others log once per outage and return `fallback`.
   * The first success after an outage logs a recovery.
   * @param what - a short name for messages, e.g. `redis get`
   * @param op - the backend call
   * @param fallback - the result to use when the backend is down
   */
  protected async guard<T>(what: string, op: () => Promise<T>, fallback: T): Promise<T> {
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
   * The failure half of {@link guard}, for backends that chain promises themselves: rethrows
   * errors that are not outages, raises in `strict` mode, else logs once and returns `fallback`.
   */
  protected failed<T>(what: string, err: unknown, fallback: T): T {
    if (!this.isUnavailable(err)) throw err
    if (!this.outage) {
      this.outage = true
      this.logger.warn(
        `${this.constructor.name} unavailable (${what}); reads miss and writes are dropped until it recovers`,
        err,
      )
    }
    if (this.strict) {
      if (err instanceof CacheUnavailableError) throw err
      const reason = err instanceof Error ? err.message : String(err)
      throw new CacheUnavailableError(`${this.constructor.name} unavailable during ${what}: ${reason}`, { cause: err })
    }
    return fallback
  }

  /** The success half of {@link guard}: ends an outage, logging the recovery once. */
  protected recovered(): void {
    if (!this.outage) return
    this.outage = false
    this.logger.info(`${this.constructor.name} recovered`)
  }

  /**
   * Whether an error means "backend unavailable" (handled by {@link guard}) rather than a bug or
   * a bad value (rethrown). Backends with a network refine this.
   * @param err - what the backend threw
   */
  protected isUnavailable(err: unknown): boolean {
    return err instanceof CacheUnavailableError
  }

  // ---- public API --------------------------------------------------------------------------

  /**
   * Fetches a value.
   * @param key - the key
   * @param defaultValue - returned on a miss
   * @param version - key version
   */
  async get<T = unknown>(key: string, defaultValue?: T, version?: number): Promise<T | undefined> {
    const value = await this._get(this.makeKey(key, version))
    return value === undefined ? defaultValue : (value as T)
  }

  /**
   * Stores a value. A timeout of `0` or less deletes the key.
   * @param key - the key
   * @param value - data (see `serialize`)
   * @param timeout - seconds; `undefined` = default, `null` = forever
   * @param version - key version
   */
  async set(key: string, value: unknown, timeout?: number | null, version?: number): Promise<void> {
    const k = this.makeKey(key, version)
    const ttl = this.resolveTimeout(timeout)
    if (ttl !== null && ttl <= 0) await this._delete(k)
    else await this._set(k, value, ttl)
  }

  /**
   * Stores a value only if the key is absent. Atomic where the backend allows (memory, Redis,
   * file: see each backend). With an expired timeout nothing is stored and the result tells
   * whether the key was absent.
   * @returns whether the value was stored
   */
  async add(key: string, value: unknown, timeout?: number | null, version?: number): Promise<boolean> {
    const k = this.makeKey(key, version)
    const ttl = this.resolveTimeout(timeout)
    if (ttl !== null && ttl <= 0) return !(await this._has(k))
    return this._add(k, value, ttl)
  }

  /** Deletes a key. @returns whether it existed */
  async delete(key: string, version?: number): Promise<boolean> {
    return this._delete(this.makeKey(key, version))
  }

  /**
   * Deletes the key only if it holds `expected` (compared by serialized bytes). Atomic on
   * memory and Redis (Lua); used to release locks owned by a token.
   * @returns whether it was deleted
   */
  async deleteIfEquals(key: string, expected: unknown, version?: number): Promise<boolean> {
    return this._deleteIfEquals(this.makeKey(key, version), expected)
  }

  /**
   * Gives a live key a new timeout. An expired timeout deletes it.
   * @returns whether the key exists
   */
  async touch(key: string, timeout?: number | null, version?: number): Promise<boolean> {
    const k = this.makeKey(key, version)
    const ttl = this.resolveTimeout(timeout)
    if (ttl !== null && ttl <= 0) return this._delete(k)
    return this._touch(k, ttl)
  }

  /** Whether a live value exists for the key. */
  async has(key: string, version?: number): Promise<boolean> {
    return this._has(this.makeKey(key, version))
  }

  /**
   * Fetches many keys in one round trip where the backend allows.
   * @returns hits only, keyed by the caller's keys
   */
  async getMany(keys: string[], version?: number): Promise<Map<string, unknown>> {
    const made = keys.map((k) => this.makeKey(k, version))
    const found = await this._getMany(made)
    const out = new Map<string, unknown>()
    keys.forEach((k, i) => {
      const v = found.get(made[i])
      if (v !== undefined) out.set(k, v)
    })
    return out
  }

  /**
   * Stores many values.
   * @returns the caller's keys that could not be stored
   */
  async setMany(
    entries: Record<string, unknown> | Map<string, unknown>,
    timeout?: number | null,
    version?: number,
  ): Promise<string[]> {
    const list = entries instanceof Map ? [...entries] : Object.entries(entries)
    const made = list.map(([k, v]): [string, unknown] => [this.makeKey(k, version), v])
    const ttl = this.resolveTimeout(timeout)
    if (ttl !== null && ttl <= 0) {
      await this._deleteMany(made.map(([k]) => k))
      return []
    }
    const failed = new Set(await this._setMany(made, ttl))
    return list.filter((_, i) => failed.has(made[i][0])).map(([k]) => k)
  }

  /** Deletes many keys. */
  async deleteMany(keys: string[], version?: number): Promise<void> {
    await this._deleteMany(keys.map((k) => this.makeKey(k, version)))
  }

  /**
   * Adds `delta` to a stored number and returns the result, keeping the key's expiry.
   * @throws {@link CacheKeyNotFoundError} when the key is missing; {@link CacheValueError} when
   * the value is not a number
   */
  async incr(key: string, delta = 1, version?: number): Promise<number> {
    if (typeof delta !== 'number' || !Number.isSafeInteger(delta)) {
      throw new InvalidOptionError(`Expected integer for delta but received ${describe(delta)}`)
    }
    return this._incr(this.makeKey(key, version), delta)
  }

  /** Subtracts `delta`; see {@link incr}. */
  async decr(key: string, delta = 1, version?: number): Promise<number> {
    return this.incr(key, -delta, version)
  }

  /**
   * Returns the cached value, or computes it (`valueOrFn` may be a value or a possibly async
   * function), `add`s it and reads again so concurrent callers agree on the winner's value.
   * Like Django, there is no stampede protection: use `cacheMemoize` or a lock for that.
   */
  async getOrSet<T>(
    key: string,
    valueOrFn: T | (() => T | Promise<T>),
    timeout?: number | null,
    version?: number,
  ): Promise<T> {
    const hit = await this.get<T>(key, undefined, version)
    if (hit !== undefined) return hit
    const value = typeof valueOrFn === 'function' ? await (valueOrFn as () => T | Promise<T>)() : valueOrFn
    if (value === undefined) return value
    await this.add(key, value, timeout, version)
    const winner = await this.get<T>(key, undefined, version)
    return winner === undefined ? value : winner
  }

  /**
   * Moves a key to `version + delta`, keeping its expiry where known.
   * @returns the new version
   * @throws {@link CacheKeyNotFoundError}
   */
  async incrVersion(key: string, delta = 1, version?: number): Promise<number> {
    const v = version ?? this.version
    const from = this.makeKey(key, v)
    const entry = await this._getEntry(from)
    if (entry === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found at version ${v}`)
    const next = v + delta
    // Moving to the same version would delete the value it just wrote.
    if (next === v) return v
    await this._set(this.makeKey(key, next), entry.value, this.remainingTtl(entry.expiresAt))
    await this._delete(from)
    return next
  }

  /** Moves a key to `version - delta`; see {@link incrVersion}. */
  async decrVersion(key: string, delta = 1, version?: number): Promise<number> {
    return this.incrVersion(key, -delta, version)
  }

  /** Removes everything this cache stores. */
  async clear(): Promise<void> {
    await this._clear()
  }

  /** Releases connections; the cache should not be used afterwards (Django calls this per request). */
  async close(): Promise<void> {
    await this._close()
  }
}

function keyProblem(key: string): string | undefined {
  // Cheap length check first; only count UTF-8 bytes when the key could be over.
  if (key.length > MAX_KEY_LENGTH || (key.length * 3 > MAX_KEY_LENGTH && Buffer.byteLength(key) > MAX_KEY_LENGTH)) {
    return `it is ${Buffer.byteLength(key)} bytes long, over the limit of ${MAX_KEY_LENGTH}`
  }
  if (BAD_KEY_CHARS.test(key)) return 'it contains a control character or space'
  return undefined
}
