/** Shared fixtures of the memoization specs. */
import { randomBytes, randomUUID } from 'node:crypto'

import { makeCacheKey } from '../../ts/cache/keys.js'
import { MemoryCache } from '../../ts/cache/memory.js'
import type { CacheLogger } from '../../ts/cache/options.js'

/** A logger that drops everything. */
export const quiet: CacheLogger = { warn: () => {}, info: () => {} }

/** A fresh in-process cache that no other test shares. */
export function memory(): MemoryCache {
  return new MemoryCache({ location: randomUUID(), maxEntries: 10_000, timeout: null, logger: quiet })
}

/** Chunk key `i` of a memoized value, as the memoizer names it. */
export function chunkKey(key: string, i: number, secret?: string): string {
  const opts = secret ? { useEncryption: true, encryptionKey: secret } : {}
  return makeCacheKey(`${makeCacheKey(key, opts)}-${i}`, opts)
}

/**
 * A counter-wrapped producer; `make` gets the call's number (from 1).
 * @param delayMs - how long each call takes before `make` runs (a slow computation)
 */
export function counted<T>(make: (call: number) => T, delayMs = 0) {
  const fn = async () => {
    const call = ++fn.calls
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs))
    return make(call)
  }
  fn.calls = 0
  return fn
}

/** A value that serializes to about 3 MB of incompressible bytes, so it takes > 2 chunks. */
export function bigValue() {
  return { title: 'big', blob: randomBytes(3 * 1024 * 1024), when: new Date(1_700_000_000_000) }
}
