/**
 * Starts real, throw-away `memcached` servers on free loopback ports for tests.
 */
import type { ChildProcess } from 'node:child_process'

import { freePort, probeTcp, spawnServer, testServer, type TestServer } from './process.js'

/** A running test memcached. */
export interface TestMemcached extends TestServer {
  /** `127.0.0.1:<port>` */
  readonly address: string
}

/** Whether `version` on the port answers `VERSION …`. */
function version(port: number): Promise<boolean> {
  return probeTcp(port, 'version\r\n', (r) => (r.includes('\r\n') ? r.startsWith('VERSION') : undefined))
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
  const server = testServer(port, await launch(port, extra), () => launch(port, extra))
  return { ...server, address: `127.0.0.1:${port}` }
}
