/**
 * The one validator: every option check in restthumbs builds its message here, in the style of
 * sharp's `is` helpers: `Expected positive integer for width but received 1.5 of type number`.
 * @module
 */
import { InvalidOptionError, type RestthumbsError } from './errors.js'

/** Builds the error a failed check throws (defaults to {@link InvalidOptionError}). */
export type ErrorFactory = (message: string) => RestthumbsError

const invalidOptionError: ErrorFactory = (message) => new InvalidOptionError(message)

/**
 * Shows a received value in a message: strings quoted, objects by their tag, with the type.
 * @param value - anything
 * @returns e.g. `"abc" of type string`, `[object Object] of type object`, `null of type null`
 */
export function describe(value: unknown): string {
  let shown: string
  if (typeof value === 'string') shown = JSON.stringify(value)
  else if (Array.isArray(value)) shown = `[array of ${value.length}]`
  else if (typeof value === 'object' && value !== null) shown = Object.prototype.toString.call(value)
  else if (typeof value === 'bigint') shown = `${value}n`
  else if (typeof value === 'symbol' || typeof value === 'function') shown = typeof value
  else shown = String(value)
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
  return `${shown} of type ${type}`
}

/**
 * The error for an option that failed its check.
 * @param name - option name as the user wrote it (`width`, `RESTTHUMBS_PORT`, …)
 * @param expected - what was expected (`positive integer`, `one of crop, scale`)
 * @param actual - what was received
 * @param make - error class to use (default {@link InvalidOptionError})
 */
export function invalidOption(name: string, expected: string, actual: unknown, make: ErrorFactory = invalidOptionError): RestthumbsError {
  return make(`Expected ${expected} for ${name} but received ${describe(actual)}`)
}

/** Bounds of {@link integer}. */
export interface IntegerBounds {
  /** Smallest allowed value. @default 0 */
  min?: number
  /** Largest allowed value. @default Number.MAX_SAFE_INTEGER */
  max?: number
  /** Wording of the expectation; derived from the bounds when absent. */
  expected?: string
  /** Error class to throw. */
  error?: ErrorFactory
}

function integerWording(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER) return min === 0 ? 'non-negative integer' : min === 1 ? 'positive integer' : `integer of at least ${min}`
  return `integer between ${min} and ${max}`
}

/**
 * Checks that `value` is an integer within bounds.
 * @returns the value, typed
 * @throws the configured error (default {@link InvalidOptionError})
 */
export function integer(name: string, value: unknown, bounds: IntegerBounds = {}): number {
  const min = bounds.min ?? 0
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, bounds.expected ?? integerWording(min, max), value, bounds.error)
  }
  return value
}

/**
 * Checks that `value` is a finite number greater than 0.
 * @throws the given error (default {@link InvalidOptionError})
 */
export function positiveNumber(name: string, value: unknown, error?: ErrorFactory): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) throw invalidOption(name, 'positive number', value, error)
  return value
}

/**
 * Checks that `value` is a boolean.
 * @throws the given error (default {@link InvalidOptionError})
 */
export function bool(name: string, value: unknown, error?: ErrorFactory): boolean {
  if (typeof value !== 'boolean') throw invalidOption(name, 'boolean', value, error)
  return value
}

/**
 * Checks that `value` is a string (optionally non-empty).
 * @throws the given error (default {@link InvalidOptionError})
 */
export function string(name: string, value: unknown, options: { nonEmpty?: boolean; error?: ErrorFactory } = {}): string {
  if (typeof value !== 'string' || (options.nonEmpty && value === '')) {
    throw invalidOption(name, options.nonEmpty ? 'non-empty string' : 'string', value, options.error)
  }
  return value
}

/**
 * Checks that `value` is one of `allowed`.
 * @throws the given error (default {@link InvalidOptionError}) listing the allowed values
 */
export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], error?: ErrorFactory): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidOption(name, `one of ${allowed.join(', ')}`, value, error)
  }
  return value as T
}

/**
 * Checks that `value` is a plain object (not null, not an array).
 * @throws the given error (default {@link InvalidOptionError})
 */
export function object(name: string, value: unknown, error?: ErrorFactory): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(name, 'object', value, error)
  return value as Record<string, unknown>
}

/**
 * The one defaults merge: later layers win, and an `undefined` field never overrides a value
 * (so `{ quality: undefined }` keeps the default, as users of spread options expect).
 * @param defaults - the frozen defaults object
 * @param layers - user options, most specific last; `undefined` layers are skipped
 * @returns a new object
 */
export function mergeDefaults<T extends object>(defaults: T, ...layers: (Partial<T> | undefined)[]): T {
  const out = { ...defaults } as Record<string, unknown>
  for (const layer of layers) {
    if (layer === undefined || layer === null) continue
    for (const key of Object.keys(layer)) {
      const v = (layer as Record<string, unknown>)[key]
      if (v !== undefined) out[key] = v
    }
  }
  return out as T
}
