/**
 * djblets-style memoization over any {@link BaseCache}: `cacheMemoize` for one value and
 * `cacheMemoizeIter` for a stream of items, with chunked storage for large values.
 *
 * Large (or encrypted) values are serialized with the shared data-only format, compressed with
 * zlib, optionally sealed with AES-256-GCM, and cut into `2**20 - 1024`-byte chunks stored under
 * `key-0 … key-N` by the Rust core. The main key holds a small manifest (count, length, CRC-32,
 * write id). Unlike djblets, which pickles and uses unauthenticated AES-CFB8, nothing read back
 * can run code, and a missing, stale, reordered or tampered chunk is detected and simply makes
 * the value be computed again.
 * @module
 */
import { ChunkCorruptError } from '../errors.js'
import { DogpileLock, SingleFlight, waitFor, type LockHandle } from '../lock.js'
import { binding, callSync } from '../native.js'
import { invalidOption } from '../validate.js'
import type { BaseCache } from './base.js'
import { makeCacheKey } from './keys.js'
import {
  checkAborted,
  isUnusable,
  memoKey,
  nativeOptions,
  readChunked,
  resolveOptions,
  storeChunks,
  storeManifest,
  warn,
  writeChunked,
  type CacheMemoizeOptions,
  type Resolved,
  type StoredManifest,
} from './memoize-store.js'
import { deserialize, serialize } from './serialize.js'

export { CACHE_MEMOIZE_DEFAULTS, type CacheMemoizeOptions } from './memoize-store.js'

/** Longest pause between lock polls, in ms (djblets polls every 0.25 s). */
const LOCK_RETRY_MS = 250

/** Items of {@link cacheMemoizeIter}: an (async) iterable, or a function returning one. */
export type ItemsSource<T> = Iterable<T> | AsyncIterable<T> | (() => Iterable<T> | AsyncIterable<T>)

/** In-process single flights per cache: concurrent calls for one key share one computation. */
const flights = new WeakMap<BaseCache, SingleFlight<unknown>>()

/**
 * Returns the cached value for `key`, or computes it with `fn`, stores it and returns it.
 *
 * Concurrent calls in this process for the same cache and key share one computation. A chunked
 * value that is missing a chunk or fails verification is recomputed, never returned.
 * A result of `undefined` is returned but cannot be told apart from a miss, so it is recomputed
 * next time.
 * @param cache - any {@link BaseCache}
 * @param key - the key, or key parts joined as in {@link makeCacheKey}
 * @param fn - computes the value (data only: JSON types plus Buffer, Date, Map, Set, BigInt)
 * @param options - see {@link CacheMemoizeOptions}
 * @example
 * const stats = await cacheMemoize(cache, ['stats', userId], () => computeStats(userId), { largeData: true })
 */
export async function cacheMemoize<T>(
  cache: BaseCache,
  key: string | readonly string[],
  fn: () => T | Promise<T>,
  options?: CacheMemoizeOptions,
): Promise<T> {
  if (typeof fn !== 'function') throw invalidOption('fn', 'function', fn)
  const o = resolveOptions(options)
  checkAborted(o)
  const mainKey = memoKey(key, o)
  let flight = flights.get(cache)
  if (!flight) flights.set(cache, (flight = new SingleFlight()))
  // A forced computation neither joins nor lends its result to a flight that may end in a hit.
  const id = o.forceOverwrite ? `force\0${mainKey}` : mainKey
  return flight.do(id, () => memoizeOnce(cache, mainKey, fn, o)) as Promise<T>
}

/** One flight of {@link cacheMemoize}: read, else compute (under the lock when configured) and store. */
async function memoizeOnce<T>(cache: BaseCache, mainKey: string, fn: () => T | Promise<T>, o: Resolved): Promise<T> {
  if (!o.forceOverwrite) {
    const hit = await readValue<T>(cache, mainKey, o)
    if (hit.found) return hit.value
  }
  const compute = async () => {
    const value = await fn()
    if (o.largeData || o.encrypt) await writeChunked(cache, mainKey, value, o)
    else await cache.set(mainKey, value, o.expiration)
    return value
  }
  return o.lockTimeout === null ? compute() : underLock(cache, mainKey, o, compute)
}

/** Reads a memoized value; `found` is false on a miss or an unusable stored value. */
async function readValue<T>(cache: BaseCache, mainKey: string, o: Resolved): Promise<{ found: boolean; value: T }> {
  const miss = { found: false, value: undefined as T }
  if (o.largeData || o.encrypt) {
    const bytes = await readChunked(cache, mainKey, o)
    if (bytes === undefined) return miss
    try {
      return { found: true, value: callSync(() => deserialize(bytes)) as T }
    } catch (err) {
      if (!isUnusable(err)) throw err
      warn(cache, `cacheMemoize: recomputing '${mainKey}' because its stored value does not deserialize`, err)
      return miss
    }
  }
  const hit = await cache.get<T>(mainKey)
  // A manifest left by a chunked write under the same key is not this call's value.
  const isChunkManifest = typeof hit === 'object' && hit !== null && (hit as Partial<StoredManifest>).restthumbsChunks === 1
  return hit !== undefined && !isChunkManifest ? { found: true, value: hit } : miss
}

/**
 * Runs `compute` while holding the cross-process lock of `mainKey`. Without the lock it polls
 * (with backoff) for the lock or the owner's value, and computes anyway once `lockWait` has passed.
 */
async function underLock<T>(cache: BaseCache, mainKey: string, o: Resolved, compute: () => Promise<T>): Promise<T> {
  const lock = new DogpileLock(cache, { timeout: o.lockTimeout as number, prefix: '' })
  const name = makeCacheKey(`_lock_:${mainKey}`)
  let polled = false
  const poll = async (): Promise<{ handle: LockHandle } | { hit: T } | undefined> => {
    // Polls after the first also look for the owner's value (the first one follows a read).
    if (polled && !o.forceOverwrite) {
      const hit = await readValue<T>(cache, mainKey, o)
      if (hit.found) return { hit: hit.value }
    }
    polled = true
    const handle = await lock.tryAcquire(name)
    return handle ? { handle } : undefined
  }
  const timeoutMs = (o.lockWait ?? (o.lockTimeout as number)) * 1000
  const got = await waitFor(poll, { timeoutMs, maxDelayMs: LOCK_RETRY_MS, signal: o.signal })
  if (got === undefined) {
    checkAborted(o)
    warn(cache, `cacheMemoize: lock on '${mainKey}' still held after waiting; computing anyway`)
    return compute()
  }
  if ('hit' in got) return got.hit
  try {
    // The previous owner may have stored the value between our read and our lock.
    if (!o.forceOverwrite) {
      const hit = await readValue<T>(cache, mainKey, o)
      if (hit.found) return hit.value
    }
    return await compute()
  } finally {
    await got.handle.release()
  }
}

/** Items are framed by a 4-byte big-endian length before their serialized bytes. */
const FRAME_HEADER = 4
/** Serialized items are gathered up to this size before one native push. */
const PUSH_BATCH = 64 * 1024

function* readFrames(buf: Buffer): Generator<unknown> {
  let at = 0
  while (at < buf.length) {
    if (at + FRAME_HEADER > buf.length) throw new ChunkCorruptError('Truncated item frame in a memoized stream')
    const len = buf.readUInt32BE(at)
    at += FRAME_HEADER
    if (at + len > buf.length) throw new ChunkCorruptError('Item frame runs past the end of a memoized stream')
    yield deserialize(buf.subarray(at, at + len))
    at += len
  }
}

/** Decodes every item up front, so a corrupt stream is found before the first item is yielded. */
function decodeItems(cache: BaseCache, mainKey: string, bytes: Buffer): unknown[] | undefined {
  try {
    return [...readFrames(bytes)]
  } catch (err) {
    if (!isUnusable(err)) throw err
    warn(cache, `cacheMemoize: recomputing '${mainKey}' because its stored items do not deserialize`, err)
    return undefined
  }
}

/**
 * Memoizes a stream of items (djblets' `cache_memoize_iter`). On a hit the stored items are
 * yielded; on a miss the source's items are yielded as they are produced while being serialized,
 * compressed and written to the cache one full chunk at a time, so the whole result is never held
 * in memory. The value is only cached when the generator is consumed to the end.
 * @param cache - any {@link BaseCache}
 * @param key - the key, or key parts joined as in {@link makeCacheKey}
 * @param items - an (async) iterable of data items, or a function returning one (called only on
 * a miss)
 * @param options - see {@link CacheMemoizeOptions}; `largeData` is implied
 */
export async function* cacheMemoizeIter<T>(
  cache: BaseCache,
  key: string | readonly string[],
  items: ItemsSource<T>,
  options?: CacheMemoizeOptions,
): AsyncGenerator<T, void, undefined> {
  const o = resolveOptions(options)
  checkAborted(o)
  const mainKey = memoKey(key, o)

  if (!o.forceOverwrite) {
    const bytes = await readChunked(cache, mainKey, o)
    const cached = bytes === undefined ? undefined : decodeItems(cache, mainKey, bytes)
    if (cached !== undefined) {
      yield* cached as T[]
      return
    }
  }

  const source = typeof items === 'function' ? items() : items
  if (source === null || typeof source !== 'object' || !(Symbol.iterator in source || Symbol.asyncIterator in source)) {
    throw invalidOption('items', 'iterable or async iterable', source)
  }
  const writer = callSync(() => new binding.ChunkWriter(nativeOptions(mainKey, o)))
  let written = 0
  let ok = true
  let batch: Buffer[] = []
  let batchBytes = 0
  const flush = async () => {
    if (batchBytes === 0) return
    const bytes = batch.length === 1 ? batch[0] : Buffer.concat(batch, batchBytes)
    batch = []
    batchBytes = 0
    const done = callSync(() => writer.push(bytes))
    if (ok && done.length > 0) ok = await storeChunks(cache, mainKey, written, done, o)
    written += done.length
  }
  for await (const item of source as AsyncIterable<T>) {
    checkAborted(o)
    const body = serialize(item)
    const header = Buffer.allocUnsafe(FRAME_HEADER)
    header.writeUInt32BE(body.length, 0)
    batch.push(header, body)
    batchBytes += FRAME_HEADER + body.length
    if (batchBytes >= PUSH_BATCH) await flush()
    yield item
  }
  await flush()
  const { chunks, manifest } = callSync(() => writer.finish())
  if (ok) ok = await storeChunks(cache, mainKey, written, chunks, o)
  if (ok) await storeManifest(cache, mainKey, manifest, o)
  else warn(cache, `cacheMemoizeIter: could not store every chunk of '${mainKey}'; the items were not cached`)
}
