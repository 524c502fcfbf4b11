/**
 * Thumbnail options: the documented interface, the frozen defaults, and the validation that runs
 * before anything crosses into native code.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import { binding, type Gravity, type NativeThumbnailOptions, type ThumbnailDefaults, type ThumbnailFormat, type ThumbnailMethod } from '../native.js'
import { bool, integer, invalidOption, mergeDefaults, oneOf } from '../validate.js'

// The unions are generated from the Rust `#[napi(string_enum)]`s into `binding.d.cts`.
export type { ThumbnailMethod, ThumbnailFormat, Gravity } from '../native.js'

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
  /**
   * Most scans a progressive JPEG may have, counted from its markers before decoding; more is
   * refused with `ERR_TOO_LARGE` (each scan is another pass over the image, so thousands of tiny
   * repeated scans are a CPU denial of service). Real encoders write about 10. @default 100
   */
  maxScans?: number
  /** Cancels the work: rejects with an `AbortError` (`ERR_ABORTED`). */
  signal?: AbortSignal
}

/** Options of {@link thumbnailFile}: the thumbnail options plus durability. */
export interface ThumbnailFileOptions extends ThumbnailOptions {
  /** fsync the written file before it is renamed into place. @default false */
  fsync?: boolean
}

// The names only: the values are read from the binding on first use, not at import, because
// importing the package (the CLI's --help and url, the pure-TS caches) must work without the
// platform package. `satisfies` keeps this list in step with the generated type.
const DEFAULT_KEYS = Object.keys({
  width: 0, height: 0, method: 0, gravity: 0, format: 0, quality: 0, speed: 0, progressive: 0, lossless: 0, upscale: 0,
  background: 0, maxInputPixels: 0, maxInputBytes: 0, maxOutputSide: 0, maxScans: 0, fsync: 0,
} satisfies Record<keyof ThumbnailDefaults, 0>) as (keyof ThumbnailDefaults)[]

function lazyDefaults(): Readonly<ThumbnailDefaults> {
  let values: ThumbnailDefaults | undefined
  const get = () => (values ??= binding.thumbnailDefaults())
  const props = Object.fromEntries(DEFAULT_KEYS.map((k) => [k, { get: () => get()[k], enumerable: true }]))
  return Object.freeze(Object.defineProperties({}, props)) as Readonly<ThumbnailDefaults>
}

/**
 * The defaults, merged in {@link resolveThumbnailOptions} only. They come from the Rust core
 * (`thumbnailDefaults()`), so the values documented above with `@default` are set in one place.
 */
export const THUMBNAIL_DEFAULTS: Readonly<ThumbnailDefaults> = lazyDefaults()

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

/**
 * Merges {@link THUMBNAIL_DEFAULTS} into `options` and validates every field, so a bad option
 * fails here with a readable message instead of in native code.
 * @param options - user options
 * @throws InvalidOptionError - with messages like `Expected positive integer for width but received -3 of type number`
 */
export function resolveThumbnailOptions(options: ThumbnailFileOptions = {}): NativeThumbnailOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'object', options)
  const o: ThumbnailFileOptions = mergeDefaults<ThumbnailFileOptions>(THUMBNAIL_DEFAULTS, options)
  const positive = { min: 1, expected: 'positive integer' }
  const width = integer('width', o.width, { expected: 'positive integer' })
  const height = integer('height', o.height, { expected: 'positive integer' })
  if (width === 0 && height === 0) throw new InvalidOptionError('Expected a positive integer for width or height but both are 0')
  const maxOutputSide = integer('maxOutputSide', o.maxOutputSide, { ...positive, max: 0xffff_ffff })
  const resolved: NativeThumbnailOptions = {
    width,
    height,
    method: oneOf('method', o.method, METHODS),
    gravity: oneOf('gravity', o.gravity, GRAVITIES),
    format: oneOf('format', o.format, FORMATS),
    quality: integer('quality', o.quality, { min: 1, max: 100 }),
    speed: integer('speed', o.speed, { min: 0, max: 10 }),
    progressive: bool('progressive', o.progressive),
    lossless: bool('lossless', o.lossless),
    upscale: bool('upscale', o.upscale),
    background: o.background as string,
    maxInputPixels: integer('maxInputPixels', o.maxInputPixels, positive),
    maxInputBytes: integer('maxInputBytes', o.maxInputBytes, positive),
    maxOutputSide,
    maxScans: integer('maxScans', o.maxScans, { ...positive, max: 0xffff_ffff }),
    fsync: bool('fsync', o.fsync),
  }
  if (typeof o.background !== 'string' || !/^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.test(o.background)) {
    throw invalidOption('background', 'hex colour like #ffffff', o.background)
  }
  if (o.focalPoint !== undefined) {
    const fp = o.focalPoint as unknown
    if (typeof fp !== 'object' || fp === null) throw invalidOption('focalPoint', 'object with x and y between 0 and 1', fp)
    const { x, y } = fp as { x: unknown; y: unknown }
    for (const [name, v] of [['focalPoint.x', x], ['focalPoint.y', y]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw invalidOption(name, 'number between 0 and 1', v)
    }
    resolved.focalX = x as number
    resolved.focalY = y as number
  }
  for (const [side, value] of [['width', width], ['height', height]] as const) {
    if (value > maxOutputSide) {
      throw new InvalidOptionError(
        `Expected ${side} at most maxOutputSide (${maxOutputSide}) but received ${value}; raise maxOutputSide to allow it`,
      )
    }
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidOption('signal', 'AbortSignal', o.signal)
  return resolved
}

