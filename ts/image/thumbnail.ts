/**
 * The thumbnail facade: validates options in TypeScript, then runs the whole pipeline (decode →
 * orient → resize/crop → encode → optionally write) in one native call on the libuv pool.
 * @module
 */
import { readFile } from 'node:fs/promises'

import { AbortError, InvalidOptionError, IoError } from '../errors.js'
import { binding, callAsync, callSync, mapNativeError, type NativeProbeInfo, type NativeThumbnail, type NativeThumbnailFileInfo } from '../native.js'
import { resolveThumbnailOptions, type ThumbnailFileOptions, type ThumbnailOptions } from './options.js'

/** An encoded thumbnail: `data`, `format`, output and upright source sizes (generated from Rust). */
export type Thumbnail = NativeThumbnail

/** What {@link thumbnailFile} wrote: the thumbnail facts plus the bytes written. */
export type ThumbnailFileInfo = NativeThumbnailFileInfo

/** Header facts of an image, read without decoding its pixels (format, upright size, orientation, alpha, frames). */
export type ProbeInfo = NativeProbeInfo

function toBuffer(input: unknown): Buffer {
  if (Buffer.isBuffer(input)) return input
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  throw new InvalidOptionError(`Expected Buffer or Uint8Array for input but received ${input === null ? 'null' : typeof input}`)
}

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('The thumbnail was aborted before it started', { cause: signal.reason })
}

/**
 * Makes a thumbnail of an encoded JPEG, PNG, WebP or GIF (format detected from its bytes).
 * The output is upright (EXIF orientation applied), sRGB, and carries no metadata.
 * @param input - the encoded source image
 * @param options - see {@link ThumbnailOptions}
 * @throws InvalidOptionError (before any native work), DecodeError, UnsupportedFormatError,
 *   TooLargeError, EncodeError, AbortError
 */
export async function thumbnail(input: Buffer | Uint8Array, options: ThumbnailOptions = {}): Promise<Thumbnail> {
  const buf = toBuffer(input)
  const native = resolveThumbnailOptions(options)
  checkSignal(options.signal)
  return callAsync(() => binding.thumbnail(buf, native, options.signal))
}

/**
 * Reads `src`, makes a thumbnail and writes it to `dst` atomically: a temporary file in the same
 * folder is renamed into place (parent folders are created), so readers never see a partial
 * file, and nothing is left behind on error. All file I/O happens off the event loop.
 * @param src - path of the source image
 * @param dst - path of the thumbnail to write
 * @param options - see {@link ThumbnailFileOptions}
 * @throws as {@link thumbnail}, plus IoError when reading or writing fails
 */
export async function thumbnailFile(src: string, dst: string, options: ThumbnailFileOptions = {}): Promise<ThumbnailFileInfo> {
  if (typeof src !== 'string' || src === '') throw new InvalidOptionError(`Expected non-empty string for src but received ${typeof src}`)
  if (typeof dst !== 'string' || dst === '') throw new InvalidOptionError(`Expected non-empty string for dst but received ${typeof dst}`)
  const native = resolveThumbnailOptions(options)
  checkSignal(options.signal)
  return callAsync(() => binding.thumbnailFile(src, dst, native, options.signal))
}

/** One output of {@link thumbnailFiles}: where to write it and how to make it. */
export interface ThumbnailFilesItem {
  /** Path of the thumbnail to write (atomically, as {@link thumbnailFile}). */
  dst: string
  /** Its options (`fsync` of the first item applies to all; the call takes one `signal`). */
  options: Omit<ThumbnailFileOptions, 'signal'>
}

/**
 * Several thumbnails of one source file from a single read and decode: the source is decoded at
 * the largest size any item needs and each item is resized from that. Batch warms use it to pay
 * for a large source's decode once per source instead of once per size.
 * @param src - path of the source image
 * @param items - the outputs, see {@link ThumbnailFilesItem}
 * @param options - `signal` cancels the whole call (one read and decode serve every item)
 * @returns one entry per item, in order: what was written, or the typed error of that item
 * @throws InvalidOptionError for a bad item (before any native work); the errors of
 *   {@link thumbnailFile} when the source cannot be read or decoded (then nothing is written)
 */
export async function thumbnailFiles(
  src: string,
  items: readonly ThumbnailFilesItem[],
  options: { signal?: AbortSignal } = {},
): Promise<Array<ThumbnailFileInfo | Error>> {
  if (typeof src !== 'string' || src === '') throw new InvalidOptionError(`Expected non-empty string for src but received ${typeof src}`)
  const native = items.map((item, i) => {
    if (typeof item?.dst !== 'string' || item.dst === '') throw new InvalidOptionError(`Expected non-empty string for items[${i}].dst but received ${typeof item?.dst}`)
    return { dst: item.dst, options: resolveThumbnailOptions(item.options ?? {}) }
  })
  const { signal } = options
  checkSignal(signal)
  const results = await callAsync(() => binding.thumbnailFiles(src, native, signal))
  return results.map((r) => r.info ?? (mapNativeError(new Error(r.error ?? 'ERR_IO: no result')) as Error))
}

/**
 * Reads an image's header: format, upright size, orientation, alpha and frame count. Cheap and
 * synchronous; no pixels are decoded.
 * @param input - the encoded image (the first few KB are usually enough, except for GIF frame counts)
 * @throws UnsupportedFormatError, DecodeError
 */
export function probe(input: Buffer | Uint8Array): ProbeInfo {
  const buf = toBuffer(input)
  return callSync(() => binding.probe(buf))
}

/**
 * {@link probe} for a file. The whole file is read because GIF frames can only be counted by
 * walking every block.
 * @param file - path of the image
 * @throws IoError when the file cannot be read, UnsupportedFormatError, DecodeError
 */
export async function probeFile(file: string): Promise<ProbeInfo> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    throw new IoError(`Cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  return probe(bytes)
}
