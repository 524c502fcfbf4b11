/**
 * One config surface: every setting of {@link ServerConfig} as a command-line flag, generated
 * from the settings table, with its `RESTTHUMBS_*` variable and default in `--help`. Flag values
 * are parsed exactly as the variables are; the same help table feeds `restthumbs config` and the
 * JSON Schema of the config file.
 * @module
 */
import { type Command, Option } from 'commander'

import { envName, SERVER_DEFAULTS, type ServerConfig, SETTING_KINDS, settingFromString } from '../server/config.js'

/** One line of help and the value name of every setting. */
export const SETTING_HELP: { readonly [K in keyof ServerConfig]: readonly [help: string, value: string] } = {
  host: ['interface to listen on', '<host>'],
  port: ['TCP port (0 picks a free one)', '<port>'],
  basePath: ['URL prefix of thumbnails', '<path>'],
  sourceRoot: ['directory of source images', '<dir>'],
  sourceUrl: ['fetch sources from this HTTP origin instead of --source-root', '<url>'],
  sourceAllowPrivate: ['let --source-url resolve to loopback or private addresses (trusted networks only)', ''],
  allowedHosts: ['other origins --source-url may redirect to, comma separated (host, host:port, https://host:port, *.example.com)', '<hosts>'],
  outputRoot: ['directory thumbnails are written to (the local copy with --output-bucket)', '<dir>'],
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
  negotiate: ['answer .jpg/.png URLs in these formats when Accept lists them (avif needs an AVIF-capable build)', '<avif,webp>'],
  quality: ['JPEG/WebP quality', '<1-100>'],
  maxSourceBytes: ['largest source read, in bytes', '<bytes>'],
  renderTimeout: ['seconds before a render is aborted', '<seconds>'],
  renderSlots: ['renders at once (0: one per core, below the libuv pool size)', '<n>'],
  renderQueue: ['renders waiting for a slot before 503 + Retry-After', '<n>'],
  hotCacheBytes: ['bytes of hot thumbnails kept in memory (0 disables)', '<bytes>'],
  hotCacheMs: ['milliseconds a hot entry is trusted before the disk is asked again', '<ms>'],
  accessLog: ['one log line per request', ''],
  sourceBucket: ['S3 bucket of source images (instead of --source-root)', '<bucket>'],
  sourcePrefix: ['key prefix of sources in --source-bucket', '<prefix>'],
  outputBucket: ['S3 bucket thumbnails are written to, shared by every host', '<bucket>'],
  outputPrefix: ['key prefix of thumbnails in --output-bucket', '<prefix>'],
  s3Endpoint: ['endpoint of an S3-compatible store (empty: AWS)', '<url>'],
  s3Region: ['S3 region (empty: AWS_REGION, else us-east-1)', '<region>'],
  s3PathStyle: ['path-style bucket URLs (most self-hosted stores)', ''],
  s3AccessKeyId: ['S3 access key id (empty: the AWS credential chain)', '<id>'],
  s3SecretAccessKey: ['S3 secret access key (prefer the variable: flags show in ps)', '<secret>'],
  s3Timeout: ['seconds an S3 request may take before the store counts as down', '<seconds>'],
  s3LeanClient: ['send S3 GetObject/PutObject on a lean signed pool, not the full SDK', ''],
  redirectBase: ["public base URL of the thumbnails for --response-mode redirect", '<url>'],
  metricsPath: ['path of Prometheus metrics (empty: off; serve turns it on)', '<path>'],
  metricsPort: ['serve metrics on this port instead of the main one (0: main port)', '<port>'],
  healthPath: ['liveness path (empty: off)', '<path>'],
  readyPath: ['readiness path: cache and storages answer (empty: off)', '<path>'],
  logFormat: ['log lines as json or pretty text', '<format>'],
  logLevel: ['lowest level logged', '<level>'],
  trustedProxies: ['proxies (IPs or CIDRs, comma separated) whose X-Forwarded-For is believed', '<a,b>'],
  workers: ['worker processes (0: one per core)', '<n>'],
}

/** Settings whose values are secrets (masked by `restthumbs config`, not shown as defaults). */
export const SECRET_SETTINGS: ReadonlySet<keyof ServerConfig> = new Set(['keys', 's3SecretAccessKey'])

/** `--lock-timeout` for `lockTimeout`, and so on. */
export function flagName(key: keyof ServerConfig): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

function shown(value: unknown): string {
  if (Array.isArray(value)) return value.length ? value.join(',') : 'none'
  return value === '' ? 'none' : String(value)
}

/**
 * One commander option per server setting. Values are parsed as the environment variables are
 * (the same errors, naming the flag). Booleans get both `--x` and `--no-x`, so a flag can
 * override the file or the environment either way; help shows the one that changes the default.
 * @param defaults - defaults to show where the command has its own (serve turns metrics on)
 * @returns the options, in the order of {@link SETTING_KINDS}
 */
export function settingOptions(defaults: Partial<ServerConfig> = {}): Option[] {
  const options: Option[] = []
  for (const key of Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]) {
    const kind = SETTING_KINDS[key]
    const [text, value] = SETTING_HELP[key]
    const flag = flagName(key)
    const def = key in defaults ? defaults[key] : SERVER_DEFAULTS[key]
    const help = `${text} (env ${envName(key)}, default ${SECRET_SETTINGS.has(key) ? 'none' : shown(def)})`
    if (kind === 'bool') {
      const on = def === true
      options.push(new Option(flag, on ? `turn ${flag.slice(2)} on` : help).hideHelp(on))
      options.push(new Option(flag.replace(/^--/, '--no-'), on ? help : `turn ${flag.slice(2)} off`).hideHelp(!on))
      continue
    }
    const short = key === 'port' ? '-p, ' : key === 'workers' ? '-w, ' : ''
    const option = new Option(`${short}${flag} ${value}`, help)
    if (Array.isArray(kind)) option.choices(kind)
    else option.argParser((raw: string) => settingFromString(key, raw, flag))
    options.push(option)
  }
  return options
}

/**
 * Adds {@link settingOptions} to a command.
 * @param command - the commander command
 * @param defaults - see {@link settingOptions}
 */
export function addSettingFlags(command: Command, defaults: Partial<ServerConfig> = {}): Command {
  for (const option of settingOptions(defaults)) command.addOption(option)
  return command
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
