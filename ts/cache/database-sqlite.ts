/**
 * The SQLite driver of `DatabaseCache`, through better-sqlite3: one file, WAL mode, a busy
 * timeout, and writes in `BEGIN IMMEDIATE` transactions so several processes can share it.
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'

import { CacheTableMissingError } from './errors.js'
import { loadDriver } from './driver.js'
import { tableSql, type CacheRow, type CreateTableResult, type CullPolicy, type SqlDriver } from './database-driver.js'

type Database = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

interface Statements {
  get: Statement
  set: Statement
  add: Statement
  touch: Statement
  delete: Statement
  deleteIfEquals: Statement
  write: Statement
  count: Statement
  dropExpired: Statement
  keyAt: Statement
  dropBelow: Statement
  clear: Statement
}

/** Options of {@link openSqlite}. */
export interface SqliteDriverOptions {
  /** File path, or `:memory:`. */
  path: string
  /** Table name (already checked). */
  table: string
  /** Milliseconds a statement waits for another process's write lock. */
  busyTimeout: number
}

/**
 * Opens the database file (creating it) in WAL mode.
 * @throws `CacheDriverMissingError` when better-sqlite3 is not installed
 */
export async function openSqlite(options: SqliteDriverOptions): Promise<SqlDriver> {
  const Sqlite = await loadDriver<typeof BetterSqlite3>('better-sqlite3', 'DatabaseCache with a sqlite: location')
  const db = new Sqlite(options.path, { timeout: options.busyTimeout })
  // WAL lets readers in other processes run while one writes; NORMAL sync is durable enough for
  // a cache and avoids an fsync per write.
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  return new SqliteDriver(db, options.table)
}

type Tx<A extends unknown[], R> = BetterSqlite3.Transaction<(...args: A) => R>

interface Transactions {
  set: Tx<[string, Buffer, number, number, CullPolicy], void>
  add: Tx<[string, Buffer, number, number, CullPolicy], boolean>
  update: Tx<[string, number, (value: Buffer) => Buffer], Buffer | undefined>
}

class SqliteDriver implements SqlDriver {
  private prepared: Statements | undefined
  private txs: Transactions | undefined

  constructor(
    private readonly db: Database,
    private readonly table: string,
  ) {}

  /** Statements, prepared on first use so a missing table names the command that creates it. */
  private s(): Statements {
    if (this.prepared) return this.prepared
    const t = `"${this.table}"`
    try {
      this.prepared = {
        get: this.db.prepare(`SELECT value, expires FROM ${t} WHERE cache_key = ?`),
        set: this.db.prepare(
          `INSERT INTO ${t} (cache_key, value, expires) VALUES (?, ?, ?) ` +
            `ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
        ),
        add: this.db.prepare(
          `INSERT INTO ${t} (cache_key, value, expires) VALUES (?, ?, ?) ` +
            `ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires = excluded.expires WHERE ${t}.expires <= ?`,
        ),
        touch: this.db.prepare(`UPDATE ${t} SET expires = ? WHERE cache_key = ? AND expires > ?`),
        delete: this.db.prepare(`DELETE FROM ${t} WHERE cache_key = ? RETURNING expires`),
        deleteIfEquals: this.db.prepare(`DELETE FROM ${t} WHERE cache_key = ? AND value = ? AND expires > ?`),
        write: this.db.prepare(`UPDATE ${t} SET value = ? WHERE cache_key = ?`),
        count: this.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`),
        dropExpired: this.db.prepare(`DELETE FROM ${t} WHERE expires <= ?`),
        keyAt: this.db.prepare(`SELECT cache_key FROM ${t} ORDER BY cache_key LIMIT 1 OFFSET ?`),
        dropBelow: this.db.prepare(`DELETE FROM ${t} WHERE cache_key < ?`),
        clear: this.db.prepare(`DELETE FROM ${t}`),
      }
    } catch (err) {
      if (/no such table/.test((err as Error).message)) {
        throw new CacheTableMissingError(
          `Cache table '${this.table}' does not exist; create it with: restthumbs createcachetable ${this.table} --cache sqlite:<path> (or createCacheTable())`,
          { cause: err },
        )
      }
      throw err
    }
    return this.prepared
  }

  /** Django's `_cull`, run inside the write transaction before the write. */
  private cull(now: number, policy: CullPolicy): void {
    const s = this.s()
    const count = (s.count.get() as { n: number }).n
    if (count <= policy.maxEntries) return
    if (policy.cullFrequency === 0) {
      s.clear.run()
      return
    }
    const remaining = count - s.dropExpired.run(now).changes
    if (remaining <= policy.maxEntries) return
    const row = s.keyAt.get(Math.floor(remaining / policy.cullFrequency)) as { cache_key: string } | undefined
    if (row) s.dropBelow.run(row.cache_key)
  }

  /** Write transactions, made once: `BEGIN IMMEDIATE` takes the write lock before reading. */
  private tx(): Transactions {
    if (this.txs) return this.txs
    const s = this.s()
    this.txs = {
      set: this.db.transaction((key: string, value: Buffer, expires: number, now: number, policy: CullPolicy) => {
        this.cull(now, policy)
        s.set.run(key, value, expires)
      }),
      add: this.db.transaction((key: string, value: Buffer, expires: number, now: number, policy: CullPolicy) => {
        this.cull(now, policy)
        return s.add.run(key, value, expires, now).changes > 0
      }),
      update: this.db.transaction((key: string, now: number, change: (value: Buffer) => Buffer) => {
        const row = s.get.get(key) as CacheRow | undefined
        if (row === undefined || row.expires <= now) return undefined
        const next = change(row.value)
        s.write.run(next, key)
        return next
      }),
    }
    return this.txs
  }

  /** Synchronous: the cache skips a promise per read. */
  get(key: string): CacheRow | undefined {
    return this.s().get.get(key) as CacheRow | undefined
  }

  async getMany(keys: string[]): Promise<Map<string, CacheRow>> {
    const out = new Map<string, CacheRow>()
    // SQLite's default limit on bound parameters is 32766; stay well under it.
    for (let i = 0; i < keys.length; i += 500) {
      const part = keys.slice(i, i + 500)
      const rows = this.db
        .prepare(`SELECT cache_key, value, expires FROM "${this.table}" WHERE cache_key IN (${part.map(() => '?').join(',')})`)
        .all(...part) as Array<CacheRow & { cache_key: string }>
      for (const r of rows) out.set(r.cache_key, { value: r.value, expires: r.expires })
    }
    return out
  }

  async set(key: string, value: Buffer, expires: number, now: number, policy: CullPolicy): Promise<void> {
    this.tx().set.immediate(key, value, expires, now, policy)
  }

  async add(key: string, value: Buffer, expires: number, now: number, policy: CullPolicy): Promise<boolean> {
    return this.tx().add.immediate(key, value, expires, now, policy)
  }

  async touch(key: string, expires: number, now: number): Promise<boolean> {
    return this.s().touch.run(expires, key, now).changes > 0
  }

  async delete(key: string, now: number): Promise<boolean> {
    const row = this.s().delete.get(key) as { expires: number } | undefined
    return row !== undefined && row.expires > now
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 500) {
      const part = keys.slice(i, i + 500)
      this.db.prepare(`DELETE FROM "${this.table}" WHERE cache_key IN (${part.map(() => '?').join(',')})`).run(...part)
    }
  }

  async deleteIfEquals(key: string, value: Buffer, now: number): Promise<boolean> {
    return this.s().deleteIfEquals.run(key, value, now).changes > 0
  }

  async update(key: string, now: number, change: (value: Buffer) => Buffer): Promise<Buffer | undefined> {
    return this.tx().update.immediate(key, now, change)
  }

  async clear(): Promise<void> {
    this.s().clear.run()
  }

  async createTable(dryRun: boolean): Promise<CreateTableResult> {
    const sql = tableSql('sqlite', this.table)
    const exists = this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`).get(this.table) !== undefined
    if (dryRun || exists) return { table: this.table, created: false, sql }
    this.db
      .transaction(() => {
        for (const statement of sql) this.db.exec(statement)
      })
      .immediate()
    return { table: this.table, created: true, sql }
  }

  async close(): Promise<void> {
    this.prepared = undefined
    this.txs = undefined
    if (this.db.open) this.db.close()
  }
}
