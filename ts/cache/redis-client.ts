/**
 * `RedisClient`: how `RedisCache` gets a connection (standalone URL, TLS, Sentinel or Cluster),
 * its Lua scripts, and the "is this an outage?" test of Redis errors. Django keeps its
 * `RedisCacheClient` apart from `RedisCache` the same way: this file knows ioredis, the cache
 * knows primitives.
 * @module
 */
import { createRequire } from 'node:module'

import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis'

import { RestthumbsError } from '../errors.js'
import { invalidOption } from '../validate.js'
import { CircuitBreaker, type CircuitBreakerOptions } from './breaker.js'
import { CacheUnavailableError } from './errors.js'

// ioredis is loaded when the first client is made, not at import: it is most of the package's
// import time, and many processes (the CLI's `url`, apps on other backends) never talk to Redis.
let ioredisModule: typeof import('ioredis') | undefined
function ioredis(): typeof import('ioredis') {
  return (ioredisModule ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis'))
}

/** Whether a client is an ioredis `Cluster` (without loading ioredis for the check). */
export function isCluster(client: unknown): client is Cluster {
  return (client as { isCluster?: unknown }).isCluster === true
}

/** Whether `err` is an error reply of the Redis server (ioredis' `ReplyError`). */
export function isReplyError(err: unknown): boolean {
  return ioredisModule !== undefined && err instanceof ioredisModule.ReplyError
}

/** Connection options of `RedisCache`. */
export interface RedisClientOptions {
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
  /** Extra ioredis options merged over `RedisCache.getClientOptions()`'s. */
  redisOptions?: RedisOptions
  /**
   * The circuit breaker: after an outage (a timeout, a lost connection) commands fail at once
   * for `openMs` instead of each waiting `commandTimeout`, then one probe decides. `false` turns
   * it off.
   * @default { failureThreshold: 1, openMs: 2000 }
   */
  breaker?: Omit<CircuitBreakerOptions, 'isOutage'> | false
}

/** Defaults of {@link RedisClientOptions}. */
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

/** An ioredis client with the scripts of this module defined. */
export type ScriptedClient = (Redis | Cluster) & {
  restthumbsCompareDelete(key: string, expected: Buffer): Promise<number>
  restthumbsIncrIfExists(key: string, delta: number): Promise<number | null>
  restthumbsPersistIfExists(key: string): Promise<number>
}

// Reply errors that mean "the server cannot serve right now", not "your command is wrong".
const TRANSIENT_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOAUTH|OOM)\b/

/**
 * Whether a Redis error means "unavailable" rather than a bug or a bad value: connection loss,
 * timeouts and transient replies are; restthumbs' own errors (other than
 * `CacheUnavailableError`) and programming errors are not.
 */
export function isRedisOutage(err: unknown): boolean {
  if (err instanceof RestthumbsError) return err instanceof CacheUnavailableError
  if (isReplyError(err)) return TRANSIENT_REPLY.test((err as Error).message)
  return !(err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError)
}

/**
 * Owns (or borrows) one ioredis client. Commands never wait behind a dead connection: they only
 * queue (bounded by `commandTimeout`) while the very first connection is being made; after that,
 * {@link usable} throws at once until ioredis reconnects.
 */
export class RedisClient {
  /** The connection URL (when no client was injected). */
  readonly location: string
  private readonly options: RedisClientOptions
  private readonly ownsClient: boolean
  private readonly clientOptions: () => RedisOptions
  private instance: ScriptedClient | undefined
  private everReady = false
  private readonly breaker: CircuitBreaker | undefined

  /**
   * @param options - see {@link RedisClientOptions}
   * @param clientOptions - ioredis options for clients this object creates
   */
  constructor(options: RedisClientOptions, clientOptions: () => RedisOptions) {
    this.options = options
    this.clientOptions = clientOptions
    this.location = options.location ?? REDIS_CACHE_DEFAULTS.location
    if (options.client === undefined && !/^rediss?:\/\//.test(this.location)) {
      throw invalidOption('location', 'redis:// or rediss:// URL', this.location)
    }
    this.ownsClient = options.client === undefined
    if (options.client) this.instance = this.prepare(options.client)
    // A frozen server (SIGSTOP, a stalled link) keeps the connection "ready", so each command
    // would wait its full timeout; the breaker makes every call after the first fail fast.
    if (options.breaker !== false) this.breaker = new CircuitBreaker({ ...options.breaker, isOutage: isRedisOutage })
  }

  /** ioredis options of the connections this client makes, before `redisOptions`. */
  static defaultOptions(options: RedisClientOptions): RedisOptions {
    return {
      connectTimeout: options.connectTimeout ?? REDIS_CACHE_DEFAULTS.connectTimeout,
      commandTimeout: options.commandTimeout ?? REDIS_CACHE_DEFAULTS.commandTimeout,
      // In-flight commands fail as soon as the connection drops instead of waiting for a retry.
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
    }
  }

  /** The ioredis client, created on first use. */
  get client(): ScriptedClient {
    if (this.instance) return this.instance
    const o = this.options
    const opts: RedisOptions = { ...this.clientOptions(), ...o.redisOptions }
    let client: Redis | Cluster
    if (o.cluster) client = new (ioredis().Cluster)(o.cluster, { ...o.clusterOptions, redisOptions: opts })
    else if (o.sentinels) {
      const url = new URL(this.location)
      client = new (ioredis().Redis)({
        ...opts,
        sentinels: o.sentinels,
        name: o.sentinelName,
        db: Number(url.pathname.slice(1) || 0),
        password: url.password ? decodeURIComponent(url.password) : undefined,
        username: url.username ? decodeURIComponent(url.username) : undefined,
        ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      })
    } else client = new (ioredis().Redis)(this.location, opts)
    // ioredis emits 'error' on every failed reconnect; the cache's guard reports outages instead.
    client.on('error', () => {})
    return (this.instance = this.prepare(client))
  }

  private prepare(client: Redis | Cluster): ScriptedClient {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') client.defineCommand(name, def)
    }
    client.on('ready', () => (this.everReady = true))
    if (client.status === 'ready') this.everReady = true
    return client as ScriptedClient
  }

  /**
   * The client, or a throw during an outage (fail fast rather than queue behind a dead link, or
   * behind a frozen one while the circuit is open). The command issued on it must be passed to
   * {@link RedisClient.track}.
   */
  usable(): ScriptedClient {
    this.breaker?.admit()
    const c = this.client
    if (this.everReady && c.status !== 'ready') {
      const err = new CacheUnavailableError(`Redis connection is ${c.status}`)
      this.breaker?.report(err)
      throw err
    }
    return c
  }

  /**
   * Passes a command issued on {@link RedisClient.usable}'s client through unchanged, telling the
   * circuit breaker how it went.
   * @param pending - the command's promise
   */
  track<T>(pending: Promise<T>): Promise<T> {
    return this.breaker ? this.breaker.track(pending) : pending
  }

  /**
   * Issues a command on a usable connection; rejects (never throws) during an outage.
   * @param op - the command
   */
  send<T>(op: (c: ScriptedClient) => Promise<T>): Promise<T> {
    let c: ScriptedClient
    try {
      c = this.usable()
    } catch (err) {
      return Promise.reject(err)
    }
    let pending: Promise<T>
    try {
      pending = op(c)
    } catch (err) {
      pending = Promise.reject(err)
    }
    return this.track(pending)
  }

  /** Quits a client this object created, within `commandTimeout`; injected clients stay open. */
  async close(): Promise<void> {
    const c = this.instance
    if (!c || !this.ownsClient) return
    this.instance = undefined
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
