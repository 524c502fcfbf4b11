/**
 * The process environment of `restthumbs serve`, which only takes effect when set before Node
 * starts, so the command starts itself again with it:
 * - `UV_THREADPOOL_SIZE`: native renders and file I/O share the libuv pool, whose size is fixed
 *   when it is first used; in an ES module program that is before the first line of user code
 *   runs (the module loader reads files through it).
 * - `MALLOC_ARENA_MAX=2`: glibc gives every thread that allocates its own malloc arena and keeps
 *   freed memory in it, so each pool thread that once decoded a large image holds on to that much.
 *   With two arenas a soak of thousands of renders levels off about a third lower (measured
 *   about 200 MiB with the default arenas and about 135 MiB with two, on the same workload),
 *   the setting sharp and Heroku recommend for the same reason.
 * @module
 */
import { spawn } from 'node:child_process'

import { servePoolSize } from '../server/render-slots.js'

/**
 * The environment `serve` should run with: `env` plus `UV_THREADPOOL_SIZE` (one thread per core
 * for renders plus four for file I/O) and `MALLOC_ARENA_MAX=2` where they are not set, or
 * `undefined` when both are set already (the operator's choice, or this is the relaunched
 * process).
 * @param env - usually `process.env`
 */
export function servePoolEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  if (env.UV_THREADPOOL_SIZE && env.MALLOC_ARENA_MAX) return undefined
  return { MALLOC_ARENA_MAX: '2', UV_THREADPOOL_SIZE: String(servePoolSize()), ...env }
}

/**
 * Runs this program again with `env` in a child process, passing on the signals a supervisor
 * sends to this one only (Ctrl-C reaches the whole process group anyway). Shared by `serve` and
 * `warm`, which both need an environment libuv or glibc read before any code of theirs runs.
 * @param env - the child's environment
 * @param args - the script and its arguments (`process.argv.slice(1)`)
 * @returns the child's exit code and signal
 */
export function spawnSelf(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: 'inherit', env })
  const forward = (signal: NodeJS.Signals) => () => {
    if (child.exitCode === null) child.kill(signal)
  }
  const signals = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const)
  for (const [s, f] of signals) process.on(s, f)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      for (const [s, f] of signals) process.off(s, f)
      resolve({ code, signal })
    })
  })
}

/**
 * Runs this program again with `env`, forwarding signals, and exits as the child does.
 * @param env - the child's environment
 * @param args - the script and its arguments (`process.argv.slice(1)`)
 */
export async function relaunch(env: NodeJS.ProcessEnv, args: string[]): Promise<never> {
  const { code, signal } = await spawnSelf(env, args)
  if (signal) process.kill(process.pid, signal)
  process.exit(code ?? 1)
}
