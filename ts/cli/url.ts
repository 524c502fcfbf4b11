/**
 * `restthumbs url <source> <size> <method> <ext>`: prints a signed thumbnail URL.
 * @module
 */
import { parseArgs } from 'node:util'

import { Signer } from '../server/signing.js'
import { thumbnailUrl } from '../server/url-builder.js'
import { reportError } from './report.js'
import { cliSettings, DEV_KEY_WARNING } from './settings.js'

/** Options of the `url` command. */
export interface UrlCommandOptions {
  /** JSON config file. */
  config?: string
  /** Prefix of the URL: a path or an absolute URL. */
  base?: string
}

/** The options of `url`, declared once for commander (`--help`) and for {@link runUrl}. */
export const URL_OPTIONS = {
  config: { flags: '-c, --config <file>', help: 'JSON config file with server settings', short: 'c' },
  base: { flags: '-b, --base <url>', help: 'URL prefix (default: the configured base path)', short: 'b' },
} as const

/**
 * Builds the signed URL the server will accept for these settings.
 * @returns the URL
 */
export function urlCommand(source: string, size: string, method: string, ext: string, options: UrlCommandOptions): string {
  const { config, devKey } = cliSettings({}, options.config)
  if (devKey) process.stderr.write(DEV_KEY_WARNING + '\n')
  const signer = new Signer({ keys: config.keys, legacy: config.legacySignatures ? 'restthumbnails' : undefined })
  return thumbnailUrl(source, size, method, ext, { signer, baseUrl: options.base ?? config.basePath })
}

/**
 * Runs `url` without commander, which alone costs a third of a bare Node start, for scripts that
 * sign many URLs one process at a time. It takes only the plain form: four arguments and the
 * options of {@link URL_OPTIONS}. Anything else (`--help`, an unknown option, a missing argument)
 * returns false, and the full command line answers it with its usual help and messages.
 * @param args - the arguments after `url`
 * @returns whether the command ran (it may have failed: see `process.exitCode`)
 */
export function runUrl(args: string[]): boolean {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { config: { type: 'string', short: URL_OPTIONS.config.short }, base: { type: 'string', short: URL_OPTIONS.base.short } },
    })
  } catch {
    return false
  }
  if (parsed.positionals.length !== 4) return false
  const [source, size, method, ext] = parsed.positionals
  try {
    process.stdout.write(urlCommand(source, size, method, ext, parsed.values) + '\n')
  } catch (err) {
    reportError(err)
  }
  return true
}
