/**
 * Starts a real, throw-away PostgreSQL (`initdb` into a temp folder, a free loopback port) for
 * tests. PostgreSQL refuses to run as root, so under root it runs as the `postgres` user.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import pg from 'pg'

import { freePort } from './process.js'

/** A running test PostgreSQL. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  /** Fast shutdown (SIGINT), removes the temp dir. */
  stop(): Promise<void>
}

const INSTALL_HINT = 'install it with apt-get install postgresql'

async function binDir(): Promise<string> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[])
  const best = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0]
  if (best === undefined) throw new Error(`PostgreSQL not found under /usr/lib/postgresql: ${INSTALL_HINT}`)
  return join('/usr/lib/postgresql', best, 'bin')
}

/** Runs as the `postgres` user when we are root (setpriv execs, so signals reach postgres itself). */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args]
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]]
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

async function ready(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited early with code ${child.exitCode}: ${log()}`)
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
      return
    } catch {
      await client.end().catch(() => undefined)
    }
    if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 20 s: ${log()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Starts PostgreSQL; throws (never skips) when it is not installed. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = await binDir()
  const dir = await mkdtemp(join(tmpdir(), 'restthumbs-pg-'))
  if (process.getuid?.() === 0) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
    if (id.status !== 0) throw new Error(`no postgres user to run PostgreSQL as: ${INSTALL_HINT}`)
    await chown(dir, Number(id.stdout), Number(gid.stdout))
  }
  const data = join(dir, 'data')
  const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  // Asynchronous: initdb takes seconds, and a blocked event loop would stall every other test.
  const init = await new Promise<{ status: number | null; stderr: string; error?: Error }>((resolve) => {
    const child = spawn(initCmd, initArgs, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d.toString()))
    child.once('error', (error) => resolve({ status: null, stderr, error }))
    child.once('exit', (status) => resolve({ status, stderr }))
  })
  if (init.error || init.status !== 0) {
    await rm(dir, { recursive: true, force: true })
    throw new Error(`initdb failed (${init.error?.message ?? init.status}): ${init.stderr} — ${INSTALL_HINT}`)
  }
  const port = await freePort()
  const [cmd, args] = asPostgres(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
  ])
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)))
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  try {
    await ready(url, child, () => stderr)
  } catch (err) {
    child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return {
    url,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((resolve) => {
          child.once('exit', resolve)
          child.kill('SIGINT')
        })
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}
