/**
 * The one atomic file write and the one "file is missing" test. The generator, the local output
 * storage and FileCache all write through here: a temp file, then a rename into place, so readers
 * (and nginx) never see half a file and a crash leaves no partial file under a real name.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import { copyFile, link, mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'

/** The `code` of a Node.js system error, or `undefined`. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * Whether an fs error means "nothing is there": `ENOENT`, or `ENOTDIR` (a path component is a
 * file, so the path cannot exist either).
 */
export function isMissing(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** Suffix of every temp file this module writes; start-up sweeps look for it. */
export const TEMP_SUFFIX = '.tmp'

/** Options of {@link writeFileAtomic} and {@link copyFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Folder for the temp file. It must be on the same filesystem as the destination (rename is
   * atomic only there). Default: the destination's own folder.
   */
  tempDir?: string
  /** File mode of the new file. @default 0o666 (less the umask) */
  mode?: number
  /**
   * Create missing parent folders of the destination: first, or with a `tempDir` (which must
   * exist) only when placing the file finds them missing. @default false
   */
  mkdirs?: boolean
  /** Mode of folders created by `mkdirs`. @default 0o777 (less the umask) */
  dirMode?: number
  /**
   * Never replace an existing `dst`: the temp file is hard-linked into place instead of renamed,
   * and the write fails with `EEXIST` when `dst` exists. `link` is atomic, so of several writers
   * (processes included) exactly one wins. @default false
   */
  exclusive?: boolean
}

/* Which process wrote a temp file: a short tag of the host and the pid, so a start-up sweep can
   tell the temps of a dead process (removed at once) from those of a live one (left alone), also
   when several hosts share the folder. */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8)
const OWNER = /\.([0-9a-f]{8})-(\d+)\.[0-9a-f]{16}\.tmp/

/**
 * A fresh temp path for `dst`: hidden, tagged with the writing host and pid (see
 * {@link tempOwner}), random, and ending in {@link TEMP_SUFFIX}.
 */
export function tempPathFor(dst: string, tempDir?: string): string {
  const name = `.${basename(dst).slice(0, 64)}.${HOST_TAG}-${process.pid}.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`
  return join(tempDir ?? dirname(dst), name)
}

/**
 * Who wrote a temp file named by {@link tempPathFor}: `pid` and whether it was this host, or
 * `undefined` for other names.
 * @param name - the file name (or a name that embeds one, as the native writer's temps do)
 */
export function tempOwner(name: string): { pid: number; thisHost: boolean } | undefined {
  const m = OWNER.exec(name)
  return m ? { pid: Number(m[2]), thisHost: m[1] === HOST_TAG } : undefined
}

/**
 * Replaces `dst` atomically with whatever `fill` writes to the temp path it is given (for
 * writers that need a path, such as the native thumbnail pipeline): the temp file is renamed
 * into place (linked with `exclusive`), or removed when `fill` or the rename fails.
 * @param dst - destination path
 * @param fill - writes the complete file at `tmp`
 * @param options - temp folder, parent creation, exclusive creation
 */
export async function viaTemp(dst: string, options: AtomicWriteOptions, fill: (tmp: string) => Promise<void>): Promise<void> {
  const lazy = options.mkdirs === true && options.tempDir !== undefined
  if (options.mkdirs && !lazy) await mkdir(dirname(dst), { recursive: true, mode: options.dirMode })
  const tmp = tempPathFor(dst, options.tempDir)
  const place = () => (options.exclusive ? link(tmp, dst) : rename(tmp, dst))
  try {
    await fill(tmp)
    try {
      await place()
    } catch (err) {
      // The temp lives elsewhere, so the destination's folder is only made when it is missing:
      // one thread-pool call fewer in the common case of a folder that exists.
      if (!lazy || errorCode(err) !== 'ENOENT') throw err
      await mkdir(dirname(dst), { recursive: true, mode: options.dirMode })
      await place()
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  if (options.exclusive) await unlink(tmp).catch(() => undefined)
}

/**
 * Writes `bytes` to `dst` atomically: a temp file (created exclusively), then a rename.
 * @param dst - destination path
 * @param bytes - content
 * @param options - temp folder, mode, parent creation, exclusive creation
 */
export function writeFileAtomic(dst: string, bytes: Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  return viaTemp(dst, options, (tmp) => writeFile(tmp, bytes, { flag: 'wx', mode: options.mode }))
}

/**
 * Copies `src` to `dst` atomically (temp copy, then rename).
 * @param src - existing file
 * @param dst - destination path
 * @param options - temp folder, parent creation
 */
export function copyFileAtomic(src: string, dst: string, options: AtomicWriteOptions = {}): Promise<void> {
  return viaTemp(dst, options, (tmp) => copyFile(src, tmp))
}
