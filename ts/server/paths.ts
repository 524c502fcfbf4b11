/**
 * Path safety for source and output storages. Two layers, both needed: a syntactic check of the
 * relative path (no `..`, `.`, empty, absolute or drive segments, no backslash, NUL, control
 * characters or percent-encoded leftovers), then `realpath` and a path-segment containment check so
 * symlinks cannot lead outside the root. Peers got each layer wrong once: thumbor compared with
 * `startswith` (`/root` vs `/root-evil`) and checked before decoding (`%2e%2e`); python-thumbnails
 * let absolute names bypass the root.
 * @module
 */
import { promises as fs, lstat as lstatCallback, type Stats } from 'node:fs'
import path from 'node:path'

import { errorCode, isMissing } from '../fs.js'
import { LruStore } from '../store.js'
import { integer, mergeDefaults, string } from '../validate.js'
import { MAX_RELATIVE_PATH_BYTES, MAX_SEGMENT_BYTES, PathTooLongError, PathTraversalError, SourceNotFoundError } from './errors.js'

/* Percent-encoding is decoded exactly once, by the URL parser. A `%XX` still present in a path
   afterwards is either a double-encoding attack (`%252e%252e`) or a name that some other layer
   (a proxy, a CDN) would decode again, so the name means different things to different layers. */
const PERCENT_ENCODED = /%(?:[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4})/i
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const DRIVE = /^[A-Za-z]:/

/**
 * Validates a decoded relative path and returns its segments. Rejects, with
 * {@link PathTraversalError}: empty paths, a leading `/` (absolute), empty segments (`a//b`), `.`
 * and `..` segments (also after Unicode NFKC folding, so `．．` or `‥` cannot become `..` on a
 * normalising filesystem), segments starting with `.` (dotfiles such as `.git` or `.env` are never
 * images we serve), backslashes, NUL and control characters, Windows drive prefixes, lone UTF-16
 * surrogates and `%XX` (or IIS-style `%uXXXX`) sequences left over after the one decode. Paths
 * the filesystem could not take (a segment over 255 or a path over 1,024 UTF-8 bytes) throw
 * {@link PathTooLongError} (414) here, before any syscall can answer `ENAMETOOLONG`.
 * @param relPath - a decoded path relative to a root, segments separated by `/`
 * @returns the segments
 */
export function checkRelativePath(relPath: string): string[] {
  const fail = (why: string): never => {
    throw new PathTraversalError(`Expected a relative path inside the root but ${why}`, relPath)
  }
  if (typeof relPath !== 'string' || relPath.length === 0) fail('received an empty path')
  if (relPath.startsWith('/')) fail('received an absolute path')
  if (relPath.includes('\\')) fail('received a backslash')
  if (CONTROL.test(relPath)) fail('received a NUL or control character')
  if (PERCENT_ENCODED.test(relPath)) fail('received a percent-encoded sequence after decoding')
  if (LONE_SURROGATE.test(relPath)) fail('received malformed Unicode')
  if (DRIVE.test(relPath)) fail('received a drive-letter path')
  if (Buffer.byteLength(relPath) > MAX_RELATIVE_PATH_BYTES) {
    throw new PathTooLongError(`Expected a path of at most ${MAX_RELATIVE_PATH_BYTES} bytes but received ${Buffer.byteLength(relPath)}`, relPath)
  }
  const segments = relPath.split('/')
  for (const segment of segments) {
    if (segment === '') fail('received an empty path segment')
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
      throw new PathTooLongError(`Expected path segments of at most ${MAX_SEGMENT_BYTES} bytes but received ${Buffer.byteLength(segment)}`, relPath)
    }
    const folded = segment.normalize('NFKC')
    if (folded === '.' || folded === '..') fail('received a "." or ".." segment')
    if (folded.startsWith('.')) fail('received a segment starting with "."')
    if (folded.includes('/') || folded.includes('\\')) fail('received a segment that folds to a path separator')
  }
  return segments
}

/**
 * True when `child` is `root` itself or inside it, compared by path segments (`/root-evil` is not
 * inside `/root`).
 * @param root - an absolute, resolved directory
 * @param child - an absolute, resolved path
 */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel))
}

/** Options of {@link safeResolve}. */
export interface SafeResolveOptions {
  /**
   * Accept a path whose last segments do not exist yet (an output file about to be written): the
   * deepest existing ancestor is resolved and checked, and the missing rest is appended.
   * @default false
   */
  allowMissing?: boolean
}

/**
 * Resolves `relPath` under `root`, following symlinks, and guarantees the result stays inside the
 * real root: a one-off {@link SafeRoot} lookup (no folder memory). The syntactic checks of
 * `checkRelativePath` run first, so nothing touches the filesystem for a hostile path.
 * Long-lived callers should keep a {@link SafeRoot} instead, which remembers checked folders.
 * @param root - the storage root (may itself be a symlink)
 * @param relPath - decoded relative path
 * @param options - see {@link SafeResolveOptions}
 * @returns the real absolute path
 * @throws {@link PathTraversalError} for hostile paths and symlink escapes;
 *   {@link SourceNotFoundError} when the path (or, with `allowMissing`, the root) does not exist
 */
export async function safeResolve(root: string, relPath: string, options: SafeResolveOptions = {}): Promise<string> {
  const found = await new SafeRoot(root, { ttlMs: 0 }).lookup(relPath)
  if (!found.stats && !options.allowMissing) throw new SourceNotFoundError(relPath)
  return found.path
}

/* Folder levels checked with one lstat each below the deepest known folder; further up, one
   realpath. Thumbnail outputs are `<source>/<size>/<method>/<file>`: the two levels a new size
   adds are walked, the source's folder is resolved at once. */
const WALK_LEVELS = 2

/** Options of {@link SafeRoot}. */
export interface SafeRootOptions {
  /**
   * Milliseconds a directory proven to be inside the root is trusted without another `realpath`.
   * Thumbnail folders are created once and never moved, so the only thing a longer lifetime risks
   * is a directory swapped for a symlink by someone who can already write into the root; within
   * this window such a swap is followed, exactly as it would be between any check and the write.
   * `0` turns the memory off (every lookup resolves its folders again).
   * @default 2000
   */
  ttlMs?: number
  /**
   * Most directories remembered; the memory is cleared when it is full.
   * @default 10000
   */
  maxEntries?: number
}

/** Defaults of {@link SafeRootOptions}. */
export const SAFE_ROOT_DEFAULTS = Object.freeze({ ttlMs: 2000, maxEntries: 10_000 })

/** What {@link SafeRoot.lookup} found. */
export interface SafeLookup {
  /** Real absolute path (of a regular file, a directory, or a name that does not exist yet). */
  path: string
  /** `stat` of the target, or `null` when nothing exists there yet. */
  stats: Stats | null
  /** Whether the folder of the target exists (`false`: some level of it is missing). */
  folderExists: boolean
}

/**
 * The one path resolver: `realpath` containment for a relative path, at a fraction of the syscalls.
 * The real root is resolved once. Directories already proven inside it are remembered briefly, so
 * a lookup in a known folder is a single `lstat` of the file itself; a folder seen for the first
 * time costs one `realpath`, and one `lstat` per missing level under the deepest known folder.
 * A symlink as the last component is resolved and contained like any other, a dangling one is
 * refused. Any failure forgets what was remembered.
 */
export class SafeRoot {
  /** The configured root, as given. */
  readonly root: string
  readonly #ttlMs: number
  #realRoot: Promise<string> | undefined
  // Real paths of checked folders by relative path; cullFrequency 0 clears it when full.
  readonly #dirs: LruStore<string>

  /**
   * @param root - the storage root (may itself be a symlink; it is resolved on first use)
   * @param options - see {@link SafeRootOptions}
   */
  constructor(root: string, options: SafeRootOptions = {}) {
    this.root = string('root', root, { nonEmpty: true })
    const merged = mergeDefaults<Required<SafeRootOptions>>(SAFE_ROOT_DEFAULTS, options)
    this.#ttlMs = integer('ttlMs', merged.ttlMs)
    const maxEntries = integer('maxEntries', merged.maxEntries)
    this.#dirs = new LruStore<string>({ maxEntries: Math.max(1, maxEntries), cullFrequency: 0 })
  }

  /**
   * The real root, resolved once (again after a failure).
   * @param relPath - the path being resolved, for the not-found error
   */
  realRoot(relPath = ''): Promise<string> {
    if (!this.#realRoot) {
      this.#realRoot = realpathOrNotFound(this.root, relPath)
      this.#realRoot.catch(() => {
        this.#realRoot = undefined
      })
    }
    return this.#realRoot
  }

  /**
   * Resolves a relative path and `lstat`s its last component.
   * @param relPath - decoded relative path
   * @returns the real path and its stats (`null` when it does not exist: the name is then safe to
   *   create, because every existing ancestor was checked)
   * @throws {@link PathTraversalError} for hostile names, symlink escapes and dangling symlinks
   */
  lookup(relPath: string): Promise<SafeLookup> {
    return this.#guarded(relPath, async (segments, name) => {
      const { real, missing } = await this.#directory(segments, relPath)
      if (missing.length > 0) return { path: path.join(real, ...missing, name), stats: null, folderExists: false }
      const target = path.join(real, name)
      const st = await lstatOrNull(target)
      if (!st?.isSymbolicLink()) return { path: target, stats: st, folderExists: true }
      // A symlinked file (or folder): allowed only when it stays inside and is not dangling.
      const resolved = await realpathInside(await this.realRoot(relPath), target, relPath)
      return { path: resolved, stats: await fs.stat(resolved), folderExists: true }
    })
  }

  /**
   * The real path of a relative path whose last component is not checked (it is about to be
   * created, or it is opened with `O_NOFOLLOW`): only its folders are resolved.
   * @param relPath - decoded relative path
   */
  resolveParent(relPath: string): Promise<string> {
    return this.#guarded(relPath, async (segments, name) => {
      const { real, missing } = await this.#directory(segments, relPath)
      return path.join(real, ...missing, name)
    })
  }

  /**
   * Like {@link SafeRoot.resolveParent}, and creates the missing folders first. Each level is
   * made with a plain `mkdir` under a folder already checked, so a name planted meanwhile (a
   * symlink) makes it fail with `EEXIST` and the path is resolved again from scratch, never
   * followed.
   * @param relPath - decoded relative path of a file about to be created
   * @returns the absolute path of the file
   */
  prepare(relPath: string): Promise<string> {
    return this.#guarded(relPath, async (segments, name) => {
      const { known, base } = await this.#known(segments, relPath)
      if (known === segments.length - 1) {
        // Only the folder itself is unknown, typically a new thumbnail size: try to make it right
        // away. Success means it is a real folder we just made; EEXIST falls back to checking
        // whatever is there.
        const dir = path.join(base, segments[known])
        try {
          await fs.mkdir(dir)
          this.#remember(segments.join('/'), dir)
          return path.join(dir, name)
        } catch (err) {
          const code = errorCode(err)
          if (code !== 'EEXIST' && code !== 'ENOENT') throw err
        }
      }
      const found = await this.#directory(segments, relPath)
      let dir = found.real
      const made = segments.length - found.missing.length
      for (let i = 0; i < found.missing.length; i++) {
        dir = path.join(dir, found.missing[i])
        try {
          await fs.mkdir(dir)
        } catch (err) {
          if (errorCode(err) !== 'EEXIST') throw err
          // Created concurrently (another request) or planted: check what is there now.
          this.forget()
          const again = await this.#directory(segments, relPath)
          // Still missing: a file sits where a folder should be.
          if (again.missing.length > 0) throw err
          return path.join(again.real, name)
        }
        this.#remember(segments.slice(0, made + i + 1).join('/'), dir)
      }
      return path.join(dir, name)
    })
  }

  /* Checks the path, splits off the last component, and forgets every remembered folder when
     the step fails, so a failure is never answered from memory again. */
  async #guarded<T>(relPath: string, step: (folders: string[], name: string) => Promise<T>): Promise<T> {
    const folders = checkRelativePath(relPath)
    const name = folders.pop()!
    try {
      return await step(folders, name)
    } catch (err) {
      this.forget()
      throw filesystemError(err, relPath)
    }
  }

  /** Forgets every remembered directory (after an error, or when the tree changed). */
  forget(): void {
    this.#dirs.clear()
  }

  /* The real path of the deepest existing directory among `segments` (all of them in the common
     case) and the names below it that do not exist. */
  async #directory(segments: string[], relPath: string): Promise<{ real: string; missing: string[] }> {
    const realRoot = await this.realRoot(relPath)
    let { known, base } = await this.#known(segments, relPath)
    if (known === segments.length) return { real: base, missing: [] }
    if (segments.length - known > WALK_LEVELS) {
      // Far from a known folder: one realpath up to WALK_LEVELS above the target folder. For an
      // output path that is the source's folder, which usually exists, while the size and
      // method folders below it are the ones a cold render is about to create.
      const upTo = segments.length - WALK_LEVELS
      try {
        const real = await fs.realpath(path.join(base, ...segments.slice(known, upTo)))
        assertInside(realRoot, real, relPath)
        this.#remember(segments.slice(0, upTo).join('/'), real)
        known = upTo
        base = real
      } catch (err) {
        if (!isMissing(err)) throw err
      }
    }
    // Close to a known folder, or some level is missing (a new thumbnail size): walk down from
    // the known folder, one lstat per level, stopping at the first missing one. Every existing
    // level is checked, so a dangling or escaping symlink cannot be created through. (A realpath
    // would read every component of the absolute path, and fail anyway for a new size.)
    for (let i = known; i < segments.length; i++) {
      const next = path.join(base, segments[i])
      const st = await lstatOrNull(next)
      if (!st) return { real: base, missing: segments.slice(i) }
      if (st.isSymbolicLink()) {
        base = await realpathInside(realRoot, next, relPath)
      } else if (st.isDirectory()) {
        base = next
      } else {
        // A file where a folder is expected: nothing below it can exist.
        return { real: base, missing: segments.slice(i) }
      }
      this.#remember(segments.slice(0, i + 1).join('/'), base)
    }
    /* c8 ignore next: the realpath above would have succeeded */
    return { real: base, missing: [] }
  }

  /* The deepest remembered folder among `segments` (the real root counts as remembered). */
  async #known(segments: string[], relPath: string): Promise<{ known: number; base: string }> {
    for (let known = segments.length; known > 0; known--) {
      const hit = this.#dirs.peek(segments.slice(0, known).join('/'))
      if (hit !== undefined) return { known, base: hit.value }
    }
    return { known: 0, base: await this.realRoot(relPath) }
  }

  #remember(key: string, real: string): void {
    this.#dirs.set(key, real, this.#ttlMs)
  }
}

// The callback form in one promise: the request path's most frequent call, and fs/promises
// costs more per call (its own request object, and a rejection to catch for every missing name).
function lstatOrNull(p: string): Promise<Stats | null> {
  return new Promise((resolve, reject) =>
    lstatCallback(p, (err, st) => {
      if (!err) resolve(st)
      else if (isMissing(err)) resolve(null)
      else reject(err)
    }),
  )
}

/* The real path of a symlink, which must exist (a dangling one could be created through) and
   stay inside the root. */
async function realpathInside(realRoot: string, link: string, relPath: string): Promise<string> {
  let real: string
  try {
    real = await fs.realpath(link)
  } catch (err) {
    if (isMissing(err)) throw new PathTraversalError('Expected a path inside the root but a dangling symlink was found', relPath)
    throw err
  }
  assertInside(realRoot, real, relPath)
  return real
}

function assertInside(realRoot: string, real: string, relPath: string): void {
  if (!isInside(realRoot, real)) {
    throw new PathTraversalError('Expected a path inside the root but it resolves outside (symlink escape)', relPath)
  }
}

/* System errors a hostile or broken tree can provoke, as typed answers instead of 500s with a
   stack in the log: a symlink loop is "not found" (there is no file to find), a name the system
   finds too long is a 414. No cause: the fs message holds the absolute path. */
function filesystemError(err: unknown, relPath: string): unknown {
  const code = errorCode(err)
  if (code === 'ELOOP') return new SourceNotFoundError(relPath)
  if (code === 'ENAMETOOLONG') return new PathTooLongError('The path is longer than the filesystem accepts', relPath)
  return err
}

async function realpathOrNotFound(p: string, relPath: string): Promise<string> {
  try {
    return await fs.realpath(p)
  } catch (err) {
    // No cause: the fs error message holds the absolute path, which must not reach a response.
    if (isMissing(err)) throw new SourceNotFoundError(relPath)
    throw err
  }
}
