/**
 * Builds signed thumbnail URLs: the equivalent of django-restthumbnails' `{% thumbnail %}` tag.
 * The URL always carries the canonical size (`500x` is emitted as `500x0`), like the tag does.
 * @module
 */
import { invalidOption, string } from '../validate.js'
import type { Signer } from './signing.js'
import { InvalidUrlError } from './errors.js'
import { parseExtension, parseMethod, parseSize, PARSE_DEFAULTS, checkSource } from './url.js'

/** A size as text (`100x100`, `500x`, `x500`) or as sides (missing or 0 = from the aspect ratio). */
export type SizeInput = string | { width?: number; height?: number }

/** Options of {@link thumbnailUrl}. */
export interface ThumbnailUrlOptions {
  /**
   * Where thumbnails are served: a path (`/thumbnails`) or an absolute URL
   * (`https://cdn.example.com/thumbnails`). A trailing slash is optional.
   * @default '/'
   */
  baseUrl?: string
  /** Signs the URL. */
  signer: Signer
  /**
   * Largest side accepted, as in the server's parser: refusing here beats emitting a URL the
   * server will answer 400 to.
   * @default 8192
   */
  maxSide?: number
  /**
   * Longest path (everything after the host), in characters, as in the server's parser: a longer
   * URL would be signed here and then answered 400 there.
   * @default 2048
   */
  maxPathLength?: number
}

/**
 * The signed URL of a thumbnail.
 * @param source - decoded source path relative to the source root, e.g. `animals/my kitten.jpg`
 * @param size - `100x100`, `500x`, `x500` or `{ width, height }`
 * @param method - `crop`, `scale` or `smart`
 * @param ext - `.jpg`, `.jpeg`, `.png`, `.webp` or `.avif` (the dot is optional)
 * @param options - base URL and signer
 * @returns e.g. `/thumbnails/animals/my%20kitten.jpg/100x100/crop/<secret>.jpg`
 * @throws the parser's errors ({@link InvalidSizeError}, {@link InvalidMethodError},
 *   {@link InvalidUrlError}, {@link PathTraversalError}, `PathTooLongError`) for values the
 *   server would refuse, including a path longer than `maxPathLength`
 */
export function thumbnailUrl(source: string, size: SizeInput, method: string, ext: string, options: ThumbnailUrlOptions): string {
  if (!options || typeof options.signer?.sign !== 'function') {
    throw invalidOption('signer', 'a Signer', options?.signer)
  }
  const baseUrl = string('baseUrl', options.baseUrl ?? '/')
  const maxSide = options.maxSide ?? PARSE_DEFAULTS.maxSide
  const sizeText = typeof size === 'string' ? size : `${size?.width || ''}x${size?.height || ''}`
  const canonical = parseSize(sizeText, maxSide).size
  const m = parseMethod(method)
  const dotted = parseExtension(ext)
  checkSource(source)
  const secret = options.signer.sign(source, canonical, m, dotted)
  const encoded = source.split('/').map(encodeSegment).join('/')
  const url = `${baseUrl.replace(/\/+$/, '')}/${encoded}/${canonical}/${m}/${secret}${dotted}`
  const maxPathLength = options.maxPathLength ?? PARSE_DEFAULTS.maxPathLength
  const pathLength = url.length - (ORIGIN.exec(url)?.[0].length ?? 0)
  if (pathLength > maxPathLength) {
    throw new InvalidUrlError(`Expected a path of at most ${maxPathLength} characters but received ${pathLength}`)
  }
  return url
}

// The scheme and host of an absolute base URL; the server only ever sees what follows them.
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i

/* encodeURIComponent leaves `!'()*` alone; they are legal in paths but some proxies and
   template engines treat them specially, so encode them too (RFC 3986 unreserved set only). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}
