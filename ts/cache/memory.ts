/**
 * `MemoryCache`: a bounded in-process LRU (Django's locmem).
 * @module
 */
import { InvalidOptionError } from '../errors.js'
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
export const MEMORY_CACHE_DEFAULTS = Object.freeze({ location: '', maxEntries: 300, cullFrequency: 3, copyBuffers: false })

// How a value is held: immutable primitives as-is, Buffers as a private copy, the rest serialized
// so callers can never mutate what another caller will read.
const RAW = 0
const BYTES = 1
const PACKED = 2
const COPIED = 3

interface Slot {
  kind: typeof RAW | typeof BYTES | typeof PACKED | typeof COPIED
  value: unknown
  /** Epoch ms; Infinity = never. */
  expiresAt: number
  /** Last use on the process-wide clock; culling drops the smallest. */
  tick: number
  /** Set once the slot left the store (deleted, replaced, expired, culled): `hot` refs are stale. */
  gone: boolean
}

/** Removes a key, marking its slot stale for every instance's `hot` map. */
function drop(store: Map<string, Slot>, key: string): boolean {
  const slot = store.get(key)
  if (slot === undefined) return false
  retire(slot)
  return store.delete(key)
}

function retire(slot: Slot): void {
  slot.gone = true
  // Stale `hot` refs must not pin a large value.
  slot.value = undefined
}

// Bound of the per-instance `hot` map; cleared wholesale when full, like BaseCache's key memo.
const HOT_LIMIT = 10_000

/** Process-global stores by location, as Django's `_caches`. */
const STORES = new Map<string, Map<string, Slot>>()

// Settled promises are immutable, so one of each can be handed to every caller.
const RESOLVED: Promise<void> = Promise.resolve()
const TRUE: Promise<boolean> = Promise.resolve(true)
const FALSE: Promise<boolean> = Promise.resolve(false)

// Recency is a counter stamped on each use instead of re-inserting keys to keep the Map in LRU
// order: a hit then costs one hash lookup, and the sort happens only when culling, which runs
// once every `maxEntries / cullFrequency` inserts.
let clock = 0

// Date.now() is a third of a hit on some VMs. Like lru-cache's `ttlResolution`, reuse the last
// reading until a 1 ms timer says it is stale, and at most 256 times so a loop that never yields
// to the event loop still sees time move (staleness stays well under a millisecond).
let lastNow = 0
let nowUses = 0
let nowTimer = false
function expireNow(): void {
  nowUses = 0
  nowTimer = false
}
function now(): number {
  if (nowUses-- > 0) return lastNow
  lastNow = Date.now()
  nowUses = 255
  if (!nowTimer) {
    nowTimer = true
    setTimeout(expireNow, 1).unref()
  }
  return lastNow
}

function pack(value: unknown, expiresAt: number, copyBuffers: boolean): Slot {
  return fill({ kind: RAW, value: undefined, expiresAt, tick: 0, gone: false }, value, expiresAt, copyBuffers)
}

/** Writes a value into a slot; throws (leaving the slot untouched) when it cannot be serialized. */
function fill(slot: Slot, value: unknown, expiresAt: number, copyBuffers: boolean): Slot {
  let kind: Slot['kind'] = RAW
  let held = value
  if (isImmutable(value)) kind = RAW
  else if (Buffer.isBuffer(value)) {
    kind = copyBuffers ? COPIED : BYTES
    if (copyBuffers) held = Buffer.from(value)
  } else {
    kind = PACKED
    held = serialize(value)
  }
  slot.kind = kind
  slot.value = held
  slot.expiresAt = expiresAt
  slot.tick = ++clock
  return slot
}

function unpack(slot: Slot): unknown {
  if (slot.kind === RAW || slot.kind === BYTES) return slot.value
  if (slot.kind === COPIED) return Buffer.from(slot.value as Buffer)
  return deserialize(slot.value as Buffer)
}

function asBytes(slot: Slot): Buffer {
  return slot.kind === PACKED ? (slot.value as Buffer) : serialize(slot.value)
}

function positiveInt(name: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new InvalidOptionError(
      `Expected ${allowZero ? 'non-negative' : 'positive'} integer for ${name} but received ${String(value)} of type ${typeof value}`,
    )
  }
  return value
}

/**
 * In-process LRU cache. Objects are stored serialized, so a caller mutating an object it got from
 * the cache never changes what others read; immutable primitives are kept as-is and Buffers by
 * reference unless `copyBuffers` is set.
 *
 * Besides the async API every cache has, `getSync`/`setSync`/`hasSync`/`deleteSync` serve
 * in-process callers without a promise per call (what Django's locmem is): same keys,
 * validation, timeouts, LRU order, culling and shared `location` store as the async methods.
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
  private readonly store: Map<string, Slot>
  /**
   * Caller's key → slot at the default version (default key function only): lets a repeated
   * `get` skip making the key and the shared-store lookup. Entries go stale via `Slot.gone`.
   */
  private readonly hot = new Map<string, Slot>()
  /** The default timeout resolved once (a `set` without timeout skips re-validating it). */
  private readonly defaultTtl: number | null

  /** @param options - see {@link MemoryCacheOptions} */
  constructor(options: MemoryCacheOptions = {}) {
    super(options)
    this.location = options.location ?? MEMORY_CACHE_DEFAULTS.location
    this.maxEntries = positiveInt('maxEntries', options.maxEntries ?? MEMORY_CACHE_DEFAULTS.maxEntries)
    this.cullFrequency = positiveInt('cullFrequency', options.cullFrequency ?? MEMORY_CACHE_DEFAULTS.cullFrequency, true)
    this.copyBuffers = options.copyBuffers ?? MEMORY_CACHE_DEFAULTS.copyBuffers
    let store = STORES.get(this.location)
    if (!store) STORES.set(this.location, (store = new Map()))
    this.store = store
    this.defaultTtl = this.resolveTimeout(undefined)
  }

  /** The live slot for a key, dropping it when expired. */
  private live(key: string): Slot | undefined {
    const slot = this.store.get(key)
    if (slot === undefined) return undefined
    if (slot.expiresAt <= now()) {
      drop(this.store, key)
      return undefined
    }
    return slot
  }

  private put(key: string, slot: Slot): void {
    const store = this.store
    const old = store.get(key)
    if (old !== undefined) retire(old)
    else if (store.size >= this.maxEntries) this.cull()
    store.set(key, slot)
  }

  /** Django's cull: expired entries first, then the least recently used `size / cullFrequency`. */
  private cull(): void {
    const store = this.store
    if (this.cullFrequency === 0) return this.clearStore()
    const t = now()
    for (const [key, slot] of store) if (slot.expiresAt <= t) drop(store, key)
    if (store.size < this.maxEntries) return
    const n = Math.max(1, Math.floor(store.size / this.cullFrequency))
    const byAge = [...store].sort((a, b) => a[1].tick - b[1].tick)
    for (let i = 0; i < n; i++) drop(store, byAge[i][0])
  }

  // ---- synchronous fast path ---------------------------------------------------------------
  // Django's locmem is synchronous; in-process callers that do not need the async API can skip
  // the promise, which is most of the cost of a hit. Same policy as the async methods: key
  // making and validation, timeouts, LRU stamping, culling and the shared `location` store.

  /**
   * Fetches a value synchronously (same semantics as {@link MemoryCache.get}).
   * @param key - the key
   * @param defaultValue - returned on a miss
   * @param version - key version
   * @throws {@link InvalidCacheKeyError} / `InvalidOptionError` for bad keys or versions
   */
  getSync<T = unknown>(key: string, defaultValue?: T, version?: number): T | undefined {
    // A hot hit is one Map lookup by the caller's key, like lru-cache: no key making, no lookup
    // in the shared store. Slots are never mutated into another key's value, only retired.
    let slot = version === undefined ? this.hot.get(key) : undefined
    if (slot === undefined || slot.gone) {
      const k = this.makeKey(key, version)
      slot = this.store.get(k)
      if (slot === undefined) return defaultValue
      if (version === undefined && this.madeKeys !== undefined) {
        if (this.hot.size >= HOT_LIMIT) this.hot.clear()
        this.hot.set(key, slot)
      }
    }
    if (slot.expiresAt <= now()) {
      drop(this.store, this.makeKey(key, version))
      return defaultValue
    }
    slot.tick = ++clock
    // Inlined unpack for the common kinds: a hit is a handful of operations.
    return (slot.kind === RAW || slot.kind === BYTES ? slot.value : unpack(slot)) as T
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
    const ttl = timeout === undefined ? this.defaultTtl : this.resolveTimeout(timeout)
    if (version === undefined && (ttl === null || ttl > 0)) {
      // Overwriting a hot key rewrites its live slot in place: no key making, no store lookup.
      const slot = this.hot.get(key)
      if (slot !== undefined && !slot.gone) {
        fill(slot, value, ttl === null ? Infinity : now() + ttl, this.copyBuffers)
        return
      }
    }
    const k = this.makeKey(key, version)
    if (ttl !== null && ttl <= 0) drop(this.store, k)
    else this.put(k, pack(value, ttl === null ? Infinity : now() + ttl, this.copyBuffers))
  }

  /**
   * Whether a live value exists, synchronously (same semantics as {@link MemoryCache.has}).
   * @param key - the key
   * @param version - key version
   */
  hasSync(key: string, version?: number): boolean {
    return this.live(this.makeKey(key, version)) !== undefined
  }

  /**
   * Deletes a key synchronously (same semantics as {@link MemoryCache.delete}).
   * @param key - the key
   * @param version - key version
   * @returns whether a live value existed
   */
  deleteSync(key: string, version?: number): boolean {
    const k = this.makeKey(key, version)
    return this.live(k) !== undefined && drop(this.store, k)
  }

  // ---- async API -----------------------------------------------------------------------------
  // get/set/has/delete are plain methods over the sync path returning settled promises: an
  // `async` function would add a second promise and a microtask per call (the benchmark holds
  // this cache to 0.8x lru-cache behind the same async wrapper). Errors still surface as
  // rejections, never as synchronous throws.

  /**
   * Fetches a value (see {@link BaseCache.get}).
   * @param key - the key
   * @param defaultValue - returned on a miss
   * @param version - key version
   */
  override get<T = unknown>(key: string, defaultValue?: T, version?: number): Promise<T | undefined> {
    try {
      return Promise.resolve(this.getSync(key, defaultValue, version))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Stores a value (see {@link BaseCache.set}).
   * @param key - the key
   * @param value - data
   * @param timeout - seconds; `undefined` = default, `null` = forever, `<= 0` deletes
   * @param version - key version
   */
  override set(key: string, value: unknown, timeout?: number | null, version?: number): Promise<void> {
    try {
      this.setSync(key, value, timeout, version)
      return RESOLVED
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Whether a live value exists (see {@link BaseCache.has}). */
  override has(key: string, version?: number): Promise<boolean> {
    try {
      return this.hasSync(key, version) ? TRUE : FALSE
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Deletes a key (see {@link BaseCache.delete}). @returns whether it existed */
  override delete(key: string, version?: number): Promise<boolean> {
    try {
      return this.deleteSync(key, version) ? TRUE : FALSE
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** A live slot, stamped as most recently used. */
  private hit(key: string): Slot | undefined {
    const slot = this.live(key)
    if (slot !== undefined) slot.tick = ++clock
    return slot
  }

  /** @internal */
  override async _get(key: string): Promise<unknown> {
    const slot = this.hit(key)
    return slot === undefined ? undefined : unpack(slot)
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const slot = this.live(key)
    if (slot === undefined) return undefined
    return { value: unpack(slot), expiresAt: slot.expiresAt === Infinity ? null : slot.expiresAt }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    return this.live(key) !== undefined
  }

  /** @internal */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    this.put(key, pack(value, ttl === null ? Infinity : now() + ttl, this.copyBuffers))
  }

  /** @internal Atomic: nothing awaits between the check and the write. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    if (this.live(key) !== undefined) return false
    this.put(key, pack(value, ttl === null ? Infinity : now() + ttl, this.copyBuffers))
    return true
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    return this.live(key) !== undefined && drop(this.store, key)
  }

  /** @internal */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const slot = this.live(key)
    if (slot === undefined) return false
    slot.expiresAt = ttl === null ? Infinity : now() + ttl
    return true
  }

  /** @internal Atomic, keeps the expiry. */
  override async _incr(key: string, delta: number): Promise<number> {
    const slot = this.live(key)
    if (slot === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    if (slot.kind !== RAW || typeof slot.value !== 'number') {
      throw new CacheValueError(`Cannot increment key '${key}': its value is not a number`)
    }
    slot.value = slot.value + delta
    return slot.value as number
  }

  /** @internal Atomic compare-and-delete. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const slot = this.live(key)
    if (slot === undefined) return false
    const equal =
      slot.kind === RAW && isImmutable(expected) ? Object.is(slot.value, expected) : asBytes(slot).equals(serialize(expected))
    return equal && drop(this.store, key)
  }

  /** @internal */
  override async _clear(): Promise<void> {
    this.clearStore()
  }

  private clearStore(): void {
    for (const slot of this.store.values()) retire(slot)
    this.store.clear()
  }
}
