/**
 * `BaseCache`: the public cache API over the primitives of {@link CacheBackend}. Together they
 * are the only place for cache policy, as Django's `BaseCache`
 * (`django/core/cache/backends/base.py`): key making, versions, timeout normalisation, the
 * outage policy, and the `*Many` operations built from primitives. Backends implement only the
 * `_primitives`, and make *those* fast; none overrides the public methods.
 * @module
 */
import { integer, invalidOption } from '../validate.js'
import { ANY_INTEGER, CacheBackend, isExpired, type Ttl } from './backend.js'
import { CacheKeyNotFoundError, CacheUnavailableError } from './errors.js'

export type { CacheEntry, MadeKey, Ttl } from './backend.js'

/** What `setMany` accepts: an object, a Map, or any iterable of `[key, value]` pairs. */
export type CacheEntries = Record<string, unknown> | Map<string, unknown> | Iterable<readonly [string, unknown]>

const RESOLVED: Promise<void> = Promise.resolve()
const noop = (): void => undefined

function keyList(keys: Iterable<string>): string[] {
  if (Array.isArray(keys)) return keys
  if (keys === null || typeof keys !== 'object' || typeof keys[Symbol.iterator] !== 'function') {
    throw invalidOption('keys', 'iterable of strings', keys)
  }
  return [...keys]
}

function entryList(entries: CacheEntries): [string, unknown][] {
  if (entries instanceof Map) return [...entries]
  if (entries === null || typeof entries !== 'object') {
    throw invalidOption('entries', 'object, Map or iterable of [key, value] pairs', entries)
  }
  if (typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function') return Object.entries(entries)
  return Array.from(entries as Iterable<readonly [string, unknown]>, (e) => {
    if (!Array.isArray(e)) throw invalidOption('entries', 'iterable of [key, value] pairs', e)
    return [e[0], e[1]]
  })
}

/**
 * Base class of every cache. All operations are async and take the caller's key plus an optional
 * version; the stored key is `keyFunction(key, keyPrefix, version)`.
 *
 * Subclasses implement the `_`-prefixed primitives of {@link CacheBackend}. In-process backends may
 * also implement the optional `_*Sync` primitives: the public methods then answer with one
 * settled promise, and the `protected` `*Now` helpers give them a synchronous API under the same
 * policy (MemoryCache's `getSync`).
 */
export abstract class BaseCache extends CacheBackend {
  /** A failure of a synchronous primitive as a settled promise, under the outage policy. */
  private rejected<T>(what: string, err: unknown, fallback: T): Promise<T> {
    try {
      return Promise.resolve(this.failed(what, err, fallback))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  // Shared settle callbacks of the hot paths, rather than fresh closures per call.
  private readonly done = (): void => {
    if (this.outage) this.recovered()
  }
  private readonly setFailed = (err: unknown): void => this.failed('set', err, undefined)
  private readonly getFailed = (err: unknown): undefined => this.failed('get', err, undefined)

  // ---- synchronous policy (for backends with `_*Sync` primitives) ----------------------------

  /** {@link get}'s policy over `_getSync`. */
  protected getNow<T>(key: string, defaultValue?: T, version?: number): T | undefined {
    const made = this.madeKey(key, version)
    const value = this._getSync!(made.key, made)
    return value === undefined ? defaultValue : (value as T)
  }

  /** {@link set}'s policy over `_setSync` / `_deleteSync`. */
  protected setNow(key: string, value: unknown, timeout?: number | null, version?: number): void {
    const k = this.makeKey(key, version)
    const ttl = this.resolveTimeout(timeout)
    if (isExpired(ttl)) this._deleteSync!(k)
    else this._setSync!(k, value, ttl)
  }

  /** {@link has}'s policy over `_hasSync`. */
  protected hasNow(key: string, version?: number): boolean {
    return this._hasSync!(this.makeKey(key, version))
  }

  /** {@link delete}'s policy over `_deleteSync`. */
  protected deleteNow(key: string, version?: number): boolean {
    return this._deleteSync!(this.makeKey(key, version))
  }

  // ---- public API --------------------------------------------------------------------------

  /**
   * Fetches a value.
   * @param key - the key
   * @param defaultValue - returned on a miss
   * @param version - key version
   */
  get<T = unknown>(key: string, defaultValue?: T, version?: number): Promise<T | undefined> {
    let k: string
    try {
      const made = this.madeKey(key, version)
      k = made.key
      if (this._getSync !== undefined) {
        const value = this._getSync(k, made)
        return Promise.resolve(value === undefined ? defaultValue : (value as T))
      }
    } catch (err) {
      return this.rejected('get', err, defaultValue)
    }
    return this._get(k).then(
      (value) => {
        if (this.outage) this.recovered()
        return value === undefined ? defaultValue : (value as T)
      },
      defaultValue === undefined ? this.getFailed : (err: unknown) => this.failed('get', err, defaultValue),
    )
  }

  /**
   * Stores a value. A timeout of `0` or less deletes the key.
   * @param key - the key
   * @param value - data (see `serialize`)
   * @param timeout - seconds; `undefined` = default, `null` = forever
   * @param version - key version
   */
  set(key: string, value: unknown, timeout?: number | null, version?: number): Promise<void> {
    let k: string
    let ttl: Ttl
    try {
      if (this._setSync !== undefined) {
        this.setNow(key, value, timeout, version)
        return RESOLVED
      }
      k = this.makeKey(key, version)
      ttl = this.resolveTimeout(timeout)
    } catch (err) {
      return this.rejected('set', err, undefined)
    }
    if (isExpired(ttl)) return this.guard('delete', () => this._delete(k), false).then(noop)
    return this._set(k, value, ttl).then(this.done, this.setFailed)
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
    if (isExpired(ttl)) return !(await this.guard('has', () => this._has(k), false))
    return this.guard('add', () => this._add(k, value, ttl), false)
  }

  /** Deletes a key. @returns whether it existed */
  delete(key: string, version?: number): Promise<boolean> {
    return this.check('delete', key, version, this._deleteSync, this._delete)
  }

  /** Whether a live value exists for the key. */
  has(key: string, version?: number): Promise<boolean> {
    return this.check('has', key, version, this._hasSync, this._has)
  }

  /** `has`/`delete`: the synchronous primitive when there is one, else the guarded async one. */
  private check(
    what: string,
    key: string,
    version: number | undefined,
    sync: ((k: string) => boolean) | undefined,
    primitive: (k: string) => Promise<boolean>,
  ): Promise<boolean> {
    let k: string
    try {
      k = this.makeKey(key, version)
      if (sync !== undefined) return Promise.resolve(sync.call(this, k))
    } catch (err) {
      return this.rejected(what, err, false)
    }
    return this.guard(what, () => primitive.call(this, k), false)
  }

  /**
   * Deletes the key only if it holds `expected` (compared by serialized bytes). Atomic on
   * memory and Redis (Lua); used to release locks owned by a token.
   * @returns whether it was deleted
   */
  async deleteIfEquals(key: string, expected: unknown, version?: number): Promise<boolean> {
    const k = this.makeKey(key, version)
    return this.guard('deleteIfEquals', () => this._deleteIfEquals(k, expected), false)
  }

  /**
   * Gives a live key a new timeout. An expired timeout deletes it.
   * @returns whether the key exists
   */
  async touch(key: string, timeout?: number | null, version?: number): Promise<boolean> {
    const k = this.makeKey(key, version)
    const ttl = this.resolveTimeout(timeout)
    if (isExpired(ttl)) return this.guard('delete', () => this._delete(k), false)
    return this.guard('touch', () => this._touch(k, ttl), false)
  }

  /**
   * Fetches many keys in one round trip where the backend allows.
   * @param keys - any iterable of keys (Array, Set, generator)
   * @returns hits only, keyed by the caller's keys
   */
  async getMany(keys: Iterable<string>, version?: number): Promise<Map<string, unknown>> {
    const list = keyList(keys)
    const made = list.map((k) => this.makeKey(k, version))
    const found = await this.guard('getMany', () => this._getMany(made), new Map<string, unknown>())
    const out = new Map<string, unknown>()
    list.forEach((k, i) => {
      const v = found.get(made[i])
      if (v !== undefined) out.set(k, v)
    })
    return out
  }

  /**
   * Stores many values.
   * @param entries - an object, a Map, or any iterable of `[key, value]` pairs
   * @returns the caller's keys that could not be stored
   */
  async setMany(entries: CacheEntries, timeout?: number | null, version?: number): Promise<string[]> {
    const list = entryList(entries)
    const made = list.map(([k, v]): [string, unknown] => [this.makeKey(k, version), v])
    const ttl = this.resolveTimeout(timeout)
    const keys = made.map(([k]) => k)
    if (isExpired(ttl)) {
      await this.guard('deleteMany', () => this._deleteMany(keys), undefined)
      return []
    }
    const failed = new Set(await this.guard('setMany', () => this._setMany(made, ttl), keys))
    return list.filter((_, i) => failed.has(made[i][0])).map(([k]) => k)
  }

  /** Deletes many keys. @param keys - any iterable of keys */
  async deleteMany(keys: Iterable<string>, version?: number): Promise<void> {
    const made = keyList(keys).map((k) => this.makeKey(k, version))
    await this.guard('deleteMany', () => this._deleteMany(made), undefined)
  }

  /**
   * Adds `delta` to a stored number and returns the result, keeping the key's expiry.
   * @throws {@link CacheKeyNotFoundError} when the key is missing; {@link CacheValueError} when
   * the value is not a number; {@link CacheUnavailableError} during an outage (strict or not:
   * there is no sensible fallback)
   */
  async incr(key: string, delta = 1, version?: number): Promise<number> {
    integer('delta', delta, ANY_INTEGER)
    const k = this.makeKey(key, version)
    let n: number
    try {
      n = await this._incr(k, delta)
    } catch (err) {
      if (!this.isUnavailable(err)) throw err
      this.failed('incr', err, undefined)
      throw new CacheUnavailableError(`Cannot increment key '${key}': ${this.constructor.name} is unavailable`, { cause: err })
    }
    this.done()
    return n
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
  async getOrSet<T>(key: string, valueOrFn: T | (() => T | Promise<T>), timeout?: number | null, version?: number): Promise<T> {
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
    const entry = await this.guard('get', () => this._getEntry(from), undefined)
    if (entry === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found at version ${v}`)
    const next = v + delta
    // Moving to the same version would delete the value it just wrote.
    if (next === v) return v
    const to = this.makeKey(key, next)
    await this.guard('set', () => this._set(to, entry.value, this.remainingTtl(entry.expiresAt)), undefined)
    await this.guard('delete', () => this._delete(from), false)
    return next
  }

  /** Moves a key to `version - delta`; see {@link incrVersion}. */
  async decrVersion(key: string, delta = 1, version?: number): Promise<number> {
    return this.incrVersion(key, -delta, version)
  }

  /** Removes everything this cache stores. */
  async clear(): Promise<void> {
    await this.guard('clear', () => this._clear(), undefined)
  }

  /** Releases connections; the cache should not be used afterwards (Django calls this per request). */
  async close(): Promise<void> {
    await this._close()
  }
}

