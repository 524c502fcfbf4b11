/**
 * python-thumbnails' size and crop grammar (`thumbnails/helpers.py`: `parse_size`, `parse_crop`),
 * mapped onto the native pipeline: sizes become width/height (0 = from the aspect ratio) and crop
 * positions become a focal point, which the native `crop` keeps as central as the box allows.
 * That is python-thumbnails' `calculate_offset`,
 * `max(0, min(percent * original / 100, original - length / 2) - length / 2)`, exactly.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import { describe } from '../validate.js'
import { InvalidSizeError } from './errors.js'
import { parseSize, PARSE_DEFAULTS, type ThumbnailSize } from './url.js'

/** A crop position: `x` and `y` as fractions of the source, 0 = left/top, 1 = right/bottom. */
export interface CropPoint {
  /** Horizontal position, 0..1. */
  x: number
  /** Vertical position, 0..1. */
  y: number
}

// python-thumbnails' CROP_ALIASES: an alias moves one axis, the other stays centred.
const X_ALIASES: Readonly<Record<string, number>> = Object.freeze({ left: 0, center: 50, right: 100 })
const Y_ALIASES: Readonly<Record<string, number>> = Object.freeze({ top: 0, center: 50, bottom: 100 })
const PERCENT = /^(\d{1,3}(?:\.\d+)?)%?$/

/**
 * Parses a size as python-thumbnails writes it: `200x100`, `200` (width only) or `x200` (height
 * only); `200x` is accepted too. The side that is missing follows the aspect ratio.
 * @param size - the size text (or a width as a number)
 * @param maxSide - largest side accepted
 * @throws {@link InvalidSizeError}
 */
export function parseThumbnailSize(size: string | number, maxSide: number = PARSE_DEFAULTS.maxSide): ThumbnailSize {
  if (typeof size === 'number' && Number.isSafeInteger(size) && size > 0) return parseSize(`${size}x`, maxSide)
  if (typeof size !== 'string') {
    throw new InvalidSizeError(`Expected size as WxH, W or xH but received ${describe(size)}`)
  }
  return parseSize(/^\d+$/.test(size) ? `${size}x` : size, maxSide)
}

/**
 * Parses a crop position: an alias (`center`, `top`, `bottom`, `left`, `right`), two of them
 * (`top left`), percentages (`25% 75%`, x first; a single one applies to both axes) or a mix
 * (`left 30%`). Returns `undefined` for no crop (`undefined`, `null` or `false`).
 * @param crop - the crop option
 * @throws {@link InvalidOptionError} for anything else, e.g. `'middle'` or `'120%'`
 */
export function parseCrop(crop: unknown): CropPoint | undefined {
  if (crop === undefined || crop === null || crop === false) return undefined
  const fail = (): InvalidOptionError =>
    new InvalidOptionError(
      `Expected crop as center, top, bottom, left, right, two of them, or percentages like "25% 75%" but received ${describe(crop)}`,
    )
  if (crop === true) return { x: 0.5, y: 0.5 }
  if (typeof crop !== 'string') throw fail()
  const tokens = crop.trim().toLowerCase().split(/\s+/)
  if (tokens.length === 0 || tokens.length > 2 || tokens[0] === '') throw fail()
  let x: number | undefined
  let y: number | undefined
  const percents: number[] = []
  for (const token of tokens) {
    const m = PERCENT.exec(token)
    if (m) {
      const p = Number(m[1])
      if (p > 100) throw fail()
      percents.push(p)
    } else if (token in X_ALIASES && token !== 'center' && x === undefined) {
      x = X_ALIASES[token]
    } else if (token in Y_ALIASES && token !== 'center' && y === undefined) {
      y = Y_ALIASES[token]
    } else if (token !== 'center') {
      throw fail()
    }
  }
  // Percentages fill the axes no alias named, x first; one percentage alone sets both axes.
  if (percents.length === 1 && tokens.length === 1) percents.push(percents[0])
  if (x === undefined) x = percents.shift()
  if (y === undefined) y = percents.shift()
  if (percents.length > 0) throw fail()
  return { x: (x ?? 50) / 100, y: (y ?? 50) / 100 }
}
