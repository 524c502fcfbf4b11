/**
 * One decode per source for a batch warm.
 *
 * Warm asks for every preset of a source in a row, and each goes through the generator (lock,
 * presence re-check, temp file, rename, record) as a live request would. Rendering each alone
 * decodes the source once per preset, and for a large source the decode is most of the cost
 * (entropy decoding a 4096² WebP is over 70 % of a render). This renderer sits under the
 * generator: the first render of a group makes every missing preset of that source in one
 * native call (`thumbnailFiles`: one decode at the largest size needed, then one resize and
 * encode per preset) into temp files, and each render call of the group, still made under its
 * own lock, takes its file by renaming it to the temp path the generator gave it.
 *
 * A call that matches no prepared file (an option the group did not foresee, a source path that
 * differs, a group already closed) renders alone, as the plain renderer would.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { rename, unlink } from 'node:fs/promises'

import { tempPathFor } from '../fs.js'
import type { ThumbnailFileOptions } from '../image/options.js'
import type { ThumbnailFileInfo } from '../image/thumbnail.js'
import { thumbnailFiles } from '../image/thumbnail.js'
import type { RenderInfo, RendererLike, RenderOptions } from '../server/contracts.js'

/** The outputs of one source that a group may make together. */
interface Group {
  /** Render options of each wanted output, keyed by {@link keyOf}. */
  readonly wanted: Map<string, RenderOptions>
  /** The shared render, once the first call started it. */
  batch?: Promise<{ src: string; files: Map<string, { tmp: string; result: ThumbnailFileInfo | Error }> }>
  /** Prepared files already handed out. */
  readonly taken: Set<string>
}

/** What identifies an output among the presets of one source (not the abort signal). */
function keyOf(o: RenderOptions): string {
  return JSON.stringify([o.width, o.height, o.method, o.format, o.quality, o.focalPoint ?? null, o.maxInputBytes ?? 0])
}

/** A renderer that makes the outputs of one source together; see the module comment. */
export class SharedDecodeRenderer implements RendererLike {
  readonly #inner: RendererLike
  readonly #tempDir: string
  readonly #current = new AsyncLocalStorage<Group>()

  /**
   * @param inner - the renderer for calls outside a group (and for byte-to-byte renders)
   * @param tempDir - where prepared files wait until a render call takes them; on the same
   *   file system as the generator's temp files, so taking one is a rename
   */
  constructor(inner: RendererLike, tempDir: string) {
    this.#inner = inner
    this.#tempDir = tempDir
  }

  /**
   * Runs `fn` with a group of wanted outputs: render calls made inside it (through the
   * generator) share one decode. Prepared files nobody took are removed when `fn` settles.
   * @param wanted - render options of the outputs of one source that are missing now
   * @param fn - the work that makes the render calls (the generator's `ensure` of each preset)
   */
  async group<T>(wanted: readonly RenderOptions[], fn: () => Promise<T>): Promise<T> {
    if (wanted.length < 2) return fn()
    const group: Group = { wanted: new Map(wanted.map((o) => [keyOf(o), o])), taken: new Set() }
    try {
      return await this.#current.run(group, fn)
    } finally {
      await this.#cleanUp(group)
    }
  }

  /** Renders bytes to bytes: never grouped (remote sources have no path to read twice). */
  thumbnail(input: Buffer, options: RenderOptions): Promise<unknown> {
    return this.#inner.thumbnail(input, options)
  }

  /** Takes the prepared file of this output when its group has one, else renders alone. */
  async thumbnailFile(src: string, dst: string, options: RenderOptions): Promise<RenderInfo> {
    const group = this.#current.getStore()
    const key = keyOf(options)
    if (!group || !group.wanted.has(key) || group.taken.has(key)) return this.#inner.thumbnailFile(src, dst, options)
    group.batch ??= this.#prepare(src, group.wanted, options.signal)
    const { src: batchSrc, files } = await group.batch
    const file = files.get(key)
    if (batchSrc !== src || !file || group.taken.has(key)) return this.#inner.thumbnailFile(src, dst, options)
    group.taken.add(key)
    if (file.result instanceof Error) throw file.result
    await rename(file.tmp, dst)
    return file.result as RenderInfo
  }

  async #prepare(src: string, wanted: Map<string, RenderOptions>, signal?: AbortSignal) {
    const keys = [...wanted.keys()]
    const items = keys.map((key, i) => {
      const { signal: _own, ...options } = wanted.get(key)!
      return { dst: tempPathFor(`shared-${i}`, this.#tempDir), options: options as ThumbnailFileOptions }
    })
    // The first caller's deadline bounds the shared render; later callers come from the same
    // group and share its fate.
    const results = await thumbnailFiles(src, items, { signal })
    return { src, files: new Map(keys.map((key, i) => [key, { tmp: items[i].dst, result: results[i] }])) }
  }

  async #cleanUp(group: Group): Promise<void> {
    const batch = await group.batch?.catch(() => undefined)
    if (!batch) return
    for (const [key, file] of batch.files) {
      if (!group.taken.has(key) && !(file.result instanceof Error)) await unlink(file.tmp).catch(() => undefined)
    }
  }
}
