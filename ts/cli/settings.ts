/**
 * Settings for CLI commands: defaults, then `--config <file>`, then `RESTTHUMBS_*`, then flags,
 * and the development key used when none is configured.
 * @module
 */
import { type Command, Option } from 'commander'

import { envName, resolveConfig, SERVER_DEFAULTS, type ServerConfig, SETTING_KINDS, settingFromString } from '../server/config.js'

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

/* The help line and value name of every setting. Each setting gets a flag (its name in kebab
   case) whose help shows the environment variable and the default, so `serve --help` lists them
   all; the JSDoc of ServerConfig has the long form. */
const SETTING_HELP: { readonly [K in keyof ServerConfig]: readonly [help: string, value: string] } = {
  host: ['interface to listen on', '<host>'],
  port: ['TCP port (0 picks a free one)', '<port>'],
  basePath: ['URL prefix of thumbnails', '<path>'],
  sourceRoot: ['directory of source images', '<dir>'],
  sourceUrl: ['fetch sources from this HTTP origin instead of --source-root', '<url>'],
  sourceAllowPrivate: ['let --source-url resolve to loopback or private addresses (trusted networks only)', ''],
  allowedHosts: ['other origins --source-url may redirect to, comma separated (host, host:port, https://host:port, *.example.com)', '<hosts>'],
  outputRoot: ['directory thumbnails are written to', '<dir>'],
  keys: ['signing keys, comma separated, newest first (prefer the variable: flags show in ps)', '<k1,k2>'],
  legacySignatures: ["also accept django-restthumbnails' SHA-1 secrets", ''],
  responseMode: ['how files are sent', '<mode>'],
  sendfileBase: ['internal nginx location for X-Accel-Redirect', '<path>'],
  lockTimeout: ['render lock lifetime and wait limit, in seconds', '<seconds>'],
  waiter: ['what a request does while another worker renders the same thumbnail', '<mode>'],
  retryAfter: ['Retry-After seconds of 503 answers', '<seconds>'],
  cache: ["locks, negative entries and records: 'memory', redis://host:port/db, postgres://…, sqlite:path, memcached://h1:11211,h2:11211 or a cache alias", '<location>'],
  keyPrefix: ['prefix of every cache key', '<prefix>'],
  maxAge: ['Cache-Control max-age of thumbnails, in seconds', '<seconds>'],
  negativeTtl: ['seconds a missing source is remembered', '<seconds>'],
  trustCache: ['serve warm hits from cached records without a stat of the file', ''],
  quality: ['JPEG/WebP quality', '<1-100>'],
  maxSourceBytes: ['largest source read, in bytes', '<bytes>'],
  renderTimeout: ['seconds before a render is aborted', '<seconds>'],
  renderSlots: ['renders at once (0: one per core, below the libuv pool size)', '<n>'],
  renderQueue: ['renders waiting for a slot before 503 + Retry-After', '<n>'],
  hotCacheBytes: ['bytes of hot thumbnails kept in memory (0 disables)', '<bytes>'],
  hotCacheMs: ['milliseconds a hot entry is trusted before the disk is asked again', '<ms>'],
  accessLog: ['do not print one line per request', ''],
}

/** `--lock-timeout` for `lockTimeout`, and so on. */
export function flagName(key: keyof ServerConfig): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

function shownDefault(key: keyof ServerConfig): string {
  const d = SERVER_DEFAULTS[key]
  if (Array.isArray(d)) return d.length ? d.join(',') : 'none'
  return d === '' ? 'none' : String(d)
}

/**
 * One commander option per server setting. Values are parsed as the environment variables are
 * (the same errors, naming the flag); booleans are switches (`--trust-cache`, `--no-access-log`).
 * @returns the options, in the order of {@link SETTING_KINDS}
 */
export function settingOptions(): Option[] {
  return (Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]).map((key) => {
    const kind = SETTING_KINDS[key]
    const [help, value] = SETTING_HELP[key]
    const defaultsOn = SERVER_DEFAULTS[key] === true
    const flag = kind === 'bool' && defaultsOn ? flagName(key).replace(/^--/, '--no-') : flagName(key)
    const short = key === 'port' ? '-p, ' : ''
    const option = new Option(`${short}${flag}${value ? ` ${value}` : ''}`, `${help} (env ${envName(key)}, default ${shownDefault(key)})`)
    if (Array.isArray(kind)) option.choices(kind)
    else if (kind !== 'bool') option.argParser((raw: string) => settingFromString(key, raw, flag))
    return option
  })
}

/**
 * The settings given as flags on the command line (not commander's defaults).
 * @param command - the command whose options came from {@link settingOptions}
 */
export function settingFlags(command: Command): Partial<ServerConfig> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(SETTING_KINDS)) {
    if (command.getOptionValueSource(key) === 'cli') out[key] = command.getOptionValue(key)
  }
  return out as Partial<ServerConfig>
}
