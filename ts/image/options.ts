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

/**
 * Options of {@link thumbnail} and {@link thumbnailFile}: the native options (documented once, in
 * the Rust core, and generated into `binding.d.cts`) with the focal point as one object and an
 * abort signal.
 */
export interface ThumbnailOptions extends Omit<NativeThumbnailOptions, 'focalX' | 'focalY' | 'fsync'> {
  /** Point of the upright source, `x` and `y` in 0..1, that `crop` keeps as central as possible. */
  focalPoint?: { x: number; y: number }
  /** Cancels the work: rejects with an `AbortError` (`ERR_ABORTED`). */
  signal?: AbortSignal
}

/** Options of {@link thumbnailFile}: the thumbnail options plus durability. */
export interface ThumbnailFileOptions extends ThumbnailOptions, Pick<NativeThumbnailOptions, 'fsync'> {}

// The names only: the values are read from the binding on first use, not at import, because
// importing the package (the CLI's --help and url, the pure-TS caches) must work without the
// platform package. `satisfies` keeps this list in step with the generated type.
const DEFAULT_KEYS = Object.keys({
  width: 0, height: 0, method: 0, gravity: 0, format: 0, quality: 0, progressive: 0, lossless: 0, upscale: 0,
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
export const FORMATS: readonly ThumbnailFormat[] = Object.freeze(['jpeg', 'png', 'webp'])
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

