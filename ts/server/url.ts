/**
 * The thumbnail URL grammar of django-restthumbnails, parsed strictly:
 * `<basePath>/<source path>/<WxH|Wx|xH>/<crop|scale|smart>/<secret><.jpg|.jpeg|.png|.webp|.avif>`.
 * The path is read from the right (the source may contain anything the other fields cannot), the
 * source is percent-decoded exactly once and then checked for traversal before any storage sees it.
 * @module
 */
import { integer, invalidOption, mergeDefaults, oneOf, string } from '../validate.js'
import { InvalidMethodError, InvalidSecretError, InvalidSizeError, InvalidUrlError, PathTraversalError } from './errors.js'
import { checkRelativePath } from './paths.js'

/** Resize methods: `crop` fills the box and crops, `scale` fits inside it, `smart` crops by entropy. */
export const METHODS = Object.freeze(['crop', 'scale', 'smart'] as const)
/** A resize method. */
export type ThumbnailMethod = (typeof METHODS)[number]

/** Output extensions, matched case-sensitively (the extension is signed, so `.JPG` is another URL). */
export const EXTENSIONS = Object.freeze(['.jpg', '.jpeg', '.png', '.webp', '.avif'] as const)
/** An output extension, with its dot. */
export type ThumbnailExtension = (typeof EXTENSIONS)[number]

/** Options of {@link parseThumbnailPath}. */
export interface ParseOptions {
  /**
   * Path prefix the thumbnail URLs live under, e.g. `/thumbnails`. Paths outside it throw
   * {@link InvalidUrlError} with `notOurs: true`.
   * @default '/'
   */
  basePath?: string
  /**
   * Largest accepted width or height in the size segment.
   * @default 8192
   */
  maxSide?: number
  /**
   * Longest accepted raw pathname, in characters.
   * @default 2048
   */
  maxPathLength?: number
}

/** Defaults of {@link ParseOptions}. */
export const PARSE_DEFAULTS: Readonly<Required<ParseOptions>> = Object.freeze({
  basePath: '/',
  maxSide: 8192,
  maxPathLength: 2048,
})

/** A parsed, validated thumbnail request. */
export interface ThumbnailRequest {
  /** Decoded source path relative to the source root, e.g. `animals/kitten.jpg`. */
  source: string
  /** Requested width; 0 means "follow the aspect ratio". */
  width: number
  /** Requested height; 0 means "follow the aspect ratio". */
  height: number
  /** Canonical size `WxH` (`500x` becomes `500x0`), the form that is signed and stored. */
  size: string
  /** Resize method. */
  method: ThumbnailMethod
  /** The secret exactly as it appeared in the URL. */
  secret: string
  /** Output extension with its dot, e.g. `.jpg`. */
  ext: ThumbnailExtension
  /**
   * Relative path under the output root: the canonical URL path without the base path, decoded
   * (`<source>/<size>/<method>/<secret><ext>`), so nginx `try_files $uri` finds the file.
   */
  outputPath: string
  /**
   * Key-independent relative path of the rendered bytes (`<source>/<size>-<method><ext>`): the
   * output storage keeps one copy per variant here and hard-links each signed `outputPath` to
   * it, so rotating signing keys does not re-render files that already exist.
   */
  variantPath: string
}

/** A parsed size. */
export interface ThumbnailSize {
  /** Width, 0 when only the height was given. */
  width: number
  /** Height, 0 when only the width was given. */
  height: number
  /** Canonical `WxH`. */
  size: string
}

const SIZE = /^(\d+)?x(\d+)?$/
const SECRET = /^[A-Za-z0-9_-]{1,128}$/

/**
 * Parses a size segment: `WxH`, `Wx` or `xH`, digits only (no sign, no spaces), no leading zeros
 * (`0100` would be a second spelling of `100`; a lone `0` is the canonical "unset" side), at least
 * one side above zero and none above `maxSide`.
 * @param text - the size segment
 * @param maxSide - largest side accepted
 * @default maxSide 8192
 * @throws {@link InvalidSizeError}
 */
export function parseSize(text: string, maxSide: number = PARSE_DEFAULTS.maxSide): ThumbnailSize {
  const m = typeof text === 'string' ? SIZE.exec(text) : null
  if (!m || (m[1] === undefined && m[2] === undefined)) {
    throw new InvalidSizeError(`Expected size as WxH, Wx or xH but received ${JSON.stringify(text)}`)
  }
  const side = (digits: string | undefined, name: string): number => {
    if (digits === undefined) return 0
    if (digits.length > 1 && digits.startsWith('0')) {
      throw new InvalidSizeError(`Expected ${name} without leading zeros but received ${JSON.stringify(digits)}`)
    }
    // Compare lengths first so a 400-digit side never becomes Infinity.
    const n = digits.length > 15 ? Infinity : Number(digits)
    if (n > maxSide) throw new InvalidSizeError(`Expected ${name} of at most ${maxSide} but received ${digits}`)
    return n
  }
  const width = side(m[1], 'width')
  const height = side(m[2], 'height')
  if (width === 0 && height === 0) {
    throw new InvalidSizeError(`Expected at least one side above 0 but received ${JSON.stringify(text)}`)
  }
  return { width, height, size: `${width}x${height}` }
}

/**
 * Checks a method name.
 * @param method - the method segment
 * @throws {@link InvalidMethodError}
 */
export function parseMethod(method: string): ThumbnailMethod {
  return oneOf('method', method, METHODS, (m) => new InvalidMethodError(m))
}

/**
 * Checks an extension; accepts it with or without its dot and returns it with the dot.
 * @param ext - e.g. `.jpg` or `jpg`
 * @throws {@link InvalidUrlError}
 */
export function parseExtension(ext: string): ThumbnailExtension {
  const dotted = typeof ext === 'string' && !ext.startsWith('.') ? `.${ext}` : ext
  if (!(EXTENSIONS as readonly string[]).includes(dotted)) {
    throw invalidOption('extension', `one of ${EXTENSIONS.join(', ')}`, ext, (m) => new InvalidUrlError(m))
  }
  return dotted as ThumbnailExtension
}

/**
 * Merges and validates parse options (the one place defaults are applied).
 * @param options - user options
 */
export function resolveParseOptions(options: ParseOptions = {}): Readonly<Required<ParseOptions>> {
  const o = mergeDefaults<Required<ParseOptions>>(PARSE_DEFAULTS, options)
  integer('maxSide', o.maxSide, { min: 1 })
  integer('maxPathLength', o.maxPathLength, { min: 1 })
  o.basePath = normaliseBasePath(o.basePath)
  return Object.freeze(o)
}

/**
 * Normalises a base path to a leading slash and no trailing slash (`/` becomes the empty string).
 * @param basePath - e.g. `thumbnails/`
 */
export function normaliseBasePath(basePath: string): string {
  const trimmed = string('basePath', basePath).replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? '' : `/${trimmed}`
}

/**
 * Decodes the percent-encoding of a raw source (URL path segments) exactly once and validates the
 * result. An encoded slash (`%2F`) is refused rather than decoded: it would let one URL segment
 * become two path segments after the storage sees it.
 * @param raw - raw source path as it appears in the URL
 * @throws {@link PathTraversalError}
 */
export function decodeSource(raw: string): string {
  const decoded = raw.split('/').map((segment) => {
    let text: string
    try {
      text = decodeURIComponent(segment)
    } catch (err) {
      // Overlong UTF-8 (`%c0%ae`) and stray `%` land here.
      throw new PathTraversalError('Expected a percent-encoded UTF-8 source path but received malformed encoding', raw, { cause: err })
    }
    if (text.includes('/')) throw new PathTraversalError('Expected a source path without encoded slashes', raw)
    return text
  })
  const source = decoded.join('/')
  try {
    checkRelativePath(source)
  } catch (err) {
    if (err instanceof PathTraversalError) throw new PathTraversalError(err.message, raw)
    throw err
  }
  return source
}

/**
 * Parses a request pathname (still percent-encoded, without query string) into a validated
 * {@link ThumbnailRequest}. Does not check the secret; do that with a `Signer` next.
 * @param pathname - e.g. `/thumbnails/animals/kitten.jpg/100x100/crop/<secret>.jpg`
 * @param options - see {@link ParseOptions}
 * @throws {@link InvalidUrlError}, {@link InvalidSizeError}, {@link InvalidMethodError},
 *   {@link InvalidSecretError} (malformed secret), {@link PathTraversalError}
 */
export function parseThumbnailPath(pathname: string, options: ParseOptions = {}): ThumbnailRequest {
  const o = resolveParseOptions(options)
  string('pathname', pathname, { error: (m) => new InvalidUrlError(m) })
  const prefix = `${o.basePath}/`
  if (!pathname.startsWith(prefix)) {
    throw new InvalidUrlError(`Expected a path under ${prefix}`, { notOurs: true })
  }
  if (pathname.length > o.maxPathLength) {
    throw new InvalidUrlError(`Expected a path of at most ${o.maxPathLength} characters but received ${pathname.length}`)
  }
  const segments = pathname.slice(prefix.length).split('/')
  if (segments.length < 4) {
    throw new InvalidUrlError('Expected <source>/<size>/<method>/<secret><ext> after the base path')
  }
  const last = segments.pop() as string
  const methodText = segments.pop() as string
  const sizeText = segments.pop() as string
  const dot = last.lastIndexOf('.')
  const ext = parseExtension(dot < 0 ? '' : last.slice(dot))
  const secret = last.slice(0, dot)
  if (!SECRET.test(secret)) {
    throw new InvalidSecretError('Expected a secret of 1 to 128 characters from [A-Za-z0-9_-]')
  }
  const method = parseMethod(methodText)
  const { width, height, size } = parseSize(sizeText, o.maxSide)
  const source = decodeSource(segments.join('/'))
  return {
    source,
    width,
    height,
    size,
    method,
    secret,
    ext,
    outputPath: `${source}/${size}/${method}/${secret}${ext}`,
    // One folder per source, not per size: creating a folder costs about as much as linking a
    // hundred files on ext4, and every cold render would otherwise make one more.
    variantPath: `${source}/${size}-${method}${ext}`,
  }
}

/**
 * Validates a decoded source path (what {@link thumbnailUrl} receives) with the same rules the
 * parser applies after decoding.
 * @param source - decoded relative source path
 * @throws {@link PathTraversalError}
 */
export function checkSource(source: string): string {
  checkRelativePath(source)
  return source
}
