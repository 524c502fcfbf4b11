/**
 * Thumbnail options: the documented interface, the frozen defaults, and the validation that runs
 * before anything crosses into native code.
 * @module
 */
import { InvalidOptionError } from '../errors.js'

/** How the source is fitted to the requested box. */
export type ThumbnailMethod = 'crop' | 'scale' | 'smart'
/** Output container. */
export type ThumbnailFormat = 'jpeg' | 'png' | 'webp' | 'avif'
/** Where `crop` keeps the image. */
export type Gravity = 'center' | 'north' | 'south' | 'east' | 'west' | 'northeast' | 'northwest' | 'southeast' | 'southwest'

/** Options of {@link thumbnail} and {@link thumbnailFile}. */
export interface ThumbnailOptions {
  /** Output width in pixels; `0` (or absent) derives it from `height`. At least one side must be > 0. @default 0 */
  width?: number
  /** Output height in pixels; `0` (or absent) derives it from `width`. @default 0 */
  height?: number
  /**
   * `crop`: scale to cover the box, then crop at `gravity` / `focalPoint`.
   * `scale`: fit inside the box (one side may come out smaller).
   * `smart`: scale to cover, then remove the lowest-entropy strips (easy-thumbnails algorithm).
   * @default 'crop'
   */
  method?: ThumbnailMethod
  /** Which part `crop` keeps. Ignored when `focalPoint` is set. @default 'center' */
  gravity?: Gravity
  /** Point of the upright source, `x` and `y` in 0..1, that `crop` keeps as central as possible. */
  focalPoint?: { x: number; y: number }
  /** Output format. @default 'jpeg' */
  format?: ThumbnailFormat
  /** JPEG, lossy WebP and AVIF quality, 1..100. @default 80 */
  quality?: number
  /** AVIF encoder speed, 0 (slowest, smallest file) to 10 (fastest). @default 8 */
  speed?: number
  /** Progressive JPEG. @default false */
  progressive?: boolean
  /** Lossless WebP. @default false */
  lossless?: boolean
  /** Allow an output larger than the source. @default false */
  upscale?: boolean
  /** Colour transparent pixels are composited onto for formats without alpha (JPEG), `#rgb` or `#rrggbb`. @default '#ffffff' */
  background?: string
  /** Largest accepted `width × height × frames` of the source; checked from the header before decoding. @default 50_000_000 */
  maxInputPixels?: number
  /** Largest accepted input, in bytes. @default 67_108_864 (64 MiB) */
  maxInputBytes?: number
  /** Largest accepted output side, in pixels. @default 8192 */
  maxOutputSide?: number
  /** Cancels the work: rejects with an `AbortError` (`ERR_ABORTED`). */
  signal?: AbortSignal
}

/** Options of {@link thumbnailFile}: the thumbnail options plus durability. */
export interface ThumbnailFileOptions extends ThumbnailOptions {
  /** fsync the written file before it is renamed into place. @default false */
  fsync?: boolean
}

/** The defaults, merged in {@link resolveThumbnailOptions} only. */
export const THUMBNAIL_DEFAULTS = Object.freeze({
  width: 0,
  height: 0,
  method: 'crop' as ThumbnailMethod,
  gravity: 'center' as Gravity,
  format: 'jpeg' as ThumbnailFormat,
  quality: 80,
  speed: 8,
  progressive: false,
  lossless: false,
  upscale: false,
  background: '#ffffff',
  maxInputPixels: 50_000_000,
  maxInputBytes: 64 * 1024 * 1024,
  maxOutputSide: 8192,
  fsync: false,
})

/** Accepted values of the enumerated options. */
export const METHODS: readonly ThumbnailMethod[] = Object.freeze(['crop', 'scale', 'smart'])
/** Accepted output formats. */
export const FORMATS: readonly ThumbnailFormat[] = Object.freeze(['jpeg', 'png', 'webp', 'avif'])
/** Accepted gravities. */
export const GRAVITIES: readonly Gravity[] = Object.freeze([
  'center',
  'north',
  'south',
  'east',
  'west',
  'northeast',
  'northwest',
  'southeast',
  'southwest',
])

/** The option object handed to the native binding (see `binding.d.cts`). */
export interface NativeThumbnailOptions {
  width: number
  height: number
  method: ThumbnailMethod
  gravity: Gravity
  focalX?: number
  focalY?: number
  format: ThumbnailFormat
  quality: number
  speed: number
  progressive: boolean
  lossless: boolean
  upscale: boolean
  background: string
  maxInputPixels: number
  maxInputBytes: number
  maxOutputSide: number
  fsync: boolean
}

function describe(value: unknown): string {
  const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' && value !== null ? Object.prototype.toString.call(value) : String(value)
  return `${shown} of type ${value === null ? 'null' : typeof value}`
}

function invalid(expected: string, name: string, value: unknown): InvalidOptionError {
  return new InvalidOptionError(`Expected ${expected} for ${name} but received ${describe(value)}`)
}

function integer(name: string, value: unknown, min: number, max: number, expected: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid(expected, name, value)
  return value
}

function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid('boolean', name, value)
  return value
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw invalid(`one of ${allowed.join(', ')}`, name, value)
  return value as T
}

/**
 * Merges {@link THUMBNAIL_DEFAULTS} into `options` and validates every field, so a bad option
 * fails here with a readable message instead of in native code.
 * @param options - user options
 * @throws InvalidOptionError - with messages like `Expected positive integer for width but received -3 of type number`
 */
export function resolveThumbnailOptions(options: ThumbnailFileOptions = {}): NativeThumbnailOptions {
  if (typeof options !== 'object' || options === null) throw invalid('object', 'options', options)
  const o = { ...THUMBNAIL_DEFAULTS, ...stripUndefined(options) }
  const width = integer('width', o.width, 0, Number.MAX_SAFE_INTEGER, 'positive integer')
  const height = integer('height', o.height, 0, Number.MAX_SAFE_INTEGER, 'positive integer')
  if (width === 0 && height === 0) throw new InvalidOptionError('Expected a positive integer for width or height but both are 0')
  const maxOutputSide = integer('maxOutputSide', o.maxOutputSide, 1, 0xffff_ffff, 'positive integer')
  const resolved: NativeThumbnailOptions = {
    width,
    height,
    method: oneOf('method', o.method, METHODS),
    gravity: oneOf('gravity', o.gravity, GRAVITIES),
    format: oneOf('format', o.format, FORMATS),
    quality: integer('quality', o.quality, 1, 100, 'integer between 1 and 100'),
    speed: integer('speed', o.speed, 0, 10, 'integer between 0 and 10'),
    progressive: boolean('progressive', o.progressive),
    lossless: boolean('lossless', o.lossless),
    upscale: boolean('upscale', o.upscale),
    background: o.background as string,
    maxInputPixels: integer('maxInputPixels', o.maxInputPixels, 1, Number.MAX_SAFE_INTEGER, 'positive integer'),
    maxInputBytes: integer('maxInputBytes', o.maxInputBytes, 1, Number.MAX_SAFE_INTEGER, 'positive integer'),
    maxOutputSide,
    fsync: boolean('fsync', o.fsync),
  }
  if (typeof o.background !== 'string' || !/^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.test(o.background)) {
    throw invalid('hex colour like #ffffff', 'background', o.background)
  }
  if (o.focalPoint !== undefined) {
    const fp = o.focalPoint as unknown
    if (typeof fp !== 'object' || fp === null) throw invalid('object with x and y between 0 and 1', 'focalPoint', fp)
    const { x, y } = fp as { x: unknown; y: unknown }
    for (const [name, v] of [['focalPoint.x', x], ['focalPoint.y', y]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw invalid('number between 0 and 1', name, v)
    }
    resolved.focalX = x as number
    resolved.focalY = y as number
  }
  for (const side of ['width', 'height'] as const) {
    if (resolved[side] > maxOutputSide) {
      throw new InvalidOptionError(
        `Expected ${side} at most maxOutputSide (${maxOutputSide}) but received ${resolved[side]}; raise maxOutputSide to allow it`,
      )
    }
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('AbortSignal', 'signal', o.signal)
  return resolved
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
