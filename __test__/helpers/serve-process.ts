/**
 * Runs `restthumbs serve` as a real process tree (cluster primary + workers) from the TypeScript
 * sources, the way the CLI tests do, and parses its JSON log lines.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const ENTRY = `import('${path.join(ROOT, 'ts', 'cli', 'main.ts').replace(/\\/g, '/')}').then((m) => m.main(['node', 'restthumbs', ...process.argv.slice(1)]))`
const REGISTER = import.meta.resolve('@oxc-node/core/register')

/** A running `serve`. */
export interface ServeProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly child: ChildProcess
  /** Everything written to stdout so far. */
  stdout(): string
  /** Everything written to stderr so far. */
  stderr(): string
  /** The JSON log lines so far. */
  logs(): Record<string, unknown>[]
  /** Sends a signal to the primary and resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

/**
 * Starts `restthumbs serve <args>` with a clean `RESTTHUMBS_*` environment plus `env`.
 * @param args - flags after `serve`
 * @param env - extra environment
 * @param cwd - working directory
 */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<ServeProcess> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESTTHUMBS_')))
  const child = spawn(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', ENTRY, '--', 'serve', ...args], {
    cwd,
    env: { ...clean, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (live.delete(child), resolve(code))))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${err}`)), 30_000)
    const check = () => {
      const m = /restthumbs listening on (http:\/\/[\d.:]+)\//.exec(out)
      if (m) {
        clearTimeout(timer)
        child.stdout!.off('data', check)
        resolve(m[1])
      }
    }
    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code}: ${out} ${err}`))
    })
  })
  return {
    url,
    child,
    stdout: () => out,
    stderr: () => err,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode
      child.kill(signal)
      return exited
    },
  }
}

/**
 * Sums the samples of a metric in Prometheus text (all label sets), or `undefined` when absent.
 * @param text - a scrape
 * @param name - metric name, e.g. `restthumbs_renders_total`
 * @param labels - only samples whose labels include this text (`status="200"`)
 */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line)
    if (!m || m[1] !== name || (labels && !(m[2] ?? '').includes(labels))) continue
    sum = (sum ?? 0) + Number(m[3])
  }
  return sum
}
