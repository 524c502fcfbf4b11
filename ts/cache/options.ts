/**
 * Options every cache backend accepts, and their one frozen defaults object.
 * @module
 */

/** Builds the stored key from the caller's key (Django's `KEY_FUNCTION`). */
export type KeyFunction = (key: string, keyPrefix: string, version: number) => string

/** Where caches report outages, recoveries and dropped values. */
export interface CacheLogger {
  /** Something degraded (a backend is down, a corrupt entry was dropped). */
  warn(message: string, error?: unknown): void
  /** Something recovered. */
  info(message: string): void
}

/** Options shared by every backend (Django's `TIMEOUT`, `KEY_PREFIX`, `VERSION`, `KEY_FUNCTION`). */
export interface BaseCacheOptions {
  /**
   * Default time to live in seconds. `null` keeps values forever; `0` or less means "already
   * expired" (a `set` deletes the key).
   * @default 300
   */
  timeout?: number | null
  /**
   * Prefix of every stored key.
   * @default ''
   */
  keyPrefix?: string
  /**
   * Default key version.
   * @default 1
   */
  version?: number
  /**
   * Builds stored keys.
   * @default `${keyPrefix}:${version}:${key}`
   */
  keyFunction?: KeyFunction
  /**
   * Keys over 250 bytes or with control characters/spaces (memcached's rules) are hashed with
   * SHA-256 instead of going through `validateKey` (which warns by default).
   * @default false
   */
  hashLongKeys?: boolean
  /**
   * Raise {@link CacheUnavailableError} when the backend is down instead of acting as a miss.
   * @default false
   */
  strict?: boolean
  /**
   * Receives outage/recovery/corruption messages.
   * @default messages go to `console.warn` / `console.info`
   */
  logger?: CacheLogger
}

/** The longest stored key, in UTF-8 bytes (memcached's limit, which Django warns about). */
export const MAX_KEY_LENGTH = 250

/** Default key function: `prefix:version:key`. */
export const defaultKeyFunction: KeyFunction = (key, keyPrefix, version) => `${keyPrefix}:${version}:${key}`

/** Logs to the console. */
export const consoleLogger: CacheLogger = Object.freeze({
  warn: (message: string, error?: unknown) =>
    console.warn(error === undefined ? message : `${message}: ${error instanceof Error ? error.message : String(error)}`),
  info: (message: string) => console.info(message),
})

/** Defaults of {@link BaseCacheOptions}, merged in `BaseCache`'s constructor only. */
export const BASE_CACHE_DEFAULTS: Readonly<Required<BaseCacheOptions>> = Object.freeze({
  timeout: 300,
  keyPrefix: '',
  version: 1,
  keyFunction: defaultKeyFunction,
  hashLongKeys: false,
  strict: false,
  logger: consoleLogger,
})
