/**
 * How the generator reads a failed render or lock: a cache outage (render without the shared
 * lock), a full disk (507, logged once per episode) and a missing source (404, remembered).
 * @module
 */
import { errorCode, isMissing } from '../fs.js'

/**
 * The shared cache (lock, records) did not answer.
 * @param err - what the lock threw
 */
export function isCacheOutage(err: unknown): boolean {
  return errorCode(err) === 'ERR_CACHE_UNAVAILABLE'
}

/**
 * The disk is full or over quota. Node's fs errors carry the errno name; the native writer's
 * IoError carries Rust's io::Error text, which ends in "(os error 28)" for ENOSPC and
 * "(os error 122)" for EDQUOT on Linux.
 * @param err - what the render or the write threw
 */
export function isDiskFull(err: unknown): boolean {
  const code = errorCode(err)
  if (code === 'ENOSPC' || code === 'EDQUOT') return true
  return code === 'ERR_IO' && /\((?:os error (?:28|122))\)|No space left on device|Disk quota exceeded/.test(String((err as Error).message))
}

/**
 * The source does not exist (a 404 of the origin or bucket, a missing file).
 * @param err - what reading the source threw
 */
export function isNotFound(err: unknown): boolean {
  return (err as { status?: unknown } | null)?.status === 404 || isMissing(err) || errorCode(err) === 'ERR_SOURCE_NOT_FOUND'
}
