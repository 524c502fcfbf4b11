/**
 * Starts real, throw-away `memcached` servers on free loopback ports for tests.
 */
import type { ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'

import { spawnServer, waitExit } from './process.js'
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
  // memcached refuses to run as root without -u.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : []
  return spawnServer({
    name: 'memcached',
    command: 'memcached',
    args: ['-p', String(port), '-l', '127.0.0.1', '-U', '0', ...user, ...extra],
    install: 'apt-get install memcached',
    readyText: `answer on port ${port}`,
    ready: () => version(port),
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
