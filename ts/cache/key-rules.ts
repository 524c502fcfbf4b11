/**
 * Memcached's key rules, which Django checks on every backend so keys stay portable
 * (`django/core/cache/backends/base.py`, `memcache_key_warnings`): at most 250 bytes, no control
 * characters or spaces. Django warns with `CacheKeyWarning` and stores anyway, except on memcached,
 * which raises; restthumbs does the same through `BaseCache.validateKey`.
 * @module
 */
import { MAX_KEY_LENGTH } from './options.js'

/** `type` of the warnings `BaseCache.validateKey` emits through `process.emitWarning`. */
export const CACHE_KEY_WARNING = 'CacheKeyWarning'

/** `code` of those warnings, for `process.on('warning')` filters and `--disable-warning`. */
export const CACHE_KEY_WARNING_CODE = 'RESTTHUMBS_CACHE_KEY'

// eslint-disable-next-line no-control-regex
const BAD_KEY_CHARS = /[\x00-\x20\x7f]/

/**
 * Why a made key breaks memcached's rules, or `undefined` when it does not.
 * @param key - a made key (`prefix:version:key`)
 */
export function cacheKeyProblem(key: string): string | undefined {
  // Cheap length check first; only count UTF-8 bytes when the key could be over.
  if (key.length > MAX_KEY_LENGTH || (key.length * 3 > MAX_KEY_LENGTH && Buffer.byteLength(key) > MAX_KEY_LENGTH)) {
    return `it is ${Buffer.byteLength(key)} bytes long, over the limit of ${MAX_KEY_LENGTH}`
  }
  if (BAD_KEY_CHARS.test(key)) return 'it contains a control character or space'
  return undefined
}

/** A key as shown in messages: quoted, and cut after 80 characters. */
export function showKey(key: string): string {
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)
}

/**
 * The pattern a warning is emitted once for: the problem plus the key with digit runs folded and
 * cut to 64 characters, so `user 1`, `user 2`, … warn once, not once per user.
 */
export function keyPattern(key: string, problem: string): string {
  return `${problem}|${key.slice(0, 64)}`.replace(/[0-9]+/g, '0')
}
