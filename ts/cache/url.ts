/**
 * Cache URLs: which backend a location URL names, so `configureCaches`, `getCache` and the
 * server's `--cache` accept `redis://`, `postgres://`, `sqlite:` and `memcached://` locations.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import type { BaseCache } from './base.js'
import { DatabaseCache } from './database.js'
import { MemcachedCache } from './memcached.js'
import { RedisCache } from './redis.js'
import type { CacheClass } from './registry.js'

const SCHEMES: ReadonlyArray<[RegExp, CacheClass]> = [
  [/^rediss?:\/\//, RedisCache as unknown as CacheClass],
  [/^postgres(ql)?:\/\//, DatabaseCache as unknown as CacheClass],
  [/^sqlite:/, DatabaseCache as unknown as CacheClass],
  [/^memcached:\/\//, MemcachedCache as unknown as CacheClass],
]

/**
 * The backend class a cache URL names, or undefined when it is not a cache URL.
 * @param location - e.g. `memcached://h1:11211,h2:11211`
 */
export function backendForUrl(location: unknown): CacheClass | undefined {
  if (typeof location !== 'string') return undefined
  return SCHEMES.find(([scheme]) => scheme.test(location))?.[1]
}

/**
 * Builds a cache from a URL (`redis://`, `rediss://`, `postgres://`, `sqlite:path`,
 * `memcached://host:port,…`); the caller closes it.
 * @param location - the URL
 * @param options - more backend options (`keyPrefix`, `timeout`, `strict`, …)
 * @throws {@link InvalidOptionError} for any other scheme
 */
export function cacheFromUrl(location: string, options: Record<string, unknown> = {}): BaseCache {
  const cls = backendForUrl(location)
  if (cls === undefined) {
    throw new InvalidOptionError(
      `Expected a redis://, rediss://, postgres://, sqlite: or memcached:// URL for location but received ${JSON.stringify(location)}`,
    )
  }
  return new cls({ ...options, location })
}
