/**
 * The storage side of `cacheMemoize`: its options, and how a value is kept in a cache, either
 * as one entry or (large or encrypted values) serialized, compressed, optionally sealed with
 * AES-256-GCM, and cut into `2**20 - 1024`-byte chunks stored under `key-0 … key-N` by the Rust
 * core, with a small manifest (count, length, CRC-32, write id) under the main key, written last.
 * @module
 */
import type { ChunkManifest } from '../../binding.cjs'
import { AbortError, ChunkCorruptError, TooLargeError } from '../errors.js'
import { binding, callAsync } from '../native.js'
import { integer, invalidOption, mergeDefaults } from '../validate.js'
import type { BaseCache } from './base.js'
import { CacheSerializationError } from './errors.js'
import { makeCacheKey } from './keys.js'
import { serialize } from './serialize.js'

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

/** Defaults of {@link CacheMemoizeOptions}, merged in one place (`resolveOptions`). */
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

/** The defaults' shape with the option types widened (the frozen literals are narrower). */
type CacheMemoizeDefaults = { [K in keyof typeof CACHE_MEMOIZE_DEFAULTS]: NonNullable<CacheMemoizeOptions[K]> | (typeof CACHE_MEMOIZE_DEFAULTS)[K] }

/** Options merged over the defaults, with the derived secret. */
export type Resolved = CacheMemoizeDefaults & { secret: Buffer | undefined }

/** The record stored under the main key of a chunked value: the native manifest plus a marker. */
export type StoredManifest = ChunkManifest & {
  /** Format marker and version. */
  restthumbsChunks: 1
}


/**
 * Merges options over {@link CACHE_MEMOIZE_DEFAULTS} and validates them.
 * @param options - the caller's options
 */
export function resolveOptions(options: CacheMemoizeOptions | undefined): Resolved {
  const o: Resolved = { ...mergeDefaults<CacheMemoizeDefaults>(CACHE_MEMOIZE_DEFAULTS, options), secret: undefined }
  if (o.expiration !== null && (typeof o.expiration !== 'number' || Number.isNaN(o.expiration))) {
    throw invalidOption('expiration', 'number or null', o.expiration)
  }
  integer('compressionLevel', o.compressionLevel, { max: 9 })
  if (o.lockTimeout !== null && !(typeof o.lockTimeout === 'number' && o.lockTimeout > 0 && Number.isFinite(o.lockTimeout))) {
    throw invalidOption('lockTimeout', 'positive number or null', o.lockTimeout)
  }
  if (o.lockWait !== undefined && !(typeof o.lockWait === 'number' && o.lockWait >= 0 && Number.isFinite(o.lockWait))) {
    throw invalidOption('lockWait', 'non-negative number', o.lockWait)
  }
  integer('maxSize', o.maxSize, { min: 1 })
  if (o.encrypt) {
    const key = o.encryptionKey
    if (typeof key === 'string' && key.length > 0) o.secret = Buffer.from(key, 'utf8')
    else if (key instanceof Uint8Array && key.byteLength > 0) o.secret = Buffer.from(key.buffer, key.byteOffset, key.byteLength)
    else throw invalidOption('encryptionKey when encrypt is true', 'non-empty string or Uint8Array', key)
  }
  return o
}

/**
 * The memoization key: djblets' `make_cache_key` (HMAC'd when encrypting).
 * @param key - the caller's key or key parts
 * @param o - resolved options
 */
export function memoKey(key: string | readonly string[], o: Resolved): string {
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

export function nativeOptions(mainKey: string, o: Resolved) {
  return {
    cacheKey: mainKey,
    level: o.compress ? o.compressionLevel : undefined,
    encryptionKey: o.secret,
  }
}

/** Problems that mean "the stored value is unusable: compute it again". */
export function isUnusable(err: unknown): boolean {
  return err instanceof ChunkCorruptError || err instanceof TooLargeError || err instanceof CacheSerializationError
}

export function warn(cache: BaseCache, message: string, err?: unknown): void {
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
export async function readChunked(cache: BaseCache, mainKey: string, o: Resolved): Promise<Buffer | undefined> {
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
export async function storeChunks(
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
export async function storeManifest(
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
export function checkAborted(o: Resolved): void {
  if (o.signal?.aborted) throw new AbortError()
}

export async function writeChunked(cache: BaseCache, mainKey: string, value: unknown, o: Resolved): Promise<void> {
  checkAborted(o)
  const bytes = serialize(value)
  const { chunks, manifest } = await callAsync(() => binding.splitChunks(bytes, nativeOptions(mainKey, o), o.signal))
  if (await storeChunks(cache, mainKey, 0, chunks, o)) await storeManifest(cache, mainKey, manifest, o)
  else warn(cache, `cacheMemoize: could not store every chunk of '${mainKey}'; the value was not cached`)
}

