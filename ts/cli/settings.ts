/**
 * Settings for CLI commands: defaults, then `--config <file>`, then `RESTTHUMBS_*`, then flags,
 * and the development key used when none is configured.
 * @module
 */
import { resolveConfig, type ServerConfig } from '../server/config.js'

/**
 * Key used by `serve` and `url` when no key is configured, so the embedded default works out of
 * the box. Public by definition: anyone can mint URLs with it.
 */
export const DEV_KEY = 'restthumbs-development-key-do-not-use-in-production'

/** Resolved settings plus whether the development key is in use. */
export interface CliSettings {
  config: Readonly<ServerConfig>
  devKey: boolean
}

/**
 * Resolves the settings of a command.
 * @param flags - values from command-line flags (undefined ones are ignored)
 * @param file - `--config` path
 * @param env - environment (defaults to `process.env`)
 */
export function cliSettings(
  flags: Partial<ServerConfig>,
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): CliSettings {
  const config = resolveConfig(flags, { file, env })
  if (config.keys.length > 0) return { config, devKey: false }
  return { config: resolveConfig({ ...flags, keys: [DEV_KEY] }, { file, env }), devKey: true }
}

/** The loud warning printed when the development key is used. */
export const DEV_KEY_WARNING = [
  '',
  '  !!! WARNING: no signing key configured; using the public development key.',
  '  !!! Anyone can create thumbnail URLs for this server. Set RESTTHUMBS_KEYS (comma separated)',
  '  !!! or "keys" in the --config file before exposing it.',
  '',
].join('\n')
