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
 * @example
 * ```ts
 * const hot = new LruStore<Buffer>({ maxEntries: 500, cullFrequency: 4 })
 * hot.set('/a.jpg', bytes, 60_000)  // ms; null = never expires
 * hot.get('/a.jpg')                 // the bytes, and '/a.jpg' is now the most recently used
 * ```
 * @module
 */
import { integer } from './validate.js'

/** One stored value. Entries are rewritten in place when their key is set again. */
export interface StoreEntry<V> {
  /** The value. */
  value: V
  /** Absolute expiry in epoch ms; `Infinity` = never. */
  expiresAt: number
  /** Last use on the process-wide use counter; culling drops the smallest. */
  tick: number
  /** A small integer left to the owner (MemoryCache records how the value is held). */
  tag: number
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

  /** @param options - see {@link LruStoreOptions} */
  constructor(options: LruStoreOptions<V> = {}) {
    this.maxEntries = integer('maxEntries', options.maxEntries ?? LRU_STORE_DEFAULTS.maxEntries, { min: 1 })
    this.cullFrequency = integer('cullFrequency', options.cullFrequency ?? LRU_STORE_DEFAULTS.cullFrequency)
    this.entries = options.entries ?? new Map()
  }

  /** Number of entries, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size
  }

  /** The live entry for `key` without marking it used; drops it when expired. */
  peek(key: string): StoreEntry<V> | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now()) {
      this.entries.delete(key)
      return undefined
    }
    return e
  }

  /** The live entry for `key`, marked as the most recently used (peek's body inlined: a hit is the hot path). */
  hit(key: string): StoreEntry<V> | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now()) {
      this.entries.delete(key)
      return undefined
    }
    e.tick = ++uses
    return e
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
   * full and the key is new.
   * @param ttl - milliseconds to live, `null` = never expires
   * @param tag - owner data kept with the entry
   * @returns the entry
   */
  set(key: string, value: V, ttl: number | null, tag = 0): StoreEntry<V> {
    const expiresAt = ttl === null ? Infinity : now() + ttl
    const old = this.entries.get(key)
    if (old !== undefined) {
      old.value = value
      old.expiresAt = expiresAt
      old.tag = tag
      old.tick = ++uses
      return old
    }
    if (this.entries.size >= this.maxEntries) this.cull()
    const e: StoreEntry<V> = { value, expiresAt, tick: ++uses, tag }
    this.entries.set(key, e)
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
    return this.peek(key) !== undefined && this.entries.delete(key)
  }

  /** Removes every entry (of every store sharing these entries). */
  clear(): void {
    this.entries.clear()
  }

  /** Django's cull: expired entries first, then the least recently used `size / cullFrequency`. */
  private cull(): void {
    const map = this.entries
    if (this.cullFrequency === 0) return map.clear()
    const t = now()
    for (const [k, e] of map) if (e.expiresAt <= t) map.delete(k)
    if (map.size < this.maxEntries) return
    const n = Math.max(1, Math.floor(map.size / this.cullFrequency))
    if (n === 1) {
      // Evicting one entry (a strict LRU) needs a scan, not a sort.
      let oldest: string | undefined
      let min = Infinity
      for (const [k, e] of map) if (e.tick < min) [min, oldest] = [e.tick, k]
      if (oldest !== undefined) map.delete(oldest)
      return
    }
    const byAge = [...map].sort((a, b) => a[1].tick - b[1].tick)
    for (let i = 0; i < n; i++) map.delete(byAge[i][0])
  }
}
