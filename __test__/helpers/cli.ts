/**
 * Runs the built `restthumbs` command (`bin/restthumbs.js` over `dist/`), compiling the TypeScript
 * first when any source is newer than the build, so specs exercise what users install.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = path.join(ROOT, 'bin', 'restthumbs.js')

function newestSource(dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) newest = Math.max(newest, statSync(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs)
  }
  return newest
}

let built = false

/** Compiles `ts/` into `dist/` (`npx tsc`) unless the build is already newer than every source. */
export function ensureBuilt(): void {
  if (built) return
  let dist = 0
  try {
    dist = statSync(path.join(ROOT, 'dist', 'cli', 'main.js')).mtimeMs
  } catch {
    dist = 0
  }
  if (dist < newestSource(path.join(ROOT, 'ts'))) {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit' })
  }
  built = true
}

/** Environment without the caller's `RESTTHUMBS_*` settings. */
function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESTTHUMBS_')))
  return { ...clean, ...env }
}

/** Starts the command; stdout and stderr are piped. */
export function spawnCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: boolean; ownGroup?: boolean } = {},
): ChildProcess {
  ensureBuilt()
  return spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env ?? {}),
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can signal the group as a terminal's Ctrl-C does.
    detached: options.ownGroup ?? false,
  })
}

/** What a finished command printed. */
export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Collects a started command's output until it exits. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
}

/** Runs the command to completion. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return collect(spawnCli(args, options))
}

/**
 * Runs the CLI straight from the TypeScript sources (through the `@oxc-node/core` loader, no
 * build needed) in the repository root, to completion.
 */
export function runSourceCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const entry = `import('${path.join(ROOT, 'ts', 'cli', 'main.ts').replace(/\\/g, '/')}').then((m) => m.main(['node', 'restthumbs', ...process.argv.slice(1)]))`
  const register = import.meta.resolve('@oxc-node/core/register')
  const child = spawn(process.execPath, ['--import', register, '--input-type=module', '-e', entry, '--', ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return collect(child)
}

/** The last stdout line parsed as JSON (the `--json` summary). */
export function jsonSummary<T = Record<string, unknown>>(r: CliResult): T {
  const lines = r.stdout.trim().split('\n')
  try {
    return JSON.parse(lines[lines.length - 1]) as T
  } catch {
    throw new Error(`Expected a JSON summary on stdout but received ${JSON.stringify(r.stdout)} (stderr ${JSON.stringify(r.stderr)})`)
  }
}
