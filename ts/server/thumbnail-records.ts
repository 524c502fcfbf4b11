/**
 * `ThumbnailCache`: python-thumbnails' thumbnail cache (`BaseCacheBackend` with its `Simple` and
 * `Django` backends), remembering what was rendered so a hit skips the storage lookup.
 *
 * Differences from python-thumbnails (`thumbnails/cache_backends.py`), on purpose:
 * - the in-process store is per instance and bounded (the shared {@link LruStore}, evicting the
 *   least recently used record); python-thumbnails' `SimpleCacheBackend`
 *   was a class-level dict shared by the whole process that grew forever;
 * - names become keys through {@link makeCacheKey} instead of having `/` stripped, which made
 *   `a/bc` and `ab/c` collide, and so any name is a valid key for every backend;
 * - records are plain data, validated on every read: a record that is malformed or stored under
 *   another name is a miss, never handed to the server (python-thumbnails unpickled whatever the
 *   shared cache held).
 * @module
 */
import type { BaseCache } from '../cache/base.js'
import { makeCacheKey } from '../cache/keys.js'
import { InvalidOptionError } from '../errors.js'
import { LruStore } from '../store.js'
import { integer, invalidOption, mergeDefaults, string } from '../validate.js'

/** What is remembered about one rendered thumbnail. */
export interface ThumbnailRecord {
  /** The thumbnail's name, e.g. `'3f7/a9c…e1.jpg'`; the cache key. */
  name: string
  /** Path of the file in the output storage. */
  path: string
  /** Public URL of the file, when the storage has one. */
  url?: string
  /** Width in pixels. */
  width: number
  /** Height in pixels. */
  height: number
  /** File size in bytes. */
  size: number
  /** Output format, e.g. `'jpeg'`, `'webp'`. */
  format: string
}

/** Options of {@link ThumbnailCache}. */
export interface ThumbnailCacheOptions {
  /**
   * Where records live: any {@link BaseCache} (python-thumbnails' `DjangoCacheBackend` /
   * `RedisCacheBackend` role), or `null` for a bounded in-process LRU (`SimpleCacheBackend` role).
   * @default null
   */
  backend?: BaseCache | null
  /**
   * Seconds a record lives in a `backend`; `null` keeps it forever (python-thumbnails' Redis
   * backend never expired records).
   * @default 31536000 (one year, python-thumbnails' THUMBNAIL_CACHE_TIMEOUT)
   */
  timeout?: number | null
  /**
   * Records kept by the in-process store before the least recently used is dropped.
   * @default 1000
   */
  maxEntries?: number
  /**
   * Prefix of the keys, joined with `:`.
   * @default 'thumbnails'
   */
  keyPrefix?: string
}

/** Defaults of {@link ThumbnailCacheOptions}, merged in the constructor only. */
export const THUMBNAIL_CACHE_DEFAULTS: Readonly<Required<ThumbnailCacheOptions>> = Object.freeze({
  backend: null as BaseCache | null,
  timeout: 365 * 24 * 60 * 60 as number | null,
  maxEntries: 1000,
  keyPrefix: 'thumbnails',
})

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Returns why `value` is not a valid record, or `undefined` when it is.
 * @param value - the candidate
 */
export function thumbnailRecordProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalidOption('record', 'object', value).message
  const r = value as Record<string, unknown>
  for (const field of ['name', 'path', 'format'] as const) {
    if (typeof r[field] !== 'string' || r[field] === '') return invalidOption(field, 'non-empty string', r[field]).message
  }
  if (r.url !== undefined && typeof r.url !== 'string') return invalidOption('url', 'string', r.url).message
  for (const field of ['width', 'height', 'size'] as const) {
    if (!isCount(r[field])) return invalidOption(field, 'non-negative integer', r[field]).message
  }
  return undefined
}

/** Copies only the known fields, so nothing else stored alongside leaks out or in. */
function pick(r: ThumbnailRecord): ThumbnailRecord {
  const out: ThumbnailRecord = { name: r.name, path: r.path, width: r.width, height: r.height, size: r.size, format: r.format }
  if (r.url !== undefined) out.url = r.url
  return Object.freeze(out)
}

/**
 * Joins a list name with `/`, as python-thumbnails' `BaseCacheBackend.get` does.
 * @param name - a name, or its parts (e.g. the `[h[:3], h[3:]]` of `generate_filename`)
 */
function joinName(name: string | readonly string[]): string {
  const joined = Array.isArray(name) ? name.join('/') : name
  if (typeof joined !== 'string' || joined === '' || (Array.isArray(name) && name.some((p) => typeof p !== 'string'))) {
    throw invalidOption('name', 'non-empty string or array of strings', name)
  }
  return joined
}

/**
 * A cache of thumbnail records keyed by thumbnail name.
 * @example
 * const thumbs = new ThumbnailCache({ backend: caches.get('default') })
 * await thumbs.set({ name: 'ab1/c2.jpg', path: 'ab1/c2.jpg', url: '/t/ab1/c2.jpg', width: 100, height: 80, size: 4096, format: 'jpeg' })
 * await thumbs.get(['ab1', 'c2.jpg']) // the record
 */
export class ThumbnailCache {
  /** The shared cache, or `null` when records live in this process. */
  readonly backend: BaseCache | null
  /** Seconds records live in the backend (`null` = forever). */
  readonly timeout: number | null
  /** Bound of the in-process store. */
  readonly maxEntries: number
  /** Key prefix. */
  readonly keyPrefix: string
  private readonly local: LruStore<ThumbnailRecord>

  /** @param options - see {@link ThumbnailCacheOptions} */
  constructor(options: ThumbnailCacheOptions = {}) {
    const o = mergeDefaults(THUMBNAIL_CACHE_DEFAULTS, options)
    if (o.backend !== null && (typeof o.backend !== 'object' || typeof (o.backend as BaseCache).get !== 'function')) {
      throw invalidOption('backend', 'BaseCache or null', o.backend)
    }
    if (o.timeout !== null && (typeof o.timeout !== 'number' || Number.isNaN(o.timeout))) {
      throw invalidOption('timeout', 'number or null', o.timeout)
    }
    this.backend = o.backend
    this.timeout = o.timeout
    this.maxEntries = integer('maxEntries', o.maxEntries, { min: 1 })
    this.keyPrefix = string('keyPrefix', o.keyPrefix)
    // cullFrequency = maxEntries: a full store drops exactly its least recently used record.
    this.local = new LruStore({ maxEntries: this.maxEntries, cullFrequency: this.maxEntries })
  }

  /** The storage key of a name. */
  private key(name: string): string {
    return makeCacheKey(name, { sitePrefix: this.keyPrefix })
  }

  /**
   * The record of a thumbnail, or `undefined` when unknown (or when what is stored is not a valid
   * record for this name).
   * @param name - the name, or its parts joined with `/`
   */
  async get(name: string | readonly string[]): Promise<ThumbnailRecord | undefined> {
    const n = joinName(name)
    const key = this.key(n)
    let stored: unknown
    if (this.backend) stored = await this.backend.get(key)
    else stored = this.local.get(key)
    if (stored === undefined || stored === null) return undefined
    const problem = thumbnailRecordProblem(stored)
    if (problem !== undefined || (stored as ThumbnailRecord).name !== n) {
      this.backend?.logger.warn(
        `ThumbnailCache: ignoring an invalid record under '${n}': ${problem ?? `it is named '${(stored as ThumbnailRecord).name}'`}`,
      )
      return undefined
    }
    return pick(stored as ThumbnailRecord)
  }

  /**
   * Remembers a record under its name (python-thumbnails' `cache.set(thumbnail)`), or under
   * `name` when given, which must then match `record.name`.
   * @throws {@link InvalidOptionError} for an invalid record
   */
  async set(nameOrRecord: string | readonly string[] | ThumbnailRecord, record?: ThumbnailRecord): Promise<void> {
    const isRecordFirst = typeof nameOrRecord === 'object' && !Array.isArray(nameOrRecord)
    const r = (isRecordFirst ? nameOrRecord : record) as ThumbnailRecord
    const problem = thumbnailRecordProblem(r)
    if (problem !== undefined) throw new InvalidOptionError(problem)
    const n = isRecordFirst ? r.name : joinName(nameOrRecord as string | readonly string[])
    if (n !== r.name) {
      throw invalidOption('record.name', `the name ${JSON.stringify(n)}`, r.name)
    }
    const key = this.key(n)
    const clean = pick(r)
    if (this.backend) {
      await this.backend.set(key, { ...clean }, this.timeout)
      return
    }
    this.local.set(key, clean, null)
  }

  /**
   * Forgets a thumbnail.
   * @param name - the name, or its parts
   * @returns whether a record was removed
   */
  async delete(name: string | readonly string[]): Promise<boolean> {
    const key = this.key(joinName(name))
    if (this.backend) return this.backend.delete(key)
    return this.local.delete(key)
  }

  /** Forgets every record of the in-process store; with a backend, clears the whole backend. */
  async clear(): Promise<void> {
    if (this.backend) await this.backend.clear()
    else this.local.clear()
  }

  /** Number of records in the in-process store (0 with a backend, which cannot tell cheaply). */
  get size(): number {
    return this.local.size
  }
}
