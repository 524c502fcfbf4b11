/**
 * Where thumbnails are written before they are renamed into place, and the start-up sweep of
 * what a crash left there. Temps live in one hidden folder at the top of the output root: on the
 * same filesystem (so the rename stays atomic), yet never at a URL the proxy serves (the nginx
 * config refuses dot segments, and the app's path checks refuse them too). A worker killed in
 * the middle of a write (SIGKILL, OOM killer) used to leave an undecodable `*.tmp` next to the
 * thumbnail, inside the served tree, forever.
 * @module
 */
import { mkdirSync, promises as fs } from 'node:fs'
import path from 'node:path'

import { isMissing, tempOwner } from '../../fs.js'

/** Name of the temp folder inside the output root. */
export const TEMP_FOLDER = '.restthumbs-tmp'

/**
 * Temps older than this are removed whoever wrote them: no render lives that long (it is aborted
 * at `renderTimeout`), and it covers temps of other hosts whose pids cannot be checked.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000

/**
 * The temp folder of an output root, created when missing.
 * @param root - the output root
 */
export function ensureTempFolder(root: string): string {
  const dir = path.join(path.resolve(root), TEMP_FOLDER)
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * Removes the temps of processes that are gone (same host, pid no longer running) and every temp
 * older than `maxAgeMs`. Temps of live processes are left alone: several workers share the
 * folder, and one starting must not delete another's write in progress.
 * @param dir - the temp folder
 * @param maxAgeMs - age beyond which any temp is removed
 * @returns how many files were removed
 */
export async function sweepTemps(dir: string, maxAgeMs = STALE_TEMP_MS): Promise<number> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    if (isMissing(err)) return 0
    throw err
  }
  let removed = 0
  const now = Date.now()
  for (const name of names) {
    const file = path.join(dir, name)
    const owner = tempOwner(name)
    let stale = owner !== undefined && owner.thisHost && !isRunning(owner.pid)
    if (!stale) {
      const st = await fs.lstat(file).catch(() => null)
      stale = st !== null && st.isFile() && now - st.mtimeMs > maxAgeMs
    }
    if (stale && (await fs.unlink(file).then(() => true, () => false))) removed++
  }
  return removed
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
