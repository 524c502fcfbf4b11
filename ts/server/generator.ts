/**
 * Makes sure the thumbnail of a parsed URL exists on disk, rendering it at most once across
 * every worker that shares the cache.
 *
 * Order of a request: warm record (when `trustCache`) → negative entry for the source → `stat` of
 * the output → single flight in this process → dogpile lock across processes → render → record.
 * Losers of the lock wait, answer 503 or 404 depending on {@link WaiterMode}.
 * @module
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'

import { viaTemp, writeFileAtomic } from '../fs.js'
import { sha256Hex } from '../hash.js'
import { DogpileLock, SingleFlight, waitFor } from '../lock.js'
import type { WaiterMode } from './config.js'
import type {
  EnsureTrace,
  GeneratorCache,
  HandlerStats,
  OutputStorageLike,
  RenderInfo,
  RendererLike,
  RenderHooks,
  RenderOptions,
  SourceStorageLike,
  ThumbnailRecordsLike,
  ThumbnailSpec,
} from './contracts.js'
import { OriginTimeoutError, SourceNotFoundError, StorageFullError, ThumbnailBusyError, ThumbnailPendingError } from './errors.js'
import { type EarlySource, SourcePrefetch } from './prefetch.js'
import { callLocalPath, exists, isPresent, settle, unwrap } from './presence.js'
import { publishRendered } from './publish.js'
import { isCacheOutage, isDiskFull, isNotFound } from './render-failures.js'
import type { RenderSlots } from './render-slots.js'
import { bytesOf, renderOptionsFor } from './renderer.js'
import type { ThumbnailFile } from './responses.js'

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
  /** Bounds renders in flight (and waiting); without it every render starts at once. */
  slots?: RenderSlots
  /** Render start/end callbacks (metrics). */
  hooks?: RenderHooks
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
  readonly #prefetches = new Map<string, SourcePrefetch>()
  readonly #publishing = new Set<Promise<unknown>>()

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
   * @param options - `fresh` skips records (used after the file vanished); `trace` is filled in
   */
  async ensure(spec: ThumbnailSpec, options: { fresh?: boolean; trace?: EnsureTrace } = {}): Promise<EnsureResult> {
    const trace = options.trace ?? {}
    const o = this.#o
    if (o.trustCache && o.records && !options.fresh) {
      const [absolutePath, rec] = await Promise.all([
        o.output.pathFor(spec.outputPath),
        Promise.resolve(o.records.get(spec.outputPath)).catch(() => null),
      ])
      if (rec) {
        trace.via = 'hit'
        return { absolutePath, outputPath: spec.outputPath, ext: spec.ext, via: 'hit' }
      }
    }
    // The output path is resolved once here and handed down to the lock, adopt, render and
    // remember steps, which used to resolve it again each. The source is resolved at the same
    // time, speculatively: a cold render needs both, and waiting for one then the other would
    // add a thread-pool round trip to every cold request (a disk hit wastes one lstat). A remote
    // source is downloaded while a bucket is asked for the output (SourcePrefetch), once per process.
    const src = o.source.localPath ? settle(callLocalPath(o.source, spec.source)) : undefined
    const key = spec.outputPath
    let prefetch: SourcePrefetch | undefined
    const onLocalMiss = () => {
      if (o.source.localPath || this.#flight.has(key) || this.#prefetches.has(key)) return
      prefetch = new SourcePrefetch(o.source, spec.source)
      this.#prefetches.set(key, prefetch)
    }
    try {
      let absolutePath: string
      let present: boolean
      let folderExists: boolean | undefined
      if (o.output.lookup) {
        const found = await o.output.lookup(spec.outputPath, { onLocalMiss })
        absolutePath = found.path
        present = found.stats?.isFile() ?? false
        folderExists = found.folderExists
      } else {
        absolutePath = await o.output.pathFor(spec.outputPath)
        present = await exists(absolutePath)
      }
      const file = { absolutePath, outputPath: spec.outputPath, ext: spec.ext }
      if (present) {
        trace.via = 'hit'
        return { ...file, via: 'hit' }
      }
      if ((await Promise.resolve(o.cache.get(this.#negativeKey(spec.source))).catch(() => undefined)) != null) {
        trace.via = 'negative'
        throw new SourceNotFoundError(spec.source)
      }
      const cold = folderExists === false && !options.fresh
      let led = false
      const result = await this.#flight.do(spec.outputPath, () => {
        led = true
        return this.#renderOrWait(spec, file, cold, { local: src, remote: this.#prefetches.get(key) }, trace)
      })
      // Requests that joined another request's flight in this process waited for it.
      trace.via = led ? result.via : 'wait'
      return result
    } finally {
      // The request that started the download ends it; a render still needing it reads again.
      if (prefetch) this.#prefetches.delete(key)
      prefetch?.cancel()
    }
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
    early: EarlySource,
    trace: EnsureTrace,
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
        trace.cacheError = err
        // Shared cache down: fail open like djblets' memoize (compute without the lock); the
        // in-process single flight still dedupes, and the atomic rename keeps files whole.
        const size = (await isPresent(o.output, file)) ? undefined : (await this.#render(spec, file.absolutePath, early, trace, cold)).size
        return { ...file, via: 'render', size }
      }
      if (handle) {
        let publishing: Promise<void> | undefined
        try {
          // Re-check under the lock: the previous owner may have finished between our stat and
          // add. `adopt` does that check too, and also links bytes rendered for a rotated key.
          // After a wait the source is resolved again: it may have changed meanwhile.
          const src: EarlySource = waited ? { local: o.source.localPath ? settle(callLocalPath(o.source, spec.source)) : undefined } : early
          let present: boolean
          if (cold && !waited && o.records) {
            present = (await Promise.resolve(o.records.get(spec.outputPath)).catch(() => null)) != null
          } else if (spec.variantPath && o.output.adopt) {
            present = await o.output.adopt(spec.outputPath, spec.variantPath, { path: file.absolutePath })
          } else {
            present = await isPresent(o.output, file)
          }
          if (present) return { ...file, via: waited ? 'wait' : 'hit' }
          const rendered = await this.#render(spec, file.absolutePath, src, trace, cold)
          publishing = rendered.published
          return { ...file, via: 'render', size: rendered.size }
        } finally {
          // An upload still running keeps the lock until it is done (see publishRendered).
          if (publishing) this.#track(publishing.finally(() => handle.release().catch(() => false)))
          else await handle.release().catch(() => false)
        }
      }
      // Another request renders it: the early download is not needed (nor current after a wait).
      early.remote?.cancel()
      if (o.waiter === '404') throw new ThumbnailPendingError()
      if (o.waiter === '503') throw new ThumbnailBusyError(o.retryAfter)
      waited = true
      const left = deadline - Date.now()
      if (left <= 0) {
        trace.waitTimedOut = true
        throw new ThumbnailBusyError(o.retryAfter)
      }
      const waitStart = performance.now()
      const outcome = await waitFor<'ready' | 'free'>(
        async () => {
          if (await isPresent(o.output, file)) return 'ready'
          if (!(await this.#lock.isLocked(name).catch(() => false))) return 'free'
          return undefined
        },
        { timeoutMs: left },
      ).finally(() => (trace.waitMs = (trace.waitMs ?? 0) + performance.now() - waitStart))
      if (outcome === 'ready') return { ...file, via: 'wait' }
      if (outcome === undefined) {
        trace.waitTimedOut = true
        throw new ThumbnailBusyError(o.retryAfter)
      }
      // 'free' without a file: the owner failed or crashed; try to take over.
    }
  }

  /*
   * Renders to `dst` and returns the size written, so the response needs no extra stat, and the
   * upload to a shared bucket when it is still running (the caller keeps the lock until it ends).
   * `folderMissing`: the lookup found no folder for `dst`, so it is made before the render
   * instead of after a failed rename.
   */
  async #render(
    spec: ThumbnailSpec,
    dst: string,
    early: EarlySource,
    trace: EnsureTrace,
    folderMissing = false,
  ): Promise<{ size: number | undefined; published?: Promise<void> }> {
    const o = this.#o
    const started = performance.now()
    let ok = false
    o.hooks?.start?.()
    /* Not AbortSignal.timeout(): each of those keeps a timer for the full renderTimeout after the
       render ended, so a burst of cold renders leaves hundreds behind. This one is cleared. */
    const deadline = o.renderTimeout ? new AbortController() : undefined
    const timer = deadline
      ? setTimeout(() => deadline.abort(new DOMException('The render timed out', 'TimeoutError')), o.renderTimeout! * 1000)
      : undefined
    timer?.unref()
    const opts: RenderOptions = {
      ...renderOptionsFor(spec, o),
      // Not the client's signal: the render is shared by every waiter, so one client leaving
      // must not cancel it. Only the deadline does, so a stuck render cannot hold its lock forever.
      ...(deadline ? { signal: deadline.signal } : {}),
    }
    // Only the native work takes a slot: the fetch of a remote source holds no pool thread. A
    // render that cannot get a slot before the deadline is "busy", not an error.
    const inSlot = <T>(task: () => Promise<T>): Promise<T> =>
      o.slots
        ? o.slots.run(task, deadline?.signal).catch((err: unknown) => {
            if (deadline?.signal.aborted && err === deadline.signal.reason) throw new ThumbnailBusyError(o.retryAfter)
            throw err
          })
        : task()
    let info: RenderInfo
    let bytes: Buffer | undefined
    try {
      if (o.source.localPath) {
        const src = early.local ? unwrap(await early.local) : await o.source.localPath(spec.source)
        // The native side reads the file itself and enforces the byte cap (TooLargeError, 413).
        // It writes to a temp name in the output's temp folder (never inside the served tree,
        // where a crash would leave it), which is then renamed into place.
        const tempDir = o.output.tempDir
        if (tempDir) {
          if (folderMissing) await mkdir(path.dirname(dst), { recursive: true })
          let written: RenderInfo | undefined
          await viaTemp(dst, { tempDir, mkdirs: true }, async (tmp) => {
            written = await inSlot(() => o.renderer.thumbnailFile(src, tmp, opts))
          })
          info = written!
        } else {
          info = await inSlot(() => o.renderer.thumbnailFile(src, dst, opts))
        }
      } else {
        // The folder of a new output is made while the source arrives and renders.
        const folder = folderMissing ? mkdir(path.dirname(dst), { recursive: true }).then(() => undefined, () => undefined) : undefined
        // Settled before the request ends, even when it fails, so no mkdir outlives it.
        let out!: Awaited<ReturnType<typeof o.renderer.thumbnail>>
        try {
          const fetched = early.remote ? early.remote.take(opts.signal) : o.source.read(spec.source, { signal: opts.signal })
          const input = await fetched.catch((err: unknown) => {
            // The render deadline ran out while the origin was still sending: that is the origin
            // timing out (504), not a cancelled request.
            if (deadline?.signal.aborted) {
              throw new OriginTimeoutError(spec.source, `The origin did not deliver the source within renderTimeout (${o.renderTimeout} s)`, { cause: err })
            }
            throw err
          })
          out = await inSlot(() => o.renderer.thumbnail(Buffer.isBuffer(input) ? input : Buffer.from(input), opts))
        } finally {
          await folder
        }
        bytes = bytesOf(out)
        await writeFileAtomic(dst, bytes, { mkdirs: true, tempDir: o.output.tempDir })
        info = { ...(typeof out === 'object' && out ? (out as Partial<RenderInfo>) : {}), size: bytes.length } as RenderInfo
      }
      ok = true
    } catch (err) {
      if (isDiskFull(err)) throw new StorageFullError(o.retryAfter, { cause: err })
      if (isNotFound(err)) {
        await Promise.resolve(o.cache.set(this.#negativeKey(spec.source), 1, o.negativeTtl)).catch(() => undefined)
        throw err instanceof SourceNotFoundError ? err : new SourceNotFoundError(spec.source, { cause: err })
      }
      throw err
    } finally {
      clearTimeout(timer)
      const ms = performance.now() - started
      trace.renderMs = ms
      o.hooks?.end?.(ms / 1000, ok)
    }
    o.stats.renders++
    if (spec.variantPath && o.output.remember) {
      // Only needed by a later key rotation, so it does not delay this response; a request that
      // misses the variant meanwhile just renders once more.
      void o.output.remember(spec.outputPath, spec.variantPath, dst).catch(() => undefined)
    }
    const record = {
      name: spec.outputPath,
      path: spec.outputPath,
      width: info.width ?? 0,
      height: info.height ?? 0,
      size: info.size ?? 0,
      format: info.format ?? opts.format,
    }
    return { ...(await publishRendered(o.output, o.records, record, dst, o.hooks, bytes)), size: info.size }
  }

  /** Resolves once every upload still running (and its lock release) has ended; `close` waits. */
  async drain(): Promise<void> {
    while (this.#publishing.size > 0) await Promise.allSettled([...this.#publishing])
  }

  #track(work: Promise<unknown>): void {
    this.#publishing.add(work)
    const done = () => void this.#publishing.delete(work)
    work.then(done, done)
  }

  #negativeKey(source: string): string {
    return `${this.#o.keyPrefix}:missing:${hashKey(source)}`
  }
}

/** Short stable hash for cache keys built from user-controlled strings (no key injection). */
export function hashKey(s: string): string {
  return sha256Hex(s).slice(0, 40)
}
