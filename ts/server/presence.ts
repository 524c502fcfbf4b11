/**
 * Presence checks of the generator: whether an output exists (the storage's own test for a
 * shared bucket, else a stat of the local file), and the settled-promise helpers that let the
 * source be resolved speculatively while the output is looked up.
 * @module
 */
import { stat as fsStat } from 'node:fs'

import type { OutputStorageLike, SourceStorageLike } from './contracts.js'
import type { ThumbnailFile } from './responses.js'

/**
 * Whether a file exists and is a regular file. Callback stat in one promise: cheaper than
 * fs/promises on the warm path.
 * @param p - absolute path
 */
export function exists(p: string): Promise<boolean> {
  return new Promise((resolve) => fsStat(p, (err, st) => resolve(!err && st.isFile())))
}

/**
 * Whether an output exists: the storage's own test (a shared bucket, where the local file is not
 * the truth) or a stat of the local file.
 * @param output - the output storage
 * @param file - the output's paths
 */
export function isPresent(output: OutputStorageLike, file: Pick<ThumbnailFile, 'absolutePath' | 'outputPath'>): Promise<boolean> {
  return output.has ? output.has(file.outputPath, file.absolutePath) : exists(file.absolutePath)
}

/** The outcome of a promise, kept without rejecting. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

/**
 * A promise that never rejects, so it can be started early and awaited later (or never).
 * @param value - the value or promise to settle
 */
export function settle<T>(value: T | Promise<T>): Promise<Settled<T>> {
  return Promise.resolve(value).then(
    (v) => ({ ok: true as const, value: v }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

/**
 * The local path of a source; a synchronous throw becomes a rejection, so it is settled like any
 * other failure.
 * @param source - a storage with `localPath`
 * @param name - the source name
 */
export async function callLocalPath(source: SourceStorageLike, name: string): Promise<string> {
  return source.localPath!(name)
}

/**
 * The value of a settled promise, or its error thrown.
 * @param s - the outcome
 */
export function unwrap<T>(s: Settled<T>): T {
  if (s.ok) return s.value
  throw s.error
}
