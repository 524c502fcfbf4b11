/**
 * Starting and stopping the real servers the specs talk to (redis-server, memcached, …): spawn,
 * wait until ready, fail with the install command when the binary is missing, and kill whatever
 * is still running when the test process exits.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { createConnection, createServer } from 'node:net'

// Servers still running when the process exits (a failed test that never reached its teardown)
// are killed with it rather than left behind.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** What {@link spawnServer} starts and how it knows the server is ready. */
export interface ServerSpec {
  /** Name in messages, e.g. `redis-server`. */
  name: string
  /** The binary. */
  command: string
  args: string[]
  /** Shown when the binary is missing, e.g. `apt-get install redis-server`. */
  install: string
  /** Polled every 25 ms with the output so far until it resolves true. */
  ready(output: { stdout: string; stderr: string }): Promise<boolean> | boolean
  /** What the readiness check waits for, in the time-out message. @default 'answer' */
  readyText?: string
  /** @default 10000 */
  timeoutMs?: number
  options?: SpawnOptions
}

/**
 * Spawns a server and resolves once `ready` says so; rejects (never skips) when the binary is
 * missing, when it exits early, or when it is not ready in time.
 */
export function spawnServer(spec: ServerSpec): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], ...spec.options })
    live.add(child)
    child.once('exit', () => live.delete(child))
    const out = { stdout: '', stderr: '' }
    child.stdout?.on('data', (d) => (out.stdout = (out.stdout + d.toString()).slice(-4096)))
    child.stderr?.on('data', (d) => (out.stderr = (out.stderr + d.toString()).slice(-8192)))
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error(`${spec.name} not found: install it with ${spec.install}`) : err),
    )
    child.once('exit', (code) => reject(new Error(`${spec.name} exited early with code ${code}: ${out.stderr}`)))
    const timeoutMs = spec.timeoutMs ?? 10_000
    const deadline = Date.now() + timeoutMs
    const poll = async (): Promise<void> => {
      if (child.exitCode !== null) return
      if (await spec.ready(out)) return resolve(child)
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        return reject(new Error(`${spec.name} did not ${spec.readyText ?? 'answer'} within ${timeoutMs / 1000} s: ${out.stderr}`))
      }
      setTimeout(poll, 25)
    }
    child.once('spawn', () => void poll())
  })
}

/** Sends `signal` and resolves when the child has exited (at once if it already has). */
export function waitExit(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill(signal)
  })
}

/** Finds a free loopback port by binding port 0 (redis-server refuses `--port 0`). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** A running test server that a spec can stop, crash, hang and start again on its port. */
export interface TestServer {
  readonly port: number
  /** Graceful stop (SIGTERM), then the server's clean-up (its temp dir). */
  stop(): Promise<void>
  /** SIGKILL, as in a crash; the port stays reserved for {@link restart}. */
  kill(): Promise<void>
  /** Starts again (empty) on the same port after `kill`/`stop`. */
  restart(): Promise<void>
  /** SIGSTOP: the socket stays open but nothing answers (a hung server). */
  pause(): void
  /** SIGCONT after {@link pause}. */
  resume(): void
}

/**
 * The {@link TestServer} controls over a started server.
 * @param port - the port it listens on
 * @param child - the running process
 * @param launch - starts it again on `port`
 * @param cleanup - runs after a graceful stop
 */
export function testServer(
  port: number,
  child: ChildProcess,
  launch: () => Promise<ChildProcess>,
  cleanup: () => Promise<void> = async () => undefined,
): TestServer {
  let current: ChildProcess | undefined = child
  return {
    port,
    async stop() {
      current?.kill('SIGCONT') // a paused server would never handle SIGTERM
      await waitExit(current, 'SIGTERM')
      current = undefined
      await cleanup()
    },
    async kill() {
      await waitExit(current, 'SIGKILL')
    },
    async restart() {
      await waitExit(current, 'SIGKILL')
      current = await launch()
    },
    pause() {
      current?.kill('SIGSTOP')
    },
    resume() {
      current?.kill('SIGCONT')
    },
  }
}

/**
 * Whether a loopback server on `port` answers `request` as expected: `verdict` sees the reply so
 * far and returns `undefined` until it can decide. False on a refused connection or after 500 ms.
 */
export function probeTcp(port: number, request: string, verdict: (reply: string) => boolean | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(500, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => sock.write(request))
    sock.on('data', (d) => {
      reply += d.toString()
      const ok = verdict(reply)
      if (ok !== undefined) done(ok)
    })
  })
}
