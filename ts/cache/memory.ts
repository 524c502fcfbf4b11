/**
 * `MemoryCache`: a bounded in-process LRU (Django's locmem) over the shared {@link LruStore}.
 * @module
 */
import { LruStore, type StoreEntry } from '../store.js'
import { bool, integer, mergeDefaults, string } from '../validate.js'
import type { MadeKey } from './backend.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { CacheKeyNotFoundError, CacheValueError } from './errors.js'
import type { BaseCacheOptions } from './options.js'
import { deserialize, isImmutable, serialize } from './serialize.js'

/** Options of {@link MemoryCache}. */
export interface MemoryCacheOptions extends BaseCacheOptions {
  /**
   * Namespace: instances with the same `location` share one store in this process.
   * @default ''
   */
  location?: string
  /**
   * Entries kept before culling.
   * @default 300
   */
  maxEntries?: number
  /**
   * When full, `1/cullFrequency` of the entries (the least recently used) are dropped; `0`
   * clears everything.
   * @default 3
   */
  cullFrequency?: number
  /**
   * Copy Buffers on the way in and out. Off by default: Buffers (thumbnails) are stored and
   * returned by reference, like lru-cache does, so do not mutate a Buffer after `set` or one you
   * got from `get`. Other objects are always stored serialized, hence copied.
   * @default false
   */
  copyBuffers?: boolean
}

/** Defaults of {@link MemoryCacheOptions} specific to this backend. */
export const MEMORY_CACHE_DEFAULTS: Readonly<Required<Pick<MemoryCacheOptions, 'location' | 'maxEntries' | 'cullFrequency' | 'copyBuffers'>>> = Object.freeze({ location: '', maxEntries: 300, cullFrequency: 3, copyBuffers: false })

// How a value is held (the entry's tag): immutable primitives and shared Buffers as-is, copied
// Buffers as a private copy, the rest serialized so callers can never mutate what another caller
// will read.
const RAW = 0
const PACKED = 1
const COPIED = 2

/** Process-global entries by location, as Django's `_caches`; each instance keeps its own bounds. */
const STORES = new Map<string, Map<string, StoreEntry<unknown>>>()

function unpack(e: StoreEntry<unknown>): unknown {
  if (e.tag === RAW) return e.value
  if (e.tag === COPIED) return Buffer.from(e.value as Buffer)
  return deserialize(e.value as Buffer)
}

/**
 * In-process LRU cache. Objects are stored serialized, so a caller mutating an object it got from
 * the cache never changes what others read; immutable primitives are kept as-is and Buffers by
 * reference unless `copyBuffers` is set.
 *
 * Besides the async API every cache has, `getSync`/`setSync`/`hasSync`/`deleteSync` serve
 * in-process callers without a promise per call (what Django's locmem is), under the same
 * `BaseCache` policy: keys, validation, timeouts, LRU order, culling and the shared store.
 *
 * @example
 * ```ts
 * const cache = new MemoryCache({ location: 'thumbs', maxEntries: 1000, timeout: 300 })
 * cache.setSync('a.jpg@200', jpegBytes)
 * const hit = cache.getSync<Buffer>('a.jpg@200') // same entry as `await cache.get('a.jpg@200')`
 * ```
 */
export class MemoryCache extends BaseCache {
  /** The namespace shared by instances with the same name. */
  readonly location: string
  /** Entries kept before culling. */
  readonly maxEntries: number
  /** Culling divisor (0 = clear all). */
  readonly cullFrequency: number
  /** Whether Buffers are copied in and out. */
  readonly copyBuffers: boolean
  private readonly store: LruStore<unknown>

  /** @param options - see {@link MemoryCacheOptions} */
  constructor(options: MemoryCacheOptions = {}) {
    super(options)
    const o = mergeDefaults(MEMORY_CACHE_DEFAULTS, options)
    this.location = string('location', o.location)
    this.maxEntries = integer('maxEntries', o.maxEntries, { min: 1 })
    this.cullFrequency = integer('cullFrequency', o.cullFrequency)
    this.copyBuffers = bool('copyBuffers', o.copyBuffers)
    let entries = STORES.get(this.location)
    if (!entries) STORES.set(this.location, (entries = new Map()))
    this.store = new LruStore({ maxEntries: this.maxEntries, cullFrequency: this.cullFrequency, entries })
  }

  /** Stores a value in its held form; throws (storing nothing) when it cannot be serialized. */
  private put(key: string, value: unknown, ttl: Ttl): void {
    if (isImmutable(value)) this.store.set(key, value, ttl, RAW)
    else if (Buffer.isBuffer(value)) {
      if (this.copyBuffers) this.store.set(key, Buffer.from(value), ttl, COPIED)
      else this.store.set(key, value, ttl, RAW)
    } else this.store.set(key, serialize(value), ttl, PACKED)
  }

  // ---- synchronous API: BaseCache's policy over the synchronous primitives ------------------

  /**
   * Fetches a value synchronously (same semantics as {@link MemoryCache.get}).
   * @param key - the key
   * @param defaultValue - returned on a miss
   * @param version - key version
   * @throws {@link InvalidCacheKeyError} / `InvalidOptionError` for bad keys or versions
   */
  getSync<T = unknown>(key: string, defaultValue?: T, version?: number): T | undefined {
    return this.getNow(key, defaultValue, version)
  }

  /**
   * Stores a value synchronously (same semantics as {@link MemoryCache.set}).
   * @param key - the key
   * @param value - data
   * @param timeout - seconds; `undefined` = default, `null` = forever, `<= 0` deletes
   * @param version - key version
   * @throws `CacheSerializationError` for values that are not data; `InvalidOptionError` for bad
   * timeouts
   */
  setSync(key: string, value: unknown, timeout?: number | null, version?: number): void {
    this.setNow(key, value, timeout, version)
  }

  /**
   * Whether a live value exists, synchronously (same semantics as {@link MemoryCache.has}).
   * @param key - the key
   * @param version - key version
   */
  hasSync(key: string, version?: number): boolean {
    return this.hasNow(key, version)
  }

  /**
   * Deletes a key synchronously (same semantics as {@link MemoryCache.delete}).
   * @param key - the key
   * @param version - key version
   * @returns whether a live value existed
   */
  deleteSync(key: string, version?: number): boolean {
    return this.deleteNow(key, version)
  }

  // ---- primitives --------------------------------------------------------------------------

  /** @internal */
  override _getSync(key: string, made?: MadeKey): unknown {
    // The entry remembered in the key's slot saves the store lookup while it is live.
    let e = made?.hint as StoreEntry<unknown> | undefined
    if (e === undefined || !this.store.reuse(e)) {
      e = this.store.hit(key)
      if (e === undefined) return undefined
      if (made !== undefined) made.hint = e
    }
    // Inlined unpack for the common kind: a hit is a handful of operations.
    return e.tag === RAW ? e.value : unpack(e)
  }

  /** @internal */
  override _setSync(key: string, value: unknown, ttl: Ttl): void {
    this.put(key, value, ttl)
  }

  /** @internal */
  override _hasSync(key: string): boolean {
    return this.store.has(key)
  }

  /** @internal */
  override _deleteSync(key: string): boolean {
    return this.store.delete(key)
  }

  /** @internal */
  override async _get(key: string): Promise<unknown> {
    return this._getSync(key)
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const e = this.store.peek(key)
    if (e === undefined) return undefined
    return { value: unpack(e), expiresAt: e.expiresAt === Infinity ? null : e.expiresAt }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    return this.store.has(key)
  }

  /** @internal */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    this.put(key, value, ttl)
  }

  /** @internal Atomic: nothing awaits between the check and the write. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    if (this.store.has(key)) return false
    this.put(key, value, ttl)
    return true
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    return this.store.delete(key)
  }

  /** @internal */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    return this.store.touch(key, ttl)
  }

  /** @internal Atomic, keeps the expiry, and counts as a use for the LRU order. */
  override async _incr(key: string, delta: number): Promise<number> {
    const e = this.store.hit(key)
    if (e === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    if (e.tag !== RAW || typeof e.value !== 'number') {
      throw new CacheValueError(`Cannot increment key '${key}': its value is not a number`)
    }
    e.value = e.value + delta
    return e.value as number
  }

  /** @internal Atomic compare-and-delete. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const e = this.store.peek(key)
    if (e === undefined) return false
    const equal =
      e.tag === RAW && isImmutable(expected)
        ? Object.is(e.value, expected)
        : (e.tag === PACKED ? (e.value as Buffer) : serialize(e.value)).equals(serialize(expected))
    return equal && this.store.delete(key)
  }

  /** @internal */
  override async _clear(): Promise<void> {
    this.store.clear()
  }
}
