/**
 * djblets-compatible cache keys (`make_cache_key`), computed by the Rust core.
 *
 * Several parts are joined with `:` after escaping `%` → `%25` and `:` → `%3A`, so a
 * user-supplied part can never forge a separator (key injection). A site prefix goes in front.
 * With encryption the whole key becomes its hex HMAC-SHA256, which reveals nothing about what is
 * cached; otherwise control characters become `\xNN` and keys over 240 characters keep 176 of
 * them plus a SHA-256 of the whole key, which every backend (memcached included) accepts.
 * @module
 */
import { binding } from '../native.js'
import { invalidOption, string } from '../validate.js'

/** Options of {@link makeCacheKey}. */
export interface MakeCacheKeyOptions {
  /**
   * Prefix joined before the parts with `:`, e.g. the site domain (djblets uses
   * `Site.domain` plus `SITE_ROOT`). Not escaped. Empty means none.
   * @default ''
   */
  sitePrefix?: string
  /**
   * Replace the key with its hex HMAC-SHA256 under `encryptionKey`.
   * @default false
   */
  useEncryption?: boolean
  /**
   * The HMAC key used when `useEncryption` is on. Required then.
   * @default undefined
   */
  encryptionKey?: string | Uint8Array
}

/** Defaults of {@link MakeCacheKeyOptions}, merged in one place. */
export const MAKE_CACHE_KEY_DEFAULTS: Readonly<MakeCacheKeyOptions> = Object.freeze({
  sitePrefix: '',
  useEncryption: false,
  encryptionKey: undefined,
})

/** djblets' `MAX_KEY_SIZE`: keys longer than this many characters are shortened with SHA-256. */
export const MAX_KEY_SIZE = 240

// The keyed HMAC of the last (secret, prefix) pair is kept: callers use one secret for millions
// of keys, and keying the HMAC (plus re-encoding a string secret) costs more than the key itself.
let lastSecret: string | Uint8Array | undefined
let lastPrefix: string | null = null
let lastHmac: InstanceType<typeof binding.CacheKeyHmac> | undefined

/**
 * Returns the encryption key as bytes, or throws when encryption is on without a key.
 * @param key - the configured key
 */
function keyBytes(key: string | Uint8Array | undefined): Uint8Array {
  if (typeof key === 'string') return Buffer.from(key, 'utf8')
  if (key instanceof Uint8Array) return key
  throw invalidOption('encryptionKey when useEncryption is true', 'string or Uint8Array', key)
}

/**
 * The keyed HMAC for `secret` and `prefix`, reused while they stay the same. A Uint8Array secret
 * is matched by identity, so mutating it in place after use is not supported.
 */
function keyHmac(secret: string | Uint8Array | undefined, prefix: string | null) {
  if (lastHmac === undefined || secret !== lastSecret || prefix !== lastPrefix) {
    lastHmac = new binding.CacheKeyHmac(keyBytes(secret), prefix)
    lastSecret = secret
    lastPrefix = prefix
  }
  return lastHmac
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\x00-\x20\x7f]/

/**
 * Builds a cache key the way djblets' `make_cache_key` does.
 * @param parts - one key, or several parts to join with `:` (each escaped)
 * @param options - site prefix and encryption, see {@link MakeCacheKeyOptions}
 * @returns a key safe for every backend
 * @example
 * makeCacheKey(['thumb', 'a:b'], { sitePrefix: 'example.com' }) // 'example.com:thumb:a%3Ab'
 */
export function makeCacheKey(parts: string | readonly string[], options?: MakeCacheKeyOptions): string {
  const sitePrefix = string('sitePrefix', options?.sitePrefix ?? MAKE_CACHE_KEY_DEFAULTS.sitePrefix)
  const useEncryption = options?.useEncryption ?? MAKE_CACHE_KEY_DEFAULTS.useEncryption
  const prefix = sitePrefix === '' ? null : sitePrefix
  const single =
    typeof parts === 'string' ? parts : Array.isArray(parts) && parts.length === 1 ? parts[0] : undefined
  if (typeof single === 'string') {
    if (useEncryption) return keyHmac(options?.encryptionKey, prefix).hex(single)
    // Common case without a native call: nothing to escape and short enough. UTF-16 length
    // bounds the code point count djblets measures.
    const joined = prefix === null ? single : `${prefix}:${single}`
    if (joined.length <= MAX_KEY_SIZE && !NEEDS_ESCAPE.test(joined)) return joined
    return binding.makeCacheKeyOne(single, prefix, null)
  }
  const secret = useEncryption ? keyBytes(options?.encryptionKey) : null
  if (!Array.isArray(parts) || parts.length === 0 || parts.some((p) => typeof p !== 'string')) {
    throw invalidOption('parts', 'string or non-empty array of strings', parts)
  }
  return binding.makeCacheKey(parts as string[], prefix, secret)
}
