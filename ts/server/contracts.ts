/**
 * The contracts between the thumbnail generator and its collaborators: the parsed request it
 * works on, the storages, the record store, the renderer, the lock cache, and the counters. Any
 * object with these shapes can stand in (tests, embedding apps, other storages).
 * @module
 */
import type { ThumbnailRecord } from './thumbnail-records.js'
import type { LockCache } from '../lock.js'

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
  /** Encoder quality of this thumbnail; the generator's `quality` when absent. */
  quality?: number
  /** Point (`x`, `y` in 0..1) that `crop` keeps as central as possible; the centre when absent. */
  focalPoint?: { x: number; y: number }
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
   * `pathFor` and then `stat`s the file. A storage that asks a remote store after a local miss
   * calls `onLocalMiss` first, so the generator can fetch a remote source meanwhile.
   */
  lookup?(
    outputPath: string,
    options?: { onLocalMiss?(): void },
  ): Promise<{ path: string; stats: { isFile(): boolean } | null; folderExists?: boolean }>
  /**
   * Links an existing variant to a new signed path (after key rotation); `true` when the output
   * exists now (also when it already did). `resolved` is what `lookup`/`pathFor` found.
   */
  adopt?(outputPath: string, variantPath: string, resolved?: { path: string; folderExists?: boolean }): Promise<boolean>
  /**
   * Folder for temp files, on the output's filesystem and outside what the proxy serves; without
   * it temps are written next to the output.
   */
  readonly tempDir?: string
  /** Records a freshly written file as its variant. `absolutePath` is what `pathFor` returned. */
  remember?(outputPath: string, variantPath: string, absolutePath?: string): Promise<void>
  /**
   * Whether the output exists, for storages where the local file is not the truth (a shared
   * bucket); without it the generator `stat`s `absolutePath`.
   */
  has?(outputPath: string, absolutePath: string): Promise<boolean>
  /**
   * Publishes a freshly rendered local file (uploads it to a shared bucket). Awaited before the
   * render lock is released, so no other host misses it and renders it again. `bytes`: the
   * file's content when the caller still holds it (saves reading the file back).
   */
  commit?(outputPath: string, absolutePath: string, bytes?: Uint8Array): Promise<void>
  /**
   * Responses are sent from the local file (not from the bucket): the client can be answered
   * while `commit` is still uploading. Otherwise (a proxy or a redirect to the bucket) the answer
   * waits for the upload.
   */
  readonly answersFromLocalCopy?: boolean
}

/** What one `ensure` call did, filled in for metrics and the request log. */
export interface EnsureTrace {
  /** `negative` when the source is remembered as missing; the others as in `EnsureResult`. */
  via?: 'hit' | 'render' | 'wait' | 'negative'
  /** Milliseconds this request's render took (fetch, decode, encode, write; not the upload). */
  renderMs?: number
  /** Milliseconds spent waiting for another worker's render. */
  waitMs?: number
  /** The wait ended without the thumbnail (503). */
  waitTimedOut?: boolean
  /** The shared cache failed (the render went ahead without the cross-process lock). */
  cacheError?: unknown
}

/** Called around every render, for render-slot gauges and histograms. */
export interface RenderHooks {
  /** A render starts. */
  start?(): void
  /** A render ended after `seconds`; `ok` false when it threw. */
  end?(seconds: number, ok: boolean): void
  /** The upload of a rendered thumbnail to a shared bucket failed (the response had succeeded). */
  publishFailed?(err: unknown): void
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
  /** Point that `crop` keeps as central as possible (`getThumbnail`'s crop positions). */
  focalPoint?: { x: number; y: number }
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
