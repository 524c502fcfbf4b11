/**
 * Starts real, throw-away `memcached` servers on free loopback ports for tests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'

import { freePort } from './redis.js'

/** A running test memcached. */
export interface TestMemcached {
  /** `127.0.0.1:<port>` */
  readonly address: string
  readonly port: number
  /** SIGTERM. */
  stop(): Promise<void>
  /** SIGKILL, as in a crash; the port stays reserved for {@link restart}. */
  kill(): Promise<void>
  /** Starts again (empty) on the same port. */
  restart(): Promise<void>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function version(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' })
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(500, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => sock.write('version\r\n'))
    sock.on('data', (d) => done(d.toString().startsWith('VERSION')))
  })
}

function launch(port: number, extra: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // memcached refuses to run as root without -u.
    const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : []
    const child = spawn('memcached', ['-p', String(port), '-l', '127.0.0.1', '-U', '0', ...user, ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    live.add(child)
    child.once('exit', () => live.delete(child))
    let stderr = ''
    child.stderr?.on('data', (d) => (stderr += d.toString()))
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('memcached not found: install it with apt-get install memcached') : err),
    )
    child.once('exit', (code) => reject(new Error(`memcached exited early with code ${code}: ${stderr}`)))
    const deadline = Date.now() + 10_000
    const poll = async (): Promise<void> => {
      if (child.exitCode !== null) return
      if (await version(port)) return resolve(child)
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        return reject(new Error(`memcached did not answer on port ${port} within 10 s: ${stderr}`))
      }
      setTimeout(poll, 25)
    }
    child.once('spawn', () => void poll())
  })
}

function waitExit(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill(signal)
  })
}

/**
 * Starts a memcached; throws (never skips) when the binary is missing.
 * @param extra - more arguments, e.g. `['-I', '8m']` for a larger item size
 */
export async function startMemcached(extra: string[] = []): Promise<TestMemcached> {
  const port = await freePort()
  let child: ChildProcess | undefined = await launch(port, extra)
  return {
    address: `127.0.0.1:${port}`,
    port,
    async stop() {
      await waitExit(child, 'SIGTERM')
      child = undefined
    },
    async kill() {
      await waitExit(child, 'SIGKILL')
    },
    async restart() {
      await waitExit(child, 'SIGKILL')
      child = await launch(port, extra)
    },
  }
}
