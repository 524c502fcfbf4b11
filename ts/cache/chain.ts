/**
 * `ChainCache`: tiers of caches (e.g. memory → redis → file) behind one cache interface.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import type { BaseCacheOptions } from './options.js'

/** Options of {@link ChainCache}. */
export interface ChainCacheOptions extends BaseCacheOptions {
  /** The tiers, fastest first; the last one is authoritative. At least one. */
  tiers?: BaseCache[]
}

/**
 * Reads scan the tiers in order and a hit back-fills the faster tiers with the remaining time to
 * live when the hitting tier knows it (else the chain's default timeout). Writes and deletes go to
 * every tier; `add`, `incr` and `deleteIfEquals` are decided by the last (authoritative) tier,
 * whose atomicity they inherit, and the faster tiers are then updated or invalidated.
 *
 * Keys are made once by the chain (its `keyPrefix`, `version`, `keyFunction`); the tiers' own key
 * settings and default timeouts are not used. `close()` closes every tier.
 */
export class ChainCache extends BaseCache {
  /** The tiers, fastest first. */
  readonly tiers: readonly BaseCache[]

  /** @param options - see {@link ChainCacheOptions}; `tiers` is required */
  constructor(options: ChainCacheOptions = {}) {
    super(options)
    const tiers = options.tiers
    if (!Array.isArray(tiers) || tiers.length === 0 || !tiers.every((t) => t instanceof BaseCache)) {
      throw new InvalidOptionError(
        `Expected non-empty array of caches for tiers but received ${String(tiers)} of type ${typeof tiers}`,
      )
    }
    this.tiers = Object.freeze([...tiers])
  }

  private get last(): BaseCache {
    return this.tiers[this.tiers.length - 1]
  }

  private get faster(): readonly BaseCache[] {
    return this.tiers.slice(0, -1)
  }

  /** Scans the tiers; fills those before the hit. */
  private async lookup(key: string, wantExpiry: boolean): Promise<CacheEntry | undefined> {
    for (let i = 0; i < this.tiers.length; i++) {
      const tier = this.tiers[i]
      // Only a hit below the first tier needs its expiry (for the back-fill).
      let entry: CacheEntry | undefined
      if (i === 0 && !wantExpiry) {
        const value = await tier._get(key)
        entry = value === undefined ? undefined : { value, expiresAt: undefined }
      } else {
        entry = await tier._getEntry(key)
      }
      if (entry === undefined) continue
      if (i > 0) {
        const ttl = this.remainingTtl(entry.expiresAt)
        await Promise.all(this.tiers.slice(0, i).map((t) => t._set(key, entry.value, ttl)))
      }
      return entry
    }
    return undefined
  }

  /** @internal */
  override async _get(key: string): Promise<unknown> {
    return (await this.lookup(key, false))?.value
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    return this.lookup(key, true)
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    for (const tier of this.tiers) if (await tier._has(key)) return true
    return false
  }

  /** @internal */
  override async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>()
    let missing = keys
    for (let i = 0; i < this.tiers.length && missing.length > 0; i++) {
      const tier = this.tiers[i]
      if (i === 0) {
        for (const [k, v] of await tier._getMany(missing)) out.set(k, v)
      } else {
        const entries = await Promise.all(missing.map((k) => tier._getEntry(k)))
        await Promise.all(
          missing.map((k, j) => {
            const e = entries[j]
            if (e === undefined) return undefined
            out.set(k, e.value)
            const ttl = this.remainingTtl(e.expiresAt)
            return Promise.all(this.tiers.slice(0, i).map((t) => t._set(k, e.value, ttl)))
          }),
        )
      }
      missing = missing.filter((k) => !out.has(k))
    }
    return out
  }

  /** @internal */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    await Promise.all(this.tiers.map((t) => t._set(key, value, ttl)))
  }

  /** @internal */
  override async _setMany(entries: [string, unknown][], ttl: Ttl): Promise<string[]> {
    const failed = new Set<string>()
    for (const list of await Promise.all(this.tiers.map((t) => t._setMany(entries, ttl)))) {
      for (const k of list) failed.add(k)
    }
    return [...failed]
  }

  /** @internal The last tier decides; the winner's value is then copied to the faster tiers. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    if (!(await this.last._add(key, value, ttl))) return false
    await Promise.all(this.faster.map((t) => t._set(key, value, ttl)))
    return true
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    const res = await Promise.all(this.tiers.map((t) => t._delete(key)))
    return res.some(Boolean)
  }

  /** @internal */
  override async _deleteMany(keys: string[]): Promise<void> {
    await Promise.all(this.tiers.map((t) => t._deleteMany(keys)))
  }

  /** @internal The result is the authoritative tier's. */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const res = await Promise.all(this.tiers.map((t) => t._touch(key, ttl)))
    return res[res.length - 1]
  }

  /** @internal Counts on the last tier; faster tiers drop their copy and re-fill on the next read. */
  override async _incr(key: string, delta: number): Promise<number> {
    const n = await this.last._incr(key, delta)
    await Promise.all(this.faster.map((t) => t._delete(key)))
    return n
  }

  /** @internal The last tier compares (atomically where it can); faster copies are then dropped. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const deleted = await this.last._deleteIfEquals(key, expected)
    if (deleted) await Promise.all(this.faster.map((t) => t._delete(key)))
    return deleted
  }

  /** @internal */
  override async _clear(): Promise<void> {
    await Promise.all(this.tiers.map((t) => t._clear()))
  }

  /** @internal */
  override async _close(): Promise<void> {
    await Promise.all(this.tiers.map((t) => t._close()))
  }
}
