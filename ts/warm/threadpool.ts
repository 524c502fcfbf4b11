/**
 * Makes sure the libuv thread pool (4 threads unless `UV_THREADPOOL_SIZE` says otherwise) can run
 * `concurrency` renders plus their file-system calls at once. Native renders are async tasks on
 * that pool, so with 4 threads a 16-core host would warm at a quarter of its speed. libuv reads the
 * variable once, when the pool starts, and an ES-module program has started it before any of its
 * code runs; so when the pool is too small the command runs again in a child process with the
 * variable set (with `serve`'s relaunch, `spawnSelf`), and this process only relays signals and
 * the exit status.
 * @module
 */
import { spawnSelf } from '../cli/pool.js'

/** libuv's default pool size. */
const LIBUV_DEFAULT = 4

/**
 * Threads wanted for `concurrency` renders: one each plus two for stats, links and renames.
 * @param concurrency - renders in flight
 */
export function threadsFor(concurrency: number): number {
  return Math.min(1024, Math.max(LIBUV_DEFAULT, concurrency + 2))
}

/**
 * Re-runs this command with a larger pool when needed.
 * @param concurrency - renders in flight
 * @returns a promise of the child's exit when the command was re-run (the caller then stops),
 *   `null` when this process's pool is fine (or was sized explicitly by the user)
 */
export function rerunWithThreadPool(concurrency: number): Promise<void> | null {
  const wanted = threadsFor(concurrency)
  if (process.env.UV_THREADPOOL_SIZE !== undefined || wanted <= LIBUV_DEFAULT) return null
  return spawnSelf({ ...process.env, UV_THREADPOOL_SIZE: String(wanted) }, process.argv.slice(1)).then(({ code, signal }) => {
    process.exitCode = code ?? (signal === 'SIGINT' ? 130 : 1)
  })
}
