/**
 * Turns a stream of source names and a list of presets into warm tasks: for each source and
 * preset, the signed URL the `{% thumbnail %}` tag would print, parsed back by the server's own
 * parser. The output path of a task is therefore the server's output path for that URL, byte for
 * byte, and so is the variant path.
 * @module
 */
import type { ThumbnailSpec } from '../server/contracts.js'
import type { Signer } from '../server/signing.js'
import { thumbnailUrl } from '../server/url-builder.js'
import { parseThumbnailPath } from '../server/url.js'
import type { Preset } from './presets.js'
import type { SourceItem } from './sources.js'

/** One thumbnail to warm. */
export interface WarmTask {
  /** Source name relative to the source root. */
  source: string
  /** The preset it is rendered with. */
  preset: Preset
  /** What the server's parser makes of the URL; absent when `error` is set. */
  spec?: ThumbnailSpec & { size: string }
  /** Why no URL could be built (an invalid source name, an unreadable folder). */
  error?: unknown
}

/** How URLs are built: the server's signer and base path. */
export interface UrlSettings {
  /** Signs with the first configured key, as `serve` verifies. */
  signer: Signer
  /** The server's `basePath` (`/thumbnails/`). */
  basePath: string
}

/**
 * The spec of one thumbnail, exactly as `serve` parses the URL the builder emits for it.
 * @throws the URL builder's typed errors for names or presets the server would refuse
 */
export function specFor(source: string, preset: Pick<Preset, 'size' | 'method' | 'ext'>, urls: UrlSettings): ThumbnailSpec & { size: string } {
  const url = thumbnailUrl(source, preset.size, preset.method, preset.ext, { signer: urls.signer, baseUrl: urls.basePath })
  return parseThumbnailPath(url, { basePath: urls.basePath })
}

/**
 * Yields a task per source and preset, lazily: the listing is pulled only as tasks are taken.
 * @param sources - the listing
 * @param presets - parsed presets
 * @param urls - signer and base path
 */
export async function* warmTasks(sources: AsyncIterable<SourceItem>, presets: readonly Preset[], urls: UrlSettings): AsyncGenerator<WarmTask> {
  for await (const group of warmTaskGroups(sources, presets, urls)) yield* group
}

/**
 * {@link warmTasks} with the tasks of one source together, so a runner can make all the presets
 * of a source from one decode.
 * @param sources - the listing
 * @param presets - parsed presets
 * @param urls - signer and base path
 */
export async function* warmTaskGroups(sources: AsyncIterable<SourceItem>, presets: readonly Preset[], urls: UrlSettings): AsyncGenerator<WarmTask[]> {
  for await (const item of sources) {
    yield presets.map((preset): WarmTask => {
      if (item.error !== undefined) return { source: item.name, preset, error: item.error }
      try {
        return { source: item.name, preset, spec: specFor(item.name, preset, urls) }
      } catch (error) {
        return { source: item.name, preset, error }
      }
    })
  }
}
