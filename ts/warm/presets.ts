/**
 * Warm presets: `<size>:<method>:<ext>` such as `100x100:crop:.jpg` or `500x:scale:.webp`, checked
 * by the same parsers as thumbnail URLs so a preset never names a URL the server would refuse.
 * @module
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'

import { parseExtension, parseMethod, parseSize, type ThumbnailExtension, type ThumbnailMethod } from '../server/url.js'
import { InvalidPresetError, SourceListError } from './errors.js'

/** One thumbnail variant to produce for every source. */
export interface Preset {
  /** Canonical size as signed in URLs (`500x0`). */
  size: string
  /** Width, 0 = from the aspect ratio. */
  width: number
  /** Height, 0 = from the aspect ratio. */
  height: number
  /** Resize method. */
  method: ThumbnailMethod
  /** Output extension with its dot. */
  ext: ThumbnailExtension
  /** The preset as written by the user, for reports. */
  text: string
}

/**
 * Parses one preset. The method defaults to `crop` and the extension to `.jpg`.
 * @param text - e.g. `100x100:crop:.jpg`, `500x:scale:webp`, `64x64`
 * @throws {@link InvalidPresetError}
 */
export function parsePreset(text: string): Preset {
  const parts = String(text).trim().split(':')
  if (parts.length > 3 || parts[0] === '') {
    throw new InvalidPresetError(`Expected preset as <size>[:<method>[:<ext>]], e.g. 100x100:crop:.jpg, but received ${JSON.stringify(text)}`)
  }
  try {
    const { width, height, size } = parseSize(parts[0])
    const method = parseMethod(parts[1] || 'crop')
    const ext = parseExtension(parts[2] || '.jpg')
    return { size, width, height, method, ext, text: `${size}:${method}:${ext}` }
  } catch (err) {
    throw new InvalidPresetError(`Invalid preset ${JSON.stringify(text)}: ${(err as Error).message}`, err)
  }
}

/**
 * Parses every preset and drops exact duplicates (`500x` and `500x0` are one preset).
 * @param texts - presets as written
 * @throws {@link InvalidPresetError}, also when none is given
 */
export function parsePresets(texts: readonly string[]): Preset[] {
  const seen = new Map<string, Preset>()
  for (const t of texts) {
    const p = parsePreset(t)
    if (!seen.has(p.text)) seen.set(p.text, p)
  }
  if (seen.size === 0) throw new InvalidPresetError('Expected at least one --preset (e.g. --preset 100x100:crop:.jpg) or a --preset-file')
  return [...seen.values()]
}

/**
 * Reads presets from a file: one per line; blank lines and `#` comments are ignored.
 * @param file - path of the preset file
 */
export async function readPresetFile(file: string): Promise<string[]> {
  const out: string[] = []
  const stream = createReadStream(file, 'utf8')
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      const t = line.replace(/#.*/, '').trim()
      if (t) out.push(t)
    }
  } catch (err) {
    throw new SourceListError(`Cannot read preset file ${file}: ${(err as Error).message}`, err)
  }
  return out
}
