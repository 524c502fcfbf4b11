/**
 * What `DatabaseCache` needs from a database, and what both drivers share: the table schema,
 * identifier checks and the location URL grammar.
 * @module
 */
import { InvalidOptionError } from '../errors.js'

/** A stored row: serialized value and absolute expiry in epoch ms. */
export interface CacheRow {
  value: Buffer
  expires: number
}

/** Culling settings (Django's `MAX_ENTRIES` / `CULL_FREQUENCY`). */
export interface CullPolicy {
  maxEntries: number
  cullFrequency: number
}

/**
 * One database's cache-table operations. Every method is a single statement or one
 * transaction; expiry is compared against the `now` the caller passes.
 */
export interface SqlDriver {
  /** The row at `key`, expired or not (synchronous drivers may return it directly). */
  get(key: string): CacheRow | undefined | Promise<CacheRow | undefined>
  /** Rows for the keys that exist. */
  getMany(keys: string[]): Promise<Map<string, CacheRow>>
  /** Upsert, culling first when the table holds more than `maxEntries` rows (Django's `_base_set`). */
  set(key: string, value: Buffer, expires: number, now: number, cull: CullPolicy): Promise<void>
  /** Insert, or overwrite an expired row, atomically; true when written. */
  add(key: string, value: Buffer, expires: number, now: number, cull: CullPolicy): Promise<boolean>
  /** New expiry for a live row; true when it exists. */
  touch(key: string, expires: number, now: number): Promise<boolean>
  /** Deletes; true when a live row was deleted. */
  delete(key: string, now: number): Promise<boolean>
  /** Deletes many keys. */
  deleteMany(keys: string[]): Promise<void>
  /** Deletes a live row holding exactly `value`; true when deleted. */
  deleteIfEquals(key: string, value: Buffer, now: number): Promise<boolean>
  /**
   * Read-modify-write of a live row under a row lock (a write lock on SQLite): `change` maps the
   * old value to the new one and may throw to abort. Undefined when the row is missing or expired.
   */
  update(key: string, now: number, change: (value: Buffer) => Buffer): Promise<Buffer | undefined>
  /**
   * Optional one-statement increment of a live row holding a safe integer (decimal text); the
   * new value, or undefined when it does not apply (missing, expired, not an integer, overflow).
   */
  incrInteger?(key: string, delta: number, now: number): Promise<number | undefined>
  /** Deletes every row. */
  clear(): Promise<void>
  /** Creates the table and its index unless the table exists; `dryRun` only returns the SQL. */
  createTable(dryRun: boolean): Promise<CreateTableResult>
  /** Closes connections. */
  close(): Promise<void>
}

/** What {@link SqlDriver.createTable} did. */
export interface CreateTableResult {
  /** The table. */
  table: string
  /** Whether it was created now (false: it existed, or a dry run). */
  created: boolean
  /** The statements that create it. */
  sql: string[]
}

/** Expiry stored for "never": 9999-12-31T23:59:59Z, as Django stores `datetime.max`. */
export const NEVER = 253402300799000

/** The default table name. */
export const DEFAULT_TABLE = 'restthumbs_cache'

/** Where a cache table lives. */
export interface DatabaseLocation {
  dialect: 'postgres' | 'sqlite'
  /** For postgres: the connection string without `table`; for sqlite: the file path or `:memory:`. */
  target: string
  /** The `?table=` of the URL, if any. */
  table?: string
}

/**
 * Parses `postgres://user:pass@host:port/db[?table=name]` (or `postgresql://`) and
 * `sqlite:path[?table=name]` (`sqlite:///abs/path` and `sqlite::memory:` too).
 * @throws {@link InvalidOptionError} for any other scheme
 */
export function parseDatabaseLocation(location: unknown): DatabaseLocation {
  if (typeof location === 'string' && /^postgres(ql)?:\/\//.test(location)) {
    const url = new URL(location)
    const table = url.searchParams.get('table') ?? undefined
    url.searchParams.delete('table')
    return { dialect: 'postgres', target: url.toString(), table }
  }
  if (typeof location === 'string' && location.startsWith('sqlite:')) {
    let rest = location.slice('sqlite:'.length)
    let table: string | undefined
    const q = rest.lastIndexOf('?table=')
    if (q >= 0) {
      table = decodeURIComponent(rest.slice(q + '?table='.length))
      rest = rest.slice(0, q)
    }
    if (rest.startsWith('//')) rest = rest.slice(2)
    if (rest === '') throw new InvalidOptionError(`Expected a file path after sqlite: in location but received ${JSON.stringify(location)}`)
    return { dialect: 'sqlite', target: rest, table }
  }
  throw new InvalidOptionError(
    `Expected postgres://… or sqlite:path for location but received ${JSON.stringify(location)} of type ${typeof location}`,
  )
}

/**
 * Checks a table name: letters, digits and `_`, at most 63 characters (PostgreSQL's limit), so it
 * can be quoted safely and its index name derived from it.
 * @throws {@link InvalidOptionError}
 */
export function checkTableName(table: unknown): string {
  if (typeof table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,54}$/.test(table)) {
    throw new InvalidOptionError(
      `Expected a table name of letters, digits and _ (at most 55 characters) for table but received ${JSON.stringify(table)}`,
    )
  }
  return table
}

/** The schema of Django's cache table, with bytes for the value and epoch ms for the expiry. */
export function tableSql(dialect: 'postgres' | 'sqlite', table: string): string[] {
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob'
  return [
    `CREATE TABLE IF NOT EXISTS "${table}" (\n    "cache_key" varchar(255) NOT NULL PRIMARY KEY,\n    "value" ${bytes} NOT NULL,\n    "expires" bigint NOT NULL\n)`,
    `CREATE INDEX IF NOT EXISTS "${table}_expires" ON "${table}" ("expires")`,
  ]
}

// Node's and pg's connection errors, and SQLSTATE classes that mean "the server cannot serve
// now": 08 connection, 53 resources, 57P shutdown, 40001/40P01 serialization/deadlock.
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'])
const TRANSIENT_SQLSTATE = /^(08|53|57P|40001|40P01)/
const TRANSIENT_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL)/
const PG_TRANSIENT_MESSAGE = /timeout|Connection terminated|Client has encountered a connection error|ended by the server/i

/**
 * Whether a driver error means "the database cannot serve now" (connection lost, timeout,
 * shutdown, lock contention) rather than a bug or a missing table.
 * @param err - what pg or better-sqlite3 threw
 */
export function isTransientDatabaseError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && (NET_CODES.has(code) || TRANSIENT_SQLITE.test(code))) return true
  // pg puts the SQLSTATE in `code` for server errors; its own client errors have no code.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_SQLSTATE.test(code)
  return err instanceof Error && code === undefined && PG_TRANSIENT_MESSAGE.test(err.message)
}
