/**
 * Starts a real, throw-away `redis-server` on a free loopback port for tests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { freePort, probeTcp, spawnServer, testServer, type TestServer, waitExit } from './process.js'

/** A running test Redis. */
export interface TestRedis extends TestServer {
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string
}

/** Whether `PING` on the port answers `+PONG` (or `-NOAUTH`: a password-protected server is up too). */
function ping(port: number): Promise<boolean> {
  return probeTcp(port, 'PING\r\n', (r) => (r.includes('\r\n') ? r.startsWith('+PONG') || r.startsWith('-NOAUTH') : undefined))
}

function launch(port: number, dir: string, extra: string[] = [], leading: string[] = []): Promise<ChildProcess> {
  const args = [...leading, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
  return spawnServer({
    name: 'redis-server',
    command: 'redis-server',
    args: [...args, '--daemonize', 'no', ...extra],
    install: 'apt-get install redis-server',
    readyText: `answer PING on port ${port}`,
    // Ready only once *this* server says it listens: another test process may have taken the
    // port between freePort() and the bind, and its server would answer our PING too.
    ready: async ({ stdout }) => /Ready to accept connections|Sentinel ID is/.test(stdout) && (await ping(port)),
  })
}

/**
 * Starts a redis-server; throws (never skips) when the binary is missing.
 * @param extra - more `redis-server` arguments, e.g. `['--requirepass', 'secret']`
 */
export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'restthumbs-redis-'))
  let port = await freePort()
  let child: ChildProcess | undefined
  for (let attempt = 0; ; attempt++) {
    try {
      child = await launch(port, dir, extra)
      break
    } catch (err) {
      // Lost the race for a free port to another test process: take another one.
      if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err
      port = await freePort()
    }
  }
  const server = testServer(port, child, () => launch(port, dir, extra), () => rm(dir, { recursive: true, force: true }))
  return { ...server, url: `redis://127.0.0.1:${port}/0` }
}

/** A running throw-away Redis Cluster of masters only. */
export interface TestRedisCluster {
  /** Seed nodes for ioredis `Cluster`. */
  readonly nodes: Array<{ host: string; port: number }>
  stop(): Promise<void>
}

/** A port whose cluster bus port (+10000) is valid too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port + 10000 < 65536) return port
  }
}

function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d.toString()))
    child.stderr.on('data', (d) => (out += d.toString()))
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('redis-cli not found: install it with apt-get install redis-server') : err),
    )
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')} failed: ${out}`))))
  })
}

/** Starts `size` cluster-enabled redis-servers and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(size = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'restthumbs-redis-cluster-'))
  const ports: number[] = []
  const children: ChildProcess[] = []
  const stop = async () => {
    await Promise.all(children.map((c) => waitExit(c, 'SIGKILL')))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < size; i++) {
      const port = await clusterPort()
      ports.push(port)
      children.push(
        await launch(port, dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
        ]),
      )
    }
    await runCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
    const deadline = Date.now() + 15_000
    for (const port of ports) {
      while (!(await runCli(['-p', String(port), 'cluster', 'info'])).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`redis cluster node ${port} did not reach cluster_state:ok`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop }
}

/** A running Redis master watched by one Sentinel. */
export interface TestRedisSentinel {
  readonly master: TestRedis
  /** The Sentinel's address. */
  readonly sentinel: { host: string; port: number }
  /** The monitored master group name. */
  readonly name: string
  stop(): Promise<void>
}

/** Starts a master plus a Sentinel (`redis-server --sentinel`) monitoring it. */
export async function startRedisSentinel(): Promise<TestRedisSentinel> {
  const master = await startRedis()
  const dir = await mkdtemp(join(tmpdir(), 'restthumbs-redis-sentinel-'))
  const port = await freePort()
  const conf = join(dir, 'sentinel.conf')
  await writeFile(conf, `sentinel monitor restthumbs 127.0.0.1 ${master.port} 1\n`)
  const child = await launch(port, dir, [], [conf, '--sentinel']).catch(async (err) => {
    await master.stop()
    throw err
  })
  return {
    master,
    sentinel: { host: '127.0.0.1', port },
    name: 'restthumbs',
    async stop() {
      await waitExit(child, 'SIGKILL')
      await master.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
