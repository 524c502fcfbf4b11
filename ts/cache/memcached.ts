/**
 * `MemcachedCache`: Django's memcached backend over a list of servers with consistent hashing,
 * through memcache-client (one client per server).
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'

import type { MemcacheClient } from 'memcache-client'

import { InvalidOptionError, RestthumbsError } from '../errors.js'
import { integer, mergeDefaults } from '../validate.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { loadDriver } from './driver.js'
import { CacheKeyNotFoundError, CacheSerializationError, CacheUnavailableError, CacheValueError } from './errors.js'
import { HashRing } from './hash-ring.js'
import { REPLIES, TOMBSTONE, TOO_LARGE, exptime, pack, parseMemcachedServers } from './memcached-format.js'
import { dumpKeys } from './memcached-keys.js'
import type { BaseCacheOptions } from './options.js'
import { deserialize, serialize } from './serialize.js'

/** Options of {@link MemcachedCache}. */
export interface MemcachedCacheOptions extends BaseCacheOptions {
  /**
   * Servers: `memcached://h1:11211,h2:11211`, or `h1:11211;h2:11211` as Django's `LOCATION`.
   * @default 'memcached://127.0.0.1:11211'
   */
  location?: string | string[]
  /**
   * Milliseconds to wait for a connection.
   * @default 1000
   */
  connectTimeout?: number
  /**
   * Milliseconds before a command counts as failed (its server is then down).
   * @default 1000
   */
  commandTimeout?: number
  /**
   * Milliseconds a failed server is skipped (its keys miss at once) before it is tried again.
   * @default 1000
   */
  retryTimeout?: number
  /**
   * Whether this cache owns the servers: `clear()` then runs `flush_all` as Django does;
   * otherwise it lists keys (`lru_crawler metadump`) and deletes those with its `keyPrefix`.
   * @default true when keyPrefix is '', else false
   */
  ownsServers?: boolean
}

type DefaultedOption = 'connectTimeout' | 'commandTimeout' | 'retryTimeout'
type Settings = MemcachedCacheOptions & Required<Pick<MemcachedCacheOptions, DefaultedOption>>

/** Defaults of {@link MemcachedCacheOptions} specific to this backend. */
export const MEMCACHED_CACHE_DEFAULTS: Readonly<Required<Pick<MemcachedCacheOptions, DefaultedOption | 'location'>>> =
  Object.freeze({ location: 'memcached://127.0.0.1:11211', connectTimeout: 1000, commandTimeout: 1000, retryTimeout: 1000 })

// Compare-and-swap retries before a contended incr/touch gives up.
const CAS_ATTEMPTS = 100

interface Node {
  name: string
  host: string
  port: number
  client: MemcacheClient
  /** Epoch ms before which the server is skipped after a failure. */
  deadUntil: number
  down: boolean
}

interface Item {
  value: unknown
  expiresAt: number | null
  cas: string
}

/**
 * Memcached backend. Keys follow memcached's rules (at most 250 bytes, no spaces or control
 * characters); values above the server's item size (`-I`, 1 MB by default) are not stored and
 * the key is deleted, as Django does (use `cacheMemoize`'s chunking for large values). `add` is
 * memcached's atomic `add`; `incr`, `touch` and `deleteIfEquals` are compare-and-swap loops, so
 * they are atomic too and keep the expiry.
 *
 * A server that fails is skipped for `retryTimeout` ms: its keys miss (or raise
 * {@link CacheUnavailableError} when `strict`) while the other servers keep working, and it
 * rejoins on the first success. Keys are not moved to other servers meanwhile.
 */
export class MemcachedCache extends BaseCache {
  /** The servers, as `host:port`. */
  readonly servers: readonly string[]
  /** Whether `clear()` may flush whole servers. */
  readonly ownsServers: boolean
  private readonly settings: Settings
  private readonly ring: HashRing
  private nodes: Node[] | undefined
  private opening: Promise<Node[]> | undefined

  /** @param options - see {@link MemcachedCacheOptions} */
  constructor(options: MemcachedCacheOptions = {}) {
    super(options)
    const o = mergeDefaults<Settings>(MEMCACHED_CACHE_DEFAULTS, options)
    for (const name of ['connectTimeout', 'commandTimeout', 'retryTimeout'] as const) integer(name, o[name], { min: 1 })
    this.servers = parseMemcachedServers(o.location).map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`)
    this.ring = new HashRing(this.servers)
    this.ownsServers = o.ownsServers ?? this.keyPrefix === ''
    this.settings = o
  }

  /** Memcached refuses such keys, so here they raise (Django's memcached backends do the same). */
  override validateKey(key: string): void {
    this.rejectInvalidKey(key)
  }

  private open(): Promise<Node[]> {
    this.opening ??= loadDriver<typeof import('memcache-client')>('memcache-client', 'MemcachedCache').then(
      ({ MemcacheClient, NullLogger }) =>
        (this.nodes = parseMemcachedServers(this.settings.location).map(({ host, port }, i) => ({
          name: this.servers[i],
          host,
          port,
          client: new MemcacheClient({
            server: this.servers[i],
            cmdTimeout: this.settings.commandTimeout,
            connectTimeout: this.settings.connectTimeout,
            noDelay: true,
            keepDangleSocket: false,
            logger: NullLogger,
          }),
          deadUntil: 0,
          down: false,
        }))),
      (err: unknown) => {
        this.opening = undefined
        throw err
      },
    )
    return this.opening
  }

  /**
   * Runs a command on the server owning `key` (or `index`) under the per-server outage policy.
   * `map` shapes a success; memcached's NOT_STORED / EXISTS / NOT_FOUND replies give `fallback`,
   * and a value over the item size deletes the key (Django's `set`) and gives `fallback` too.
   */
  private on<T>(target: string | number, what: string, op: (c: MemcacheClient) => Promise<T>, fallback: T): Promise<T>
  private on<T, R>(
    target: string | number,
    what: string,
    op: (c: MemcacheClient) => Promise<T>,
    fallback: R,
    map: (value: T) => R,
  ): Promise<R>
  private on<T, R>(
    target: string | number,
    what: string,
    op: (c: MemcacheClient) => Promise<T>,
    fallback: R,
    map?: (value: T) => R,
  ): Promise<R> {
    const i = typeof target === 'number' ? target : this.ring.lookup(target)
    const run = (nodes: Node[]): Promise<R> => {
      const node = nodes[i]
      if (node.deadUntil > Date.now()) {
        const down = new CacheUnavailableError(`memcached ${node.name} is down`)
        return Promise.resolve().then(() => this.serverFailed(node, what, down, fallback))
      }
      let p: Promise<T>
      try {
        p = op(node.client)
      } catch (err) {
        p = Promise.reject(err)
      }
      return p.then(
        (value) => {
          if (node.down) {
            node.down = false
            this.logger.info(`MemcachedCache server ${node.name} recovered`)
          }
          return map ? map(value) : (value as unknown as R)
        },
        (err: unknown) => {
          if (err instanceof Error && REPLIES.has(err.message)) return fallback
          if (err instanceof Error && TOO_LARGE.test(err.message) && typeof target === 'string') return this.tooLarge(target, fallback)
          return this.serverFailed(node, what, err, fallback)
        },
      )
    }
    return this.nodes ? run(this.nodes) : this.open().then(run)
  }

  /** Django deletes the key when memcached refuses a value, so no stale value stays behind. */
  private tooLarge<R>(key: string, fallback: R): Promise<R> {
    this.logger.warn(`MemcachedCache: the value for '${key}' is over the server's item size; not cached`)
    return this._delete(key).then(() => fallback)
  }

  /** Per server rather than the base's one flag: one dead server must not flap the log. */
  private serverFailed<T>(node: Node, what: string, err: unknown, fallback: T): T {
    if (!this.isUnavailable(err)) throw err
    node.deadUntil = Date.now() + this.settings.retryTimeout
    if (!node.down) {
      node.down = true
      this.logger.warn(`MemcachedCache server ${node.name} unavailable (${what}); its keys miss until it recovers`, err)
    }
    if (this.strict) {
      if (err instanceof CacheUnavailableError) throw err
      throw new CacheUnavailableError(`memcached ${node.name} unavailable during ${what}: ${(err as Error).message}`, { cause: err })
    }
    return fallback
  }

  protected override isUnavailable(err: unknown): boolean {
    if (err instanceof CacheUnavailableError) return true
    // Our own typed errors (bad key, missing key for incr, not a number) are answers, not outages.
    if (err instanceof RestthumbsError || !(err instanceof Error)) return false
    const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError
    if (bug || err instanceof CacheSerializationError || err instanceof InvalidOptionError) return false
    return !REPLIES.has(err.message) && !err.message.startsWith('CLIENT_ERROR') && !TOO_LARGE.test(err.message)
  }

  private decode(key: string, raw: unknown, cas: unknown): Item | undefined {
    if (!Buffer.isBuffer(raw) || raw.length < 8) return undefined
    const expires = raw.readDoubleBE(0)
    if (expires !== 0 && expires <= Date.now()) return undefined
    try {
      return { value: deserialize(raw.subarray(8)), expiresAt: expires === 0 ? null : expires, cas: String(cas) }
    } catch (err) {
      this.logger.warn(`MemcachedCache: ignoring corrupt value at '${key}'`, err)
      return undefined
    }
  }

  private item(key: string, withCas = false): Promise<Item | undefined> {
    return this.on(
      key,
      'get',
      (c) => (withCas ? c.gets<Buffer>(key) : c.get<Buffer>(key)),
      undefined,
      (r): Item | undefined => (r === undefined ? undefined : this.decode(key, r.value, r.casUniq)),
    )
  }

  /** Stores with `cmd`; false on memcached's NOT_STORED / EXISTS / NOT_FOUND. */
  private store(cmd: 'set' | 'add' | 'cas', key: string, bytes: Buffer, ttl: Ttl, cas?: string): Promise<boolean> {
    const options = cas === undefined ? { lifetime: exptime(ttl) } : { lifetime: exptime(ttl), casUniq: cas }
    return this.on(key, cmd, (c) => c.store(cmd, key, bytes, options), false, stored)
  }

  /** @internal Not `async`: one promise hop over the client's. */
  override _get(key: string): Promise<unknown> {
    return this.on(
      key,
      'get',
      (c) => c.get<Buffer>(key),
      undefined,
      (r): unknown => (r === undefined ? undefined : this.decode(key, r.value, undefined)?.value),
    )
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const found = await this.item(key)
    return found && { value: found.value, expiresAt: found.expiresAt }
  }

  /** @internal One multi-key `get` per server. */
  override async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const byServer = new Map<number, string[]>()
    for (const k of keys) {
      const i = this.ring.lookup(k)
      byServer.set(i, [...(byServer.get(i) ?? []), k])
    }
    const out = new Map<string, unknown>()
    await Promise.all(
      [...byServer].map(async ([i, part]) => {
        type Found = Record<string, { value: unknown } | undefined>
        const found = await this.on(i, 'getMany', (c) => c.get(part) as unknown as Promise<Found>, {} as Found)
        for (const k of part) {
          const hit = found[k]
          const item = hit && this.decode(k, hit.value, undefined)
          if (item) out.set(k, item.value)
        }
      }),
    )
    return out
  }

  /** @internal A value over the item size is not stored and the key is deleted (Django). */
  override _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    let bytes: Buffer
    try {
      bytes = pack(serialize(value), ttl === null ? 0 : Date.now() + ttl)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.on(key, 'set', (c) => c.store('set', key, bytes, { lifetime: exptime(ttl) }), undefined, nothing)
  }

  /** @internal Memcached's atomic `add`; an item whose header says expired is replaced by CAS. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const bytes = pack(serialize(value), ttl === null ? 0 : Date.now() + ttl)
    if (await this.store('add', key, bytes, ttl)) return true
    const r = await this.on(key, 'add', (c) => c.gets<Buffer>(key), undefined)
    if (r === undefined) return this.store('add', key, bytes, ttl)
    if (this.decode(key, r.value, r.casUniq) !== undefined) return false
    return this.store('cas', key, bytes, ttl, String(r.casUniq))
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    const live = (await this.item(key)) !== undefined
    const deleted = await this.on(key, 'delete', (c) => c.delete(key), false, stored)
    return live && deleted
  }

  /** @internal */
  override async _deleteMany(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => this.on(k, 'delete', (c) => c.delete(k), false, stored)))
  }

  /** Compare-and-swap loop: `change` maps a live item to new bytes and a time to live. */
  private async swap(key: string, change: (item: Item) => [Buffer, Ttl] | undefined): Promise<boolean | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const item = await this.item(key, true)
      if (item === undefined) return undefined
      const next = change(item)
      if (next === undefined) return false
      if (await this.store('cas', key, next[0], next[1], item.cas)) return true
      // Lost the race: back off a random, growing few milliseconds so contenders spread out.
      await sleep(Math.random() * 2 ** Math.min(attempt, 5))
    }
    throw new CacheUnavailableError(`memcached: key '${key}' changed ${CAS_ATTEMPTS} times during one update`)
  }

  private remaining(expiresAt: number | null): Ttl {
    return expiresAt === null ? null : Math.max(1, expiresAt - Date.now())
  }

  /** @internal A CAS rewrite of the header and memcached's expiry. */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const expiresAt = ttl === null ? 0 : Date.now() + ttl
    return (await this.swap(key, (item) => [pack(serialize(item.value), expiresAt), ttl])) === true
  }

  /** @internal Atomic by CAS; negative numbers and the expiry are kept (memcached's `incr` has neither). */
  override async _incr(key: string, delta: number): Promise<number> {
    let result = 0
    const done = await this.swap(key, (item) => {
      if (typeof item.value !== 'number') {
        throw new CacheValueError(`Cannot increment key '${key}': its value is of type ${typeof item.value}`)
      }
      result = item.value + delta
      return [pack(serialize(result), item.expiresAt ?? 0), this.remaining(item.expiresAt)]
    })
    if (done === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    return result
  }

  /** @internal Atomic: a CAS to an expired tombstone, so a value written meanwhile is never lost. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const want = serialize(expected)
    const r = await this.on(key, 'deleteIfEquals', (c) => c.gets<Buffer>(key), undefined)
    const item = r && this.decode(key, r.value, r.casUniq)
    if (!item || !serialize(item.value).equals(want)) return false
    return this.store('cas', key, TOMBSTONE, 1000, item.cas)
  }

  /** @internal `flush_all` when the cache owns the servers, else deletes the keys with its prefix. */
  override async _clear(): Promise<void> {
    const nodes = this.nodes ?? (await this.open())
    await Promise.all(
      nodes.map(async (node, i) => {
        if (this.ownsServers) {
          await this.on(i, 'clear', (c) => c.cmd('flush_all'), undefined)
          return
        }
        const keys = await this.on(i, 'clear', () => dumpKeys(node.host, node.port, this.settings.commandTimeout * 10), [])
        const mine = keys.filter((k) => k.startsWith(`${this.keyPrefix}:`))
        await Promise.all(mine.map((k) => this.on(i, 'clear', (c) => c.delete(k), false, stored)))
      }),
    )
  }

  /** @internal */
  override async _close(): Promise<void> {
    const nodes = this.nodes ?? (this.opening ? await this.opening.catch(() => undefined) : undefined)
    this.nodes = undefined
    this.opening = undefined
    for (const n of nodes ?? []) n.client.shutdown()
  }
}

/** A command that succeeded stored (or deleted) something. */
function stored(): boolean {
  return true
}

function nothing(): undefined {
  return undefined
}
