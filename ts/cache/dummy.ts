/**
 * `DummyCache`: implements the cache interface but stores nothing (Django's dummy backend), for
 * development and for turning caching off without changing code.
 * @module
 */
import { BaseCache } from './base.js'
import { CacheKeyNotFoundError } from './errors.js'

/** Stores nothing: every read misses, `add` reports success, `incr` finds no key. */
export class DummyCache extends BaseCache {
  /** @internal */
  override async _get(): Promise<unknown> {
    return undefined
  }
  /** @internal */
  override async _set(): Promise<void> {}
  /** @internal Like Django: the value was "added" (and immediately forgotten). */
  override async _add(): Promise<boolean> {
    return true
  }
  /** @internal */
  override async _delete(): Promise<boolean> {
    return false
  }
  /** @internal */
  override async _touch(): Promise<boolean> {
    return false
  }
  /** @internal */
  override async _has(): Promise<boolean> {
    return false
  }
  /** @internal */
  override async _incr(key: string): Promise<number> {
    throw new CacheKeyNotFoundError(`Key '${key}' not found (DummyCache stores nothing)`)
  }
  /** @internal */
  override async _deleteIfEquals(): Promise<boolean> {
    return false
  }
  /** @internal */
  override async _clear(): Promise<void> {}
}
