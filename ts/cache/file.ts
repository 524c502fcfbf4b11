/**
 * `FileCache`: one file per key on a local filesystem (Django's filebased backend).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

import { errorCode, isMissing, writeFileAtomic } from '../fs.js'
import { sha256Hex } from '../hash.js'
import { integer, mergeDefaults, string } from '../validate.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { CacheKeyNotFoundError, CacheUnavailableError, CacheValueError } from './errors.js'
import { deleteIfMatches, encodeEntry, FILE_CACHE_SUFFIX, listEntries, readEntry, readExpiry, removeRandom, removeShards, writeExpiry } from './file-format.js'
import type { BaseCacheOptions } from './options.js'
import { serialize } from './serialize.js'

export { FILE_CACHE_SUFFIX } from './file-format.js'

/** Options of {@link FileCache}. */
export interface FileCacheOptions extends BaseCacheOptions {
  /** The directory holding the cache (created on first write, mode `0o700`). Required. */
  location?: string
  /**
   * Files kept before culling.
   * @default 300
   */
  maxEntries?: number
  /**
   * When full, a random `1/cullFrequency` of the files is deleted; `0` clears everything.
   * @default 3
   */
  cullFrequency?: number
  /**
   * zlib level for stored values (0–9). Cached thumbnails are already compressed, so the
   * default favours speed.
   * @default 1
   */
  compressionLevel?: number
}

/** Defaults of {@link FileCacheOptions} specific to this backend. */
export const FILE_CACHE_DEFAULTS: Readonly<Required<Pick<FileCacheOptions, 'maxEntries' | 'cullFrequency' | 'compressionLevel'>>> = Object.freeze({ maxEntries: 300, cullFrequency: 3, compressionLevel: 1 })

// Cached values are nobody else's business: folders 0o700 as Django's `os.makedirs(dir, 0o700)`,
// files 0o600 as the `mkstemp` Django writes them through.
const DIR_MODE = 0o700
const FILE_MODE = 0o600
const FS_DOWN = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'EDQUOT'])

const expiry = (ttl: Ttl): number => (ttl === null ? Infinity : Date.now() + ttl)

/**
 * Filesystem cache: each key is a file `ab/cd/<sha256 of the key>.djcache` under `location`.
 *
 * - Writes go through `writeFileAtomic` (a temp file renamed into place), so readers never see
 *   half a value; a truncated or garbage file reads as a miss and is removed, never an exception.
 * - `add` links the finished temp file to the final name (`writeFileAtomic`'s `exclusive`):
 *   `link` fails if the name exists, so of concurrent adds of a live key exactly one wins, across
 *   processes too. When the existing file is expired it is removed and the add retried once; two
 *   adders racing on the same *expired* file can both win (as with Django's `has_key` + `set`).
 * - `deleteIfEquals` renames the file to a private name first, compares, and links it back when
 *   it does not match, so it never deletes a value it did not compare.
 * - `incr`, `touch` and `incrVersion` are read-modify-write and not atomic across processes.
 */
export class FileCache extends BaseCache {
  /** The cache directory. */
  readonly location: string
  /** Files kept before culling. */
  readonly maxEntries: number
  /** Culling divisor (0 = clear all). */
  readonly cullFrequency: number
  /** zlib level. */
  readonly compressionLevel: number
  private approxEntries: number | undefined
  private readonly madeDirs = new Set<string>()

  /** @param options - see {@link FileCacheOptions}; `location` is required */
  constructor(options: FileCacheOptions = {}) {
    super(options)
    const o = mergeDefaults(FILE_CACHE_DEFAULTS, options)
    this.location = string('location', options.location, { nonEmpty: true })
    this.maxEntries = integer('maxEntries', o.maxEntries, { min: 1 })
    this.cullFrequency = integer('cullFrequency', o.cullFrequency)
    this.compressionLevel = integer('compressionLevel', o.compressionLevel, { max: 9 })
  }

  /** The file that holds a made key. */
  pathFor(key: string): string {
    const h = sha256Hex(key)
    return join(this.location, h.slice(0, 2), h.slice(2, 4), h + FILE_CACHE_SUFFIX)
  }

  protected override isUnavailable(err: unknown): boolean {
    return err instanceof CacheUnavailableError || FS_DOWN.has(errorCode(err) ?? '')
  }

  /** Reads a live entry; missing, expired and corrupt files are misses (the latter two removed). */
  private async read(file: string): Promise<{ value: unknown; expiresAt: number } | undefined> {
    const entry = await readEntry(file)
    if (entry === undefined || 'value' in entry) return entry
    return this.discard(file, entry.dead === 'corrupt' ? 'corrupt' : undefined, entry.err)
  }

  /** The expiry of a live entry, from its header only; dead files are removed. */
  private async liveExpiry(file: string): Promise<number | undefined> {
    const expiresAt = await readExpiry(file)
    if (expiresAt === undefined) return undefined
    if (expiresAt === null) return this.discard(file, 'corrupt')
    if (!(expiresAt > Date.now())) return this.discard(file)
    return expiresAt
  }

  private async discard(file: string, why?: string, err?: unknown): Promise<undefined> {
    if (why) this.logger.warn(`FileCache: removing ${why} entry ${file}`, err)
    await unlink(file).catch(() => undefined)
    return undefined
  }

  /** Writes an entry atomically (`exclusive`: fail with EEXIST rather than replace). */
  private async write(file: string, value: unknown, expiresAt: number, exclusive = false): Promise<void> {
    const bytes = await encodeEntry(value, expiresAt, this.compressionLevel)
    const dir = dirname(file)
    const options = { mode: FILE_MODE, dirMode: DIR_MODE, exclusive }
    if (this.madeDirs.has(dir)) {
      try {
        return await writeFileAtomic(file, bytes, options)
      } catch (err) {
        // A concurrent clear() may have removed the folder since we created it.
        if (!isMissing(err)) throw err
        this.madeDirs.delete(dir)
      }
    }
    await writeFileAtomic(file, bytes, { ...options, mkdirs: true })
    this.madeDirs.add(dir)
  }

  /**
   * Keeps the cache under `maxEntries`. Counting files means listing folders, so a running
   * estimate (over-counting overwrites) decides when a real count is worth it.
   */
  private async maybeCull(): Promise<void> {
    if (this.approxEntries === undefined) this.approxEntries = (await listEntries(this.location)).length
    if (++this.approxEntries < this.maxEntries) return
    const files = await listEntries(this.location)
    if (files.length < this.maxEntries) {
      this.approxEntries = files.length
      return
    }
    if (this.cullFrequency === 0) return this._clear()
    const n = Math.floor(files.length / this.cullFrequency)
    await removeRandom(files, n)
    this.approxEntries = files.length - n
  }

  /** @internal */
  override async _get(key: string): Promise<unknown> {
    return (await this.read(this.pathFor(key)))?.value
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const e = await this.read(this.pathFor(key))
    return e && { value: e.value, expiresAt: e.expiresAt === Infinity ? null : e.expiresAt }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    return (await this.liveExpiry(this.pathFor(key))) !== undefined
  }

  /** @internal */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    await this.maybeCull()
    await this.write(this.pathFor(key), value, expiry(ttl))
  }

  /** @internal Atomic for live keys via `link` (see the class notes). */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const file = this.pathFor(key)
    if ((await this.liveExpiry(file)) !== undefined) return false
    await this.maybeCull()
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.write(file, value, expiry(ttl), true)
        return true
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err
        // Someone holds the name: only a dead (expired/corrupt) entry may be replaced.
        if ((await this.liveExpiry(file)) !== undefined) return false
      }
    }
    return false
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    const file = this.pathFor(key)
    if ((await this.liveExpiry(file)) === undefined) return false
    return unlink(file).then(
      () => true,
      (err: unknown) => (isMissing(err) ? false : Promise.reject(err)),
    )
  }

  /** @internal Rewrites the expiry in the header in place. */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const file = this.pathFor(key)
    if ((await this.liveExpiry(file)) === undefined) return false
    return writeExpiry(file, expiry(ttl))
  }

  /** @internal Read-modify-write keeping the expiry; not atomic across processes. */
  override async _incr(key: string, delta: number): Promise<number> {
    const file = this.pathFor(key)
    const entry = await this.read(file)
    if (entry === undefined) throw new CacheKeyNotFoundError(`Key '${key}' not found`)
    if (typeof entry.value !== 'number') {
      throw new CacheValueError(`Cannot increment key '${key}': its value is of type ${typeof entry.value}`)
    }
    const next = entry.value + delta
    await this.write(file, next, entry.expiresAt)
    return next
  }

  /** @internal Compares a privately claimed copy, so only a value that was compared is deleted. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const file = this.pathFor(key)
    return deleteIfMatches(file, `${file}.${randomBytes(6).toString('hex')}.claim`, async (claimed) => {
      const entry = await this.read(claimed)
      return entry === undefined ? undefined : serialize(entry.value).equals(serialize(expected))
    })
  }

  /** @internal Removes the shard folders (only names this cache creates). */
  override async _clear(): Promise<void> {
    await removeShards(this.location)
    this.madeDirs.clear()
    this.approxEntries = 0
  }
}
