/**
 * `restthumbs createcachetable`: creates `DatabaseCache` tables, like Django's
 * `manage.py createcachetable` (idempotent; `--dry-run` prints the SQL).
 * @module
 */
import { DEFAULT_TABLE } from '../cache/database-driver.js'
import { createCacheTable } from '../cache/database-table.js'
import { parseDatabaseLocation } from '../cache/database-driver.js'
import { ConfigError, resolveConfig } from '../server/config.js'

/** Options of {@link createCacheTableCommand}. */
export interface CreateCacheTableCommandOptions {
  /** `postgres://…` or `sqlite:path`; default: the configured `cache` setting. */
  cache?: string
  /** `--config` JSON file. */
  config?: string
  /** Print the SQL instead of running it. */
  dryRun?: boolean
}

/**
 * Creates each table (default: the location's `?table=`, else `restthumbs_cache`).
 * @param tables - table names from the command line
 * @param options - see {@link CreateCacheTableCommandOptions}
 * @param env - environment for `RESTTHUMBS_CACHE` (defaults to `process.env`)
 * @returns the lines to print: one per table, or the SQL in a dry run
 * @throws `ConfigError` when the cache location is not a database URL
 */
export async function createCacheTableCommand(
  tables: string[],
  options: CreateCacheTableCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const location = options.cache ?? resolveConfig({}, { file: options.config, env }).cache
  if (!/^(postgres(ql)?:\/\/|sqlite:)/.test(location)) {
    throw new ConfigError(
      `createcachetable needs a postgres://… or sqlite:path cache location (--cache or RESTTHUMBS_CACHE) but the cache is ${JSON.stringify(location)}`,
    )
  }
  const names = tables.length > 0 ? tables : [parseDatabaseLocation(location).table ?? DEFAULT_TABLE]
  const lines: string[] = []
  for (const table of names) {
    const result = await createCacheTable({ location, table, dryRun: options.dryRun })
    if (options.dryRun) lines.push(...result.sql.map((s) => `${s};`))
    else lines.push(result.created ? `Cache table '${table}' created.` : `Cache table '${table}' already exists.`)
  }
  return lines
}
