/**
 * `restthumbs thumbnail <input...> <output>`: renders thumbnails from the command line. One input
 * and an output with an image extension writes that file; otherwise the output is a folder and
 * every input (files, folders, `*` patterns) is rendered into it, keeping the inputs' folder
 * structure below their common folder. Nothing is overwritten without `overwrite`, and every
 * conflict is refused before any work starts.
 * @module
 */
import { availableParallelism } from 'node:os'
import { lstat, mkdir, readdir, stat } from 'node:fs/promises'
import path from 'node:path'

import cliProgress from 'cli-progress'

import { InvalidOptionError, RestthumbsError } from '../errors.js'
import { isMissing } from '../fs.js'
import type { RenderInfo } from '../server/contracts.js'
import { nativeRenderer } from '../server/renderer.js'
import { parseMethod, parseSize } from '../server/url.js'
import { integer, oneOf } from '../validate.js'

/** Options of the `thumbnail` command. */
export interface ThumbnailCommandOptions {
  /** `WxH`, `Wx` or `xH`. @default '256x256' */
  size?: string
  /** `crop`, `scale` or `smart`. @default 'crop' */
  method?: string
  /** 1–100. @default 85 */
  quality?: string | number
  /** `jpeg`, `png`, `webp` or `avif`; default from the output extension, else `jpeg`. */
  format?: string
  /** Show the progress bar (default: when several inputs and stderr is a TTY). */
  progress?: boolean
  /** Replace outputs that already exist. @default false */
  overwrite?: boolean
  /** Renders in flight. @default the number of cores */
  jobs?: string | number
  /** Called for each failed input as it fails (the CLI prints it at once). */
  onFailure?: (failure: ThumbnailCommandFailure) => void
}

/** One rendered file. */
export interface ThumbnailCommandResult extends RenderInfo {
  /** The input file. */
  input: string
  /** The file written. */
  output: string
}

/** One input that could not be rendered. */
export interface ThumbnailCommandFailure {
  /** The input file. */
  input: string
  /** The file it would have written. */
  output: string
  /** Why it failed (a typed error with a `code`). */
  error: unknown
}

/** Two inputs would write the same output, or outputs exist without `--overwrite`. HTTP-less, exit 1. */
export class OutputConflictError extends RestthumbsError {
  /** The outputs in conflict. */
  readonly outputs: string[]
  /** @param message - what collides and how to fix it; @param outputs - the outputs concerned */
  constructor(message: string, outputs: string[]) {
    super('ERR_OUTPUT_CONFLICT', message)
    this.outputs = outputs
  }
}

/** Some inputs failed; `failures` lists every one, `results` the files written. */
export class BatchFailedError extends RestthumbsError {
  /** The files that were written. */
  readonly results: ThumbnailCommandResult[]
  /** Every failed input with its error. */
  readonly failures: ThumbnailCommandFailure[]
  /** @param results - written files; @param failures - failed inputs */
  constructor(results: ThumbnailCommandResult[], failures: ThumbnailCommandFailure[]) {
    super('ERR_BATCH_FAILED', `${failures.length} of ${results.length + failures.length} thumbnails failed (listed above)`)
    this.results = results
    this.failures = failures
  }
}

const IMAGE = /\.(jpe?g|png|webp|gif|avif|tiff?)$/i
const FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const
const EXT: Record<(typeof FORMATS)[number], string> = { jpeg: '.jpg', png: '.png', webp: '.webp', avif: '.avif' }
const FORMAT_OF: Record<string, string> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.webp': 'webp', '.avif': 'avif' }
const SHOWN = 10

/** An input file and the folder its output path is taken relative to. */
export interface ExpandedInput {
  /** The input file. */
  file: string
  /** Folder the file's relative path starts from (the folder given, or the file's folder). */
  base: string
}

/** Expands folders (recursively) and `*`/`?` patterns in the last path segment. */
export async function expandInputs(inputs: string[]): Promise<ExpandedInput[]> {
  const out: ExpandedInput[] = []
  for (const input of inputs) {
    if (/[*?]/.test(path.basename(input))) {
      const dir = path.dirname(input)
      const re = new RegExp(
        '^' +
          path
            .basename(input)
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.') +
          '$',
      )
      const names = await readdir(dir)
      for (const n of names.sort()) if (re.test(n)) out.push({ file: path.join(dir, n), base: dir })
      continue
    }
    const st = await stat(input).catch(() => undefined)
    if (st?.isDirectory()) {
      const entries = await readdir(input, { recursive: true, withFileTypes: true })
      const files = entries
        .filter((e) => e.isFile() && IMAGE.test(e.name))
        .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
      for (const file of files.sort()) out.push({ file, base: input })
    } else {
      out.push({ file: input, base: path.dirname(input) })
    }
  }
  return out
}

/** The deepest folder containing every given folder. */
export function commonFolder(folders: string[]): string {
  const split = folders.map((f) => path.resolve(f).split(path.sep))
  const first = split[0]
  let n = first.length
  for (const parts of split) {
    let i = 0
    while (i < n && i < parts.length && parts[i] === first[i]) i++
    n = i
  }
  return first.slice(0, n).join(path.sep) || path.sep
}

/* The output names a file when it has an extension, unless it is an existing folder or ends in a
   separator; an extension the encoder does not write is refused rather than taken as a folder. */
async function outputIsFile(output: string): Promise<boolean> {
  if (/[/\\]$/.test(output)) return false
  const ext = path.extname(output).toLowerCase()
  if (ext === '') return false
  const st = await stat(output).catch(() => undefined)
  if (st?.isDirectory()) return false
  if (FORMAT_OF[ext] === undefined) {
    throw new InvalidOptionError(
      `Expected an output file ending in ${Object.keys(FORMAT_OF).join(', ')} or a folder but received ${JSON.stringify(output)}; ` +
        'end a folder name with / to use it as a folder',
    )
  }
  return true
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (err) {
    if (isMissing(err)) return false
    throw err
  }
}

function list(items: string[]): string {
  const shown = items.slice(0, SHOWN).join(', ')
  return items.length > SHOWN ? `${shown} and ${items.length - SHOWN} more` : shown
}

/** Plans input → output pairs and refuses collisions and existing outputs up front. */
async function plan(inputs: ExpandedInput[], output: string, single: boolean, ext: string, overwrite: boolean) {
  let jobs: { input: string; output: string }[]
  if (single) {
    jobs = [{ input: inputs[0].file, output }]
  } else {
    const root = commonFolder(inputs.map((i) => i.base))
    jobs = inputs.map(({ file }) => {
      const rel = path.relative(root, path.resolve(file))
      return { input: file, output: path.join(output, path.dirname(rel), path.basename(rel, path.extname(rel)) + ext) }
    })
  }
  const byOutput = new Map<string, string[]>()
  for (const job of jobs) {
    const key = path.resolve(job.output)
    byOutput.set(key, [...(byOutput.get(key) ?? []), job.input])
  }
  const clashes = [...byOutput].filter(([, ins]) => ins.length > 1)
  if (clashes.length) {
    throw new OutputConflictError(
      `${clashes.length} outputs would be written by more than one input: ` +
        list(clashes.map(([out, ins]) => `${out} (from ${ins.join(' and ')})`)) +
        '; rename the inputs or render them to separate folders',
      clashes.map(([out]) => out),
    )
  }
  if (!overwrite) {
    const present: string[] = []
    for (const job of jobs) if (await exists(job.output)) present.push(job.output)
    if (present.length) {
      throw new OutputConflictError(`${present.length} outputs already exist: ${list(present)}; pass --overwrite to replace them`, present)
    }
  }
  return jobs
}

/**
 * Renders the thumbnails.
 * @param args - inputs followed by the output
 * @param options - see {@link ThumbnailCommandOptions}
 * @throws {@link InvalidOptionError} for bad options or output names, {@link OutputConflictError}
 *   before any work when outputs collide or exist, {@link BatchFailedError} after the run when
 *   any input failed (each failure was also passed to `onFailure`)
 */
export async function thumbnailCommand(args: string[], options: ThumbnailCommandOptions): Promise<ThumbnailCommandResult[]> {
  if (args.length < 2) throw new InvalidOptionError('Expected at least one input and an output')
  const output = args[args.length - 1]
  const inputs = await expandInputs(args.slice(0, -1))
  if (inputs.length === 0) throw new InvalidOptionError('Expected at least one input image but the inputs matched none')
  const { width, height } = parseSize(options.size ?? '256x256')
  const method = parseMethod(options.method ?? 'crop')
  const quality = integer('quality', Number(options.quality ?? 85), { min: 1, max: 100 })
  const concurrency = integer('jobs', Number(options.jobs ?? availableParallelism()), { min: 1, max: 1024 })
  const toFile = await outputIsFile(output)
  if (toFile && inputs.length > 1) {
    throw new InvalidOptionError(`Expected a folder as the output of ${inputs.length} inputs but received the file name ${JSON.stringify(output)}`)
  }
  const format = oneOf('format', options.format ?? FORMAT_OF[path.extname(output).toLowerCase()] ?? 'jpeg', FORMATS)
  const jobs = await plan(inputs, output, toFile, EXT[format], options.overwrite ?? false)
  if (toFile) await mkdir(path.dirname(path.resolve(output)), { recursive: true })

  const showBar = options.progress ?? (jobs.length > 1 && Boolean(process.stderr.isTTY))
  const bar = showBar
    ? new cliProgress.SingleBar(
        { format: 'thumbnails [{bar}] {value}/{total} {percentage}% | eta {eta_formatted} | {file}', stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined
  bar?.start(jobs.length, 0, { file: '' })
  const results: ThumbnailCommandResult[] = []
  const failures: ThumbnailCommandFailure[] = []
  let next = 0
  // The render runs on the libuv pool; a few in flight keep every core busy.
  const workers = Array.from({ length: Math.min(jobs.length, concurrency) }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++]
      try {
        // The native write creates the parent folders and renames a temp file into place.
        const info = await nativeRenderer.thumbnailFile(job.input, job.output, { width, height, method, format, quality })
        results.push({ ...info, ...job })
      } catch (error) {
        const failure = { ...job, error }
        failures.push(failure)
        options.onFailure?.(failure)
      }
      bar?.increment(1, { file: path.basename(job.input) })
    }
  })
  await Promise.all(workers)
  bar?.stop()
  if (failures.length) throw new BatchFailedError(results, failures)
  return results
}

/** One line describing a failure: `<input>: <CODE>: <message>`. */
export function describeFailure(failure: ThumbnailCommandFailure): string {
  const err = failure.error as Error & { code?: string }
  return `${failure.input}: ${err.code ?? err.name}: ${err.message}`
}

/** The `thumbnail` flags as commander hands them over. */
export interface ThumbnailCliOptions {
  size: string
  method: string
  quality: string
  format?: string
  progress: boolean
  overwrite?: boolean
  jobs?: string
}

/**
 * The `thumbnail` command's action: prints each written file on stdout and each failure (file and
 * reason) on stderr as it happens.
 */
export async function runThumbnail(paths: string[], opts: ThumbnailCliOptions): Promise<void> {
  const print = (results: ThumbnailCommandResult[]) => {
    for (const r of results) process.stdout.write(`${r.output} ${r.width}x${r.height} ${r.format}\n`)
  }
  try {
    print(
      await thumbnailCommand(paths, {
        ...opts,
        progress: opts.progress === false ? false : undefined,
        onFailure: (f) => process.stderr.write(`failed: ${describeFailure(f)}\n`),
      }),
    )
  } catch (err) {
    if (err instanceof BatchFailedError) print(err.results)
    throw err
  }
}
