/**
 * `ChainCache`: tiers of caches (e.g. memory → redis → file) behind one cache interface.
 * @module
 */
import { invalidOption } from '../validate.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { CacheUnavailableError } from './errors.js'
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
 * Each tier applies its own outage policy: a tier that is down misses and drops writes (or raises
 * when it is `strict`) while the others keep serving.
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
      throw invalidOption('tiers', 'non-empty array of caches', tiers)
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
        const value = await tier.guard('get', () => tier._get(key), undefined)
        entry = value === undefined ? undefined : { value, expiresAt: undefined }
      } else {
        entry = await tier.guard('get', () => tier._getEntry(key), undefined)
      }
      if (entry === undefined) continue
      if (i > 0) await this.fill(this.tiers.slice(0, i), key, entry)
      return entry
    }
    return undefined
  }

  /** Copies a hit into faster tiers with its remaining time to live. */
  private async fill(tiers: readonly BaseCache[], key: string, entry: CacheEntry): Promise<void> {
    const ttl = this.remainingTtl(entry.expiresAt)
    await Promise.all(tiers.map((t) => t.guard('set', () => t._set(key, entry.value, ttl), undefined)))
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
    for (const t of this.tiers) if (await t.guard('has', () => t._has(key), false)) return true
    return false
  }

  /** @internal */
  override async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>()
    let missing = keys
    for (let i = 0; i < this.tiers.length && missing.length > 0; i++) {
      const tier = this.tiers[i]
      if (i === 0) {
        const found = await tier.guard('getMany', () => tier._getMany(missing), new Map<string, unknown>())
        for (const [k, v] of found) out.set(k, v)
      } else {
        const ask = missing
        const entries = await Promise.all(ask.map((k) => tier.guard('get', () => tier._getEntry(k), undefined)))
        await Promise.all(
          ask.map((k, j) => {
            const e = entries[j]
            if (e === undefined) return undefined
            out.set(k, e.value)
            return this.fill(this.tiers.slice(0, i), k, e)
          }),
        )
      }
      missing = missing.filter((k) => !out.has(k))
    }
    return out
  }

  /** @internal */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    await Promise.all(this.tiers.map((t) => t.guard('set', () => t._set(key, value, ttl), undefined)))
  }

  /** @internal */
  override async _setMany(entries: [string, unknown][], ttl: Ttl): Promise<string[]> {
    const failed = new Set<string>()
    const all = entries.map(([k]) => k)
    for (const list of await Promise.all(this.tiers.map((t) => t.guard('setMany', () => t._setMany(entries, ttl), all)))) {
      for (const k of list) failed.add(k)
    }
    return [...failed]
  }

  /** @internal The last tier decides; the winner's value is then copied to the faster tiers. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const last = this.last
    if (!(await last.guard('add', () => last._add(key, value, ttl), false))) return false
    await Promise.all(this.faster.map((t) => t.guard('set', () => t._set(key, value, ttl), undefined)))
    return true
  }

  private drop(t: BaseCache, key: string): Promise<boolean> {
    return t.guard('delete', () => t._delete(key), false)
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    const res = await Promise.all(this.tiers.map((t) => this.drop(t, key)))
    return res.some(Boolean)
  }

  /** @internal */
  override async _deleteMany(keys: string[]): Promise<void> {
    await Promise.all(this.tiers.map((t) => t.guard('deleteMany', () => t._deleteMany(keys), undefined)))
  }

  /** @internal The result is the authoritative tier's. */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const res = await Promise.all(this.tiers.map((t) => t.guard('touch', () => t._touch(key, ttl), false)))
    return res[res.length - 1]
  }

  /** @internal Counts on the last tier; faster tiers drop their copy and re-fill on the next read. */
  override async _incr(key: string, delta: number): Promise<number> {
    const last = this.last
    const down = Symbol('down')
    const n = await last.guard<number | typeof down>('incr', () => last._incr(key, delta), down)
    if (n === down) throw new CacheUnavailableError(`Cannot increment key '${key}': the last tier is unavailable`)
    await Promise.all(this.faster.map((t) => this.drop(t, key)))
    return n
  }

  /** @internal The last tier compares (atomically where it can); faster copies are then dropped. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const last = this.last
    const deleted = await last.guard('deleteIfEquals', () => last._deleteIfEquals(key, expected), false)
    if (deleted) await Promise.all(this.faster.map((t) => this.drop(t, key)))
    return deleted
  }

  /** @internal */
  override async _clear(): Promise<void> {
    await Promise.all(this.tiers.map((t) => t.guard('clear', () => t._clear(), undefined)))
  }

  /** @internal */
  override async _close(): Promise<void> {
    await Promise.all(this.tiers.map((t) => t._close()))
  }
}
