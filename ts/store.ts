/**
 * The one in-process store: a `Map` with a time to live per entry, least-recently-used order and
 * Django's cull (`django/core/cache/backends/locmem.py` and `filebased.py` `_cull`). `MemoryCache`
 * keeps its values here, and so does `ThumbnailCache`'s in-process record store; any other
 * bounded in-memory map (a hot-file cache, a folder memory) should use it rather than grow its
 * own LRU.
 *
 * How it stays fast:
 * - recency is a counter stamped on each use instead of re-inserting keys to keep the Map in LRU
 *   order, so a hit is one hash lookup; sorting happens only when culling, which runs once every
 *   `maxEntries / cullFrequency` inserts;
 * - overwriting a key rewrites its entry in place (no allocation, no second Map write);
 * - `Date.now()` is read at most once per 256 calls and per millisecond (like lru-cache's
 *   `ttlResolution`), so expiry checks are nearly free yet never stale by a whole millisecond.
 *
 * With a weight budget (`maxWeight` + `weigh`, e.g. bytes of bodies) the store instead keeps the
 * Map itself in use order (a hit moves its key to the end), so evicting the least recently used
 * entries until the total fits takes them from the front: O(1) amortised per entry, no scan.
 *
 * @example
 * ```ts
 * const hot = new LruStore<Buffer>({ maxEntries: 500, cullFrequency: 4 })
 * hot.set('/a.jpg', bytes, 60_000)  // ms; null = never expires
 * hot.get('/a.jpg')                 // the bytes, and '/a.jpg' is now the most recently used
 *
 * const bodies = new LruStore<Buffer>({ maxWeight: 64 << 20, weigh: (b) => b.length })
 * ```
 * @module
 */
import { integer, invalidOption } from './validate.js'

/** One stored value. Entries are rewritten in place when their key is set again. */
export interface StoreEntry<V> {
  /** The value (`undefined` once the entry is removed from its store). */
  value: V
  /** Absolute expiry in epoch ms; `Infinity` = never. */
  expiresAt: number
  /** Last use on the process-wide use counter; culling drops the smallest. */
  tick: number
  /** A small integer left to the owner (MemoryCache records how the value is held). */
  tag: number
  /** What `weigh` said of the value (0 without a weight budget). */
  weight: number
}

/** Options of {@link LruStore}. */
export interface LruStoreOptions<V> {
  /**
   * Entries kept before a cull.
   * @default 300 (Django's MAX_ENTRIES)
   */
  maxEntries?: number
  /**
   * When full, expired entries and then the least recently used `size / cullFrequency` (at
   * least one) are dropped; `0` clears everything (Django's CULL_FREQUENCY). Use `maxEntries`
   * to evict exactly one entry at a time.
   * @default 3
   */
  cullFrequency?: number
  /**
   * Entries of another store to share, with this store's own bounds (Django's locmem shares one
   * dict per LOCATION between cache instances). Default: a new Map.
   */
  entries?: Map<string, StoreEntry<V>>
  /**
   * Total weight of the entries kept: setting an entry evicts the least recently used ones until
   * the total fits, and a value heavier than the whole budget is not stored. Needs `weigh`, and
   * cannot be combined with shared `entries` (the total is this store's own).
   * @default Infinity (no weight budget)
   */
  maxWeight?: number
  /** The weight of a value (a non-negative number, e.g. its bytes), read once when it is set. */
  weigh?: (value: V) => number
}

/** Defaults of {@link LruStoreOptions}. */
export const LRU_STORE_DEFAULTS = Object.freeze({ maxEntries: 300, cullFrequency: 3 })

let uses = 0

let lastNow = 0
let nowUses = 0
let nowTimer = false
function expireNow(): void {
  nowUses = 0
  nowTimer = false
}
/** `Date.now()`, re-read every 256 calls or when a 1 ms timer says the last reading is stale. */
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

/**
 * Marks a removed entry: it reads as expired to whoever still holds it ({@link LruStore.reuse}),
 * and lets go of its value so a remembered reference keeps no garbage alive.
 */
function forget(e: StoreEntry<unknown>): void {
  e.expiresAt = -Infinity
  e.value = undefined
}

/**
 * A bounded Map of entries with expiry and LRU culling. Times to live are in milliseconds,
 * `null` for "never". Synchronous and not shared across processes.
 */
export class LruStore<V> {
  /** Entries kept before culling. */
  readonly maxEntries: number
  /** Culling divisor (0 = clear all). */
  readonly cullFrequency: number
  /** The entries by key, possibly shared with other stores. Prefer the methods. */
  readonly entries: Map<string, StoreEntry<V>>
  /** Total weight allowed (`Infinity` = no weight budget). */
  readonly maxWeight: number
  private readonly weigh: ((value: V) => number) | undefined
  /** Whether the Map is kept in use order (with a weight budget). */
  private readonly ordered: boolean
  private total = 0

  /** @param options - see {@link LruStoreOptions} */
  constructor(options: LruStoreOptions<V> = {}) {
    this.maxEntries = integer('maxEntries', options.maxEntries ?? LRU_STORE_DEFAULTS.maxEntries, { min: 1 })
    this.cullFrequency = integer('cullFrequency', options.cullFrequency ?? LRU_STORE_DEFAULTS.cullFrequency)
    this.entries = options.entries ?? new Map()
    const maxWeight = options.maxWeight ?? Infinity
    this.ordered = maxWeight !== Infinity
    if (this.ordered) {
      this.maxWeight = integer('maxWeight', maxWeight)
      if (typeof options.weigh !== 'function') throw invalidOption('weigh', 'function (maxWeight is set)', options.weigh)
      if (options.entries !== undefined) throw invalidOption('entries', 'undefined (maxWeight is set)', options.entries)
      this.weigh = options.weigh
    } else {
      this.maxWeight = Infinity
      this.weigh = undefined
    }
  }

  /** Number of entries, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size
  }

  /** Total weight of the entries (0 without a weight budget). */
  get weight(): number {
    return this.total
  }

  /** The live entry for `key` without marking it used; drops it when expired. */
  peek(key: string): StoreEntry<V> | undefined {
    const e = this.entries.get(key)
    if (e === undefined || e.expiresAt > now()) return e
    this.drop(key, e)
    return undefined
  }

  /** The live entry for `key`, marked as the most recently used. */
  hit(key: string): StoreEntry<V> | undefined {
    const e = this.peek(key)
    if (e === undefined) return undefined
    e.tick = ++uses
    if (this.ordered) {
      this.entries.delete(key)
      this.entries.set(key, e)
    }
    return e
  }

  /**
   * Marks an entry looked up earlier as the most recently used, if it is still live (stored and
   * unexpired): a caller that remembers entries saves the lookup. Removed entries read as expired.
   * Always `false` with a weight budget (a use there moves the key, which needs the lookup).
   */
  reuse(e: StoreEntry<V>): boolean {
    if (this.ordered || e.expiresAt <= now()) return false
    e.tick = ++uses
    return true
  }

  /** The live value for `key` (marked as used), or `undefined`. */
  get(key: string): V | undefined {
    return this.hit(key)?.value
  }

  /** Whether `key` holds a live entry (does not count as a use). */
  has(key: string): boolean {
    return this.peek(key) !== undefined
  }

  /**
   * Stores `value` under `key` as the most recently used entry, culling first when the store is
   * full and the key is new. With a weight budget, the least recently used entries are evicted
   * until the total fits; a value heavier than the whole budget is not stored (and `key` is
   * forgotten).
   * @param ttl - milliseconds to live, `null` = never expires
   * @param tag - owner data kept with the entry
   * @returns the entry, `undefined` when it was too heavy to store
   */
  set(key: string, value: V, ttl: number | null, tag = 0): StoreEntry<V> | undefined {
    const expiresAt = ttl === null ? Infinity : now() + ttl
    if (this.ordered) return this.setWeighed(key, value, expiresAt, tag)
    const old = this.entries.get(key)
    if (old !== undefined) {
      old.value = value
      old.expiresAt = expiresAt
      old.tag = tag
      old.tick = ++uses
      return old
    }
    if (this.entries.size >= this.maxEntries) this.cull()
    const e: StoreEntry<V> = { value, expiresAt, tick: ++uses, tag, weight: 0 }
    this.entries.set(key, e)
    return e
  }

  /** {@link set} under a weight budget: the entry goes to the end of the use order. */
  private setWeighed(key: string, value: V, expiresAt: number, tag: number): StoreEntry<V> | undefined {
    const weight = this.weigh!(value)
    if (!(weight >= 0)) throw invalidOption('weigh(value)', 'non-negative number', weight)
    const map = this.entries
    const old = map.get(key)
    if (old !== undefined) this.drop(key, old)
    if (weight > this.maxWeight) return undefined
    if (map.size >= this.maxEntries) this.cull()
    for (const [k, e] of map) {
      if (this.total + weight <= this.maxWeight) break
      this.drop(k, e)
    }
    const e: StoreEntry<V> = { value, expiresAt, tick: ++uses, tag, weight }
    map.set(key, e)
    this.total += weight
    return e
  }

  /** Stores only when `key` has no live entry; `true` when stored. */
  add(key: string, value: V, ttl: number | null, tag = 0): boolean {
    if (this.peek(key) !== undefined) return false
    this.set(key, value, ttl, tag)
    return true
  }

  /** Gives a live entry a new time to live (ms, `null` = never); `true` when it exists. */
  touch(key: string, ttl: number | null): boolean {
    const e = this.peek(key)
    if (e === undefined) return false
    e.expiresAt = ttl === null ? Infinity : now() + ttl
    return true
  }

  /** Removes `key`; `true` when it held a live entry. */
  delete(key: string): boolean {
    const e = this.peek(key)
    return e !== undefined && this.drop(key, e)
  }

  /** Removes every entry (of every store sharing these entries). */
  clear(): void {
    for (const e of this.entries.values()) forget(e)
    this.entries.clear()
    this.total = 0
  }

  /** Removes an entry known to be stored under `key`, and its weight. */
  private drop(key: string, e: StoreEntry<V>): boolean {
    forget(e)
    this.total -= e.weight
    return this.entries.delete(key)
  }

  /**
   * Django's cull: expired entries first, then the least recently used `size / cullFrequency`.
   * With a weight budget the Map is in use order, so those are its first entries, dropped without
   * a scan for expired ones (those leave when looked up or when they reach the front).
   */
  private cull(): void {
    const map = this.entries
    if (this.cullFrequency === 0) return this.clear()
    let n = Math.max(1, Math.floor(map.size / this.cullFrequency))
    if (this.ordered) {
      for (const [k, e] of map) {
        if (n-- === 0) break
        this.drop(k, e)
      }
      return
    }
    const t = now()
    for (const [k, e] of map) if (e.expiresAt <= t) this.drop(k, e)
    if (map.size < this.maxEntries) return
    n = Math.max(1, Math.floor(map.size / this.cullFrequency))
    if (n === 1) {
      // Evicting one entry (a strict LRU) needs a scan, not a sort.
      let oldest: [string, StoreEntry<V>] | undefined
      for (const kv of map) if (oldest === undefined || kv[1].tick < oldest[1].tick) oldest = kv
      if (oldest !== undefined) this.drop(oldest[0], oldest[1])
      return
    }
    const byAge = [...map].sort((a, b) => a[1].tick - b[1].tick)
    for (let i = 0; i < n; i++) this.drop(byAge[i][0], byAge[i][1])
  }
}
