/**
 * Source images from a local directory. Every name goes through {@link SafeRoot}, so `..`, absolute names and symlinks that leave the root are
 * refused before a file is opened.
 * @module
 */
import { constants, promises as fs } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'

import { errorCode, isMissing } from '../../fs.js'
import { integer, string } from '../../validate.js'
import { SourceNotFoundError, SourceTooLargeError } from '../errors.js'
import { SafeRoot } from '../paths.js'

/** Options of {@link LocalSourceStorage}. */
export interface LocalSourceStorageOptions {
  /** Directory the source paths are relative to (django-restthumbnails `THUMBNAILS_SOURCE_ROOT`). */
  root: string
  /**
   * Largest source file read, in bytes; bigger files throw {@link SourceTooLargeError} (413).
   * @default 52428800 (50 MiB)
   */
  maxBytes?: number
}

/** Defaults of {@link LocalSourceStorageOptions}. */
export const LOCAL_SOURCE_DEFAULTS = Object.freeze({ maxBytes: 50 * 1024 * 1024 })

/* O_NOFOLLOW: the path was just resolved by realpath, so a symlink at the last component now
   means it was swapped in between; refuse it rather than follow it. Not defined on Windows. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)

/** Reads source images from a directory. */
export class LocalSourceStorage {
  /** The configured root, as given. */
  readonly root: string
  readonly #maxBytes: number
  readonly #paths: SafeRoot

  /** @param options - see {@link LocalSourceStorageOptions} */
  constructor(options: LocalSourceStorageOptions) {
    this.root = string('root', options?.root, { nonEmpty: true })
    this.#maxBytes = checkMaxBytes(options.maxBytes ?? LOCAL_SOURCE_DEFAULTS.maxBytes)
    this.#paths = new SafeRoot(this.root)
  }

  /**
   * The real absolute path of a source file, for native code that reads files itself.
   * @param source - decoded relative source path
   * @throws {@link SourceNotFoundError} when missing or not a regular file;
   *   {@link PathTraversalError} for hostile names
   */
  async localPath(source: string): Promise<string> {
    // One lstat when the folder was seen recently (the common case on a busy server).
    const { path, stats } = await this.#paths.lookup(source)
    if (!stats?.isFile()) throw new SourceNotFoundError(source)
    return path
  }

  /**
   * The bytes of a source file.
   * @param source - decoded relative source path
   * @param options - `maxBytes` overrides the storage limit for this read
   * @throws {@link SourceNotFoundError}, {@link SourceTooLargeError}, {@link PathTraversalError}
   */
  async read(source: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const maxBytes = options.maxBytes === undefined ? this.#maxBytes : checkMaxBytes(options.maxBytes)
    const { path: real, stats } = await this.#paths.lookup(source)
    if (!stats) throw new SourceNotFoundError(source)
    let handle: FileHandle
    try {
      handle = await fs.open(real, OPEN_FLAGS)
    } catch (err) {
      const code = errorCode(err)
      if (isMissing(err) || code === 'EISDIR' || code === 'ELOOP') throw new SourceNotFoundError(source)
      throw err
    }
    try {
      const st = await handle.stat()
      if (!st.isFile()) throw new SourceNotFoundError(source)
      if (st.size > maxBytes) throw new SourceTooLargeError(maxBytes)
      // Read at most maxBytes + 1 so a file growing after the stat is still caught.
      let buf = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1)
      let filled = 0
      for (;;) {
        options.signal?.throwIfAborted()
        const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled)
        if (bytesRead === 0) break
        filled += bytesRead
        if (filled > maxBytes) throw new SourceTooLargeError(maxBytes)
        if (filled === buf.length) {
          // The file grew since the stat: keep reading, still bounded by maxBytes + 1.
          const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1))
          buf.copy(bigger, 0, 0, filled)
          buf = bigger
        }
      }
      return buf.subarray(0, filled)
    } finally {
      await handle.close()
    }
  }
}

function checkMaxBytes(v: unknown): number {
  return integer('maxBytes', v, { min: 1 })
}
