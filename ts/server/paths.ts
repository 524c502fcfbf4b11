/**
 * Path safety for source and output storages. Two layers, both needed: a syntactic check of the
 * relative path (no `..`, `.`, empty, absolute or drive segments, no backslash, NUL, control
 * characters or percent-encoded leftovers), then `realpath` and a path-segment containment check so
 * symlinks cannot lead outside the root. Peers got each layer wrong once: thumbor compared with
 * `startswith` (`/root` vs `/root-evil`) and checked before decoding (`%2e%2e`); python-thumbnails
 * let absolute names bypass the root.
 * @module
 */
import { promises as fs, lstatSync, realpathSync } from 'node:fs'
import path from 'node:path'

import { PathTraversalError, SourceNotFoundError } from './errors.js'

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
 * surrogates and `%XX` (or IIS-style `%uXXXX`) sequences left over after the one decode.
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
  const segments = relPath.split('/')
  for (const segment of segments) {
    if (segment === '') fail('received an empty path segment')
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
 * real root. The syntactic checks of {@link checkRelativePath} run first, so nothing touches the
 * filesystem for a hostile path.
 * @param root - the storage root (may itself be a symlink)
 * @param relPath - decoded relative path
 * @param options - see {@link SafeResolveOptions}
 * @returns the real absolute path
 * @throws {@link PathTraversalError} for hostile paths and symlink escapes;
 *   {@link SourceNotFoundError} when the path (or, with `allowMissing`, the root) does not exist
 */
export async function safeResolve(root: string, relPath: string, options: SafeResolveOptions = {}): Promise<string> {
  const segments = checkRelativePath(relPath)
  const realRoot = await realpathOrNotFound(root, relPath)
  if (!options.allowMissing) {
    const real = await realpathOrNotFound(path.join(realRoot, ...segments), relPath)
    assertInside(realRoot, real, relPath)
    return real
  }
  // Walk up to the deepest ancestor that exists; only that part can contain symlinks.
  for (let i = segments.length; i >= 0; i--) {
    let real: string
    try {
      real = await fs.realpath(path.join(realRoot, ...segments.slice(0, i)))
    } catch (err) {
      if (isMissing(err)) continue
      throw err
    }
    assertInside(realRoot, real, relPath)
    if (i < segments.length) {
      // A dangling symlink has no realpath but must not be written through either.
      const next = path.join(real, segments[i])
      const st = await fs.lstat(next).catch(() => undefined)
      if (st?.isSymbolicLink()) throw new PathTraversalError('Expected a path inside the root but a dangling symlink was found', relPath)
    }
    return path.join(real, ...segments.slice(i))
  }
  /* c8 ignore next */
  throw new SourceNotFoundError(relPath)
}

/**
 * Synchronous twin of {@link safeResolve} for callers that cannot await (an output path computed
 * per request: a few `realpath`/`lstat` calls on directories that are almost always cached).
 * @param root - the storage root
 * @param relPath - decoded relative path
 * @param options - see {@link SafeResolveOptions}
 * @returns the real absolute path
 */
export function safeResolveSync(root: string, relPath: string, options: SafeResolveOptions = {}): string {
  const segments = checkRelativePath(relPath)
  const realRoot = realpathSyncOrNotFound(root, relPath)
  if (!options.allowMissing) {
    const real = realpathSyncOrNotFound(path.join(realRoot, ...segments), relPath)
    assertInside(realRoot, real, relPath)
    return real
  }
  for (let i = segments.length; i >= 0; i--) {
    let real: string
    try {
      real = realpathSync(path.join(realRoot, ...segments.slice(0, i)))
    } catch (err) {
      if (isMissing(err)) continue
      throw err
    }
    assertInside(realRoot, real, relPath)
    if (i < segments.length && lstatSync(path.join(real, segments[i]), { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new PathTraversalError('Expected a path inside the root but a dangling symlink was found', relPath)
    }
    return path.join(real, ...segments.slice(i))
  }
  /* c8 ignore next */
  throw new SourceNotFoundError(relPath)
}

function realpathSyncOrNotFound(p: string, relPath: string): string {
  try {
    return realpathSync(p)
  } catch (err) {
    if (isMissing(err)) throw new SourceNotFoundError(relPath)
    throw err
  }
}

function assertInside(realRoot: string, real: string, relPath: string): void {
  if (!isInside(realRoot, real)) {
    throw new PathTraversalError('Expected a path inside the root but it resolves outside (symlink escape)', relPath)
  }
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

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}
