/**
 * `createCacheTable`: Django's `manage.py createcachetable` as a library function.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import { DatabaseCache } from './database.js'
import type { CreateTableResult } from './database-driver.js'

/** Options of {@link createCacheTable}. */
export interface CreateCacheTableOptions {
  /** `postgres://…` or `sqlite:path` (may end in `?table=name`). */
  location: string
  /**
   * The table to create.
   * @default 'restthumbs_cache', or the location's `?table=`
   */
  table?: string
  /**
   * Only return the SQL, touching nothing (Django's `--dry-run`).
   * @default false
   */
  dryRun?: boolean
}

/**
 * Creates a cache table and its expiry index, like Django's `manage.py createcachetable`:
 * idempotent (an existing table is left alone and reported with `created: false`), in one
 * transaction.
 * @throws {@link InvalidOptionError} for a bad location or table name; `CacheDriverMissingError`
 * when the driver is not installed; the database's error when it cannot be reached
 */
export async function createCacheTable(options: CreateCacheTableOptions): Promise<CreateTableResult> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`Expected an object with location for options but received ${String(options)}`)
  }
  const cache = new DatabaseCache({ location: options.location, table: options.table })
  try {
    return await cache.createTable(options.dryRun ?? false)
  } finally {
    await cache.close()
  }
}
