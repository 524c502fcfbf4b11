/**
 * Errors of the cache framework. Each has a stable `code`; catch by class or switch on `code`.
 * @module
 */
import { RestthumbsError } from '../errors.js'

/** A cache key is too long or contains control characters (memcached-safe rules, as in Django). */
export class InvalidCacheKeyError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_INVALID_CACHE_KEY', message, { ...options, status: 500 })
  }
}

/** A cache alias or backend name/class/module asked of the registry does not exist or is not a cache. */
export class InvalidCacheBackendError extends RestthumbsError {
  /** @param message - details naming what was asked and what exists; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_INVALID_CACHE_BACKEND', message, { ...options, status: 500 })
  }
}

/**
 * The cache server cannot be reached or timed out. Only thrown when the cache is `strict`;
 * otherwise reads act as misses and writes are dropped. HTTP 503.
 */
export class CacheUnavailableError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CACHE_UNAVAILABLE', message, { ...options, status: 503 })
  }
}

/** `incr`/`decr`/`incrVersion` on a key that is not in the cache (Django's `ValueError`). */
export class CacheKeyNotFoundError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CACHE_KEY_NOT_FOUND', message, { ...options, status: 500 })
  }
}

/** `incr`/`decr` on a value that is not a number (Redis: not an integer). */
export class CacheValueError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CACHE_VALUE', message, { ...options, status: 500 })
  }
}

/**
 * A value cannot be serialized (function, symbol, cycle) or stored bytes are not a valid
 * serialized value. Backends turn the read side into a miss; it only escapes from
 * `serialize`/`deserialize` when called directly.
 */
export class CacheSerializationError extends RestthumbsError {
  /** @param message - details; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CACHE_SERIALIZATION', message, { ...options, status: 500 })
  }
}

/** An optional driver package (`pg`, `better-sqlite3`, `memcache-client`) is not installed. */
export class CacheDriverMissingError extends RestthumbsError {
  /** @param message - names the package and the `npm install` that fixes it; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CACHE_DRIVER_MISSING', message, { ...options, status: 500 })
  }
}

/** A `DatabaseCache` table does not exist yet (Django: run `createcachetable`). */
export class CacheTableMissingError extends RestthumbsError {
  /** @param message - names the table and the command that creates it; @param options - optional cause */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CACHE_TABLE_MISSING', message, { ...options, status: 500 })
  }
}
