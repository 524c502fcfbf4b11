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
}

/** Defaults of {@link MemoryCacheOptions} specific to this backend. */
export const MEMORY_CACHE_DEFAULTS = Object.freeze({ location: '', maxEntries: 300, cullFrequency: 3 })

// How a value is held: immutable primitives as-is, Buffers as a private copy, the rest serialized
// so callers can never mutate what another caller will read.
const RAW = 0
const BYTES = 1
const PACKED = 2

interface Slot {
  kind: typeof RAW | typeof BYTES | typeof PACKED
  value: unknown
  /** Epoch ms; Infinity = never. */
  expiresAt: number
}

/** Process-global stores by location, as Django's `_caches`; Map order is the LRU order. */
const STORES = new Map<string, Map<string, Slot>>()

function pack(value: unknown, expiresAt: number): Slot {
  if (isImmutable(value)) return { kind: RAW, value, expiresAt }
  if (value instanceof Uint8Array && (Buffer.isBuffer(value) || value.constructor === Uint8Array)) {
    return { kind: BYTES, value: Buffer.from(value), expiresAt }
  }
  return { kind: PACKED, value: serialize(value), expiresAt }
}

function unpack(slot: Slot): unknown {
  if (slot.kind === RAW) return slot.value
  if (slot.kind === BYTES) return Buffer.from(slot.value as Buffer)
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
 * In-process LRU cache. Values are copied in and out (immutable primitives are kept as-is), so a
 * caller mutating an object it got from the cache never changes what others read.
 */
export class MemoryCache extends BaseCache {
  /** The namespace shared by instances with the same name. */
  readonly location: string
  /** Entries kept before culling. */
  readonly maxEntries: number
  /** Culling divisor (0 = clear all). */
  readonly cullFrequency: number
  private readonly store: Map<string, Slot>

  /** @param options - see {@link MemoryCacheOptions} */
  constructor(options: MemoryCacheOptions = {}) {
    super(options)
    this.location = options.location ?? MEMORY_CACHE_DEFAULTS.location
    this.maxEntries = positiveInt('maxEntries', options.maxEntries ?? MEMORY_CACHE_DEFAULTS.maxEntries)
    this.cullFrequency = positiveInt('cullFrequency', options.cullFrequency ?? MEMORY_CACHE_DEFAULTS.cullFrequency, true)
    let store = STORES.get(this.location)
    if (!store) STORES.set(this.location, (store = new Map()))
    this.store = store
  }

  /** The live slot for a key, dropping it when expired. */
  private live(key: string, now = Date.now()): Slot | undefined {
    const slot = this.store.get(key)
    if (slot === undefined) return undefined
    if (slot.expiresAt <= now) {
      this.store.delete(key)
      return undefined
    }
    return slot
  }

  private put(key: string, slot: Slot): void {
    const store = this.store
    if (store.has(key)) store.delete(key)
    else if (store.size >= this.maxEntries) this.cull()
    store.set(key, slot)
  }

  private cull(): void {
    if (this.cullFrequency === 0) return this.store.clear()
    let n = Math.max(1, Math.floor(this.store.size / this.cullFrequency))
    for (const key of this.store.keys()) {
      if (n-- <= 0) break
      this.store.delete(key)
    }
  }

  /** @internal */
  override async _get(key: string): Promise<unknown> {
    const slot = this.live(key)
    if (slot === undefined) return undefined
    // Most recently used entries live at the end of the Map's insertion order.
    this.store.delete(key)
    this.store.set(key, slot)
    return unpack(slot)
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
    this.put(key, pack(value, ttl === null ? Infinity : Date.now() + ttl))
  }

  /** @internal Atomic: nothing awaits between the check and the write. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    if (this.live(key) !== undefined) return false
    this.put(key, pack(value, ttl === null ? Infinity : Date.now() + ttl))
    return true
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    return this.live(key) !== undefined && this.store.delete(key)
  }

  /** @internal */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const slot = this.live(key)
    if (slot === undefined) return false
    slot.expiresAt = ttl === null ? Infinity : Date.now() + ttl
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
    return equal && this.store.delete(key)
  }

  /** @internal */
  override async _clear(): Promise<void> {
    this.store.clear()
  }
}
