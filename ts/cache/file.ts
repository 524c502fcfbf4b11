/**
 * `FileCache`: one file per key on a local filesystem (Django's filebased backend).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { deflate, deflateSync, inflate, inflateSync } from 'node:zlib'

import { InvalidOptionError } from '../errors.js'
import { sha256Hex } from '../hash.js'
import { BaseCache, type CacheEntry, type Ttl } from './base.js'
import { CacheKeyNotFoundError, CacheUnavailableError, CacheValueError } from './errors.js'
import type { BaseCacheOptions } from './options.js'
import { deserialize, serialize } from './serialize.js'

const deflateAsync = promisify(deflate)
const inflateAsync = promisify(inflate)

/** Options of {@link FileCache}. */
export interface FileCacheOptions extends BaseCacheOptions {
  /** The directory holding the cache (created on first write). Required. */
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
export const FILE_CACHE_DEFAULTS = Object.freeze({ maxEntries: 300, cullFrequency: 3, compressionLevel: 1 })

/** File extension of cache entries. */
export const FILE_CACHE_SUFFIX = '.djcache'

// Header: magic "RTC1", u8 format version, u8 flags (bit 0 = zlib), u16 reserved, f64 expiry in
// epoch ms (Infinity = never), u32 payload length. The length makes truncation detectable even
// before zlib's Adler-32 catches corruption.
const MAGIC = 0x52544331
const FORMAT = 1
const HEADER = 20
const COMPRESSED = 1
// Below this size zlib runs inline: a libuv round trip costs more than compressing.
const SYNC_ZLIB_LIMIT = 16 * 1024
// A writer holds its temp file for milliseconds; anything older than this was abandoned.
const STALE_TEMP_MS = 10 * 60 * 1000
const FS_DOWN = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'EDQUOT'])

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code
}

function intOption(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(
      `Expected integer between ${min} and ${max} for ${name} but received ${String(value)} of type ${typeof value}`,
    )
  }
  return value
}

interface Parsed {
  expiresAt: number
  payload: Buffer
  compressed: boolean
}

/**
 * Filesystem cache: each key is a file `ab/cd/<sha256 of the key>.djcache` under `location`.
 *
 * - Writes go to a temp file in the same folder and are renamed into place, so readers never see
 *   half a value; a truncated or garbage file reads as a miss and is removed, never an exception.
 * - `add` hard-links the finished temp file to the final name: `link` fails if the name exists,
 *   so of concurrent adds of a live key exactly one wins, across processes too. When the existing
 *   file is expired it is removed and the link retried once; two adders racing on the same
 *   *expired* file can both win (a narrow window, as with Django's `has_key` + `set`).
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
    if (typeof options.location !== 'string' || options.location === '') {
      throw new InvalidOptionError(
        `Expected non-empty string for location but received ${String(options.location)} of type ${typeof options.location}`,
      )
    }
    this.location = options.location
    this.maxEntries = intOption('maxEntries', options.maxEntries ?? FILE_CACHE_DEFAULTS.maxEntries, 1)
    this.cullFrequency = intOption('cullFrequency', options.cullFrequency ?? FILE_CACHE_DEFAULTS.cullFrequency, 0)
    this.compressionLevel = intOption('compressionLevel', options.compressionLevel ?? FILE_CACHE_DEFAULTS.compressionLevel, 0, 9)
  }

  /** The file that holds a made key. */
  pathFor(key: string): string {
    const h = sha256Hex(key)
    return join(this.location, h.slice(0, 2), h.slice(2, 4), h + FILE_CACHE_SUFFIX)
  }

  protected override isUnavailable(err: unknown): boolean {
    return err instanceof CacheUnavailableError || FS_DOWN.has(code(err) ?? '')
  }

  // ---- file format -------------------------------------------------------------------------

  private async encode(value: unknown, expiresAt: number): Promise<Buffer> {
    const raw = serialize(value)
    const level = this.compressionLevel
    const payload =
      raw.length < SYNC_ZLIB_LIMIT ? deflateSync(raw, { level }) : ((await deflateAsync(raw, { level })) as Buffer)
    const header = Buffer.alloc(HEADER)
    header.writeUInt32BE(MAGIC, 0)
    header.writeUInt8(FORMAT, 4)
    header.writeUInt8(COMPRESSED, 5)
    header.writeDoubleBE(expiresAt, 8)
    header.writeUInt32BE(payload.length, 16)
    return Buffer.concat([header, payload])
  }

  private static parse(buf: Buffer): Parsed | undefined {
    if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC || buf.readUInt8(4) !== FORMAT) return undefined
    if (buf.readUInt32BE(16) !== buf.length - HEADER) return undefined
    const expiresAt = buf.readDoubleBE(8)
    if (Number.isNaN(expiresAt)) return undefined
    return { expiresAt, payload: buf.subarray(HEADER), compressed: (buf.readUInt8(5) & COMPRESSED) !== 0 }
  }

  private async decodePayload(p: Parsed): Promise<unknown> {
    const raw = !p.compressed
      ? p.payload
      : p.payload.length < SYNC_ZLIB_LIMIT
        ? inflateSync(p.payload)
        : ((await inflateAsync(p.payload)) as Buffer)
    return deserialize(raw)
  }

  /** Reads a live entry; missing, expired and corrupt files are misses (the latter two removed). */
  private async read(file: string): Promise<{ value: unknown; expiresAt: number } | undefined> {
    let buf: Buffer
    try {
      buf = await readFile(file)
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return undefined
      throw err
    }
    const parsed = FileCache.parse(buf)
    if (parsed === undefined) return this.discard(file, 'corrupt')
    if (parsed.expiresAt <= Date.now()) return this.discard(file)
    try {
      return { value: await this.decodePayload(parsed), expiresAt: parsed.expiresAt }
    } catch (err) {
      return this.discard(file, 'corrupt', err)
    }
  }

  /** Reads only the header: cheaper liveness checks for `has`/`delete`/`touch`. */
  private async readHeader(file: string): Promise<number | undefined> {
    let fh
    try {
      fh = await open(file, 'r')
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return undefined
      throw err
    }
    try {
      const head = Buffer.alloc(HEADER)
      const { bytesRead } = await fh.read(head, 0, HEADER, 0)
      const size = (await fh.stat()).size
      if (
        bytesRead < HEADER ||
        head.readUInt32BE(0) !== MAGIC ||
        head.readUInt8(4) !== FORMAT ||
        head.readUInt32BE(16) !== size - HEADER
      ) {
        return this.discard(file, 'corrupt')
      }
      const expiresAt = head.readDoubleBE(8)
      if (!(expiresAt > Date.now())) return this.discard(file)
      return expiresAt
    } finally {
      await fh.close()
    }
  }

  private async discard(file: string, why?: string, err?: unknown): Promise<undefined> {
    if (why) this.logger.warn(`FileCache: removing ${why} entry ${file}`, err)
    await unlink(file).catch(() => undefined)
    return undefined
  }

  /** Writes the finished bytes to a private temp file next to `file`. */
  private async writeTemp(file: string, bytes: Buffer): Promise<string> {
    const dir = dirname(file)
    const tmp = join(dir, `.${randomBytes(8).toString('hex')}.tmp`)
    for (let attempt = 0; ; attempt++) {
      if (!this.madeDirs.has(dir)) {
        await mkdir(dir, { recursive: true })
        this.madeDirs.add(dir)
      }
      try {
        await writeFile(tmp, bytes, { flag: 'wx' })
        return tmp
      } catch (err) {
        // A concurrent clear() may have removed the folder since we created it.
        if (code(err) !== 'ENOENT' || attempt > 0) throw err
        this.madeDirs.delete(dir)
      }
    }
  }

  private expiry(ttl: Ttl): number {
    return ttl === null ? Infinity : Date.now() + ttl
  }

  private async store(file: string, value: unknown, expiresAt: number): Promise<void> {
    const tmp = await this.writeTemp(file, await this.encode(value, expiresAt))
    try {
      await rename(tmp, file)
    } catch (err) {
      await unlink(tmp).catch(() => undefined)
      throw err
    }
  }

  // ---- culling -----------------------------------------------------------------------------

  private async listFiles(): Promise<string[]> {
    const out: string[] = []
    const level = async (dir: string, depth: number): Promise<void> => {
      let names: string[]
      try {
        names = await readdir(dir)
      } catch {
        return
      }
      for (const name of names) {
        if (depth < 2) {
          if (/^[0-9a-f]{2}$/.test(name)) await level(join(dir, name), depth + 1)
        } else if (name.endsWith(FILE_CACHE_SUFFIX)) out.push(join(dir, name))
        else if (name.endsWith('.tmp') || name.endsWith('.claim')) await this.removeIfStale(join(dir, name))
      }
    }
    await level(this.location, 0)
    return out
  }

  /** Temp and claim files left by a crashed writer are removed once clearly abandoned. */
  private async removeIfStale(file: string): Promise<void> {
    try {
      if (Date.now() - (await stat(file)).mtimeMs > STALE_TEMP_MS) await unlink(file)
    } catch {
      // Already renamed or removed by its writer.
    }
  }

  /**
   * Keeps the cache under `maxEntries`. Counting files means listing folders, so a running
   * estimate (over-counting overwrites) decides when a real count is worth it.
   */
  private async maybeCull(): Promise<void> {
    if (this.approxEntries === undefined) this.approxEntries = (await this.listFiles()).length
    if (++this.approxEntries < this.maxEntries) return
    const files = await this.listFiles()
    if (files.length < this.maxEntries) {
      this.approxEntries = files.length
      return
    }
    if (this.cullFrequency === 0) {
      await this._clear()
      return
    }
    const n = Math.floor(files.length / this.cullFrequency)
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (files.length - i))
      ;[files[i], files[j]] = [files[j], files[i]]
      await unlink(files[i]).catch(() => undefined)
    }
    this.approxEntries = files.length - n
  }

  // ---- primitives --------------------------------------------------------------------------

  /** @internal */
  override async _get(key: string): Promise<unknown> {
    return this.guard('file get', async () => (await this.read(this.pathFor(key)))?.value, undefined)
  }

  /** @internal */
  override async _getEntry(key: string): Promise<CacheEntry | undefined> {
    const e = await this.guard('file get', () => this.read(this.pathFor(key)), undefined)
    return e && { value: e.value, expiresAt: e.expiresAt === Infinity ? null : e.expiresAt }
  }

  /** @internal */
  override async _has(key: string): Promise<boolean> {
    return this.guard('file has', async () => (await this.readHeader(this.pathFor(key))) !== undefined, false)
  }

  /** @internal */
  override async _set(key: string, value: unknown, ttl: Ttl): Promise<void> {
    await this.guard(
      'file set',
      async () => {
        await this.maybeCull()
        await this.store(this.pathFor(key), value, this.expiry(ttl))
      },
      undefined,
    )
  }

  /** @internal Atomic for live keys via `link` (see the class notes). */
  override async _add(key: string, value: unknown, ttl: Ttl): Promise<boolean> {
    const file = this.pathFor(key)
    return this.guard(
      'file add',
      async () => {
        if ((await this.readHeader(file)) !== undefined) return false
        await this.maybeCull()
        const tmp = await this.writeTemp(file, await this.encode(value, this.expiry(ttl)))
        try {
          for (let attempt = 0; attempt < 2; attempt++) {
            try {
              await link(tmp, file)
              return true
            } catch (err) {
              if (code(err) !== 'EEXIST') throw err
              // Someone holds the name: only a dead (expired/corrupt) entry may be replaced.
              if ((await this.readHeader(file)) !== undefined) return false
            }
          }
          return false
        } finally {
          await unlink(tmp).catch(() => undefined)
        }
      },
      false,
    )
  }

  /** @internal */
  override async _delete(key: string): Promise<boolean> {
    const file = this.pathFor(key)
    return this.guard(
      'file delete',
      async () => {
        if ((await this.readHeader(file)) === undefined) return false
        try {
          await unlink(file)
          return true
        } catch (err) {
          if (code(err) === 'ENOENT') return false
          throw err
        }
      },
      false,
    )
  }

  /** @internal Rewrites the expiry in the header in place. */
  override async _touch(key: string, ttl: Ttl): Promise<boolean> {
    const file = this.pathFor(key)
    return this.guard(
      'file touch',
      async () => {
        if ((await this.readHeader(file)) === undefined) return false
        const expiry = Buffer.alloc(8)
        expiry.writeDoubleBE(this.expiry(ttl))
        let fh
        try {
          fh = await open(file, 'r+')
        } catch (err) {
          if (code(err) === 'ENOENT') return false
          throw err
        }
        try {
          await fh.write(expiry, 0, 8, 8)
        } finally {
          await fh.close()
        }
        return true
      },
      false,
    )
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
    await this.store(file, next, entry.expiresAt)
    return next
  }

  /** @internal Claims the file by renaming it, so only a value that was compared is deleted. */
  override async _deleteIfEquals(key: string, expected: unknown): Promise<boolean> {
    const file = this.pathFor(key)
    const claim = `${file}.${randomBytes(6).toString('hex')}.claim`
    return this.guard(
      'file deleteIfEquals',
      async () => {
        try {
          await rename(file, claim)
        } catch (err) {
          if (code(err) === 'ENOENT') return false
          throw err
        }
        try {
          const entry = await this.read(claim)
          if (entry !== undefined && serialize(entry.value).equals(serialize(expected))) return true
          // Not ours: put it back unless someone stored a newer value meanwhile.
          if (entry !== undefined) await link(claim, file).catch(() => undefined)
          return false
        } finally {
          await unlink(claim).catch(() => undefined)
        }
      },
      false,
    )
  }

  /** @internal Removes the shard folders (only names this cache creates). */
  override async _clear(): Promise<void> {
    await this.guard(
      'file clear',
      async () => {
        let names: string[] = []
        try {
          names = await readdir(this.location)
        } catch (err) {
          if (code(err) !== 'ENOENT') throw err
        }
        await Promise.all(
          names.filter((n) => /^[0-9a-f]{2}$/.test(n)).map((n) => rm(join(this.location, n), { recursive: true, force: true })),
        )
        this.madeDirs.clear()
        this.approxEntries = 0
      },
      undefined,
    )
  }
}
