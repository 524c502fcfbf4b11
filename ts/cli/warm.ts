/**
 * `restthumbs warm`: renders ahead of traffic every thumbnail a set of presets names for a tree of
 * sources, into exactly the files `serve` would write for their URLs. Resumable (existing outputs
 * are skipped), interruptible (Ctrl-C finishes the renders in flight, leaves no partial file, and
 * the next run continues), with progress and a JSON-lines report of failures. With `--queue` the
 * jobs go to BullMQ for `restthumbs worker` processes on any number of hosts instead.
 * @module
 */
import { availableParallelism } from 'node:os'

import type { Command } from 'commander'

import { InvalidOptionError } from '../errors.js'
import type { ServerConfig } from '../server/config.js'
import { createWarmEngine, signerOf } from '../warm/engine.js'
import { onStopSignals } from '../warm/signals.js'
import { rerunWithThreadPool } from '../warm/threadpool.js'
import { WarmFailedError } from '../warm/errors.js'
import { parsePresets, readPresetFile } from '../warm/presets.js'
import { formatBytes, startProgress } from '../warm/progress.js'
import { openReport, type WarmReport } from '../warm/report.js'
import { createCounters, runWarm, type WarmCounters, type WarmFailure } from '../warm/runner.js'
import { readSourceList, walkSources } from '../warm/sources.js'
import { warmTaskGroups, warmTasks } from '../warm/tasks.js'
import { integer, positiveNumber } from '../validate.js'
import { settingFlags, settingOptions } from './flags.js'
import { cliSettings, DEV_KEY_WARNING } from './settings.js'

/** Options of the `warm` command (server settings plus the run's own). */
export interface WarmCommandOptions extends Partial<ServerConfig> {
  /** JSON config file. */
  config?: string
  /** File of source names (`-` = stdin, or an http(s) URL); default: walk `sourceRoot`. */
  list?: string
  /** Presets such as `100x100:crop:.jpg`. */
  preset?: string[]
  /** File with one preset per line. */
  presetFile?: string
  /** Re-render outputs that exist. */
  force?: boolean
  /** Renders in flight. @default cores */
  jobs?: number
  /** Path of the JSON-lines failure report. */
  report?: string
  /** `false` hides progress. */
  progress?: boolean
  /** Seconds between progress lines when not on a terminal. @default 5 */
  progressInterval?: number
  /** Print the summary as JSON. */
  json?: boolean
  /** `redis://…`: enqueue for workers instead of rendering here. */
  queue?: string
  /** Queue name. */
  queueName?: string
  /** With `queue`: print the queue's progress and exit. */
  status?: boolean
}

/** What a run did. */
export interface WarmSummary extends Omit<WarmCounters, 'listingDone'> {
  /** Whether Ctrl-C / SIGTERM stopped it early. */
  interrupted: boolean
  /** Wall time in seconds. */
  seconds: number
  /** `'local'` or `'queue'` (then `done` counts jobs sent). */
  mode: 'local' | 'queue'
}

const PRINTED_FAILURES = 100

/**
 * Runs `warm` and prints its summary. Sets `process.exitCode` to 130 when interrupted.
 * @throws {@link WarmFailedError} when any thumbnail failed (exit 1)
 */
export async function warmCommand(options: WarmCommandOptions): Promise<WarmSummary | void> {
  const { config: file, list, preset = [], presetFile, force, jobs, report: reportPath, progress, progressInterval, json, queue, queueName, status, ...flags } = options
  const concurrency = integer('--jobs', jobs ?? availableParallelism(), { min: 1, max: 1024 })
  const rerun = queue ? null : rerunWithThreadPool(concurrency)
  if (rerun) return rerun
  const { config, devKey } = cliSettings(flags, file)
  if (status) {
    if (!queue) throw new InvalidOptionError('Expected --queue redis://… with --status (the queue whose progress to show)')
    const { printStatus } = await import('./queue-status.js')
    return printStatus({ url: queue, prefix: config.keyPrefix, name: queueName }, json ?? false)
  }
  if (devKey) process.stderr.write(DEV_KEY_WARNING + '\n')
  const presets = parsePresets([...preset, ...(presetFile ? await readPresetFile(presetFile) : [])])
  const sources = list ? readSourceList(list, { sourceUrl: config.sourceUrl }) : walkSources(config.sourceRoot)

  const counters = createCounters()
  const report: WarmReport | undefined = reportPath ? await openReport(reportPath) : undefined
  const printed: WarmFailure[] = []
  const onFailure = (f: WarmFailure) => {
    report?.write(f)
    if (!report && printed.length < PRINTED_FAILURES) printed.push(f)
  }
  const stop = new AbortController()
  // A second Ctrl-C exits at once; renders in flight may then leave hidden `.tmp` files behind.
  const offSignals = onStopSignals(() => {
    process.stderr.write('\nwarm: stopping after the renders in flight (Ctrl-C again to quit at once)\n')
    stop.abort()
  })
  const started = Date.now()
  const shown = startProgress(counters, { mode: progress === false ? 'off' : undefined, intervalMs: (progressInterval ?? 5) * 1000 })
  let interrupted: boolean
  let mode: WarmSummary['mode']
  try {
    if (queue) {
      mode = 'queue'
      const { openQueue, enqueue } = await import('../warm/queue.js')
      const q = await openQueue({ url: queue, prefix: config.keyPrefix, name: queueName })
      // The enqueuer only checks names and builds job ids: it needs the URL rules, not the storages.
      const urls = { signer: signerOf(config), basePath: config.basePath }
      try {
        ;({ interrupted } = await enqueue(q, warmTasks(sources, presets, urls), { counters, signal: stop.signal, onFailure }))
      } finally {
        await q.close()
      }
    } else {
      mode = 'local'
      const engine = createWarmEngine(config, { fresh: force, renders: concurrency * presets.length })
      try {
        ;({ interrupted } = await runWarm({
          tasks: warmTaskGroups(sources, presets, engine.urls),
          ensure: engine.ensure,
          group: engine.group,
          discard: force ? engine.discard : undefined,
          concurrency,
          signal: stop.signal,
          onFailure,
          counters,
        }))
      } finally {
        await engine.close()
      }
    }
  } finally {
    shown.stop()
    offSignals()
    await report?.close()
  }
  const { listingDone: _, ...counts } = counters
  const summary: WarmSummary = { ...counts, interrupted, seconds: (Date.now() - started) / 1000, mode }
  for (const f of printed) process.stderr.write(`failed: ${f.source} ${f.preset}: ${f.code}: ${f.message}\n`)
  if (counters.failed > printed.length && !report) process.stderr.write(`… and ${counters.failed - printed.length} more; --report <file> lists every failure\n`)
  process.stdout.write(json ? JSON.stringify(summary) + '\n' : describeSummary(summary) + '\n')
  if (interrupted) {
    // A listing still reading stdin would keep the process alive.
    if (list === '-') process.stdin.destroy()
    process.stderr.write('warm: interrupted; run the same command again to continue (finished outputs are skipped)\n')
    process.exitCode = 130
    return summary
  }
  if (counters.failed > 0) throw new WarmFailedError(counters.failed, counters.done, reportPath)
  return summary
}

/** Commander parser of a positive integer flag. */
export function positiveInt(name: string) {
  return (value: string): number => integer(name, Number(value), { min: 1, expected: 'positive integer' })
}

/** The server settings that decide what warm and workers write, and where the locks live. */
const WARM_SETTINGS = new Set<string>([
  'sourceRoot',
  'sourceUrl',
  'sourceAllowPrivate',
  'outputRoot',
  'basePath',
  'keys',
  'legacySignatures',
  'cache',
  'keyPrefix',
  'lockTimeout',
  'trustCache',
  'quality',
  'maxSourceBytes',
  'renderTimeout',
  'outputBucket',
  'outputPrefix',
  'sourceBucket',
  'sourcePrefix',
  's3Endpoint',
  's3Region',
  's3PathStyle',
  's3AccessKeyId',
  's3SecretAccessKey',
  's3Timeout',
  's3LeanClient',
])

/**
 * Adds `--config` and the server flags that decide outputs and locks, the very options `serve`
 * has (same names, parsing and environment variables), so warm writes what serve would.
 * @param cmd - the command to extend
 */
export function addServerSettings(cmd: Command): Command {
  cmd.option('-c, --config <file>', 'JSON config file with the server settings (use the one serve runs with)')
  for (const option of settingOptions()) if (WARM_SETTINGS.has(option.attributeName())) cmd.addOption(option)
  return cmd
}

/** Registers `warm` on the program. */
export function addWarmCommand(program: Command): void {
  const cmd = program
    .command('warm')
    .description('pre-generate thumbnails for every source and preset, exactly as serve would write them (resumable; Ctrl-C stops cleanly)')
  addServerSettings(cmd)
    .option('--list <file>', "file of source names, one per line ('-' = stdin, or an http(s):// listing); default: walk --source-root")
    .option('-p, --preset <size:method:ext>', 'a thumbnail to make per source, e.g. 100x100:crop:.jpg or 500x:scale:.webp (repeatable)', collect)
    .option('--preset-file <file>', 'file with one preset per line')
    .option('--force', 're-render outputs that already exist')
    .option('-j, --jobs <n>', 'sources rendered at once, each with all its presets (default: the number of cores)', positiveInt('--jobs'))
    .option('--report <file>', 'write every failure as a JSON line (source, preset, output, code, status, message)')
    .option('--no-progress', 'no progress bar or progress lines')
    .option('--progress-interval <seconds>', 'seconds between progress lines when stderr is not a terminal (default 5)', (v: string) =>
      positiveNumber('--progress-interval', Number(v)),
    )
    .option('--json', 'print the summary as JSON')
    .option('--queue <redis-url>', 'enqueue the thumbnails on BullMQ for `restthumbs worker` processes instead of rendering here (npm install bullmq)')
    .option('--queue-name <name>', 'BullMQ queue name (default warm)')
    .option('--status', "with --queue: show the queue's progress across all workers and exit")
    .addHelpText(
      'after',
      '\nExit status: 0 when every thumbnail exists, 1 when any failed (see --report), 130 when interrupted.\n' +
        'Existing outputs are skipped, so rerunning an interrupted or failed warm only does what is left.',
    )
    .action(async (opts: WarmCommandOptions, command: Command) => {
      await warmCommand({ ...opts, ...settingFlags(command) })
    })
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** One line describing a run. */
export function describeSummary(s: WarmSummary): string {
  const rate = s.seconds > 0 ? (s.done / s.seconds).toFixed(1) : '0'
  if (s.mode === 'queue') return `warm: ${s.done} jobs sent to the queue (${s.failed} refused) in ${s.seconds.toFixed(1)} s`
  return (
    `warm: ${s.done} thumbnails in ${s.seconds.toFixed(1)} s (${rate}/s): ${s.rendered} rendered, ${s.present} already there, ` +
    `${s.waited} rendered by another process, ${s.failed} failed, ${formatBytes(s.bytes)} written`
  )
}
