/**
 * Makes sure the thumbnail of a parsed URL exists on disk, rendering it at most once across
 * every worker that shares the cache.
 *
 * Order of a request: warm record (when `trustCache`) → negative entry for the source → `stat` of
 * the output → single flight in this process → dogpile lock across processes → render → record.
 * Losers of the lock wait, answer 503 or 404 depending on {@link WaiterMode}.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import { stat as fsStat } from 'node:fs'
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

import type { ThumbnailRecord } from '../cache/thumbnails.js'
import { RestthumbsError } from '../errors.js'
import type { ThumbnailFileOptions, ThumbnailOptions } from '../image/options.js'
import { thumbnail, thumbnailFile } from '../image/thumbnail.js'
import { DogpileLock, type LockCache, SingleFlight, waitFor } from '../lock.js'
import type { WaiterMode } from './config.js'
import type { ThumbnailFile } from './responses.js'


/** The fields of a parsed thumbnail URL the generator needs. */
export interface ThumbnailSpec {
  /** Source name relative to the source storage (`animals/kitten.jpg`). */
  source: string
  /** Target width, `0` = from the aspect ratio. */
  width: number
  /** Target height, `0` = from the aspect ratio. */
  height: number
  /** `crop`, `scale` or `smart`. */
  method: string
  /** Extension with the dot; picks the output format. */
  ext: string
  /** Output path relative to the output root; equals the URL path after `basePath`. */
  outputPath: string
  /** Key-independent path of the same bytes, for storages that keep one copy per variant. */
  variantPath?: string
}

/** Where sources come from: local files (`localPath`) or an HTTP origin (`read`). */
export interface SourceStorageLike {
  /** Absolute path of a local source; absent for remote storages. */
  localPath?(name: string): string | Promise<string>
  /** The source bytes. Throws a typed 404/413/502/504 error. */
  read(name: string, options?: { signal?: AbortSignal }): Promise<Buffer | Uint8Array>
}

/** Where thumbnails go. */
export interface OutputStorageLike {
  /** Absolute path for an output path; throws on traversal. */
  pathFor(outputPath: string): string | Promise<string>
  /**
   * Absolute path and stats (`null` when missing) in one step; without it the generator calls
   * `pathFor` and then `stat`s the file.
   */
  lookup?(outputPath: string): Promise<{ path: string; stats: { isFile(): boolean } | null; folderExists?: boolean }>
  /**
   * Links an existing variant to a new signed path (after key rotation); `true` when the output
   * exists now (also when it already did). `resolved` is what `lookup`/`pathFor` found.
   */
  adopt?(outputPath: string, variantPath: string, resolved?: { path: string; folderExists?: boolean }): Promise<boolean>
  /** Records a freshly written file as its variant. `absolutePath` is what `pathFor` returned. */
  remember?(outputPath: string, variantPath: string, absolutePath?: string): Promise<void>
}

/** A store of thumbnail records keyed by output path (the `ThumbnailCache`). */
export interface ThumbnailRecordsLike {
  /** The record of an output path, or nothing. */
  get(name: string): Promise<ThumbnailRecord | null | undefined> | ThumbnailRecord | null | undefined
  /** Stores a record under its `name`. */
  set(record: ThumbnailRecord): Promise<unknown> | unknown
}

/** What the native pipeline reports for a written thumbnail. */
export interface RenderInfo {
  /** Format written. */
  format: string
  /** Output width in pixels. */
  width: number
  /** Output height in pixels. */
  height: number
  /** Bytes written. */
  size?: number
}

/** Options passed to the renderer (the `thumbnail`/`thumbnailFile` contract). */
export interface RenderOptions {
  /** Target width, `0` = from the aspect ratio. */
  width: number
  /** Target height, `0` = from the aspect ratio. */
  height: number
  /** `crop`, `scale` or `smart`. */
  method: string
  /** `jpeg`, `png`, `webp` or `avif`. */
  format: string
  /** Encoder quality 1–100. */
  quality: number
  /** Largest source in bytes the renderer accepts. */
  maxInputBytes?: number
  /** Aborts the render. */
  signal?: AbortSignal
}

/** The native thumbnail pipeline. */
export interface RendererLike {
  /** Reads `src`, renders, writes `dst` atomically. */
  thumbnailFile(src: string, dst: string, options: RenderOptions): Promise<RenderInfo>
  /** Renders bytes to bytes (remote sources). */
  thumbnail(input: Buffer, options: RenderOptions): Promise<unknown>
}

/** A cache for locks and negative entries. */
export interface GeneratorCache extends LockCache {
  /** Stores a value for `timeout` seconds. */
  set(key: string, value: unknown, timeout?: number | null): Promise<unknown> | unknown
}

/** Counters of one handler, for tests and benchmarks. */
export interface HandlerStats {
  /** Requests seen by the handler (including ones passed to `next`). */
  requests: number
  /** Thumbnails rendered by this process. */
  renders: number
  /** Thumbnails served without rendering or waiting. */
  hits: number
  /** Requests that waited for another worker's render. */
  waits: number
  /** 304 answers. */
  notModified: number
  /** Error answers (4xx and 5xx). */
  errors: number
}

/** Creates zeroed {@link HandlerStats}. */
export function createStats(): HandlerStats {
  return { requests: 0, renders: 0, hits: 0, waits: 0, notModified: 0, errors: 0 }
}

/** Another worker is rendering this thumbnail (`'503'` waiter mode, or `'wait'` timed out). HTTP 503. */
export class ThumbnailBusyError extends RestthumbsError {
  /** Seconds a client should wait before retrying. */
  readonly retryAfter: number
  /** @param retryAfter - `Retry-After` seconds */
  constructor(retryAfter: number) {
    super('ERR_THUMBNAIL_BUSY', 'The thumbnail is being generated; retry shortly', { status: 503 })
    this.retryAfter = retryAfter
  }
}

/** Another worker is rendering this thumbnail (`'404'` waiter mode, the seed's answer). HTTP 404. */
export class ThumbnailPendingError extends RestthumbsError {
  /** No arguments: the message is fixed. */
  constructor() {
    super('ERR_THUMBNAIL_PENDING', 'The thumbnail is being generated', { status: 404 })
  }
}

/** The source is remembered as missing (negative cache). HTTP 404, cacheable briefly. */
export class SourceMissingError extends RestthumbsError {
  /** @param options - the original not-found error as `cause` */
  constructor(options: { cause?: unknown } = {}) {
    super('ERR_SOURCE_NOT_FOUND', 'Source image not found', { ...options, status: 404 })
  }
}

/** Options of {@link ThumbnailGenerator}. */
export interface GeneratorOptions {
  /** Lock and negative-entry cache (a `BaseCache`). */
  cache: GeneratorCache
  /** Thumbnail records (a `ThumbnailCache`); optional. */
  records?: ThumbnailRecordsLike | null
  /** Source storage. */
  source: SourceStorageLike
  /** Output storage. */
  output: OutputStorageLike
  /** Native pipeline. */
  renderer: RendererLike
  /** Lock lifetime and wait limit, seconds. */
  lockTimeout: number
  /** What losers of the lock do. */
  waiter: WaiterMode
  /** `Retry-After` of 503 answers. */
  retryAfter: number
  /** Prefix of cache keys. */
  keyPrefix: string
  /** Seconds a missing source is remembered. */
  negativeTtl: number
  /** Skip the output `stat` when a record exists. */
  trustCache: boolean
  /** Encoder quality. */
  quality: number
  /** Largest local source in bytes (remote sources are capped by their storage). */
  maxSourceBytes?: number
  /** Seconds before a render (fetch + decode + encode) is aborted. */
  renderTimeout?: number
  /** Counters to update. */
  stats: HandlerStats
}

const FORMATS: Record<string, string> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.webp': 'webp', '.avif': 'avif' }

/** Output format for a URL extension. */
export function formatFor(ext: string): string {
  return FORMATS[ext.toLowerCase()] ?? 'jpeg'
}

/** Result of {@link ThumbnailGenerator.ensure}. */
export interface EnsureResult extends ThumbnailFile {
  /** How the file was obtained. */
  via: 'hit' | 'render' | 'wait'
  /** Bytes of the file, when this process just wrote it (the renderer reports it). */
  size?: number
}

/** Makes sure thumbnails exist; see the module comment for the order of checks. */
export class ThumbnailGenerator {
  readonly #o: GeneratorOptions
  readonly #lock: DogpileLock
  readonly #flight = new SingleFlight<EnsureResult>()

  /** @param options - see {@link GeneratorOptions} */
  constructor(options: GeneratorOptions) {
    this.#o = options
    this.#lock = new DogpileLock(options.cache, { timeout: options.lockTimeout, prefix: `${options.keyPrefix}:lock:` })
  }

  /** The thumbnail records, if any. */
  get records(): ThumbnailRecordsLike | null {
    return this.#o.records ?? null
  }

  /** The lock guarding renders (exposed so tests and tools can inspect or hold it). */
  get lock(): DogpileLock {
    return this.#lock
  }

  /** Lock name of a thumbnail: a hash of its output path, independent of the signing key. */
  lockName(spec: Pick<ThumbnailSpec, 'outputPath'>): string {
    return hashKey(spec.outputPath)
  }

  /**
   * Returns the thumbnail file, rendering it when needed.
   * @param spec - parsed URL
   * @param options - `fresh` skips records (used after the file vanished)
   */
  async ensure(spec: ThumbnailSpec, options: { fresh?: boolean } = {}): Promise<EnsureResult> {
    const o = this.#o
    if (o.trustCache && o.records && !options.fresh) {
      const [absolutePath, rec] = await Promise.all([
        o.output.pathFor(spec.outputPath),
        Promise.resolve(o.records.get(spec.outputPath)).catch(() => null),
      ])
      if (rec) return { absolutePath, outputPath: spec.outputPath, ext: spec.ext, via: 'hit' }
    }
    // The output path is resolved once here and handed down to the lock, adopt, render and
    // remember steps, which used to resolve it again each. The source is resolved at the same
    // time, speculatively: a cold render needs both, and waiting for one then the other would
    // add a thread-pool round trip to every cold request (a disk hit wastes one lstat).
    const src = o.source.localPath ? settle(callLocalPath(o.source, spec.source)) : undefined
    let absolutePath: string
    let present: boolean
    let folderExists: boolean | undefined
    if (o.output.lookup) {
      const found = await o.output.lookup(spec.outputPath)
      absolutePath = found.path
      present = found.stats?.isFile() ?? false
      folderExists = found.folderExists
    } else {
      absolutePath = await o.output.pathFor(spec.outputPath)
      present = await exists(absolutePath)
    }
    const file = { absolutePath, outputPath: spec.outputPath, ext: spec.ext }
    if (present) return { ...file, via: 'hit' }
    const negKey = this.#negativeKey(spec.source)
    if ((await Promise.resolve(o.cache.get(negKey)).catch(() => undefined)) != null) throw new SourceMissingError()
    const cold = folderExists === false && !options.fresh
    return this.#flight.do(spec.outputPath, () => this.#renderOrWait(spec, file, cold, src))
  }

  /*
   * `cold`: the output's folder did not exist a moment ago, so no secret of this variant was ever
   * rendered here (nothing to adopt) and the re-check under the lock can ask the records instead
   * of the disk: a worker that rendered it meanwhile wrote its record before releasing the lock.
   */
  async #renderOrWait(
    spec: ThumbnailSpec,
    file: ThumbnailFile,
    cold: boolean,
    source: Promise<Settled<string>> | undefined,
  ): Promise<EnsureResult> {
    const o = this.#o
    const name = this.lockName(spec)
    const deadline = Date.now() + o.lockTimeout * 1000
    let waited = false
    for (;;) {
      let handle
      try {
        handle = await this.#lock.tryAcquire(name)
      } catch (err) {
        if (!isCacheOutage(err)) throw err
        // Shared cache down: fail open like djblets' memoize (compute without the lock); the
        // in-process single flight still dedupes, and the atomic rename keeps files whole.
        const size = (await exists(file.absolutePath)) ? undefined : await this.#render(spec, file.absolutePath)
        return { ...file, via: 'render', size }
      }
      if (handle) {
        try {
          // Re-check under the lock: the previous owner may have finished between our stat and
          // add. `adopt` does that check too, and also links bytes rendered for a rotated key.
          // After a wait the source is resolved again: it may have changed meanwhile.
          const src = waited && o.source.localPath ? settle(callLocalPath(o.source, spec.source)) : source
          let present: boolean
          if (cold && !waited && o.records) {
            present = (await Promise.resolve(o.records.get(spec.outputPath)).catch(() => null)) != null
          } else if (spec.variantPath && o.output.adopt) {
            present = await o.output.adopt(spec.outputPath, spec.variantPath, { path: file.absolutePath })
          } else {
            present = await exists(file.absolutePath)
          }
          if (present) return { ...file, via: waited ? 'wait' : 'hit' }
          return { ...file, via: 'render', size: await this.#render(spec, file.absolutePath, src) }
        } finally {
          await handle.release().catch(() => false)
        }
      }
      if (o.waiter === '404') throw new ThumbnailPendingError()
      if (o.waiter === '503') throw new ThumbnailBusyError(o.retryAfter)
      waited = true
      const left = deadline - Date.now()
      if (left <= 0) throw new ThumbnailBusyError(o.retryAfter)
      const outcome = await waitFor<'ready' | 'free'>(
        async () => {
          if (await exists(file.absolutePath)) return 'ready'
          if (!(await this.#lock.isLocked(name).catch(() => false))) return 'free'
          return undefined
        },
        { timeoutMs: left },
      )
      if (outcome === 'ready') return { ...file, via: 'wait' }
      if (outcome === undefined) throw new ThumbnailBusyError(o.retryAfter)
      // 'free' without a file: the owner failed or crashed; try to take over.
    }
  }

  /* Renders to `dst` and returns the size written, so the response needs no extra stat. */
  async #render(spec: ThumbnailSpec, dst: string, localSource?: Promise<Settled<string>>): Promise<number | undefined> {
    const o = this.#o
    /* Not AbortSignal.timeout(): each of those keeps a timer for the full renderTimeout after the
       render ended, so a burst of cold renders leaves hundreds behind. This one is cleared. */
    const deadline = o.renderTimeout ? new AbortController() : undefined
    const timer = deadline
      ? setTimeout(() => deadline.abort(new DOMException('The render timed out', 'TimeoutError')), o.renderTimeout! * 1000)
      : undefined
    timer?.unref()
    const opts: RenderOptions = {
      width: spec.width,
      height: spec.height,
      method: spec.method,
      format: formatFor(spec.ext),
      quality: o.quality,
      ...(o.maxSourceBytes ? { maxInputBytes: o.maxSourceBytes } : {}),
      // Not the client's signal: the render is shared by every waiter, so one client leaving
      // must not cancel it. Only the deadline does, so a stuck render cannot hold its lock forever.
      ...(deadline ? { signal: deadline.signal } : {}),
    }
    let info: RenderInfo
    try {
      if (o.source.localPath) {
        const src = localSource ? unwrap(await localSource) : await o.source.localPath(spec.source)
        // The native side reads the file itself and enforces the byte cap (TooLargeError, 413).
        info = await o.renderer.thumbnailFile(src, dst, opts)
      } else {
        const input = await o.source.read(spec.source, { signal: opts.signal })
        await mkdir(path.dirname(dst), { recursive: true })
        const out = await o.renderer.thumbnail(Buffer.isBuffer(input) ? input : Buffer.from(input), opts)
        const bytes = bytesOf(out)
        await writeAtomic(dst, bytes)
        info = { ...(typeof out === 'object' && out ? (out as Partial<RenderInfo>) : {}), size: bytes.length } as RenderInfo
      }
    } catch (err) {
      if (isNotFound(err)) {
        await Promise.resolve(o.cache.set(this.#negativeKey(spec.source), 1, o.negativeTtl)).catch(() => undefined)
        throw err instanceof SourceMissingError ? err : new SourceMissingError({ cause: err })
      }
      throw err
    } finally {
      clearTimeout(timer)
    }
    o.stats.renders++
    if (spec.variantPath && o.output.remember) {
      // Only needed by a later key rotation, so it does not delay this response; a request that
      // misses the variant meanwhile just renders once more.
      void o.output.remember(spec.outputPath, spec.variantPath, dst).catch(() => undefined)
    }
    if (o.records) {
      const record: ThumbnailRecord = {
        name: spec.outputPath,
        path: spec.outputPath,
        width: info.width ?? 0,
        height: info.height ?? 0,
        size: info.size ?? 0,
        format: info.format ?? opts.format,
      }
      await Promise.resolve(o.records.set(record)).catch(() => undefined)
    }
    return info.size
  }

  #negativeKey(source: string): string {
    return `${this.#o.keyPrefix}:missing:${hashKey(source)}`
  }
}

/** Short stable hash for cache keys built from user-controlled strings (no key injection). */
export function hashKey(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 40)
}

// Callback stat in one promise: cheaper than fs/promises on the warm path.
function exists(p: string): Promise<boolean> {
  return new Promise((resolve) => fsStat(p, (err, st) => resolve(!err && st.isFile())))
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** A promise that never rejects, so it can be started early and awaited later (or never). */
function settle<T>(value: T | Promise<T>): Promise<Settled<T>> {
  return Promise.resolve(value).then(
    (v) => ({ ok: true as const, value: v }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

// A synchronous throw becomes a rejection, so it is settled like any other failure.
async function callLocalPath(source: SourceStorageLike, name: string): Promise<string> {
  return source.localPath!(name)
}

function unwrap<T>(s: Settled<T>): T {
  if (s.ok) return s.value
  throw s.error
}

function isCacheOutage(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ERR_CACHE_UNAVAILABLE'
}

function isNotFound(err: unknown): boolean {
  if (err instanceof SourceMissingError) return true
  const e = err as { status?: number; code?: string }
  return e?.status === 404 || e?.code === 'ENOENT' || e?.code === 'ERR_SOURCE_NOT_FOUND'
}

/** Extracts the encoded bytes from whatever `thumbnail()` resolved with. */
export function bytesOf(out: unknown): Buffer {
  if (Buffer.isBuffer(out)) return out
  if (out instanceof Uint8Array) return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  const o = out as { data?: Uint8Array; buffer?: Uint8Array; bytes?: Uint8Array } | null
  const b = o?.data ?? o?.buffer ?? o?.bytes
  if (b instanceof Uint8Array) return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  throw new RestthumbsError('ERR_RENDER_RESULT', 'The renderer returned no bytes', { status: 500 })
}

/** Temp file in the same directory, then rename: readers (and nginx) never see half a file. */
export async function writeAtomic(dst: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${dst}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, bytes)
    await rename(tmp, dst)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

/** The native pipeline (`thumbnail`/`thumbnailFile` of the image module). */
export const nativeRenderer: RendererLike = {
  thumbnailFile: (src, dst, options) => thumbnailFile(src, dst, options as ThumbnailFileOptions),
  thumbnail: (input, options) => thumbnail(input, options as ThumbnailOptions),
}
