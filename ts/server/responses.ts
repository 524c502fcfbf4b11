/**
 * The three ways a thumbnail leaves the server (restthumbnails' response backends): stream it
 * from Node, or answer headers only and let nginx (`X-Accel-Redirect`) or Apache (`X-Sendfile`)
 * send the file. Plus the plain-text error response.
 * @module
 */
import fs from 'node:fs'
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

import { LruStore } from '../store.js'
import { ThumbnailGoneError } from './errors.js'

export { ThumbnailGoneError }

/** A rendered thumbnail on disk, ready to be answered. */
export interface ThumbnailFile {
  /** Absolute path of the file (never sent to clients except as `X-Sendfile`). */
  absolutePath: string
  /** Path relative to the output root, the same as the URL after `basePath`. */
  outputPath: string
  /** Extension from the URL, with the dot (`.jpg`). */
  ext: string
  /** Bytes of the file when already known (reported by the render that just wrote it). */
  size?: number
}

const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.gif': 'image/gif',
}

/** MIME type for a thumbnail extension (`.jpg` → `image/jpeg`). */
export function contentTypeFor(ext: string): string {
  return TYPES[ext.toLowerCase()] ?? 'application/octet-stream'
}

/**
 * Strong ETag in nginx's own format (`"<mtime s hex>-<size hex>"`), so a client keeps its
 * validator whether nginx or Node served the file. Thumbnails are written once by rename and
 * never modified in place, so size + mtime identifies the bytes.
 */
export function etagFor(size: number, mtimeMs: number): string {
  return `"${Math.floor(mtimeMs / 1000).toString(16)}-${size.toString(16)}"`
}

/**
 * Whether the request's validators match (RFC 9110 §13.1): `If-None-Match` wins over
 * `If-Modified-Since`; weak comparison is right for GET/HEAD.
 */
export function isNotModified(req: IncomingMessage, etag: string, mtimeMs: number): boolean {
  const inm = req.headers['if-none-match']
  if (inm !== undefined) {
    if (inm.trim() === '*') return true
    return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
  }
  const ims = req.headers['if-modified-since']
  if (ims !== undefined) {
    const since = Date.parse(ims)
    if (!Number.isNaN(since)) return Math.floor(mtimeMs / 1000) * 1000 <= since
  }
  return false
}

/** Options shared by the responders. */
export interface RespondOptions {
  /** `Cache-Control: public, max-age=` seconds. */
  maxAge: number
}

// Below this size one read + res.end beats a stream pipeline (fewer syscalls and no backpressure
// machinery); thumbnails are nearly always under it.
const SMALL_FILE = 256 * 1024

// Entries kept at most, whatever their bytes (file-only entries weigh nothing).
const MAX_HOT_ENTRIES = 100_000

/**
 * A thumbnail known to exist, remembered for a short time: its file, and for small files in
 * `stream` mode its bytes and validators.
 */
export interface HotEntry {
  file: ThumbnailFile
  body?: Buffer
  etag?: string
  mtimeMs?: number
  /** `Date.now()` after which the entry is ignored and the disk is consulted again. */
  expires: number
}

/**
 * A small LRU of hot thumbnails keyed by output path, bounded in bytes, with a short lifetime.
 * It plays the part of nginx's `open_file_cache`: a warm hit costs no syscall at all. Thumbnails
 * are immutable once renamed into place, so the only staleness is a file deleted behind the
 * server's back, served for at most `ttlMs` more.
 */
export class HotFiles {
  readonly #store: LruStore<HotEntry>

  /**
   * @param maxBytes - total bytes of bodies kept (0 disables the cache)
   * @param ttlMs - lifetime of an entry in milliseconds
   */
  constructor(
    readonly maxBytes: number,
    readonly ttlMs: number,
  ) {
    this.#store = new LruStore<HotEntry>({
      maxEntries: MAX_HOT_ENTRIES,
      cullFrequency: MAX_HOT_ENTRIES,
      maxWeight: Math.max(0, Math.floor(maxBytes)),
      weigh: (e) => e.body?.length ?? 0,
    })
  }

  /** A live entry, refreshed as most recently used; `undefined` when absent or expired. */
  get(key: string): HotEntry | undefined {
    return this.#store.get(key)
  }

  /** Remembers an entry; bodies over 1/8 of the budget are not kept (only the file). */
  set(key: string, entry: Omit<HotEntry, 'expires'>): void {
    if (this.maxBytes <= 0 || this.ttlMs <= 0) return
    let body = entry.body
    if (body && body.length > this.maxBytes / 8) body = undefined
    this.#store.set(key, { ...entry, body, expires: Date.now() + this.ttlMs }, this.ttlMs)
  }

  /** Forgets an entry (the file turned out to be gone). */
  delete(key: string): void {
    this.#store.delete(key)
  }

  /** Number of entries. */
  get size(): number {
    return this.#store.size
  }
}

function validators(etag: string, mtimeMs: number, options: RespondOptions): OutgoingHttpHeaders {
  return {
    ETag: etag,
    'Last-Modified': new Date(mtimeMs).toUTCString(),
    'Cache-Control': `public, max-age=${options.maxAge}`,
  }
}

/**
 * Sends bytes already in memory with the same headers as {@link sendStream}.
 * @returns the status sent
 */
export function sendBuffer(
  req: IncomingMessage,
  res: ServerResponse,
  file: ThumbnailFile,
  body: Buffer,
  etag: string,
  mtimeMs: number,
  options: RespondOptions,
): number {
  const headers = validators(etag, mtimeMs, options)
  if (isNotModified(req, etag, mtimeMs)) {
    res.writeHead(304, headers)
    res.end()
    return 304
  }
  headers['Content-Type'] = contentTypeFor(file.ext)
  headers['Content-Length'] = body.length
  headers['X-Content-Type-Options'] = 'nosniff'
  res.writeHead(200, headers)
  res.end(req.method === 'HEAD' ? undefined : body)
  return 200
}

/** An open file with its stats and, when small, its bytes. */
interface OpenedFile {
  fd: number
  size: number
  mtimeMs: number
  body?: Buffer
}

/*
 * open → fstat → (read) with the callback API in one promise: a warm hit is four syscalls on the
 * libuv pool, and the FileHandle promise API costs about twice as much per call in allocations
 * and promise hops (measured: it made stream mode slower than serve-static without the hot cache).
 */
function openAndRead(file: string, method: string | undefined, knownSize?: number): Promise<OpenedFile> {
  return new Promise((resolve, reject) => {
    fs.open(file, OPEN_FLAGS, (err, fd) => {
      if (err) return reject(err)
      if (knownSize !== undefined && knownSize > 0 && knownSize <= SMALL_FILE && method !== 'HEAD') {
        return readWithStat(fd, knownSize).then(resolve, (e: unknown) => fs.close(fd, () => reject(e)))
      }
      fs.fstat(fd, (err2, st) => {
        if (err2) return fs.close(fd, () => reject(err2))
        const opened: OpenedFile = { fd, size: st.size, mtimeMs: st.mtimeMs }
        if (st.size > SMALL_FILE || method === 'HEAD') return resolve(opened)
        const buf = Buffer.allocUnsafe(st.size)
        let off = 0
        const more = () => {
          if (off >= st.size) return resolve({ ...opened, body: buf })
          fs.read(fd, buf, off, st.size - off, off, (err3, n) => {
            if (err3) return fs.close(fd, () => reject(err3))
            if (n === 0) return resolve({ ...opened, body: buf.subarray(0, off) })
            off += n
            more()
          })
        }
        more()
      })
    })
  })
}

/*
 * Just rendered: the size is known, so the read and the fstat (for the validators) run side by
 * side on the pool instead of one after the other. One read of `size + 1` bytes also tells
 * whether the file is still that size; if not, the sequential path is taken.
 */
function readWithStat(fd: number, size: number): Promise<OpenedFile> {
  const buf = Buffer.allocUnsafe(size + 1)
  const read = new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, size + 1, 0, (err, n) => (err ? reject(err) : resolve(n))))
  const stat = new Promise<fs.Stats>((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))))
  return Promise.all([read, stat]).then(([n, st]) => {
    if (n === size && st.size === size) return { fd, size, mtimeMs: st.mtimeMs, body: buf.subarray(0, size) }
    // Short read or a different file: fall back to reading by the fstat size.
    return readAll(fd, st)
  })
}

function readAll(fd: number, st: fs.Stats): Promise<OpenedFile> {
  return new Promise((resolve, reject) => {
    const opened: OpenedFile = { fd, size: st.size, mtimeMs: st.mtimeMs }
    if (st.size > SMALL_FILE) return resolve(opened)
    const buf = Buffer.allocUnsafe(st.size)
    let off = 0
    const more = () => {
      if (off >= st.size) return resolve({ ...opened, body: buf })
      fs.read(fd, buf, off, st.size - off, off, (err, n) => {
        if (err) return reject(err)
        if (n === 0) return resolve({ ...opened, body: buf.subarray(0, off) })
        off += n
        more()
      })
    }
    more()
  })
}

/* O_NOFOLLOW: output paths are resolved by their folders, so a symlink planted as the file
   itself is refused here (ELOOP) rather than followed out of the root. Not defined on Windows. */
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0)

/**
 * Sends the file from Node with validators, `Cache-Control`, 304 and HEAD support.
 * @param hot - when given, small files read here are remembered under `hotKey`
 * @throws {ThumbnailGoneError} when the file no longer exists (the caller re-renders)
 */
export async function sendStream(
  req: IncomingMessage,
  res: ServerResponse,
  file: ThumbnailFile,
  options: RespondOptions,
  hot?: { cache: HotFiles; key: string },
): Promise<number> {
  let opened: OpenedFile
  try {
    opened = await openAndRead(file.absolutePath, req.method, file.size)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ThumbnailGoneError({ cause: err })
    throw err
  }
  const { fd, size, mtimeMs, body } = opened
  const etag = etagFor(size, mtimeMs)
  if (body) {
    hot?.cache.set(hot.key, { file, body, etag, mtimeMs })
    const status = sendBuffer(req, res, file, body, etag, mtimeMs, options)
    // After the answer is on its way: the close is one more thread-pool trip nobody waits for.
    fs.close(fd, () => undefined)
    return status
  }
  const headers = validators(etag, mtimeMs, options)
  const notModified = isNotModified(req, etag, mtimeMs)
  if (notModified || req.method === 'HEAD') {
    fs.close(fd, () => undefined)
    if (!notModified) {
      headers['Content-Type'] = contentTypeFor(file.ext)
      headers['Content-Length'] = size
      headers['X-Content-Type-Options'] = 'nosniff'
    }
    res.writeHead(notModified ? 304 : 200, headers)
    res.end()
    return notModified ? 304 : 200
  }
  headers['Content-Type'] = contentTypeFor(file.ext)
  headers['Content-Length'] = size
  headers['X-Content-Type-Options'] = 'nosniff'
  res.writeHead(200, headers)
  // Large files stream from the descriptor we already hold, so the bytes match the fstat.
  const stream = fs.createReadStream('', { fd, autoClose: true, start: 0, end: Math.max(0, size - 1) })
  await new Promise<void>((resolve) => {
    stream.on('error', () => {
      res.destroy()
      resolve()
    })
    res.on('close', () => {
      stream.destroy()
      resolve()
    })
    stream.pipe(res)
  })
  return 200
}

/**
 * Headers only: nginx sends the file from its `internal` location. No `Content-Type`, so nginx
 * sets it from the extension, as restthumbnails' nginx backend did.
 */
export function sendNginx(res: ServerResponse, file: ThumbnailFile, sendfileBase: string, options: RespondOptions): number {
  res.writeHead(200, {
    'X-Accel-Redirect': sendfileBase + encodePath(file.outputPath),
    'Cache-Control': `public, max-age=${options.maxAge}`,
  })
  res.end()
  return 200
}

/** Headers only: Apache's mod_xsendfile sends the file by absolute path. */
export function sendApache(res: ServerResponse, file: ThumbnailFile, options: RespondOptions): number {
  res.writeHead(200, {
    'X-Sendfile': file.absolutePath,
    'Cache-Control': `public, max-age=${options.maxAge}`,
  })
  res.end()
  return 200
}

/** Django's `add_never_cache_headers`: responses that must never be stored by a proxy. */
export const NEVER_CACHE: Readonly<OutgoingHttpHeaders> = Object.freeze({
  'Cache-Control': 'max-age=0, no-cache, no-store, must-revalidate, private',
  Expires: 'Thu, 01 Jan 1970 00:00:00 GMT',
})

/**
 * A short plain-text error. The body is a fixed phrase per status (plus an optional safe detail):
 * never a path, a stack or an origin's message.
 */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string,
  headers: OutgoingHttpHeaders = NEVER_CACHE,
): number {
  const text = body.endsWith('\n') ? body : body + '\n'
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'X-Content-Type-Options': 'nosniff',
  })
  res.end(req.method === 'HEAD' ? undefined : text)
  return status
}

/** Percent-encodes each segment so names with spaces or `%` survive as a URI. */
export function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/')
}
