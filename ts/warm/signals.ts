/**
 * Ctrl-C / SIGTERM handling of long commands: the first signal asks for a clean stop, a second one
 * (from a user who will not wait) for an immediate exit. A signal that arrives twice at once is one
 * request: a terminal's Ctrl-C reaches a re-run command both directly and through its parent's
 * relay, and must not read as "quit at once".
 * @module
 */

/** Signals sent within this many milliseconds of the first count as the same request. */
const SAME_REQUEST_MS = 1000

/**
 * Listens for SIGINT and SIGTERM.
 * @param stop - called on the first signal
 * @param now - called on a later one; default: exit 130 at once
 * @returns removes the listeners
 */
export function onStopSignals(stop: () => void, now: () => void = () => process.exit(130)): () => void {
  let first = 0
  const handler = () => {
    if (first === 0) {
      first = Date.now()
      stop()
    } else if (Date.now() - first > SAME_REQUEST_MS) {
      now()
    }
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}
