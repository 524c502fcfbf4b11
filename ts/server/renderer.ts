/**
 * The native thumbnail pipeline as the generator's {@link RendererLike}, and the mapping from a
 * URL extension to an output format.
 * @module
 */
import { RestthumbsError } from '../errors.js'
import type { ThumbnailFileOptions, ThumbnailOptions } from '../image/options.js'
import { thumbnail, thumbnailFile } from '../image/thumbnail.js'
import type { RendererLike, RenderOptions, ThumbnailSpec } from './contracts.js'

const FORMATS: Record<string, string> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.webp': 'webp', '.avif': 'avif' }

/** Output format for a URL extension. */
export function formatFor(ext: string): string {
  return FORMATS[ext.toLowerCase()] ?? 'jpeg'
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

/**
 * The renderer options of a thumbnail URL: size, method, format and quality (the URL's, else the
 * server's), focal point and source byte cap. Everything but the abort signal.
 * @param spec - the parsed thumbnail URL
 * @param defaults - the server's quality and `maxSourceBytes`
 */
export function renderOptionsFor(
  spec: Pick<ThumbnailSpec, 'width' | 'height' | 'method' | 'ext' | 'quality' | 'focalPoint'>,
  defaults: { quality: number; maxSourceBytes?: number },
): RenderOptions {
  return {
    width: spec.width,
    height: spec.height,
    method: spec.method,
    format: formatFor(spec.ext),
    quality: spec.quality ?? defaults.quality,
    ...(spec.focalPoint ? { focalPoint: spec.focalPoint } : {}),
    ...(defaults.maxSourceBytes ? { maxInputBytes: defaults.maxSourceBytes } : {}),
  }
}

/** The native pipeline (`thumbnail`/`thumbnailFile` of the image module). */
export const nativeRenderer: RendererLike = {
  thumbnailFile: (src, dst, options) => thumbnailFile(src, dst, options as ThumbnailFileOptions),
  thumbnail: (input, options) => thumbnail(input, options as ThumbnailOptions),
}
