/**
 * The libuv thread pool for `restthumbs serve`. Native renders and file I/O share that pool, and
 * its size is fixed when it is first used, which in an ES module program is before the first line
 * of user code runs (the module loader reads files through it). Setting `UV_THREADPOOL_SIZE`
 * from JavaScript is therefore too late; the command starts itself again with the variable set.
 * @module
 */
import { spawn } from 'node:child_process'

import { servePoolSize } from '../server/render-slots.js'

/**
 * The environment `serve` should run with: `env` plus `UV_THREADPOOL_SIZE` (one thread per core
 * for renders plus four for file I/O), or `undefined` when the variable is already set (the
 * operator's choice, or this is the relaunched process).
 * @param env - usually `process.env`
 */
export function servePoolEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  if (env.UV_THREADPOOL_SIZE) return undefined
  return { ...env, UV_THREADPOOL_SIZE: String(servePoolSize()) }
}

/**
 * Runs this program again with `env`, forwarding signals, and exits as the child does.
 * @param env - the child's environment
 * @param args - the script and its arguments (`process.argv.slice(1)`)
 */
export function relaunch(env: NodeJS.ProcessEnv, args: string[]): Promise<never> {
  const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: 'inherit', env })
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  const signals = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const)
  for (const [s, f] of signals) process.on(s, f)
  return new Promise<never>(() => {
    child.on('exit', (code, signal) => {
      for (const [s, f] of signals) process.off(s, f)
      if (signal) process.kill(process.pid, signal)
      process.exit(code ?? 1)
    })
  })
}
