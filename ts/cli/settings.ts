/**
 * Settings for CLI commands: defaults, then `--config <file>`, then `RESTTHUMBS_*`, then flags,
 * and the development key used when none is configured.
 * @module
 */
import { type ConfigSources, resolveConfig, type ServerConfig } from '../server/config.js'

/**
 * Key used by `serve` and `url` when no key is configured, so the embedded default works out of
 * the box. Public by definition: anyone can mint URLs with it.
 */
export const DEV_KEY = 'restthumbs-development-key-do-not-use-in-production'

/** Resolved settings plus whether the development key is in use. */
export interface CliSettings {
  /** The resolved settings. */
  config: Readonly<ServerConfig>
  /** True when no key was configured and {@link DEV_KEY} signs instead. */
  devKey: boolean
}

/**
 * Resolves the settings of a command.
 * @param flags - values from command-line flags (undefined ones are ignored)
 * @param file - `--config` path (default: `RESTTHUMBS_CONFIG`)
 * @param env - environment (defaults to `process.env`)
 * @param more - the caller's defaults and a receiver of warnings
 */
export function cliSettings(
  flags: Partial<ServerConfig>,
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  more: Pick<ConfigSources, 'defaults' | 'warn'> = {},
): CliSettings {
  // RESTTHUMBS_CONFIG names the file when --config does not (containers).
  const path = file ?? (env.RESTTHUMBS_CONFIG || undefined)
  const config = resolveConfig(flags, { file: path, env, ...more })
  if (config.keys.length > 0) return { config, devKey: false }
  return { config: resolveConfig({ ...flags, keys: [DEV_KEY] }, { file: path, env, defaults: more.defaults }), devKey: true }
}

/** What `serve` turns on over the library defaults: metrics on `/metrics`. */
export const SERVE_DEFAULTS: Readonly<Partial<ServerConfig>> = Object.freeze({ metricsPath: '/metrics' })

/**
 * The settings of `serve` (and of each of its workers): {@link SERVE_DEFAULTS} under the usual
 * layers.
 * @param warn - receives warnings about unknown `RESTTHUMBS_*` variables (the primary prints them)
 */
export function serveSettings(
  flags: Partial<ServerConfig>,
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): CliSettings {
  return cliSettings(flags, file, env, { defaults: SERVE_DEFAULTS, warn })
}

/** The loud warning printed when the development key is used. */
export const DEV_KEY_WARNING = [
  '',
  '  !!! WARNING: no signing key configured; using the public development key.',
  '  !!! Anyone can create thumbnail URLs for this server. Set RESTTHUMBS_KEYS (comma separated)',
  '  !!! or "keys" in the --config file before exposing it.',
  '',
].join('\n')
