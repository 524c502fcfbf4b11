/**
 * The on-disk format of `FileCache` entries and the walk over its shard folders.
 *
 * Header (20 bytes): magic "RTC1", u8 format version, u8 flags (bit 0 = zlib), u16 reserved,
 * f64 expiry in epoch ms (Infinity = never), u32 payload length. The length makes truncation
 * detectable even before zlib's Adler-32 catches corruption.
 * @module
 */
import { link, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { deflate, deflateSync, inflate, inflateSync } from 'node:zlib'

import { isMissing, TEMP_SUFFIX } from '../fs.js'
import { deserialize, serialize } from './serialize.js'

const deflateAsync = promisify(deflate)
const inflateAsync = promisify(inflate)

/** File extension of cache entries. */
export const FILE_CACHE_SUFFIX = '.djcache'

const MAGIC = 0x52544331
const FORMAT = 1
const HEADER = 20
const COMPRESSED = 1
// Below this size zlib runs inline: a libuv round trip costs more than compressing.
const SYNC_ZLIB_LIMIT = 16 * 1024
// A writer holds its temp file for milliseconds; anything older than this was abandoned.
const STALE_TEMP_MS = 10 * 60 * 1000
const SHARD = /^[0-9a-f]{2}$/

/** A parsed entry file. */
export interface ParsedEntry {
  /** Epoch ms; Infinity = never. */
  expiresAt: number
  /** The stored (possibly compressed) serialized value. */
  payload: Buffer
  /** Whether `payload` is zlib-compressed. */
  compressed: boolean
}

/** Encodes a value and its expiry into the bytes of an entry file. */
export async function encodeEntry(value: unknown, expiresAt: number, level: number): Promise<Buffer> {
  const raw = serialize(value)
  const payload = raw.length < SYNC_ZLIB_LIMIT ? deflateSync(raw, { level }) : ((await deflateAsync(raw, { level })) as Buffer)
  const header = Buffer.alloc(HEADER)
  header.writeUInt32BE(MAGIC, 0)
  header.writeUInt8(FORMAT, 4)
  header.writeUInt8(COMPRESSED, 5)
  header.writeDoubleBE(expiresAt, 8)
  header.writeUInt32BE(payload.length, 16)
  return Buffer.concat([header, payload])
}

function headerOk(head: Buffer, size: number): boolean {
  return head.length >= HEADER && head.readUInt32BE(0) === MAGIC && head.readUInt8(4) === FORMAT && head.readUInt32BE(16) === size - HEADER
}

/** Parses an entry file; `undefined` when it is not a whole, valid entry. */
export function parseEntry(buf: Buffer): ParsedEntry | undefined {
  if (!headerOk(buf, buf.length)) return undefined
  const expiresAt = buf.readDoubleBE(8)
  if (Number.isNaN(expiresAt)) return undefined
  return { expiresAt, payload: buf.subarray(HEADER), compressed: (buf.readUInt8(5) & COMPRESSED) !== 0 }
}

/** The value of a parsed entry (throws on a damaged payload). */
export async function decodeEntry(p: ParsedEntry): Promise<unknown> {
  if (!p.compressed) return deserialize(p.payload)
  return deserialize(p.payload.length < SYNC_ZLIB_LIMIT ? inflateSync(p.payload) : ((await inflateAsync(p.payload)) as Buffer))
}

/** Opens `file`, or `undefined` when it does not exist. */
async function openIfThere(file: string, flags: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, flags)
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
}

/** What {@link readEntry} found: a live entry, or a dead file (expired, or corrupt with a reason). */
export type ReadEntry = { value: unknown; expiresAt: number } | { dead: 'expired' | 'corrupt'; err?: unknown }

/** Reads a whole entry file; `undefined` when it does not exist. */
export async function readEntry(file: string): Promise<ReadEntry | undefined> {
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    if (isMissing(err)) return undefined
    throw err
  }
  const parsed = parseEntry(buf)
  if (parsed === undefined) return { dead: 'corrupt' }
  if (parsed.expiresAt <= Date.now()) return { dead: 'expired' }
  try {
    return { value: await decodeEntry(parsed), expiresAt: parsed.expiresAt }
  } catch (err) {
    return { dead: 'corrupt', err }
  }
}

/**
 * Reads only the header of an entry file: its expiry, `null` when the file is not a valid entry,
 * `undefined` when it does not exist.
 */
export async function readExpiry(file: string): Promise<number | null | undefined> {
  const fh = await openIfThere(file, 'r')
  if (fh === undefined) return undefined
  try {
    const head = Buffer.alloc(HEADER)
    const { bytesRead } = await fh.read(head, 0, HEADER, 0)
    if (bytesRead < HEADER || !headerOk(head, (await fh.stat()).size)) return null
    const expiresAt = head.readDoubleBE(8)
    return Number.isNaN(expiresAt) ? null : expiresAt
  } finally {
    await fh.close()
  }
}

/** Rewrites the expiry of an entry file in place; `false` when the file is gone. */
export async function writeExpiry(file: string, expiresAt: number): Promise<boolean> {
  const bytes = Buffer.alloc(8)
  bytes.writeDoubleBE(expiresAt)
  const fh = await openIfThere(file, 'r+')
  if (fh === undefined) return false
  try {
    await fh.write(bytes, 0, 8, 8)
  } finally {
    await fh.close()
  }
  return true
}

/** Removes a temp or claim file left by a crashed writer, once it is clearly abandoned. */
async function removeIfStale(file: string): Promise<void> {
  try {
    if (Date.now() - (await stat(file)).mtimeMs > STALE_TEMP_MS) await unlink(file)
  } catch {
    // Already renamed or removed by its writer.
  }
}

/**
 * Lists the entry files under `location` (`ab/cd/<hash>.djcache`), removing abandoned temp and
 * claim files on the way. Only folder names a FileCache creates are entered.
 */
export async function listEntries(location: string): Promise<string[]> {
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
        if (SHARD.test(name)) await level(join(dir, name), depth + 1)
      } else if (name.endsWith(FILE_CACHE_SUFFIX)) out.push(join(dir, name))
      else if (name.endsWith(TEMP_SUFFIX) || name.endsWith('.claim')) await removeIfStale(join(dir, name))
    }
  }
  await level(location, 0)
  return out
}

/** Deletes a random `n` of `files` (Django's filebased `_cull` picks at random too). */
export async function removeRandom(files: string[], n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (files.length - i))
    ;[files[i], files[j]] = [files[j], files[i]]
    await unlink(files[i]).catch(() => undefined)
  }
}

/** Removes the shard folders under `location` (only names a FileCache creates). */
export async function removeShards(location: string): Promise<void> {
  let names: string[] = []
  try {
    names = await readdir(location)
  } catch (err) {
    if (!isMissing(err)) throw err
  }
  await Promise.all(names.filter((n) => SHARD.test(n)).map((n) => rm(join(location, n), { recursive: true, force: true })))
}

/**
 * Deletes `file` only when `matches` says yes, without ever deleting a value it did not check:
 * the file is first renamed to a private claim name, checked there, and linked back when it does
 * not match (unless a newer value took the name meanwhile).
 * @param claim - the private name (same folder)
 * @param matches - reads the claimed file; `undefined` = not a live entry
 */
export async function deleteIfMatches(file: string, claim: string, matches: (claimed: string) => Promise<boolean | undefined>): Promise<boolean> {
  try {
    await rename(file, claim)
  } catch (err) {
    if (isMissing(err)) return false
    throw err
  }
  try {
    const ok = await matches(claim)
    if (ok === false) await link(claim, file).catch(() => undefined)
    return ok === true
  } finally {
    await unlink(claim).catch(() => undefined)
  }
}
