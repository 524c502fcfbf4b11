/**
 * Temp folders for specs: fresh, real (symlinks in the system temp path resolved, so paths
 * compare equal to what realpath returns), and removed when the test ends, pass or fail.
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** The part of an ava test context the helper needs. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * A new empty folder under the system temp folder. Remove it with {@link removeDir}, or use
 * {@link tempDir} to have the test do it.
 * @param label - part of the folder name, to tell leftovers apart (`handler`, `cli-nginx`)
 */
export async function makeTempDir(label: string): Promise<string> {
  return realpath(await mkdtemp(path.join(tmpdir(), `restthumbs-${label}-`)))
}

/**
 * A new empty folder that is removed when the test `t` ends.
 * @param t - the ava test (or anything with `teardown`)
 * @param label - part of the folder name
 */
export async function tempDir(t: Teardown, label: string): Promise<string> {
  const dir = await makeTempDir(label)
  t.teardown(() => removeDir(dir))
  return dir
}

/** Removes a folder and everything in it; a folder already gone is fine. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true })
}
