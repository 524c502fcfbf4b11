/**
 * `restthumbs thumbnail <input...> <output>`: renders thumbnails from the command line. One input
 * and an output with an image extension writes that file; otherwise the output is a directory
 * and every input (files, directories, `*` patterns) is rendered into it with a progress bar.
 * @module
 */
import { availableParallelism } from 'node:os'
import { mkdir, readdir, stat } from 'node:fs/promises'
import path from 'node:path'

import cliProgress from 'cli-progress'

import { InvalidOptionError } from '../errors.js'
import { nativeRenderer, type RenderInfo } from '../server/generator.js'
import { parseMethod, parseSize } from '../server/url.js'

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
}

/** One rendered file. */
export interface ThumbnailCommandResult extends RenderInfo {
  input: string
  output: string
}

const IMAGE = /\.(jpe?g|png|webp|gif|avif|tiff?)$/i
const EXT: Record<string, string> = { jpeg: '.jpg', png: '.png', webp: '.webp', avif: '.avif' }
const FORMAT_OF: Record<string, string> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.webp': 'webp', '.avif': 'avif' }

/** Expands directories (recursively) and `*`/`?` patterns in the last path segment. */
export async function expandInputs(inputs: string[]): Promise<string[]> {
  const out: string[] = []
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
      for (const n of names.sort()) if (re.test(n)) out.push(path.join(dir, n))
      continue
    }
    const st = await stat(input).catch(() => undefined)
    if (st?.isDirectory()) {
      const entries = await readdir(input, { recursive: true, withFileTypes: true })
      const files = entries
        .filter((e) => e.isFile() && IMAGE.test(e.name))
        .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
      out.push(...files.sort())
    } else {
      out.push(input)
    }
  }
  return out
}

/**
 * Renders the thumbnails.
 * @param args - inputs followed by the output
 * @param options - see {@link ThumbnailCommandOptions}
 */
export async function thumbnailCommand(args: string[], options: ThumbnailCommandOptions): Promise<ThumbnailCommandResult[]> {
  if (args.length < 2) throw new InvalidOptionError('Expected at least one input and an output')
  const output = args[args.length - 1]
  const inputs = await expandInputs(args.slice(0, -1))
  if (inputs.length === 0) throw new InvalidOptionError('Expected at least one input image but the inputs matched none')
  const { width, height } = parseSize(options.size ?? '256x256')
  const method = parseMethod(options.method ?? 'crop')
  const quality = Number(options.quality ?? 85)
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidOptionError(`Expected integer between 1 and 100 for quality but received ${String(options.quality)}`)
  }
  const outExt = path.extname(output).toLowerCase()
  const single = inputs.length === 1 && FORMAT_OF[outExt] !== undefined
  const format = options.format ?? FORMAT_OF[outExt] ?? 'jpeg'
  if (!EXT[format]) throw new InvalidOptionError(`Expected format one of jpeg, png, webp, avif but received ${JSON.stringify(format)}`)
  const jobs = inputs.map((input) => ({
    input,
    output: single ? output : path.join(output, path.basename(input, path.extname(input)) + EXT[format]),
  }))
  await mkdir(single ? path.dirname(path.resolve(output)) : output, { recursive: true })

  const showBar = options.progress ?? (jobs.length > 1 && Boolean(process.stderr.isTTY))
  const bar = showBar
    ? new cliProgress.SingleBar(
        { format: 'thumbnails [{bar}] {value}/{total} {percentage}% | eta {eta_formatted} | {file}', stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined
  bar?.start(jobs.length, 0, { file: '' })
  const results: ThumbnailCommandResult[] = []
  const failures: { input: string; error: unknown }[] = []
  let next = 0
  // The render runs on the libuv pool; a few in flight keep every core busy.
  const workers = Array.from({ length: Math.min(jobs.length, availableParallelism()) }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++]
      try {
        const info = await nativeRenderer.thumbnailFile(job.input, job.output, { width, height, method, format, quality })
        results.push({ ...info, ...job })
      } catch (error) {
        failures.push({ input: job.input, error })
      }
      bar?.increment(1, { file: path.basename(job.input) })
    }
  })
  await Promise.all(workers)
  bar?.stop()
  if (failures.length) {
    const first = failures[0]
    const err = first.error as Error & { code?: string }
    const summary = `${failures.length} of ${jobs.length} thumbnails failed; first: ${first.input}: ${err.code ?? err.name}: ${err.message}`
    throw Object.assign(new Error(summary), { results, failures })
  }
  return results
}
