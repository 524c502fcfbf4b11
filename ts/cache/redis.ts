/**
 * `RedisCache`: a shared cache on Redis through ioredis (standalone, TLS, Sentinel or Cluster).
 * @module
 */
import { Cluster, Redis, ReplyError, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis'

import { InvalidOptionError } from '../errors.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { CacheKeyNotFoundError, CacheSerializationError, CacheUnavailableError, CacheValueError } from './errors.js'
import type { BaseCacheOptions } from './options.js'
import { deserialize, serialize, serializeWire } from './serialize.js'

/** Options of {@link RedisCache}. */
export interface RedisCacheOptions extends BaseCacheOptions {
  /**
   * `redis://[:password@]host:port/db`, or `rediss://…` for TLS. Ignored with `client`.
   * @default 'redis://127.0.0.1:6379/0'
   */
  location?: string
  /** A client you own: used as-is (its timeouts are yours) and never closed by `close()`. */
  client?: Redis | Cluster
  /** Sentinel addresses; `location`'s db and password still apply. Requires `sentinelName`. */
  sentinels?: Array<{ host: string; port: number }>
  /** The Sentinel master group name. */
  sentinelName?: string
  /** Cluster seed nodes: the client becomes an ioredis `Cluster`. */
  cluster?: ClusterNode[]
  /** Extra ioredis `Cluster` options. */
  clusterOptions?: ClusterOptions
  /**
   * Milliseconds to wait for a connection.
   * @default 1000
   */
  connectTimeout?: number
  /**
   * Milliseconds before a command counts as failed (the backend is then "unavailable").
   * @default 1000
   */
  commandTimeout?: number
  /** Extra ioredis options merged over {@link RedisCache.getClientOptions}'s. */
  redisOptions?: RedisOptions
  /**
   * Whether this cache owns the whole Redis database: `clear()` then runs `FLUSHDB`; otherwise it
   * `SCAN`s for `keyPrefix:*` and `UNLINK`s the matches, leaving other data alone.
   * @default true when keyPrefix is '', else false
   */
  ownsDatabase?: boolean
}

/** Defaults of {@link RedisCacheOptions} specific to this backend. */
export const REDIS_CACHE_DEFAULTS = Object.freeze({
  location: 'redis://127.0.0.1:6379/0',
  connectTimeout: 1000,
  commandTimeout: 1000,
})

// Lua keeps these atomic: compare-and-delete releases a lock only for its owner, and INCRBY must
// not create a missing key (Django raises ValueError there).
const SCRIPTS = {
  restthumbsCompareDelete: {
    numberOfKeys: 1,
    lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
  },
  restthumbsIncrIfExists: {
    numberOfKeys: 1,
    lua: "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) else return false end",
  },
  restthumbsPersistIfExists: {
    numberOfKeys: 1,
    lua: "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PERSIST', KEYS[1]) return 1 else return 0 end",
  },
} as const

type Scripted = {
  restthumbsCompareDelete(key: string, expected: Buffer): Promise<number>
  restthumbsIncrIfExists(key: string, delta: number): Promise<number | null>
  restthumbsPersistIfExists(key: string): Promise<number>
}

type Client = (Redis | Cluster) & Scripted

const DOWN = Symbol('down')
const noop = (): void => undefined

// Reply errors that mean "the server cannot serve right now", not "your command is wrong".
const TRANSIENT_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOAUTH|OOM)\b/

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
 * Failure policy: when Redis is down or slow, reads are misses and writes are dropped (logged
 * once per outage and once on recovery); `strict: true` raises {@link CacheUnavailableError}.
 * `incr`/`decr` always raise since there is no sensible fallback. No call waits longer than
 * `commandTimeout`: commands only queue while the very first connection is being made; after
 * that, a lost connection fails calls at once until ioredis reconnects.
 */
export class RedisCache extends BaseCache {
  /** The connection URL (when no client was injected). */
  readonly location: string
  /** Whether `clear()` may flush the whole database. */
  readonly ownsDatabase: boolean
  private readonly options: RedisCacheOptions
  private readonly ownsClient: boolean
  private clientInstance: Client | undefined
  private everReady = false

  /** @param options - see {@link RedisCacheOptions} */
  constructor(options: RedisCacheOptions = {}) {
    super(options)
    this.options = options
    this.location = options.location ?? REDIS_CACHE_DEFAULTS.location
    if (options.client === undefined && !/^rediss?:\/\//.test(this.location)) {
      throw new InvalidOptionError(
        `Expected redis:// or rediss:// URL for location but received '${this.location}' of type string`,
      )
    }
    this.ownsDatabase = options.ownsDatabase ?? this.keyPrefix === ''
    this.ownsClient = options.client === undefined
    if (options.client) this.clientInstance = this.prepare(options.client)
  }

  /**
   * ioredis options for clients this cache creates. Override in a subclass to customise
   * (python-thumbnails' `get_settings`); `redisOptions` is merged over the result.
   */
  getClientOptions(): RedisOptions {
    return {
      connectTimeout: this.options.connectTimeout ?? REDIS_CACHE_DEFAULTS.connectTimeout,
      commandTimeout: this.options.commandTimeout ?? REDIS_CACHE_DEFAULTS.commandTimeout,
      // In-flight commands fail as soon as the connection drops instead of waiting for a retry.
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
    }
  }

  /** The ioredis client, created on first use. */
  get client(): Redis | Cluster {
    return this.connection()
  }

  private connection(): Client {
    if (this.clientInstance) return this.clientInstance
    const opts: RedisOptions = { ...this.getClientOptions(), ...this.options.redisOptions }
    let client: Redis | Cluster
    if (this.options.cluster) {
      client = new Cluster(this.options.cluster, { ...this.options.clusterOptions, redisOptions: opts })
    } else if (this.options.sentinels) {
      const url = new URL(this.location)
      client = new Redis({
        ...opts,
        sentinels: this.options.sentinels,
        name: this.options.sentinelName,
        db: Number(url.pathname.slice(1) || 0),
        password: url.password ? decodeURIComponent(url.password) : undefined,
        username: url.username ? decodeURIComponent(url.username) : undefined,
        ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      })
    } else {
      client = new Redis(this.location, opts)
    }
    // ioredis emits 'error' on every failed reconnect; our guard reports outages instead.
    client.on('error', () => {})
    return (this.clientInstance = this.prepare(client))
  }

  private prepare(client: Redis | Cluster): Client {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') client.defineCommand(name, def)
    }
    client.on('ready', () => (this.everReady = true))
    if (client.status === 'ready') this.everReady = true
    return client as Client
  }

  /**
   * Runs a command under the failure policy. Chained by hand rather than through `guard` so a hit
   * costs ioredis' promise plus one `then` (the benchmark holds this to 0.9x raw ioredis).
   */
  private run<T>(what: string, op: (c: Client) => Promise<T>, fallback: T): Promise<T> {
    return this.send(op).then(
      (value) => {
        if (this.outage) this.recovered()
        return value
      },
      (err: unknown) => this.failed(`redis ${what}`, err, fallback),
    )
  }

  /** Issues a command on a usable connection, or rejects at once during an outage. */
  private send<T>(op: (c: Client) => Promise<T>): Promise<T> {
    try {
      return op(this.usable())
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** The client, or a throw during an outage. */
  private usable(): Client {
    const c = this.connection()
    // Fail fast during an outage rather than queueing behind a dead connection; commands
    // only queue (bounded by commandTimeout) while the first connection is being made.
    if (this.everReady && c.status !== 'ready') throw new CacheUnavailableError(`Redis connection is ${c.status}`)
    return c
  }

  // `set` settles through these two shared callbacks rather than fresh closures per call.
  private readonly setDone = (): void => {
    if (this.outage) this.recovered()
  }

  private readonly setFailed = (err: unknown): void => this.failed('redis set', err, undefined)

  protected override isUnavailable(err: unknown): boolean {
    if (err instanceof CacheUnavailableError) return true
    if (err instanceof ReplyError) return TRANSIENT_REPLY.test((err as Error).message)
    // ioredis reports connection loss, timeouts and retries as plain Errors; programming errors
    // must still surface rather than pass for an outage.
    const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError
    return !(bug || err instanceof CacheSerializationError || err instanceof InvalidOptionError)
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

  /** @internal */
  override _get(key: string): Promise<unknown> {
    return this.run('get', (c) => c.getBuffer(key), null).then((buf) => this.decode(key, buf))
  }

  /**
   * Fetches a value (see {@link BaseCache.get}); one promise hop over ioredis on a hit.
   * @param key - the key
   * @param defaultValue - returned on a miss
   * @param version - key version
   */
  override get<T = unknown>(key: string, defaultValue?: T, version?: number): Promise<T | undefined> {
    let k: string
    try {
      k = this.makeKey(key, version)
    } catch (err) {
      return Promise.reject(err)
    }
    let sent: Promise<Buffer | null>
    try {
      sent = this.usable().getBuffer(k)
    } catch (err) {
      sent = Promise.reject(err)
    }
    // One `then` over ioredis' promise: success and failure policy inline; the failure callback
    // is shared unless a default value has to be captured.
    return sent.then(
      (buf) => {
        if (this.outage) this.recovered()
        const value = this.decode(k, buf)
        return value === undefined ? defaultValue : (value as T)
      },
      defaultValue === undefined ? this.getFailed : (err: unknown) => this.failed('redis get', err, defaultValue),
    )
  }

  private readonly getFailed = (err: unknown): undefined => this.failed('redis get', err, undefined)

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const res = await this.run(
      'get',
      async (c) => {
        const r = await c.multi().getBuffer(key).pttl(key).exec()
        if (!r) return null
        for (const [err] of r) if (err) throw err
        return [r[0][1] as Buffer | null, r[1][1] as number] as const
      },
      null,
    )
    if (!res || res[0] === null) return undefined
    const value = this.decode(key, res[0])
    if (value === undefined) return undefined
    return { value, expiresAt: res[1] >= 0 ? Date.now() + res[1] : res[1] === -1 ? null : undefined }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    return (await this.run('exists', (c) => c.exists(key), 0)) === 1
  }

  /** @internal */
  override _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    let buf: string | Buffer
    try {
      buf = serializeWire(value)
    } catch (err) {
      return Promise.reject(err)
    }
    let sent: Promise<unknown>
    try {
      const c = this.usable()
      sent = ttl === null ? c.set(key, buf) : c.set(key, buf, 'PX', px(ttl))
    } catch (err) {
      // An outage goes through the failure policy like a failed command.
      sent = Promise.reject(err)
    }
    return sent.then(this.setDone, this.setFailed)
  }

  /**
   * Stores a value (see {@link BaseCache.set}); one promise hop over ioredis.
   * @param key - the key
   * @param value - data
   * @param timeout - seconds; `undefined` = default, `null` = forever, `<= 0` deletes
   * @param version - key version
   */
  override set(key: string, value: unknown, timeout?: number | null, version?: number): Promise<void> {
    let k: string
    let ttl: number | null
    try {
      k = this.makeKey(key, version)
      ttl = this.resolveTimeout(timeout)
    } catch (err) {
      return Promise.reject(err)
    }
    if (ttl !== null && ttl <= 0) return this._delete(k).then(noop)
    return this._set(k, value, ttl)
  }

  /** @internal Atomic: `SET … PX ms NX`. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const buf = serializeWire(value)
    const res = await this.run(
      'add',
      (c) => (ttl === null ? c.set(key, buf, 'NX') : c.set(key, buf, 'PX', px(ttl), 'NX')),
      null,
    )
    return res === 'OK'
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    return (await this.run('delete', (c) => c.unlink(key), 0)) > 0
  }

  /** @internal `PEXPIRE`, or `PERSIST` (in Lua, so a key without TTL still reports as existing). */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const res = await this.run(
      'touch',
      (c) => (ttl === null ? c.restthumbsPersistIfExists(key) : c.pexpire(key, px(ttl))),
      0,
    )
    return res === 1
  }

  /** @internal One `MGET` (per-key GETs on a cluster, auto-pipelined by ioredis). */
  override async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>()
    if (keys.length === 0) return out
    const bufs = await this.run(
      'getMany',
      (c) => (c instanceof Cluster ? Promise.all(keys.map((k) => c.getBuffer(k))) : c.mgetBuffer(...keys)),
      [] as (Buffer | null)[],
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
    const errors = await this.run(
      'setMany',
      async (c) => {
        if (c instanceof Cluster) {
          const r = await Promise.allSettled(ready.map(([k, b]) => write(c, k, b)))
          return r.map((x) => x.status === 'rejected')
        }
        const p = c.pipeline()
        for (const [k, b] of ready) write(p, k, b)
        const r = (await p.exec()) ?? []
        return ready.map((_, i) => !r[i] || r[i][0] !== null)
      },
      ready.map(() => true),
    )
    ready.forEach(([k], i) => errors[i] && failed.push(k))
    return failed
  }

  /** @internal One `UNLINK` (per key on a cluster). */
  override async _deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return
    await this.run(
      'deleteMany',
      async (c) => {
        if (c instanceof Cluster) await Promise.all(keys.map((k) => c.unlink(k)))
        else await c.unlink(...keys)
      },
      undefined,
    )
  }

  /** @internal Atomic `INCRBY` that refuses to create a missing key. */
  override async _incr(key: string, delta: number): Promise<number> {
    let res: number | null | typeof DOWN
    try {
      res = await this.run<number | null | typeof DOWN>('incr', (c) => c.restthumbsIncrIfExists(key, delta), DOWN)
    } catch (err) {
      if (err instanceof ReplyError && /not an integer|overflow/.test((err as Error).message)) {
        throw new CacheValueError(`Cannot increment key '${key}': its value is not an integer`, { cause: err })
      }
      throw err
    }
    if (res === DOWN) throw new CacheUnavailableError(`Cannot increment key '${key}': Redis is unavailable`)
    if (res === null) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    return Number(res)
  }

  /** @internal Atomic compare-and-delete in Lua. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const buf = serialize(expected)
    return (await this.run('deleteIfEquals', (c) => c.restthumbsCompareDelete(key, buf), 0)) === 1
  }

  /** @internal `FLUSHDB` when the cache owns the database, else `SCAN MATCH prefix:*` + `UNLINK`. */
  override async _clear(): Promise<void> {
    await this.run(
      'clear',
      async (c) => {
        const nodes = c instanceof Cluster ? c.nodes('master') : [c]
        for (const node of nodes) {
          if (this.ownsDatabase) {
            await node.flushdb()
            continue
          }
          let cursor = '0'
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', `${globEscape(this.keyPrefix)}:*`, 'COUNT', 1000)
            cursor = next
            if (keys.length) await (c instanceof Cluster ? Promise.all(keys.map((k) => c.unlink(k))) : node.unlink(...keys))
          } while (cursor !== '0')
        }
      },
      undefined,
    )
  }

  /** @internal Quits clients this cache created; injected clients stay open (their owner closes them). */
  override async _close(): Promise<void> {
    const c = this.clientInstance
    if (!c || !this.ownsClient) return
    this.clientInstance = undefined
    this.everReady = false
    if (c.status === 'end') return
    const limit = this.options.commandTimeout ?? REDIS_CACHE_DEFAULTS.commandTimeout
    const bounded = (p: Promise<unknown>) => Promise.race([p, new Promise((r) => setTimeout(r, limit).unref())])
    const ended = new Promise((r) => c.once('end', r))
    if (c.status === 'ready') await bounded(c.quit().catch(() => undefined))
    c.disconnect()
    await bounded(ended)
  }
}
