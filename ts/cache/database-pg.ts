/**
 * The PostgreSQL driver of `DatabaseCache`, through a `pg` pool and named (prepared) statements.
 * @module
 */
import type Pg from 'pg'

import { CacheTableMissingError } from './errors.js'
import { loadDriver } from './driver.js'
import { tableSql, type CacheRow, type CreateTableResult, type CullPolicy, type SqlDriver } from './database-driver.js'

/** Options of {@link openPostgres}. */
export interface PostgresDriverOptions {
  /** `postgres://…` connection string. */
  connectionString: string
  /** Table name (already checked). */
  table: string
  /** Pool size. */
  poolSize: number
  /** Milliseconds to wait for a connection. */
  connectTimeout: number
  /** Milliseconds before a query counts as failed. */
  commandTimeout: number
}

interface RawRow {
  value: Buffer
  expires: string
}

/**
 * Creates the pool (connections open on first query).
 * @throws `CacheDriverMissingError` when pg is not installed
 */
export async function openPostgres(options: PostgresDriverOptions): Promise<SqlDriver> {
  const pg = await loadDriver<typeof Pg>('pg', 'DatabaseCache with a postgres:// location')
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize,
    connectionTimeoutMillis: options.connectTimeout,
    query_timeout: options.commandTimeout,
  })
  // Idle clients losing their server emit 'error' on the pool; queries report outages instead.
  pool.on('error', () => {})
  return new PostgresDriver(pool, options.table)
}

function row(r: RawRow | undefined): CacheRow | undefined {
  return r === undefined ? undefined : { value: r.value, expires: Number(r.expires) }
}

/** Writes between two exact row counts (see `PostgresDriver.mustCount`). */
const RECOUNT_EVERY = 100

class PostgresDriver implements SqlDriver {
  private readonly sql: Record<string, { name: string; text: string }>
  /** Rows in the table as this process last counted them, plus its own inserts since. */
  private rows: number | undefined
  private sinceCount = 0

  constructor(
    private readonly pool: Pg.Pool,
    private readonly table: string,
  ) {
    const t = `"${table}"`
    const upsert = `INSERT INTO ${t} (cache_key, value, expires) VALUES ($1, $2, $3) ON CONFLICT (cache_key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires`
    // The row count comes back with the write: a subquery in RETURNING sees the table as it was
    // before the statement, which is the count Django's `_base_set` takes first.
    const statements: Record<string, string> = {
      get: `SELECT value, expires FROM ${t} WHERE cache_key = $1`,
      getMany: `SELECT cache_key, value, expires FROM ${t} WHERE cache_key = ANY($1)`,
      set: `${upsert} RETURNING (SELECT count(*) FROM ${t}) AS n, (xmax = 0) AS inserted`,
      add: `${upsert} WHERE ${t}.expires <= $4 RETURNING (SELECT count(*) FROM ${t}) AS n, (xmax = 0) AS inserted`,
      // Without the count: `xmax = 0` tells a new row from an updated one, for the estimate.
      setFast: `${upsert} RETURNING (xmax = 0) AS inserted`,
      addFast: `${upsert} WHERE ${t}.expires <= $4 RETURNING (xmax = 0) AS inserted`,
      touch: `UPDATE ${t} SET expires = $1 WHERE cache_key = $2 AND expires > $3`,
      delete: `DELETE FROM ${t} WHERE cache_key = $1 RETURNING expires`,
      deleteMany: `DELETE FROM ${t} WHERE cache_key = ANY($1)`,
      deleteIfEquals: `DELETE FROM ${t} WHERE cache_key = $1 AND value = $2 AND expires > $3`,
      lock: `SELECT value, expires FROM ${t} WHERE cache_key = $1 FOR UPDATE`,
      write: `UPDATE ${t} SET value = $1 WHERE cache_key = $2`,
      // Integers are stored as their decimal text (see serialize), so the common counter is one
      // statement under the row lock UPDATE takes; anything else goes through `update`.
      incr: `UPDATE ${t} SET value = convert_to((convert_from(value, 'LATIN1')::numeric + $2)::text, 'LATIN1') WHERE cache_key = $1 AND expires > $3 AND convert_from(value, 'LATIN1') ~ '^-?[0-9]{1,16}$' AND abs(convert_from(value, 'LATIN1')::numeric + $2) <= 9007199254740991 RETURNING convert_from(value, 'LATIN1') AS n`,
      dropExpired: `DELETE FROM ${t} WHERE expires <= $1 AND cache_key <> $2`,
      keyAt: `SELECT cache_key FROM ${t} WHERE cache_key <> $2 ORDER BY cache_key LIMIT 1 OFFSET $1`,
      dropBelow: `DELETE FROM ${t} WHERE cache_key < $1 AND cache_key <> $2`,
      clearExcept: `DELETE FROM ${t} WHERE cache_key <> $1`,
    }
    this.sql = Object.fromEntries(
      Object.entries(statements).map(([op, text]) => [op, { name: `restthumbs_${op}_${table}`, text }]),
    )
  }

  /** One named statement on the pool (or a checked-out client), with table errors made clear. */
  private q<R extends Pg.QueryResultRow>(op: string, values: unknown[], on: Pg.Pool | Pg.PoolClient = this.pool) {
    return on.query<R>({ ...this.sql[op], values }).catch((err: unknown) => {
      throw this.explain(err)
    })
  }

  private explain(err: unknown): unknown {
    if ((err as { code?: string }).code !== '42P01') return err
    return new CacheTableMissingError(
      `Cache table '${this.table}' does not exist; create it with: restthumbs createcachetable ${this.table} --cache postgres://… (or createCacheTable())`,
      { cause: err },
    )
  }

  /**
   * Django's `_cull` after a write that saw `count` rows before it; the key just written is left
   * alone, so the result is the one culling before the write gives.
   */
  private async cull(count: number, now: number, policy: CullPolicy, keep: string): Promise<void> {
    if (count <= policy.maxEntries) return
    if (policy.cullFrequency === 0) {
      await this.q('clearExcept', [keep])
      return
    }
    const remaining = count - ((await this.q('dropExpired', [now, keep])).rowCount ?? 0)
    if (remaining <= policy.maxEntries) return
    const cut = await this.q<{ cache_key: string }>('keyAt', [Math.floor(remaining / policy.cullFrequency), keep])
    if (cut.rows.length > 0) await this.q('dropBelow', [cut.rows[0].cache_key, keep])
  }

  /** One promise hop over pg's: the row and a clear missing-table error in the same callback. */
  get(key: string): Promise<CacheRow | undefined> {
    return this.pool.query<RawRow>({ ...this.sql.get, values: [key] }).then(
      (r) => row(r.rows[0]),
      (err: unknown) => {
        throw this.explain(err)
      },
    )
  }

  async getMany(keys: string[]): Promise<Map<string, CacheRow>> {
    const r = await this.q<RawRow & { cache_key: string }>('getMany', [keys])
    return new Map(r.rows.map((x) => [x.cache_key, { value: x.value, expires: Number(x.expires) }]))
  }

  /**
   * Whether this write must count the table: the first one, every {@link RECOUNT_EVERY}th, and
   * any once the estimate reaches `maxEntries`. Counting every write, as Django does, is a full
   * scan per `set`; between counts the estimate follows this process's own inserts and deletes,
   * so a single writer culls exactly when Django would, and several writers at most
   * `RECOUNT_EVERY` writes each later.
   */
  private mustCount(policy: CullPolicy): boolean {
    return this.rows === undefined || this.rows >= policy.maxEntries || this.sinceCount >= RECOUNT_EVERY
  }

  /** Runs an upsert (`set` or `add`), counting and culling when due; false when nothing was written. */
  private async write(op: 'set' | 'add', values: unknown[], key: string, now: number, policy: CullPolicy): Promise<boolean> {
    if (!this.mustCount(policy)) {
      const r = await this.q<{ inserted: boolean }>(`${op}Fast`, values)
      this.sinceCount++
      if (r.rows[0]?.inserted && this.rows !== undefined) this.rows++
      return r.rows.length > 0
    }
    const r = await this.q<{ n: string; inserted: boolean }>(op, values)
    if (r.rows.length === 0) return false
    const n = Number(r.rows[0].n)
    this.sinceCount = 0
    this.rows = n + (r.rows[0].inserted ? 1 : 0)
    if (n > policy.maxEntries) {
      this.rows = undefined
      await this.cull(n, now, policy, key)
    }
    return true
  }

  async set(key: string, value: Buffer, expires: number, now: number, policy: CullPolicy): Promise<void> {
    await this.write('set', [key, value, expires], key, now, policy)
  }

  async add(key: string, value: Buffer, expires: number, now: number, policy: CullPolicy): Promise<boolean> {
    return this.write('add', [key, value, expires, now], key, now, policy)
  }

  async touch(key: string, expires: number, now: number): Promise<boolean> {
    return ((await this.q('touch', [expires, key, now])).rowCount ?? 0) > 0
  }

  async delete(key: string, now: number): Promise<boolean> {
    const r = await this.q<{ expires: string }>('delete', [key])
    if (r.rows.length > 0 && this.rows !== undefined) this.rows--
    return r.rows.length > 0 && Number(r.rows[0].expires) > now
  }

  async deleteMany(keys: string[]): Promise<void> {
    this.rows = undefined
    await this.q('deleteMany', [keys])
  }

  async deleteIfEquals(key: string, value: Buffer, now: number): Promise<boolean> {
    const deleted = ((await this.q('deleteIfEquals', [key, value, now])).rowCount ?? 0) > 0
    if (deleted && this.rows !== undefined) this.rows--
    return deleted
  }

  async incrInteger(key: string, delta: number, now: number): Promise<number | undefined> {
    const r = await this.q<{ n: string }>('incr', [key, delta, now])
    return r.rows.length > 0 ? Number(r.rows[0].n) : undefined
  }

  async update(key: string, now: number, change: (value: Buffer) => Buffer): Promise<Buffer | undefined> {
    const client = await this.pool.connect()
    let broken: unknown
    try {
      await client.query('BEGIN')
      const found = row((await this.q<RawRow>('lock', [key], client)).rows[0])
      if (found === undefined || found.expires <= now) {
        await client.query('COMMIT')
        return undefined
      }
      const next = change(found.value)
      await this.q('write', [next, key], client)
      await client.query('COMMIT')
      return next
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e))
      throw err
    } finally {
      // A client whose rollback failed is in an unknown state: drop it rather than reuse it.
      client.release(broken as Error | undefined)
    }
  }

  async clear(): Promise<void> {
    this.rows = undefined
    await this.pool.query(`DELETE FROM "${this.table}"`).catch((err: unknown) => {
      throw this.explain(err)
    })
  }

  async createTable(dryRun: boolean): Promise<CreateTableResult> {
    const sql = tableSql('postgres', this.table)
    const found = await this.pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${this.table}"`])
    if (dryRun || found.rows[0].t !== null) return { table: this.table, created: false, sql }
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      for (const statement of sql) await client.query(statement)
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
    return { table: this.table, created: true, sql }
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}
