/**
 * `DatabaseCache`: Django's `db` backend on PostgreSQL (`pg`) or SQLite (`better-sqlite3`).
 * @module
 */
import { sha256Hex } from '../hash.js'
import { integer, mergeDefaults } from '../validate.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import {
  DEFAULT_TABLE,
  NEVER,
  checkTableName,
  isTransientDatabaseError,
  parseDatabaseLocation,
  type CacheRow,
  type CreateTableResult,
  type CullPolicy,
  type SqlDriver,
} from './database-driver.js'
import { openPostgres } from './database-pg.js'
import { openSqlite } from './database-sqlite.js'
import { CacheKeyNotFoundError, CacheSerializationError, CacheUnavailableError, CacheValueError } from './errors.js'
import type { BaseCacheOptions } from './options.js'
import { deserialize, serialize } from './serialize.js'

export { DEFAULT_TABLE, type CreateTableResult } from './database-driver.js'

/** Options of {@link DatabaseCache}. */
export interface DatabaseCacheOptions extends BaseCacheOptions {
  /**
   * `postgres://user:pass@host:port/db` or `sqlite:path/to/cache.db`; either may end in
   * `?table=name`.
   */
  location?: string
  /**
   * The cache table (Django's `LOCATION`); create it with `restthumbs createcachetable`.
   * @default 'restthumbs_cache', or the location's `?table=`
   */
  table?: string
  /**
   * Rows kept before culling (Django's `MAX_ENTRIES`).
   * @default 300
   */
  maxEntries?: number
  /**
   * When over `maxEntries`, expired rows go, then `1/cullFrequency` of the rest (the
   * lexicographically smallest keys, as Django does); `0` clears the table.
   * @default 3
   */
  cullFrequency?: number
  /**
   * PostgreSQL pool size.
   * @default 10
   */
  poolSize?: number
  /**
   * Milliseconds to wait for a PostgreSQL connection.
   * @default 1000
   */
  connectTimeout?: number
  /**
   * Milliseconds before a query fails (PostgreSQL), or a write waits for another process's lock
   * (SQLite busy timeout).
   * @default 2000
   */
  commandTimeout?: number
}

type DefaultedOption = 'maxEntries' | 'cullFrequency' | 'poolSize' | 'connectTimeout' | 'commandTimeout'
type Settings = DatabaseCacheOptions & Required<Pick<DatabaseCacheOptions, DefaultedOption>>

/** Defaults of {@link DatabaseCacheOptions} specific to this backend. */
export const DATABASE_CACHE_DEFAULTS: Readonly<Required<Pick<DatabaseCacheOptions, DefaultedOption>>> = Object.freeze({
  maxEntries: 300,
  cullFrequency: 3,
  poolSize: 10,
  connectTimeout: 1000,
  commandTimeout: 2000,
})

async function openDriver(o: Settings, table: string): Promise<SqlDriver> {
  const where = parseDatabaseLocation(o.location)
  if (where.dialect === 'sqlite') return openSqlite({ path: where.target, table, busyTimeout: o.commandTimeout })
  return openPostgres({
    connectionString: where.target,
    table,
    poolSize: o.poolSize,
    connectTimeout: o.connectTimeout,
    commandTimeout: o.commandTimeout,
  })
}

// Width of the key column in the table Django's createcachetable makes.
const KEY_COLUMN_LENGTH = 255

/**
 * Cache in a database table, as Django's `DatabaseCache`: the key is the primary key, values
 * use the data-only `serialize` format (bytes), expiry is epoch milliseconds. Expired rows read
 * as misses and are deleted; writes cull like Django's `_cull`. `add` is one atomic upsert and
 * `incr` a locked read-modify-write, so both are safe under concurrency (Django's are not).
 *
 * The driver (`pg` or `better-sqlite3`) is imported on first use. Outages follow the base
 * policy: misses and dropped writes, or {@link CacheUnavailableError} when `strict`.
 *
 * @example
 * ```ts
 * await createCacheTable({ location: 'sqlite:cache.db' })
 * const cache = new DatabaseCache({ location: 'sqlite:cache.db', maxEntries: 10_000 })
 * ```
 */
export class DatabaseCache extends BaseCache {
  /** The database URL. */
  readonly location: string
  /** The cache table. */
  readonly table: string
  /** Culling settings. */
  readonly cullPolicy: Readonly<CullPolicy>
  private readonly settings: Settings
  private driver: SqlDriver | undefined
  private opening: Promise<SqlDriver> | undefined

  /** @param options - see {@link DatabaseCacheOptions} */
  constructor(options: DatabaseCacheOptions = {}) {
    super(options)
    const o = mergeDefaults<Settings>(DATABASE_CACHE_DEFAULTS, options)
    const where = parseDatabaseLocation(o.location)
    this.location = o.location as string
    this.table = checkTableName(o.table ?? where.table ?? DEFAULT_TABLE)
    this.cullPolicy = Object.freeze({
      maxEntries: integer('maxEntries', o.maxEntries, { min: 1 }),
      cullFrequency: integer('cullFrequency', o.cullFrequency),
    })
    integer('poolSize', o.poolSize, { min: 1 })
    integer('connectTimeout', o.connectTimeout, { min: 1 })
    integer('commandTimeout', o.commandTimeout, { min: 1 })
    this.settings = o
  }

  /**
   * The made key, fitted to Django's `cache_key varchar(255)` column: a longer key (stored with a
   * `CacheKeyWarning`, as on the other backends) keeps its first 190 characters and gets its
   * SHA-256 appended, so it still has one row of its own.
   */
  override makeKey(key: string, version?: number): string {
    const made = super.makeKey(key, version)
    return made.length <= KEY_COLUMN_LENGTH ? made : `${made.slice(0, KEY_COLUMN_LENGTH - 65)}:${sha256Hex(made)}`
  }

  /** The driver, opened on first use (imports `pg` or `better-sqlite3`). */
  private open(): Promise<SqlDriver> {
    this.opening ??= openDriver(this.settings, this.table).then(
      (d) => (this.driver = d),
      (err: unknown) => {
        this.opening = undefined
        throw err
      },
    )
    return this.opening
  }

  /** Runs a driver call under the outage policy. */
  private run<T>(op: (d: SqlDriver) => Promise<T>): Promise<T> {
    // Failures propagate: BaseCache's guard turns outages into misses (or raises when strict)
    // and logs once per outage.
    const d = this.driver
    try {
      return d ? op(d) : this.open().then(op)
    } catch (err) {
      return Promise.reject(err)
    }
  }


  /**
   * Creates this cache's table and index unless the table exists (idempotent).
   * @param dryRun - only return the SQL
   */
  async createTable(dryRun = false): Promise<CreateTableResult> {
    return (this.driver ?? (await this.open())).createTable(dryRun)
  }

  protected override isUnavailable(err: unknown): boolean {
    return err instanceof CacheUnavailableError || isTransientDatabaseError(err)
  }

  private decode(key: string, value: Buffer): unknown {
    try {
      return deserialize(value)
    } catch (err) {
      this.logger.warn(`DatabaseCache: ignoring corrupt value at '${key}'`, err)
      return undefined
    }
  }

  private expires(ttl: Ttl): number {
    return ttl === null ? NEVER : Date.now() + Math.max(1, Math.ceil(ttl))
  }

  /** A live row's value, or undefined (expired, corrupt). */
  private live(key: string, row: CacheRow | undefined): unknown {
    return row === undefined || row.expires <= Date.now() ? undefined : this.decode(key, row.value)
  }

  /**
   * @internal Expired rows are misses. Unlike Django's `get_many` they are not deleted here: a
   * delete racing a fresh `set` could remove the new value; culling and writes replace them.
   * Not `async`: a synchronous driver (SQLite) answers without a promise of its own.
   */
  override _get(key: string): Promise<unknown> {
    const d = this.driver
    let row: CacheRow | undefined | Promise<CacheRow | undefined>
    try {
      row = d === undefined ? this.open().then((drv) => drv.get(key)) : d.get(key)
    } catch (err) {
      row = Promise.reject(err)
    }
    if (!(row instanceof Promise)) return Promise.resolve(this.live(key, row))
    return row.then((r) => this.live(key, r))
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const row = await this.run((d) => Promise.resolve(d.get(key)))
    const value = this.live(key, row)
    if (row === undefined || value === undefined) return undefined
    return { value, expiresAt: row.expires >= NEVER ? null : row.expires }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    const row = await this.run((d) => Promise.resolve(d.get(key)))
    return row !== undefined && row.expires > Date.now()
  }

  /** @internal One query for all keys; expired rows are misses. */
  override async _getMany(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>()
    if (keys.length === 0) return out
    const rows = await this.run((d) => d.getMany(keys))
    const now = Date.now()
    for (const [k, row] of rows) {
      const value = row.expires > now ? this.decode(k, row.value) : undefined
      if (value !== undefined) out.set(k, value)
    }
    return out
  }

  /** @internal An upsert, culling first when the table is over `maxEntries`. */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    const bytes = serialize(value)
    await this.run((d) => d.set(key, bytes, this.expires(ttl), Date.now(), this.cullPolicy))
  }

  /** @internal Atomic: an insert that overwrites only an expired row. */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const bytes = serialize(value)
    return this.run((d) => d.add(key, bytes, this.expires(ttl), Date.now(), this.cullPolicy))
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    return this.run((d) => d.delete(key, Date.now()))
  }

  /** @internal One statement for all keys. */
  override async _deleteMany(keys: string[]): Promise<void> {
    if (keys.length > 0) await this.run((d) => d.deleteMany(keys))
  }

  /** @internal */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    return this.run((d) => d.touch(key, this.expires(ttl), Date.now()))
  }

  /** @internal Atomic: the row is locked between the read and the write; the expiry is kept. */
  override async _incr(key: string, delta: number): Promise<number> {
    let result = 0
    const change = (bytes: Buffer): Buffer => {
      let current: unknown
      try {
        current = deserialize(bytes)
      } catch (err) {
        if (err instanceof CacheSerializationError) throw new CacheValueError(`Cannot increment key '${key}': its value is corrupt`)
        throw err
      }
      if (typeof current !== 'number') {
        throw new CacheValueError(`Cannot increment key '${key}': its value is of type ${typeof current}`)
      }
      result = current + delta
      return serialize(result)
    }
    const fast = await this.run<number | undefined>((d) =>
      d.incrInteger ? d.incrInteger(key, delta, Date.now()) : Promise.resolve(undefined),
    )
    if (typeof fast === 'number') return fast
    const written = await this.run<Buffer | undefined>((d) => d.update(key, Date.now(), change))
    if (written === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    return result
  }

  /** @internal Atomic: one `DELETE … WHERE value = $expected`. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const bytes = serialize(expected)
    return this.run((d) => d.deleteIfEquals(key, bytes, Date.now()))
  }

  /** @internal `DELETE FROM table`: the table belongs to this cache, as in Django. */
  override async _clear(): Promise<void> {
    await this.run((d) => d.clear())
  }

  /** @internal */
  override async _close(): Promise<void> {
    const d = this.driver ?? (this.opening ? await this.opening.catch(() => undefined) : undefined)
    this.driver = undefined
    this.opening = undefined
    await d?.close()
  }
}
