/**
 * The rendering side of warm and of queue workers: the very handler `serve` builds from the same
 * settings (same source and output storages, cache, dogpile lock, records, renderer), driven
 * without HTTP. A thumbnail warmed here is the file `serve` would have written for its URL, and a
 * warm running next to live traffic on the same cache never renders a thumbnail twice. The one
 * difference: `group` makes the presets of one source from a single decode (see
 * `shared-decode.ts`), each resized from at least as many decoded pixels as its own render uses.
 * @module
 */
import { unlink } from 'node:fs/promises'

import { isMissing } from '../fs.js'
import type { ServerConfig } from '../server/config.js'
import type { HandlerStats, ThumbnailSpec } from '../server/contracts.js'
import { s3ConnectionOptions } from '../server/dependencies.js'
import type { EnsureResult } from '../server/generator.js'
import { createThumbnailHandler } from '../server/handler.js'
import { SafeRoot } from '../server/paths.js'
import { isPresent } from '../server/presence.js'
import { nativeRenderer, renderOptionsFor } from '../server/renderer.js'
import { Signer } from '../server/signing.js'
import { LocalOutputStorage } from '../server/storage/local-output.js'
import { S3OutputStorage } from '../server/storage/s3-output.js'
import { SharedDecodeRenderer } from './shared-decode.js'
import type { UrlSettings } from './tasks.js'

/** What warm and workers render with. */
export interface WarmEngine {
  /** Signer and base path of the server's URLs. */
  urls: UrlSettings
  /** Makes a thumbnail exist (the generator's `ensure`). */
  ensure(spec: ThumbnailSpec): Promise<EnsureResult>
  /** Runs the `ensure`s of one source's presets in `run` so their renders share one decode. */
  group(specs: ThumbnailSpec[], run: () => Promise<void>): Promise<void>
  /** Removes an output and its key-independent copy so `ensure` renders it again (`--force`). */
  discard(spec: ThumbnailSpec): Promise<void>
  /** The handler's counters (`renders` counts this process's renders). */
  stats: HandlerStats
  /** Closes the cache connection. */
  close(): Promise<void>
}

/**
 * Builds the engine from resolved server settings.
 * @param config - the settings `serve` would run with
 * @param options - `fresh`: bypass thumbnail records (with `--force`); `renders`: renders in
 *   flight at once (warm's `--jobs` times the presets, since every render call of a group holds a
 *   render slot while the group's one native render runs; default: the server's `renderSlots`)
 */
export function createWarmEngine(config: Readonly<ServerConfig>, options: { fresh?: boolean; renders?: number } = {}): WarmEngine {
  // With an output bucket, thumbnails go where serve puts them: uploaded under the lock, checked
  // in the bucket (a HEAD, no download: warm never answers from the local copy).
  const bucket = config.outputBucket
    ? new S3OutputStorage({
        bucket: config.outputBucket,
        prefix: config.outputPrefix,
        root: config.outputRoot,
        download: false,
        cacheControl: `public, max-age=${config.maxAge}`,
        ...s3ConnectionOptions(config),
      })
    : undefined
  const local = bucket ? undefined : new LocalOutputStorage({ root: config.outputRoot })
  const output = bucket ?? local!
  // Local outputs only: a prepared file is taken by a rename inside the output's temp folder.
  const shared = local ? new SharedDecodeRenderer(nativeRenderer, local.tempDir) : undefined
  const slots = options.renders ? { renderSlots: Math.min(1024, options.renders) } : {}
  // A warm job waits for a live request's render instead of failing with 503/404.
  const handler = createThumbnailHandler({ ...config, ...slots, waiter: 'wait', accessLog: false, output, ...(shared ? { renderer: shared } : {}) })
  const variants = local?.variantRoot ? new SafeRoot(local.variantRoot) : null
  const signer = signerOf(config)
  const fresh = options.fresh ?? false
  return {
    urls: { signer, basePath: config.basePath },
    async ensure(spec) {
      const found = await handler.generator.ensure(spec, { fresh })
      // The generator may answer from a thumbnail record (trustCache, or a cold folder checked
      // under the lock); a warm must not count a file that was deleted since as present.
      if (found.via === 'render' || (await isPresent(output, found))) return found
      return handler.generator.ensure(spec, { fresh: true })
    },
    async group(specs, run) {
      if (!shared) return run()
      // Only the outputs missing now are made together; a present one is left to its `ensure`.
      const wanted = await Promise.all(
        specs.map(async (spec) => {
          const missing = fresh || !(await isPresent(output, { outputPath: spec.outputPath, absolutePath: await output.pathFor(spec.outputPath) }))
          return missing ? [renderOptionsFor(spec, config)] : []
        }),
      ).catch(() => [])
      return shared.group(wanted.flat(), run)
    },
    async discard(spec) {
      if (bucket) return bucket.remove(spec.outputPath)
      const paths = [await output.pathFor(spec.outputPath)]
      if (variants && spec.variantPath) paths.push(await variants.resolveParent(spec.variantPath).catch(() => ''))
      for (const p of paths) {
        if (p) await unlink(p).catch((err) => (isMissing(err) ? undefined : Promise.reject(err)))
      }
    },
    stats: handler.stats,
    async close() {
      await handler.close()
      await bucket?.close()
    },
  }
}

/** The signer `serve` builds from the same settings (first key signs). */
export function signerOf(config: Readonly<ServerConfig>): Signer {
  return new Signer({ keys: config.keys, legacy: config.legacySignatures ? 'restthumbnails' : undefined })
}
