/**
 * `RedisCache`: a shared cache on Redis through ioredis (standalone, TLS, Sentinel or Cluster;
 * the connection itself is {@link RedisClient}'s business).
 * @module
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis'

import { bool } from '../validate.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { CacheKeyNotFoundError, CacheValueError } from './errors.js'
import type { BaseCacheOptions } from './options.js'
import { RedisClient, isCluster, isRedisOutage, isReplyError, type RedisClientOptions } from './redis-client.js'
import { deserialize, serialize, serializeWire } from './serialize.js'

export { REDIS_CACHE_DEFAULTS } from './redis-client.js'

/** Options of {@link RedisCache}. */
export interface RedisCacheOptions extends BaseCacheOptions, RedisClientOptions {
  /**
   * Whether this cache owns the whole Redis database: `clear()` then runs `FLUSHDB`; otherwise it
   * `SCAN`s for `keyPrefix:*` and `UNLINK`s the matches, leaving other data alone.
   * @default true when keyPrefix is '', else false
   */
  ownsDatabase?: boolean
}

function px(ttl: number): number {
  return Math.max(1, Math.ceil(ttl))
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/**
 * Redis backend. Values use the data-only `serialize` format; safe integers are stored as decimal
 * text so `incr` is a native, atomic `INCRBY`.
 *
 * Failure policy (`BaseCache`'s): when Redis is down or slow, reads are misses and writes are
 * dropped (logged once per outage and once on recovery); `strict: true` raises
 * `CacheUnavailableError`, and so does `incr` always. No call waits longer than `commandTimeout`.
 */
export class RedisCache extends BaseCache {
  /** The connection URL (when no client was injected). */
  readonly location: string
  /** Whether `clear()` may flush the whole database. */
  readonly ownsDatabase: boolean
  private readonly options: RedisCacheOptions
  private readonly conn: RedisClient

  /** @param options - see {@link RedisCacheOptions} */
  constructor(options: RedisCacheOptions = {}) {
    super(options)
    this.options = options
    this.conn = new RedisClient(options, () => this.getClientOptions())
    this.location = this.conn.location
    this.ownsDatabase = bool('ownsDatabase', options.ownsDatabase ?? this.keyPrefix === '')
  }

  /**
   * ioredis options for clients this cache creates. Override in a subclass to customise
   * (python-thumbnails' `get_settings`); `redisOptions` is merged over the result.
   */
  getClientOptions(): RedisOptions {
    return RedisClient.defaultOptions(this.options)
  }

  /** The ioredis client, created on first use. */
  get client(): Redis | Cluster {
    return this.conn.client
  }

  protected override isUnavailable(err: unknown): boolean {
    return isRedisOutage(err)
  }

  private decode(key: string, buf: Buffer | null): unknown {
    if (buf === null) return undefined
    try {
      return deserialize(buf)
    } catch (err) {
      this.logger.warn(`RedisCache: ignoring corrupt value at '${key}'`, err)
      return undefined
    }
  }

  /** @internal One `GET` (no closure for the command: a hit is a hot path). */
  override _get(key: string): Promise<unknown> {
    let sent: Promise<Buffer | null>
    try {
      sent = this.conn.track(this.conn.usable().getBuffer(key))
    } catch (err) {
      return Promise.reject(err)
    }
    return sent.then((buf) => (buf === null ? undefined : this.decode(key, buf)))
  }

  /** @internal `GET` + `PTTL` in one `MULTI`. */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const r = await this.conn.send((c) => c.multi().getBuffer(key).pttl(key).exec())
    if (!r) return undefined
    for (const [err] of r) if (err) throw err
    const [buf, ms] = [r[0][1] as Buffer | null, r[1][1] as number]
    const value = this.decode(key, buf)
    if (value === undefined) return undefined
    return { value, expiresAt: ms >= 0 ? Date.now() + ms : ms === -1 ? null : undefined }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    return (await this.conn.send((c) => c.exists(key))) === 1
  }

  /** @internal `SET`, with `PX` unless the value lives forever. */
  override _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    try {
      // Serialised first: a value that cannot be serialised must not count as a command.
      const buf = serializeWire(value)
      const c = this.conn.usable()
      return this.conn.track((ttl === null ? c.set(key, buf) : c.set(key, buf, 'PX', px(ttl))) as Promise<unknown> as Promise<void>)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** @internal Atomic: `SET … PX ms NX`. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const buf = serializeWire(value)
    const res = await this.conn.send((c) => (ttl === null ? c.set(key, buf, 'NX') : c.set(key, buf, 'PX', px(ttl), 'NX')))
    return res === 'OK'
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    return (await this.conn.send((c) => c.unlink(key))) > 0
  }

  /** @internal `PEXPIRE`, or `PERSIST` (in Lua, so a key without TTL still reports as existing). */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const res = await this.conn.send((c) => (ttl === null ? c.restthumbsPersistIfExists(key) : c.pexpire(key, px(ttl))))
    return res === 1
  }

  /** @internal One `MGET` (per-key GETs on a cluster, auto-pipelined by ioredis). */
  override async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>()
    if (keys.length === 0) return out
    const bufs = await this.conn.send((c) =>
      isCluster(c) ? Promise.all(keys.map((k) => c.getBuffer(k))) : c.mgetBuffer(...keys),
    )
    bufs.forEach((b, i) => {
      const v = this.decode(keys[i], b)
      if (v !== undefined) out.set(keys[i], v)
    })
    return out
  }

  /** @internal One pipeline of `SET`s; returns keys that failed to serialize or to be written. */
  override async _setMany(entries: [string, unknown][], ttl: Ttl): Promise<string[]> {
    const failed: string[] = []
    const ready: [string, string | Buffer][] = []
    for (const [k, v] of entries) {
      try {
        ready.push([k, serializeWire(v)])
      } catch {
        failed.push(k)
      }
    }
    if (ready.length === 0) return failed
    const write = (c: Redis | Cluster | ReturnType<Redis['pipeline']>, k: string, b: string | Buffer) =>
      ttl === null ? c.set(k, b) : c.set(k, b, 'PX', px(ttl))
    const errors = await this.conn.send(async (c) => {
      if (isCluster(c)) {
        const r = await Promise.allSettled(ready.map(([k, b]) => write(c, k, b)))
        return r.map((x) => x.status === 'rejected')
      }
      const p = c.pipeline()
      for (const [k, b] of ready) write(p, k, b)
      const r = (await p.exec()) ?? []
      return ready.map((_, i) => !r[i] || r[i][0] !== null)
    })
    ready.forEach(([k], i) => errors[i] && failed.push(k))
    return failed
  }

  /** @internal One `UNLINK` (per key on a cluster). */
  override async _deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return
    await this.conn.send(async (c) => {
      if (isCluster(c)) await Promise.all(keys.map((k) => c.unlink(k)))
      else await c.unlink(...keys)
    })
  }

  /** @internal Atomic `INCRBY` that refuses to create a missing key. */
  override async _incr(key: string, delta: number): Promise<number> {
    let res: number | null
    try {
      res = await this.conn.send((c) => c.restthumbsIncrIfExists(key, delta))
    } catch (err) {
      if (isReplyError(err) && /not an integer|overflow/.test((err as Error).message)) {
        throw new CacheValueError(`Cannot increment key '${key}': its value is not an integer`, { cause: err })
      }
      throw err
    }
    if (res === null) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    return Number(res)
  }

  /** @internal Atomic compare-and-delete in Lua. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const buf = serialize(expected)
    return (await this.conn.send((c) => c.restthumbsCompareDelete(key, buf))) === 1
  }

  /** @internal `FLUSHDB` when the cache owns the database, else `SCAN MATCH prefix:*` + `UNLINK`. */
  override async _clear(): Promise<void> {
    await this.conn.send(async (c) => {
      const nodes = isCluster(c) ? c.nodes('master') : [c]
      for (const node of nodes) {
        if (this.ownsDatabase) {
          await node.flushdb()
          continue
        }
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${globEscape(this.keyPrefix)}:*`, 'COUNT', 1000)
          cursor = next
          if (keys.length) await (isCluster(c) ? Promise.all(keys.map((k) => c.unlink(k))) : node.unlink(...keys))
        } while (cursor !== '0')
      }
    })
  }

  /** @internal Quits clients this cache created; injected clients stay open (their owner closes them). */
  override async _close(): Promise<void> {
    await this.conn.close()
  }
}
