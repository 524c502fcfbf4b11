/**
 * One config surface: every setting of {@link ServerConfig} as a command-line flag, generated
 * from the setting kinds, with its `RESTTHUMBS_*` variable and default in `--help`. The same table
 * feeds `restthumbs config` and the JSON Schema of the config file.
 * @module
 */
import { type Command, InvalidArgumentError, Option } from 'commander'

import { envName, KINDS, SERVER_DEFAULTS, type ServerConfig } from '../server/config.js'

/** One line of help per setting, and which settings are secrets (masked by `restthumbs config`). */
export const SETTING_HELP: { readonly [K in keyof ServerConfig]: string } = {
  host: 'interface to listen on',
  port: 'TCP port (0 picks a free one)',
  basePath: 'URL prefix of thumbnails',
  sourceRoot: 'directory of source images',
  sourceUrl: 'fetch sources from this HTTP origin instead of sourceRoot',
  sourceAllowPrivate: 'let sourceUrl resolve to loopback or private addresses',
  outputRoot: 'directory thumbnails are written to (the local copy with outputBucket)',
  keys: 'signing keys, newest first, comma separated',
  legacySignatures: "also accept restthumbnails' SHA-1 secrets",
  responseMode: 'how thumbnails are sent',
  sendfileBase: 'internal nginx location for X-Accel-Redirect',
  lockTimeout: 'seconds a render lock lives; also how long a waiter waits',
  waiter: 'what a request does while another renders the same thumbnail',
  retryAfter: 'Retry-After seconds of 503 answers',
  cache: "'memory' or redis://host:port/db (shares the render lock between hosts)",
  keyPrefix: 'prefix of every cache key',
  maxAge: 'Cache-Control max-age of thumbnails, seconds',
  negativeTtl: 'seconds a missing source is remembered',
  trustCache: 'serve warm hits from cached records without a stat of the file',
  quality: 'JPEG/WebP quality 1-100',
  maxSourceBytes: 'largest source accepted, bytes',
  renderTimeout: 'seconds before a render is aborted (503)',
  hotCacheBytes: 'bytes of hot thumbnails kept in memory (0 disables)',
  hotCacheMs: 'milliseconds a hot entry is trusted',
  accessLog: 'one log line per request',
  sourceBucket: 'S3 bucket of source images (instead of sourceRoot)',
  sourcePrefix: 'key prefix of sources in sourceBucket',
  outputBucket: 'S3 bucket thumbnails are written to, shared by every host',
  outputPrefix: 'key prefix of thumbnails in outputBucket',
  s3Endpoint: 'endpoint of an S3-compatible store (empty: AWS)',
  s3Region: 'S3 region (empty: AWS_REGION, else us-east-1)',
  s3PathStyle: 'path-style bucket URLs (most self-hosted stores)',
  s3AccessKeyId: 'S3 access key id (empty: the AWS credential chain)',
  s3SecretAccessKey: 'S3 secret access key',
  s3Timeout: 'seconds an S3 request may take before the store counts as down',
  redirectBase: "public base URL of the thumbnails for responseMode 'redirect'",
  metricsPath: 'path of Prometheus metrics (empty: off; serve turns it on)',
  metricsPort: 'serve metrics on this port instead of the main one (0: main port)',
  healthPath: 'liveness path (empty: off)',
  readyPath: 'readiness path: cache and storages answer (empty: off)',
  logFormat: 'log lines as json or pretty text',
  logLevel: 'lowest level logged',
  trustedProxies: 'proxies (IPs or CIDRs, comma separated) whose X-Forwarded-For is believed',
  workers: 'worker processes (0: one per core)',
}

/** Settings whose values are secrets. */
export const SECRET_SETTINGS: ReadonlySet<keyof ServerConfig> = new Set(['keys', 's3SecretAccessKey'])

/** `lockTimeout` → `lock-timeout`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

function parser(key: keyof ServerConfig): ((value: string) => unknown) | undefined {
  const kind = KINDS[key]
  const flag = '--' + flagName(key)
  if (kind === 'int' || kind === 'number') {
    return (value) => {
      const n = Number(value)
      const ok = kind === 'int' ? Number.isInteger(n) && n >= 0 : n > 0 && Number.isFinite(n)
      if (value.trim() === '' || !ok) throw new InvalidArgumentError(`Expected ${kind === 'int' ? 'non-negative integer' : 'positive number'} for ${flag} but received ${value}`)
      return n
    }
  }
  if (kind === 'list') return (value) => value.split(',').map((s) => s.trim()).filter(Boolean)
  return undefined
}

function shown(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.join(',') : 'none'
  if (value === '') return 'none'
  return String(value)
}

/**
 * Adds one flag per setting to a command: `--lock-timeout <seconds>`, `--trust-cache` and
 * `--no-trust-cache` for booleans, choices for enumerations; the help names the variable.
 * @param command - the commander command
 * @param defaults - defaults to show where the command has its own (serve turns metrics on)
 */
export function addSettingFlags(command: Command, defaults: Partial<ServerConfig> = {}): Command {
  for (const key of Object.keys(KINDS) as (keyof ServerConfig)[]) {
    const kind = KINDS[key]
    const flag = flagName(key)
    const def = key in defaults ? defaults[key] : SERVER_DEFAULTS[key]
    const help = `${SETTING_HELP[key]} (env ${envName(key)}, default ${SECRET_SETTINGS.has(key) ? 'none' : shown(def)})`
    const short = key === 'port' ? '-p, ' : key === 'workers' ? '-w, ' : ''
    if (kind === 'bool') {
      // Both forms exist so a flag can override the file or environment either way; help shows
      // the one that changes the default.
      command.addOption(new Option(`--${flag}`, def === true ? `turn ${flag} on` : help).hideHelp(def === true))
      command.addOption(new Option(`--no-${flag}`, def === true ? help : `turn ${flag} off`).hideHelp(def !== true))
      continue
    }
    const arg = kind === 'int' || kind === 'number' ? (/port$/i.test(key) ? '<port>' : '<n>') : kind === 'list' ? '<a,b>' : Array.isArray(kind) ? '<mode>' : '<value>'
    const option = new Option(`${short}--${flag} ${arg}`, help)
    if (Array.isArray(kind)) option.choices(kind as string[])
    const parse = parser(key)
    if (parse) option.argParser(parse)
    command.addOption(option)
  }
  return command
}

/**
 * The settings given as flags (commander's parsed options, camel-cased), nothing else.
 * @param opts - `command.opts()`
 */
export function settingsFromFlags(opts: Record<string, unknown>): Partial<ServerConfig> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(KINDS)) if (opts[key] !== undefined) out[key] = opts[key]
  return out as Partial<ServerConfig>
}
