/**
 * Thumbnails on local disk, laid out so a proxy serves them without the app: the file of a URL
 * lives at `<root>/<URL path after basePath>` (nginx `try_files $uri`).
 *
 * Key rotation: the URL path contains the secret, so a URL signed with a new key names a new file.
 * To avoid re-rendering every thumbnail after a rotation, the bytes are also kept once per
 * key-independent variant (`<source>/<size>-<method><ext>`) under `variantRoot`, a directory the
 * proxy does not serve, and each signed path is a hard link to them. A request with a new secret
 * whose variant exists is answered by {@link LocalOutputStorage.adopt} (one `link`), not a render;
 * nginx only ever serves secrets the app has verified once. Old secrets keep working until their
 * links are deleted, which is how a leaked key is revoked.
 * @module
 */
import { existsSync, promises as fs, mkdirSync, type Stats } from 'node:fs'
import path from 'node:path'

import { copyFileAtomic, errorCode, isMissing } from '../../fs.js'
import { invalidOption, string } from '../../validate.js'
import { SafeRoot, type SafeLookup } from '../paths.js'
import { ensureTempFolder, sweepTemps } from './temp-files.js'

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
  /** Folder of temp files (`<root>/.restthumbs-tmp`): same filesystem, never served. */
  readonly tempDir: string
  /** The start-up sweep of temps left by crashed processes; resolves the number removed. */
  readonly swept: Promise<number>
  readonly #out: SafeRoot
  readonly #variants: SafeRoot | null
  /* Whether the variant root exists: until it does, no request looks up variants that cannot
     exist (a fresh deployment renders everything once). */
  #variantsSeen: boolean

  /** @param options - see {@link LocalOutputStorageOptions} */
  constructor(options: LocalOutputStorageOptions) {
    this.root = string('root', options?.root, { nonEmpty: true })
    const v = options.variantRoot
    if (v !== undefined && v !== false && (typeof v !== 'string' || v.length === 0)) {
      throw invalidOption('variantRoot', 'non-empty string or false', v)
    }
    this.variantRoot = v === false ? null : (v ?? `${path.resolve(options.root)}.variants`)
    // Created up front so path checks can realpath the root. The variant root is created on the
    // first remember(), so deployments that never use it do not get an empty sibling directory.
    mkdirSync(this.root, { recursive: true })
    this.tempDir = ensureTempFolder(this.root)
    this.swept = sweepTemps(this.tempDir).catch(() => 0)
    this.#out = new SafeRoot(this.root)
    this.#variants = this.variantRoot === null ? null : new SafeRoot(this.variantRoot)
    this.#variantsSeen = this.variantRoot !== null && existsSync(this.variantRoot)
  }

  /**
   * The absolute path of an output file, which may not exist yet. Hostile paths and folders that
   * symlink out of the root throw {@link PathTraversalError}. The file itself is not examined: use
   * {@link LocalOutputStorage.lookup} to also check it.
   * @param outputPath - relative output path (`ThumbnailRequest.outputPath`)
   */
  pathFor(outputPath: string): Promise<string> {
    return this.#out.resolveParent(outputPath)
  }

  /**
   * The absolute path of an output file and its stats (`null` when it does not exist yet), in
   * one `lstat` when its folder was seen recently. A symlinked output file must stay inside the
   * root, as any other path.
   * @param outputPath - relative output path
   */
  lookup(outputPath: string): Promise<SafeLookup> {
    return this.#out.lookup(outputPath)
  }

  /**
   * Stats of an output file, or `null` when it does not exist.
   * @param outputPath - relative output path
   */
  async stat(outputPath: string): Promise<Stats | null> {
    return (await this.#out.lookup(outputPath)).stats
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
  mkdirp(outputPath: string): Promise<string> {
    return this.#out.prepare(outputPath)
  }

  /**
   * Makes a signed output path from an already rendered variant (after a key rotation), without
   * rendering: one hard link. Returns `true` when the output file now exists.
   * @param outputPath - relative output path (contains the secret)
   * @param variantPath - key-independent path (`ThumbnailRequest.variantPath`)
   * @param resolved - what {@link LocalOutputStorage.lookup} said about the output path, when the
   *   caller already asked: its `path`, and `folderExists: false` when its folder was missing.
   *   Every secret of a variant lives in the same folder, so without that folder no secret was
   *   rendered here and there is no variant to look for (one lookup less per cold render).
   */
  async adopt(outputPath: string, variantPath: string, resolved?: { path: string; folderExists?: boolean }): Promise<boolean> {
    const target = resolved?.path ?? (await this.#out.resolveParent(outputPath))
    const lookVariant = this.#variants !== null && this.#variantsSeen && resolved?.folderExists !== false
    // Both checks at once: on a miss both answers are needed.
    const [present, variant] = await Promise.all([
      isFile(target),
      lookVariant ? this.#variants!.lookup(variantPath).catch(() => null) : null,
    ])
    if (present) return true
    if (!variant?.stats?.isFile()) return false
    try {
      await linkOrCopy(variant.path, target, this.tempDir)
    } catch (err) {
      if (!isMissing(err)) throw err
      // The folder of the new secret does not exist yet: create it, checked, then link.
      await linkOrCopy(variant.path, await this.#out.prepare(outputPath), this.tempDir)
    }
    return true
  }

  /**
   * Records a freshly written output file as its variant, so later secrets for the same
   * thumbnail are adopted instead of rendered: one hard link, more only for a new folder. A
   * no-op without `variantRoot`.
   * @param outputPath - relative output path that was just written
   * @param variantPath - key-independent path
   * @param absolutePath - the output's absolute path when the caller already resolved it
   */
  async remember(outputPath: string, variantPath: string, absolutePath?: string): Promise<void> {
    const variants = this.#variants
    if (!variants) return
    const from = absolutePath ?? (await this.#out.resolveParent(outputPath))
    if (!this.#variantsSeen) {
      await fs.mkdir(this.variantRoot!, { recursive: true })
      this.#variantsSeen = true
    }
    // Usually a new size: one lstat finds the missing folder, one mkdir, one link.
    await linkOrCopy(from, await variants.prepare(variantPath))
  }
}

/* A hard link is atomic: readers see no file or a complete one. EEXIST means the name already
   holds the same thumbnail (another worker got there first), which is the goal. A copy (other
   filesystem) goes through a temporary name for the same reason, in `tempDir` when the target
   is in the served tree. */
async function linkOrCopy(from: string, to: string, tempDir?: string): Promise<void> {
  try {
    await fs.link(from, to)
    return
  } catch (err) {
    const code = errorCode(err)
    if (code === 'EEXIST') return
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err
  }
  await copyFileAtomic(from, to, { tempDir })
}

// lstat: a symlink planted as the output is not "present"; rendering replaces it by rename.
async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.lstat(p)).isFile()
  } catch (err) {
    if (isMissing(err)) return false
    throw err
  }
}
