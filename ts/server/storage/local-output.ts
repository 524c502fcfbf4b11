/**
 * Thumbnails on local disk, laid out so a proxy serves them without the app: the file of a URL
 * lives at `<root>/<URL path after basePath>` (nginx `try_files $uri`).
 *
 * Key rotation: the URL path contains the secret, so a URL signed with a new key names a new file.
 * To avoid re-rendering every thumbnail after a rotation, the bytes are also kept once per
 * key-independent variant (`<source>/<size>/<method><ext>`) under `variantRoot`, a directory the
 * proxy does not serve, and each signed path is a hard link to them. A request with a new secret
 * whose variant exists is answered by {@link LocalOutputStorage.adopt} (one `link`), not a render;
 * nginx only ever serves secrets the app has verified once. Old secrets keep working until their
 * links are deleted, which is how a leaked key is revoked.
 * @module
 */
import { existsSync, promises as fs, mkdirSync, type Stats } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'

import { InvalidOptionError } from '../../errors.js'
import { safeResolveSync } from '../paths.js'

/** Options of {@link LocalOutputStorage}. */
export interface LocalOutputStorageOptions {
  /** Directory thumbnails are written to and the proxy serves (`THUMBNAILS_STORAGE_ROOT`). */
  root: string
  /**
   * Directory of the key-independent copies (see the module notes), or `false` to keep only the
   * signed paths (every key rotation then re-renders). Must be on the same filesystem as `root`
   * for hard links; otherwise files are copied. Must NOT be served by the proxy.
   * @default `${root}.variants` (a sibling of root, outside the served tree)
   */
  variantRoot?: string | false
}

/** Writes thumbnails under a root, refusing paths that would leave it. */
export class LocalOutputStorage {
  /** The configured root, as given. */
  readonly root: string
  /** The variant directory, or `null` when disabled. */
  readonly variantRoot: string | null

  /** @param options - see {@link LocalOutputStorageOptions} */
  constructor(options: LocalOutputStorageOptions) {
    if (typeof options?.root !== 'string' || options.root.length === 0) {
      throw new InvalidOptionError(`Expected non-empty string for root but received ${String(options?.root)} of type ${typeof options?.root}`)
    }
    const v = options.variantRoot
    if (v !== undefined && v !== false && (typeof v !== 'string' || v.length === 0)) {
      throw new InvalidOptionError(`Expected non-empty string or false for variantRoot but received ${String(v)} of type ${typeof v}`)
    }
    this.root = options.root
    this.variantRoot = v === false ? null : (v ?? `${path.resolve(options.root)}.variants`)
    // Created up front so path checks can realpath the root. The variant root is created on the
    // first remember(), so deployments that never use it do not get an empty sibling directory.
    mkdirSync(this.root, { recursive: true })
  }

  /**
   * The absolute path of an output file, which may not exist yet. Hostile paths and symlinks
   * leaving the root throw {@link PathTraversalError}.
   * @param outputPath - relative output path (`ThumbnailRequest.outputPath`)
   */
  pathFor(outputPath: string): string {
    return safeResolveSync(this.root, outputPath, { allowMissing: true })
  }

  /**
   * Stats of an output file, or `null` when it does not exist.
   * @param outputPath - relative output path
   */
  async stat(outputPath: string): Promise<Stats | null> {
    try {
      return await fs.stat(this.pathFor(outputPath))
    } catch (err) {
      if (isMissing(err)) return null
      throw err
    }
  }

  /**
   * True when the output file exists and is a regular file.
   * @param outputPath - relative output path
   */
  async exists(outputPath: string): Promise<boolean> {
    return (await this.stat(outputPath))?.isFile() ?? false
  }

  /**
   * Creates the parent directories of an output file and returns its absolute path.
   * @param outputPath - relative output path
   */
  async mkdirp(outputPath: string): Promise<string> {
    const target = this.pathFor(outputPath)
    await fs.mkdir(path.dirname(target), { recursive: true })
    // Re-check: a directory created concurrently could be a symlink planted in between.
    return this.pathFor(outputPath)
  }

  /**
   * Makes a signed output path from an already rendered variant (after a key rotation), without
   * rendering. Returns `true` when the output file now exists.
   * @param outputPath - relative output path (contains the secret)
   * @param variantPath - key-independent path (`ThumbnailRequest.variantPath`)
   */
  async adopt(outputPath: string, variantPath: string): Promise<boolean> {
    if (await this.exists(outputPath)) return true
    if (!this.variantRoot || !existsSync(this.variantRoot)) return false
    const variant = safeResolveSync(this.variantRoot, variantPath, { allowMissing: true })
    if (!(await isFile(variant))) return false
    await placeAtomically(variant, await this.mkdirp(outputPath))
    return true
  }

  /**
   * Records a freshly written output file as its variant, so later secrets for the same
   * thumbnail are adopted instead of rendered. A no-op without `variantRoot`.
   * @param outputPath - relative output path that was just written
   * @param variantPath - key-independent path
   */
  async remember(outputPath: string, variantPath: string): Promise<void> {
    if (!this.variantRoot) return
    await fs.mkdir(this.variantRoot, { recursive: true })
    const variant = safeResolveSync(this.variantRoot, variantPath, { allowMissing: true })
    await fs.mkdir(path.dirname(variant), { recursive: true })
    // Resolved again: a directory planted between the check and the mkdir must not be followed.
    await placeAtomically(this.pathFor(outputPath), safeResolveSync(this.variantRoot, variantPath, { allowMissing: true }))
  }
}

/* link() into a temporary name, then rename() over the target: readers see either no file or a
   complete one, and a concurrent adopt of the same path just replaces an identical link. */
async function placeAtomically(from: string, to: string): Promise<void> {
  const tmp = `${to}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await fs.link(from, tmp)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err
    await fs.copyFile(from, tmp)
  }
  try {
    await fs.rename(tmp, to)
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined)
    throw err
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isFile()
  } catch (err) {
    if (isMissing(err)) return false
    throw err
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}
