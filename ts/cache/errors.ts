/**
 * Errors of the cache framework. Each has a stable `code`; catch by class or switch on `code`.
 * @module
 */
import { typedError } from '../errors.js'

/** A cache key is too long or contains control characters (memcached-safe rules, as in Django). */
export class InvalidCacheKeyError extends typedError('ERR_INVALID_CACHE_KEY') {}

/** A cache alias or backend name/class/module asked of the registry does not exist or is not a cache. */
export class InvalidCacheBackendError extends typedError('ERR_INVALID_CACHE_BACKEND') {}

/**
 * The cache server cannot be reached or timed out. Only thrown when the cache is `strict`;
 * otherwise reads act as misses and writes are dropped. HTTP 503.
 */
export class CacheUnavailableError extends typedError('ERR_CACHE_UNAVAILABLE', 503) {}

/** `incr`/`decr`/`incrVersion` on a key that is not in the cache (Django's `ValueError`). */
export class CacheKeyNotFoundError extends typedError('ERR_CACHE_KEY_NOT_FOUND') {}

/** `incr`/`decr` on a value that is not a number (Redis: not an integer). */
export class CacheValueError extends typedError('ERR_CACHE_VALUE') {}

/**
 * A value cannot be serialized (function, symbol, cycle) or stored bytes are not a valid
 * serialized value. Backends turn the read side into a miss; it only escapes from
 * `serialize`/`deserialize` when called directly.
 */
export class CacheSerializationError extends typedError('ERR_CACHE_SERIALIZATION') {}

/** An optional driver package (`pg`, `better-sqlite3`, `memcache-client`) is not installed. */
export class CacheDriverMissingError extends typedError('ERR_CACHE_DRIVER_MISSING') {}

/** A `DatabaseCache` table does not exist yet (Django: run `createcachetable`). */
export class CacheTableMissingError extends typedError('ERR_CACHE_TABLE_MISSING') {}
