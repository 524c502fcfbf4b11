/**
 * djblets-style memoization over any {@link BaseCache}: `cacheMemoize` for one value and
 * `cacheMemoizeIter` for a stream of items, with chunked storage for large values.
 *
 * Large (or encrypted) values are serialized with the shared data-only format, compressed with
 * zlib, optionally sealed with AES-256-GCM, and cut into `2**20 - 1024`-byte chunks stored under
 * `key-0 … key-N` by the Rust core. The main key holds a small manifest (count, length, CRC-32,
 * write id). Unlike djblets, which pickles and uses unauthenticated AES-CFB8, nothing read back
 * can run code, and a missing, stale, reordered or tampered chunk is detected and simply makes
 * the value be computed again (REFERENCE B6, "Content / deserialisation").
 * @module
 */
import { AbortError, ChunkCorruptError, InvalidOptionError, TooLargeError } from '../errors.js'
import { DogpileLock } from '../lock.js'
import { binding, callAsync, callSync } from '../native.js'
import type { BaseCache } from './base.js'
import { CacheSerializationError } from './errors.js'
import { makeCacheKey } from './keys.js'
import { deserialize, serialize } from './serialize.js'

/** Options of {@link cacheMemoize} and {@link cacheMemoizeIter}. */
export interface CacheMemoizeOptions {
  /**
   * Seconds the value lives; `null` keeps it forever.
   * @default 2592000 (30 days, as djblets)
   */
  expiration?: number | null
  /**
   * Compute and store even when a value is cached.
   * @default false
   */
  forceOverwrite?: boolean
  /**
   * Store the value in chunks of at most `2**20 - 1024` bytes (for memcached-like stores and
   * values over 1 MB). Always on for {@link cacheMemoizeIter} and when `encrypt` is on.
   * @default false
   */
  largeData?: boolean
  /**
   * zlib-compress chunked values.
   * @default true
   */
  compress?: boolean
  /**
   * zlib level (0–9) of compressed chunks. The default, chosen with `bench/cache.mjs`, stays
   * within ~20% of level 6's size at ~2.5× its speed.
   * @default 2
   */
  compressionLevel?: number
  /**
   * Seal the stored value with AES-256-GCM and replace the key by its HMAC-SHA256, so the store
   * learns neither the value nor what it is about. Requires `encryptionKey`.
   * @default false
   */
  encrypt?: boolean
  /**
   * Secret for `encrypt` (any length; keys are derived from it).
   * @default undefined
   */
  encryptionKey?: string | Uint8Array
  /**
   * Prefix of the memoization key (djblets uses the site domain); see {@link makeCacheKey}.
   * @default ''
   */
  sitePrefix?: string
  /**
   * Largest value, in bytes once serialized, accepted when reading chunks back; a bigger stored
   * value is treated as corrupt (decompression bombs).
   * @default 536870912 (512 MiB)
   */
  maxSize?: number
  /**
   * Seconds of a cross-process lock (djblets' `CacheLock`) taken in the cache on a miss, so that
   * one process computes while the others wait for its value; `null` relies on the in-process
   * single flight only. The lock is an atomic `add` of a random token, extended while the owner
   * works and released with a compare-and-delete.
   * @default null
   */
  lockTimeout?: number | null
  /**
   * Seconds a process waits for another one's locked computation before computing anyway
   * (djblets logs and computes too). Defaults to `lockTimeout`.
   * @default undefined
   */
  lockWait?: number
  /**
   * Aborts native compression/decompression and the wait for a value.
   * @default undefined
   */
  signal?: AbortSignal
}

/** Defaults of {@link CacheMemoizeOptions}, merged in one place ({@link resolveOptions}). */
export const CACHE_MEMOIZE_DEFAULTS = Object.freeze({
  expiration: 30 * 24 * 60 * 60 as number | null,
  forceOverwrite: false,
  largeData: false,
  compress: true,
  compressionLevel: 2,
  encrypt: false,
  encryptionKey: undefined as string | Uint8Array | undefined,
  sitePrefix: '',
  maxSize: 512 * 1024 * 1024,
  lockTimeout: null as number | null,
  lockWait: undefined as number | undefined,
  signal: undefined as AbortSignal | undefined,
})

/** Pause between lock polls, in ms, plus up to the same again at random (djblets: 0.25 s). */
const LOCK_RETRY_MS = 250

type Resolved = typeof CACHE_MEMOIZE_DEFAULTS & { secret: Buffer | undefined }

/** The record stored under the main key of a chunked value. */
interface StoredManifest {
  /** Format marker and version. */
  restthumbsChunks: 1
  count: number
  length: number
  crc32: number
  id: string
  compressed: boolean
  encrypted: boolean
  /** Where each 1 MiB segment starts in the compressed stream (parallel inflate). */
  segments: number[]
}

/** Items of {@link cacheMemoizeIter}: an (async) iterable, or a function returning one. */
export type ItemsSource<T> = Iterable<T> | AsyncIterable<T> | (() => Iterable<T> | AsyncIterable<T>)

function describe(value: unknown): string {
  return `${typeof value === 'string' ? `'${value}'` : String(value)} of type ${typeof value}`
}

/**
 * Merges options over {@link CACHE_MEMOIZE_DEFAULTS} and validates them.
 * @param options - the caller's options
 */
function resolveOptions(options: CacheMemoizeOptions | undefined): Resolved {
  const o = { ...CACHE_MEMOIZE_DEFAULTS, secret: undefined as Buffer | undefined }
  if (options) for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as Record<string, unknown>)[k] = v
  if (o.expiration !== null && (typeof o.expiration !== 'number' || Number.isNaN(o.expiration))) {
    throw new InvalidOptionError(`Expected number or null for expiration but received ${describe(o.expiration)}`)
  }
  const level = o.compressionLevel
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new InvalidOptionError(`Expected integer between 0 and 9 for compressionLevel but received ${describe(level)}`)
  }
  if (o.lockTimeout !== null && !(typeof o.lockTimeout === 'number' && o.lockTimeout > 0 && Number.isFinite(o.lockTimeout))) {
    throw new InvalidOptionError(`Expected positive number or null for lockTimeout but received ${describe(o.lockTimeout)}`)
  }
  if (o.lockWait !== undefined && !(typeof o.lockWait === 'number' && o.lockWait >= 0 && Number.isFinite(o.lockWait))) {
    throw new InvalidOptionError(`Expected non-negative number for lockWait but received ${describe(o.lockWait)}`)
  }
  if (!Number.isSafeInteger(o.maxSize) || o.maxSize <= 0) {
    throw new InvalidOptionError(`Expected positive integer for maxSize but received ${describe(o.maxSize)}`)
  }
  if (o.encrypt) {
    const key = o.encryptionKey
    if (typeof key === 'string' && key.length > 0) o.secret = Buffer.from(key, 'utf8')
    else if (key instanceof Uint8Array && key.byteLength > 0) o.secret = Buffer.from(key.buffer, key.byteOffset, key.byteLength)
    else {
      throw new InvalidOptionError(
        `Expected non-empty string or Uint8Array for encryptionKey when encrypt is true but received ${describe(key)}`,
      )
    }
  }
  return o
}

/**
 * The memoization key: djblets' `make_cache_key` (HMAC'd when encrypting).
 * @param key - the caller's key or key parts
 * @param o - resolved options
 */
function memoKey(key: string | readonly string[], o: Resolved): string {
  return makeCacheKey(key, { sitePrefix: o.sitePrefix, useEncryption: o.encrypt, encryptionKey: o.secret })
}

/**
 * Key of chunk `i`, re-normalised like djblets' `make_subkey` so that a long key plus a suffix
 * still fits every backend.
 */
function chunkKey(mainKey: string, i: number, o: Resolved): string {
  return makeCacheKey(`${mainKey}-${i}`, { useEncryption: o.encrypt, encryptionKey: o.secret })
}

function isManifest(v: unknown, o: Resolved): v is StoredManifest {
  if (typeof v !== 'object' || v === null) return false
  const m = v as Partial<StoredManifest>
  // A forged count must not make us fetch millions of keys: it can be at most what maxSize
  // allows (incompressible data sealed in full chunks, plus the last one).
  const maxCount = Math.ceil(o.maxSize / (binding.CHUNK_SIZE - 64)) + 1
  return (
    m.restthumbsChunks === 1 &&
    Number.isInteger(m.count) &&
    (m.count as number) >= 1 &&
    (m.count as number) <= maxCount &&
    typeof m.length === 'number' &&
    typeof m.crc32 === 'number' &&
    typeof m.id === 'string' &&
    typeof m.compressed === 'boolean' &&
    typeof m.encrypted === 'boolean' &&
    Array.isArray(m.segments) &&
    m.segments.length <= maxCount * 2 &&
    m.segments.every((x) => typeof x === 'number')
  )
}

function nativeOptions(mainKey: string, o: Resolved) {
  return {
    cacheKey: mainKey,
    level: o.compress ? o.compressionLevel : undefined,
    encryptionKey: o.secret,
  }
}

/** Problems that mean "the stored value is unusable: compute it again". */
function isUnusable(err: unknown): boolean {
  return err instanceof ChunkCorruptError || err instanceof TooLargeError || err instanceof CacheSerializationError
}

function warn(cache: BaseCache, message: string, err?: unknown): void {
  try {
    cache.logger.warn(message, err)
  } catch {
    // A broken logger must not turn a recoverable miss into a failure.
  }
}

/**
 * Reads and joins the chunks of a chunked value. Resolves `undefined` on a miss, a missing
 * chunk, or a corrupt or tampered value (logged), so the caller recomputes.
 */
async function readChunked(cache: BaseCache, mainKey: string, o: Resolved): Promise<Buffer | undefined> {
  const manifest = await cache.get(mainKey)
  if (manifest === undefined || manifest === null) return undefined
  if (!isManifest(manifest, o)) {
    warn(cache, `cacheMemoize: ignoring a value under '${mainKey}' that is not a chunk manifest`)
    return undefined
  }
  const keys = Array.from({ length: manifest.count }, (_, i) => chunkKey(mainKey, i, o))
  const found = await cache.getMany(keys)
  const chunks: Buffer[] = []
  for (const k of keys) {
    const c = found.get(k)
    if (!(c instanceof Uint8Array)) {
      // djblets' MissingChunkError: evicted or never fully written.
      return undefined
    }
    chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength))
  }
  checkAborted(o)
  try {
    const { restthumbsChunks: _, ...m } = manifest
    return await callAsync(() =>
      binding.joinChunks(chunks, m, nativeOptions(mainKey, o), o.maxSize, o.signal),
    )
  } catch (err) {
    if (!isUnusable(err)) throw err
    warn(cache, `cacheMemoize: recomputing '${mainKey}' because its stored chunks are unusable`, err)
    return undefined
  }
}

/** Stores chunks under their keys; resolves false when any could not be stored. */
async function storeChunks(
  cache: BaseCache,
  mainKey: string,
  first: number,
  chunks: Buffer[],
  o: Resolved,
): Promise<boolean> {
  if (chunks.length === 0) return true
  const entries = new Map<string, Buffer>()
  chunks.forEach((c, i) => entries.set(chunkKey(mainKey, first + i, o), c))
  const failed = await cache.setMany(entries, o.expiration)
  return failed.length === 0
}

/** Stores the manifest last, so readers never see a count before its chunks exist. */
async function storeManifest(
  cache: BaseCache,
  mainKey: string,
  manifest: Omit<StoredManifest, 'restthumbsChunks'>,
  o: Resolved,
): Promise<void> {
  const stored: StoredManifest = { restthumbsChunks: 1, ...manifest }
  await cache.set(mainKey, stored, o.expiration)
}

/**
 * Throws {@link AbortError} when `o.signal` has fired. napi-rs only cancels a task whose signal
 * fires after it was queued, so an already aborted signal is checked here first.
 */
function checkAborted(o: Resolved): void {
  if (o.signal?.aborted) throw new AbortError()
}

async function writeChunked(cache: BaseCache, mainKey: string, value: unknown, o: Resolved): Promise<void> {
  checkAborted(o)
  const bytes = serialize(value)
  const { chunks, manifest } = await callAsync(() => binding.splitChunks(bytes, nativeOptions(mainKey, o), o.signal))
  if (await storeChunks(cache, mainKey, 0, chunks, o)) await storeManifest(cache, mainKey, manifest, o)
  else warn(cache, `cacheMemoize: could not store every chunk of '${mainKey}'; the value was not cached`)
}

/** In-flight computations per cache and memoization key (in-process single flight). */
const inflight = new WeakMap<BaseCache, Map<string, Promise<unknown>>>()

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
  if (typeof fn !== 'function') throw new InvalidOptionError(`Expected function for fn but received ${describe(fn)}`)
  const o = resolveOptions(options)
  checkAborted(o)
  const mainKey = memoKey(key, o)
  const chunked = o.largeData || o.encrypt

  let perCache = inflight.get(cache)
  const running = perCache?.get(mainKey)
  if (running) return (await running) as T

  if (!o.forceOverwrite) {
    const hit = await readValue<T>(cache, mainKey, o)
    if (hit.found) return hit.value
    // Another caller may have started while we were reading.
    const started = inflight.get(cache)?.get(mainKey)
    if (started) return (await started) as T
  }

  const compute = async () => {
    const value = await fn()
    if (chunked) await writeChunked(cache, mainKey, value, o)
    else await cache.set(mainKey, value, o.expiration)
    return value
  }
  const work = o.lockTimeout === null ? compute() : underLock(cache, mainKey, o, compute)
  if (!perCache) {
    perCache = new Map()
    inflight.set(cache, perCache)
  }
  perCache.set(mainKey, work)
  try {
    return await work
  } finally {
    if (perCache.get(mainKey) === work) perCache.delete(mainKey)
    if (perCache.size === 0) inflight.delete(cache)
  }
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Runs `compute` while holding the cross-process lock of `mainKey`. Without the lock it polls
 * the cache for the owner's value, and computes anyway once `lockWait` has passed.
 */
async function underLock<T>(cache: BaseCache, mainKey: string, o: Resolved, compute: () => Promise<T>): Promise<T> {
  const lock = new DogpileLock(cache, { timeout: o.lockTimeout as number, prefix: '' })
  const name = makeCacheKey(`_lock_:${mainKey}`)
  const deadline = Date.now() + (o.lockWait ?? (o.lockTimeout as number)) * 1000
  for (;;) {
    const handle = await lock.tryAcquire(name)
    if (handle) {
      try {
        // The previous owner may have stored the value between our read and our lock.
        if (!o.forceOverwrite) {
          const hit = await readValue<T>(cache, mainKey, o)
          if (hit.found) return hit.value
        }
        return await compute()
      } finally {
        await handle.release()
      }
    }
    if (Date.now() >= deadline) {
      warn(cache, `cacheMemoize: lock on '${mainKey}' still held after waiting; computing anyway`)
      return compute()
    }
    await sleep(LOCK_RETRY_MS + Math.random() * LOCK_RETRY_MS)
    checkAborted(o)
    if (!o.forceOverwrite) {
      const hit = await readValue<T>(cache, mainKey, o)
      if (hit.found) return hit.value
    }
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
    throw new InvalidOptionError(`Expected iterable or async iterable for items but received ${describe(source)}`)
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
