/**
 * `getThumbnail`: python-thumbnails' `get_thumbnail(original, size, **options)` for apps that
 * render at request time. It answers from the thumbnail records when it can (no disk access), and
 * otherwise renders through the very generator the server uses (same storages, dogpile lock,
 * single flight, negative entries and renderer), then records the result.
 *
 * Names follow python-thumbnails' `generate_filename`: `sha1('source:size:crop')` split as
 * `h[:3]/h[3:]`, so a call python-thumbnails could make gets the same name. Unlike
 * python-thumbnails, an explicit `method` or `quality` is hashed as well: two calls that differ
 * only in those would otherwise share (and overwrite) one file.
 * @module
 */
import { stat, unlink } from 'node:fs/promises'
import { extname } from 'node:path'

import type { BaseCache } from '../cache/base.js'
import { caches } from '../cache/registry.js'
import { backendForUrl, cacheFromUrl } from '../cache/url.js'
import { isMissing } from '../fs.js'
import { sha1Hex } from '../hash.js'
import { probeFile } from '../image/thumbnail.js'
import { bool, integer, invalidOption, mergeDefaults, oneOf, string } from '../validate.js'
import { configError, configFromEnv, resolveConfig, type ServerConfig } from './config.js'
import type { GeneratorCache, HandlerStats, OutputStorageLike, RendererLike, SourceStorageLike, ThumbnailSpec } from './contracts.js'
import { splitHandlerOptions } from './dependencies.js'
import { SourceNotFoundError } from './errors.js'
import { createThumbnailHandler } from './handler.js'
import { formatFor } from './renderer.js'
import { LocalOutputStorage } from './storage/local-output.js'
import { ThumbnailCache, type ThumbnailRecord } from './thumbnail-records.js'
import { parseCrop, parseThumbnailSize } from './thumbnail-size.js'
import { checkSource } from './url.js'

/** Options of one {@link Thumbnailer.getThumbnail} call (python-thumbnails' `**options`). */
export interface GetThumbnailOptions {
  /** `crop`, `scale` or `smart`. @default 'crop' with a `crop` position, else 'scale' (fit inside) */
  method?: 'crop' | 'scale' | 'smart'
  /** `jpeg` (`jpg`), `png`, `webp` or `avif`, any case. @default the source's format when it is one of those, else 'jpeg' */
  format?: string
  /** Encoder quality 1–100. @default the thumbnailer's `quality` */
  quality?: number
  /** Render again even when the record and the file exist. @default false */
  force?: boolean
  /** Crop position: `center`, `top`, `left`, `top left`, `25% 75%`, … (implies `method: 'crop'`). */
  crop?: string | boolean | null
  /** Extra pixel densities, each written as `name@<r>x.ext`. @default the thumbnailer's */
  alternativeResolutions?: readonly number[]
  /** A missing source gives a placeholder URL instead of a `SourceNotFoundError`. @default the thumbnailer's */
  dummy?: boolean
}

/** Settings of {@link createThumbnailer}: the server's settings plus the python-thumbnails ones. */
export interface ThumbnailerOptions extends Omit<Partial<ServerConfig>, 'cache'> {
  /** Locks and negative entries, as the server's `cache`: a location, an alias or an instance. @default 'memory' */
  cache?: string | GeneratorCache
  /**
   * Where thumbnail records live (python-thumbnails' `THUMBNAIL_CACHE_BACKEND`): `'memory'` (an
   * in-process LRU), a cache alias from the registry, a cache URL (`redis://…`), or a
   * `ThumbnailCache`. By default they live next to the locks, as the server's do.
   */
  records?: string | ThumbnailCache
  /** Public URL of `outputRoot` (`THUMBNAIL_URL`). @default basePath */
  url?: string
  /** Folder of the thumbnails inside `outputRoot`, apart from the server's signed paths. @default 'cache' */
  folder?: string
  /** Default extra pixel densities (`THUMBNAIL_ALTERNATIVE_RESOLUTIONS`). @default [2] */
  alternativeResolutions?: readonly number[]
  /** Default of the `dummy` option (`THUMBNAIL_DUMMY`). @default false */
  dummy?: boolean
  /** Placeholder URL template with `{width}` and `{height}` (`THUMBNAIL_DUMMY_URL`). @default 'https://dummyimage.com/{width}x{height}' */
  dummyUrl?: string
  /** The source storage (default: from `sourceRoot` / `sourceUrl`). */
  source?: SourceStorageLike
  /** The output storage (default: `outputRoot`). */
  output?: OutputStorageLike
  /** The renderer (default: the native pipeline). */
  renderer?: RendererLike
}

/** One extra density of a thumbnail, for `srcset`. */
export interface ThumbnailAlternative {
  /** The density, e.g. `2`. */
  resolution: number
  /** URL of `name@2x.ext`. */
  url: string
  /** Absolute path of the file (`null` for a placeholder). */
  path: string | null
  /** Width in pixels. */
  width: number
  /** Height in pixels. */
  height: number
}

/** What {@link Thumbnailer.getThumbnail} returns (python-thumbnails' `Thumbnail`). */
export interface ThumbnailResult {
  /** Output path inside the output storage, e.g. `cache/0af/a360….jpg`; the record's name. */
  name: string
  /** Public URL (the placeholder URL when `dummy`). */
  url: string
  /** Absolute path of the file (`null` for a placeholder). */
  path: string | null
  /** Width in pixels. */
  width: number
  /** Height in pixels. */
  height: number
  /** Output format. */
  format: string
  /** The extra densities. */
  alternatives: ThumbnailAlternative[]
  /** `url 1x, url@2x 2x`, ready for an `<img srcset>`. */
  srcset: string
  /** Whether this is a placeholder for a missing source. */
  dummy: boolean
}

/** A configured `getThumbnail` with the collaborators it built once. */
export interface Thumbnailer {
  /**
   * The thumbnail of `source` at `size`, rendered when no record (or `force`).
   * @param source - source name relative to the source storage
   * @param size - `200x100`, `200` (width) or `x200` (height)
   * @throws {@link SourceNotFoundError} for a missing source without `dummy`, the parser's typed
   *   errors for bad sizes and options, and the renderer's for undecodable images
   */
  getThumbnail(source: string, size: string | number, options?: GetThumbnailOptions): Promise<ThumbnailResult>
  /** The records (python-thumbnails' cache backend). */
  readonly records: ThumbnailCache
  /** Counters of the generator (`renders` counts renders of this process). */
  readonly stats: HandlerStats
  /** The resolved server settings. */
  readonly config: Readonly<ServerConfig>
  /** Closes the connections this thumbnailer opened. */
  close(): Promise<void>
}

const OWN_KEYS = ['records', 'url', 'folder', 'alternativeResolutions', 'dummy', 'dummyUrl'] as const

/** Defaults of the python-thumbnails settings of {@link ThumbnailerOptions}, merged once. */
export const THUMBNAILER_DEFAULTS: Readonly<{ folder: string; alternativeResolutions: readonly number[]; dummy: boolean; dummyUrl: string }> =
  Object.freeze({
    folder: 'cache',
    alternativeResolutions: Object.freeze([2]),
    dummy: false,
    dummyUrl: 'https://dummyimage.com/{width}x{height}',
  })

const FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const
const EXT: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' }

/**
 * Builds a thumbnailer: resolves the settings and builds the server's collaborators once.
 * @param options - server settings (`sourceRoot`, `outputRoot`, `cache`, `quality`, …), the
 *   python-thumbnails settings and optional collaborators
 * @example
 * const thumbs = createThumbnailer({ sourceRoot: 'media', outputRoot: 'public/thumbnails', url: '/thumbnails/' })
 * const t = await thumbs.getThumbnail('photos/cat.jpg', '200x200', { crop: 'top' })
 * // <img src={t.url} srcset={t.srcset} width={t.width} height={t.height}>
 */
export function createThumbnailer(options: ThumbnailerOptions = {}): Thumbnailer {
  const rest: Record<string, unknown> = { ...options }
  for (const k of OWN_KEYS) delete rest[k]
  const own = mergeDefaults(THUMBNAILER_DEFAULTS, {
    folder: options.folder,
    alternativeResolutions: options.alternativeResolutions,
    dummy: options.dummy,
    dummyUrl: options.dummyUrl,
  })
  const folder = own.folder === '' ? '' : checkSource(string('folder', own.folder, { error: configError }))
  const defaultResolutions = resolutions(own.alternativeResolutions)
  const defaultDummy = bool('dummy', own.dummy, configError)
  const dummyUrl = string('dummyUrl', own.dummyUrl, { nonEmpty: true, error: configError })
  const { settings } = splitHandlerOptions(rest)
  const config = resolveConfig(settings)
  const baseUrl = string('url', options.url ?? config.basePath, { error: configError }).replace(/\/+$/, '')
  const owned = recordsFrom(options.records, config.keyPrefix)
  // Built here (as warm does) so paths of recorded thumbnails resolve without the generator.
  const output = options.output ?? new LocalOutputStorage({ root: config.outputRoot })
  // The server's own construction path; no URL is verified here, so no signing key is needed.
  const handler = createThumbnailHandler({
    ...rest,
    waiter: 'wait',
    accessLog: false,
    verify: () => false,
    output,
    ...(owned ? { records: owned.records } : {}),
  })
  const generator = handler.generator
  const records = (owned?.records ?? generator.records) as ThumbnailCache
  const absolute = async (outputPath: string): Promise<string> => output.pathFor(outputPath)

  // `@` is legal in a path segment (RFC 3986 pchar); `name@2x.jpg` stays readable, as python-thumbnails writes it.
  const urlOf = (outputPath: string): string =>
    `${baseUrl}/${outputPath
      .split('/')
      .map((seg) => encodeURIComponent(seg).replace(/%40/g, '@'))
      .join('/')}`

  /* One file: the record when present, else the generator (rendering if the file is missing). */
  async function ensureOne(spec: ThumbnailSpec, force: boolean): Promise<ThumbnailRecord> {
    if (!force) {
      const rec = await records.get(spec.outputPath).catch(() => undefined)
      if (rec) return rec
    }
    const found = await generator.ensure(spec, { fresh: force })
    const [info, st] = await Promise.all([probeFile(found.absolutePath), stat(found.absolutePath)])
    const rec: ThumbnailRecord = { name: spec.outputPath, path: spec.outputPath, width: info.width, height: info.height, size: st.size, format: info.format }
    // A render was recorded by the generator; a file found on disk (another process, an evicted
    // record) is recorded here so the next call skips the disk.
    if (found.via !== 'render') await records.set(rec).catch(() => undefined)
    return rec
  }

  async function getThumbnail(source: string, size: string | number, call: GetThumbnailOptions = {}): Promise<ThumbnailResult> {
    checkSource(string('source', source, { nonEmpty: true }))
    const box = parseThumbnailSize(size)
    const focal = parseCrop(call.crop)
    const method = call.method === undefined ? (focal ? 'crop' : 'scale') : oneOf('method', call.method, ['crop', 'scale', 'smart'] as const)
    if (focal && method !== 'crop') throw invalidOption('method', "'crop' (or no method) with a crop position", method)
    const format = call.format === undefined ? formatFor(extname(source)) : oneOf('format', normaliseFormat(call.format), FORMATS)
    const quality = call.quality === undefined ? undefined : integer('quality', call.quality, { min: 1, max: 100 })
    const force = call.force === undefined ? false : bool('force', call.force)
    const dummy = call.dummy === undefined ? defaultDummy : bool('dummy', call.dummy)
    const densities = call.alternativeResolutions === undefined ? defaultResolutions : resolutions(call.alternativeResolutions)
    const parts = [source, String(size), call.crop === undefined || call.crop === null || call.crop === false ? 'None' : String(call.crop)]
    if (call.method !== undefined) parts.push(`method=${method}`)
    if (quality !== undefined) parts.push(`quality=${quality}`)
    const h = sha1Hex(parts.join(':'))
    const stem = `${folder ? folder + '/' : ''}${h.slice(0, 3)}/${h.slice(3)}`
    const ext = EXT[format]
    const specFor = (r: number): ThumbnailSpec => ({
      source,
      width: box.width * r,
      height: box.height * r,
      method,
      ext: `.${ext}`,
      outputPath: r === 1 ? `${stem}.${ext}` : `${stem}@${r}x.${ext}`,
      ...(quality !== undefined ? { quality } : {}),
      ...(focal ? { focalPoint: focal } : {}),
    })
    const specs = [1, ...densities].map(specFor)
    if (force) await Promise.all(specs.map(async (s) => removeFile(await absolute(s.outputPath))))
    let recs: ThumbnailRecord[]
    try {
      recs = await Promise.all(specs.map((s) => ensureOne(s, force)))
    } catch (err) {
      if (dummy && err instanceof SourceNotFoundError) return placeholder(box, densities, dummyUrl, `${stem}.${ext}`, format)
      throw err
    }
    const paths = await Promise.all(specs.map((s) => absolute(s.outputPath)))
    const alternatives = densities.map((resolution, i) => ({
      resolution,
      url: urlOf(specs[i + 1].outputPath),
      path: paths[i + 1],
      width: recs[i + 1].width,
      height: recs[i + 1].height,
    }))
    const url = urlOf(specs[0].outputPath)
    return {
      name: specs[0].outputPath,
      url,
      path: paths[0],
      width: recs[0].width,
      height: recs[0].height,
      format: recs[0].format,
      alternatives,
      srcset: srcsetOf(url, alternatives),
      dummy: false,
    }
  }

  return {
    getThumbnail,
    records,
    stats: handler.stats,
    config,
    close: async () => {
      await handler.close()
      if (owned?.close) await owned.close().catch(() => undefined)
    },
  }
}

/* The record store a `records` setting names, or null to keep the server's default. */
function recordsFrom(setting: unknown, keyPrefix: string): { records: ThumbnailCache; close?: () => Promise<void> } | null {
  if (setting === undefined) return null
  if (setting instanceof ThumbnailCache) return { records: setting }
  const prefix = `${keyPrefix}:thumbnails`
  if (setting === 'memory') return { records: new ThumbnailCache({ keyPrefix: prefix, maxEntries: 10_000 }) }
  if (typeof setting === 'string' && backendForUrl(setting)) {
    const backend: BaseCache = cacheFromUrl(setting)
    return { records: new ThumbnailCache({ backend, keyPrefix: prefix }), close: () => backend.close() }
  }
  if (typeof setting === 'string' && caches.has(setting)) {
    // Shared with the rest of the app: not closed here.
    return { records: new ThumbnailCache({ backend: caches.get(setting), keyPrefix: prefix }) }
  }
  throw invalidOption('records', "'memory', a cache URL (redis://…), a configured cache alias or a ThumbnailCache", setting, configError)
}

function resolutions(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalidOption('alternativeResolutions', 'array of integers from 2 to 8', value)
  return value.map((r, i) => integer(`alternativeResolutions[${i}]`, r, { min: 2, max: 8 }))
}

function normaliseFormat(format: unknown): unknown {
  if (typeof format !== 'string') return format
  const f = format.toLowerCase()
  return f === 'jpg' ? 'jpeg' : f
}

/* python-thumbnails' DummyEngine: `THUMBNAIL_DUMMY_URL.format(width=…, height=…)`. A side the size
   left open takes the other one's value, as a square placeholder. */
function placeholder(box: { width: number; height: number }, densities: number[], template: string, name: string, format: string): ThumbnailResult {
  const width = box.width || box.height
  const height = box.height || box.width
  const fill = (w: number, hgt: number): string => template.replace(/\{width\}/g, String(w)).replace(/\{height\}/g, String(hgt))
  const alternatives = densities.map((resolution) => ({
    resolution,
    url: fill(width * resolution, height * resolution),
    path: null,
    width: width * resolution,
    height: height * resolution,
  }))
  const url = fill(width, height)
  return { name, url, path: null, width, height, format, alternatives, srcset: srcsetOf(url, alternatives), dummy: true }
}

function srcsetOf(url: string, alternatives: readonly { resolution: number; url: string }[]): string {
  return [`${url} 1x`, ...alternatives.map((a) => `${a.url} ${a.resolution}x`)].join(', ')
}

async function removeFile(p: string): Promise<void> {
  await unlink(p).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)))
}

let shared: Thumbnailer | undefined

/**
 * `getThumbnail` with a thumbnailer built on the first call from the `RESTTHUMBS_*` environment
 * (`RESTTHUMBS_SOURCE_ROOT`, `RESTTHUMBS_OUTPUT_ROOT`, `RESTTHUMBS_CACHE`, …), as python-thumbnails
 * reads its settings module; use {@link createThumbnailer} to pass settings in code.
 * @param source - source name relative to the source storage
 * @param size - `200x100`, `200` (width) or `x200` (height)
 * @param options - see {@link GetThumbnailOptions}
 */
export function getThumbnail(source: string, size: string | number, options?: GetThumbnailOptions): Promise<ThumbnailResult> {
  shared ??= createThumbnailer(configFromEnv(process.env))
  return shared.getThumbnail(source, size, options)
}
