/**
 * Settings of the thumbnail handler and server: one documented interface, one frozen defaults
 * object, merged in {@link resolveConfig}. Values come from (lowest first) the defaults, a JSON
 * file, `RESTTHUMBS_*` environment variables, then explicit options.
 * @module
 */
import { readFileSync } from 'node:fs'

import { RestthumbsError } from '../errors.js'
import { unknownNameMessage } from './config-names.js'

/** How a response carries the thumbnail bytes (restthumbnails' `THUMBNAILS_RESPONSE_BACKEND`). */
export type ResponseMode = 'stream' | 'nginx' | 'apache' | 'redirect'

/** Format of the per-request log lines: one JSON object per line, or coloured text. */
export type LogFormat = 'json' | 'pretty'

/** pino levels; `silent` logs nothing. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/**
 * What a request does while another worker renders the same thumbnail.
 * - `'wait'`: poll until the file exists (up to `lockTimeout`), then serve it.
 * - `'503'`: answer 503 with `Retry-After`.
 * - `'404'`: the seed's behaviour, 404 with never-cache headers.
 */
export type WaiterMode = 'wait' | '503' | '404'

/** Settings of the thumbnail handler and server. */
export interface ServerConfig {
  /**
   * Interface the server listens on.
   * @default '127.0.0.1'
   */
  host: string
  /**
   * TCP port of the server (`0` picks a free one).
   * @default 8080
   */
  port: number
  /**
   * URL prefix of thumbnail URLs; requests outside it go to `next()` (or 404 standalone).
   * @default '/thumbnails/'
   */
  basePath: string
  /**
   * Directory of source images, used when `sourceUrl` is empty.
   * @default 'media'
   */
  sourceRoot: string
  /**
   * Base URL of an HTTP origin for sources (`https://cdn.example.com/media/`). Empty: local files.
   * @default ''
   */
  sourceUrl: string
  /**
   * Let `sourceUrl` resolve to loopback or private addresses (an origin on a trusted network).
   * Off by default: the SSRF guard refuses them.
   * @default false
   */
  sourceAllowPrivate: boolean
  /**
   * Directory thumbnails are written to; the proxy serves it directly (`try_files`).
   * @default 'thumbnails'
   */
  outputRoot: string
  /**
   * Signing keys, newest first; every key verifies, the first signs (rotation without downtime).
   * @default []
   */
  keys: string[]
  /**
   * Accept restthumbnails' SHA-1 `salted_hmac` secrets as well, for URLs minted by the seed.
   * @default false
   */
  legacySignatures: boolean
  /**
   * How the bytes are sent: stream from Node, or delegate with `X-Accel-Redirect` / `X-Sendfile`.
   * @default 'stream'
   */
  responseMode: ResponseMode
  /**
   * Internal nginx location that `X-Accel-Redirect` points into (mapped to `outputRoot`).
   * @default '/_restthumbs_internal/'
   */
  sendfileBase: string
  /**
   * Seconds a render lock lives without being extended (restthumbnails' `LOCK_TIMEOUT`); also
   * how long a waiter waits.
   * @default 10
   */
  lockTimeout: number
  /**
   * What a request does while another worker renders the same thumbnail.
   * @default 'wait'
   */
  waiter: WaiterMode
  /**
   * `Retry-After` seconds of a 503 in `'503'` waiter mode.
   * @default 1
   */
  retryAfter: number
  /**
   * Cache for locks, negative entries and thumbnail records: `'memory'` or a `redis://` URL.
   * @default 'memory'
   */
  cache: string
  /**
   * Prefix of every cache key the server writes (restthumbnails' `KEY_PREFIX`).
   * @default 'restthumbs'
   */
  keyPrefix: string
  /**
   * `Cache-Control: public, max-age=` seconds of thumbnail responses.
   * @default 86400
   */
  maxAge: number
  /**
   * Seconds a missing source is remembered so junk URLs do not hit the disk or the origin.
   * @default 30
   */
  negativeTtl: number
  /**
   * Trust thumbnail records in the cache: a warm hit skips the `stat` of the output file.
   * Only safe when nothing deletes thumbnails behind the server's back.
   * @default false
   */
  trustCache: boolean
  /**
   * Encoder quality (1–100) for JPEG and WebP.
   * @default 85
   */
  quality: number
  /**
   * Largest source, in bytes, fetched from `sourceUrl`.
   * @default 20000000
   */
  maxSourceBytes: number
  /**
   * Seconds a render may take before it is aborted (503); bounds how long a stuck render can
   * keep its lock alive.
   * @default 30
   */
  renderTimeout: number
  /**
   * Bytes of hot thumbnails kept in memory (`0` disables): warm hits then cost no syscall.
   * @default 33554432
   */
  hotCacheBytes: number
  /**
   * Milliseconds a hot entry is trusted before the disk is consulted again; also the longest a
   * thumbnail deleted on disk keeps being served.
   * @default 1000
   */
  hotCacheMs: number
  /**
   * Write one access-log line per request to stdout.
   * @default true
   */
  accessLog: boolean
  /**
   * S3 bucket of source images; when set, sources come from it instead of `sourceRoot`/`sourceUrl`.
   * @default ''
   */
  sourceBucket: string
  /**
   * Key prefix of sources in `sourceBucket` (`media/`).
   * @default ''
   */
  sourcePrefix: string
  /**
   * S3 bucket thumbnails are written to, shared by every host; `outputRoot` is then a local copy.
   * Keys are the URL path after `basePath` (with `outputPrefix`), so a CDN can serve the bucket.
   * @default ''
   */
  outputBucket: string
  /**
   * Key prefix of thumbnails in `outputBucket`.
   * @default ''
   */
  outputPrefix: string
  /**
   * Endpoint of an S3-compatible store (`http://minio:9000`); empty: AWS.
   * @default ''
   */
  s3Endpoint: string
  /**
   * S3 region; empty: from the AWS environment, else `us-east-1`.
   * @default ''
   */
  s3Region: string
  /**
   * Path-style bucket addressing (`endpoint/bucket/key`), needed by most self-hosted stores.
   * @default false
   */
  s3PathStyle: boolean
  /**
   * S3 access key id; empty: the usual AWS credential chain.
   * @default ''
   */
  s3AccessKeyId: string
  /**
   * S3 secret access key (with `s3AccessKeyId`).
   * @default ''
   */
  s3SecretAccessKey: string
  /**
   * Seconds an S3 request may take (connect + answer) before the store counts as down (503).
   * @default 5
   */
  s3Timeout: number
  /**
   * Public base URL of the output bucket for `responseMode: 'redirect'` (`https://cdn.example.com/t/`).
   * @default ''
   */
  redirectBase: string
  /**
   * Path that answers Prometheus metrics (`/metrics`); empty: off in the handler. `serve` turns it
   * on by default.
   * @default ''
   */
  metricsPath: string
  /**
   * `serve` only: answer metrics on this port instead of the main one (`0`: the main port).
   * @default 0
   */
  metricsPort: number
  /**
   * Liveness path (always 200 while the process runs); empty: off.
   * @default '/healthz'
   */
  healthPath: string
  /**
   * Readiness path (200 when the cache and storages answer, else 503); empty: off.
   * @default '/readyz'
   */
  readyPath: string
  /**
   * Log lines as JSON (one object per line) or coloured text for a terminal.
   * @default 'json'
   */
  logFormat: LogFormat
  /**
   * Lowest level logged; request lines are `info`.
   * @default 'info'
   */
  logLevel: LogLevel
  /**
   * Addresses or CIDR ranges of proxies whose `X-Forwarded-For` / `X-Real-IP` is believed for
   * the client address in logs.
   * @default []
   */
  trustedProxies: string[]
  /**
   * `serve` only: worker processes (`0`: one per core).
   * @default 0
   */
  workers: number
}

/** The defaults of {@link ServerConfig}, merged in {@link resolveConfig} only. */
export const SERVER_DEFAULTS: Readonly<ServerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  basePath: '/thumbnails/',
  sourceRoot: 'media',
  sourceUrl: '',
  sourceAllowPrivate: false,
  outputRoot: 'thumbnails',
  keys: Object.freeze([]) as unknown as string[],
  legacySignatures: false,
  responseMode: 'stream',
  sendfileBase: '/_restthumbs_internal/',
  lockTimeout: 10,
  waiter: 'wait',
  retryAfter: 1,
  cache: 'memory',
  keyPrefix: 'restthumbs',
  maxAge: 86400,
  negativeTtl: 30,
  trustCache: false,
  quality: 85,
  maxSourceBytes: 20_000_000,
  renderTimeout: 30,
  hotCacheBytes: 32 * 1024 * 1024,
  hotCacheMs: 1000,
  accessLog: true,
  sourceBucket: '',
  sourcePrefix: '',
  outputBucket: '',
  outputPrefix: '',
  s3Endpoint: '',
  s3Region: '',
  s3PathStyle: false,
  s3AccessKeyId: '',
  s3SecretAccessKey: '',
  s3Timeout: 5,
  redirectBase: '',
  metricsPath: '',
  metricsPort: 0,
  healthPath: '/healthz',
  readyPath: '/readyz',
  logFormat: 'json',
  logLevel: 'info',
  trustedProxies: Object.freeze([]) as unknown as string[],
  workers: 0,
})

/** A setting has the wrong type or an out-of-range value. */
export class ConfigError extends RestthumbsError {
  /** @param message - expected vs received, naming the setting */
  constructor(message: string) {
    super('ERR_CONFIG', message, { status: 500 })
  }
}

/** The type of a setting, which drives parsing (env, flags) and checks. */
export type Kind = 'string' | 'int' | 'number' | 'bool' | 'list' | readonly string[]

/** The kind of every setting; also the list of valid setting names. */
export const KINDS: { [K in keyof ServerConfig]: Kind } = {
  host: 'string',
  port: 'int',
  basePath: 'string',
  sourceRoot: 'string',
  sourceUrl: 'string',
  sourceAllowPrivate: 'bool',
  outputRoot: 'string',
  keys: 'list',
  legacySignatures: 'bool',
  responseMode: ['stream', 'nginx', 'apache', 'redirect'],
  sendfileBase: 'string',
  lockTimeout: 'number',
  waiter: ['wait', '503', '404'],
  retryAfter: 'int',
  cache: 'string',
  keyPrefix: 'string',
  maxAge: 'int',
  negativeTtl: 'number',
  trustCache: 'bool',
  quality: 'int',
  maxSourceBytes: 'int',
  renderTimeout: 'number',
  hotCacheBytes: 'int',
  hotCacheMs: 'int',
  accessLog: 'bool',
  sourceBucket: 'string',
  sourcePrefix: 'string',
  outputBucket: 'string',
  outputPrefix: 'string',
  s3Endpoint: 'string',
  s3Region: 'string',
  s3PathStyle: 'bool',
  s3AccessKeyId: 'string',
  s3SecretAccessKey: 'string',
  s3Timeout: 'number',
  redirectBase: 'string',
  metricsPath: 'string',
  metricsPort: 'int',
  healthPath: 'string',
  readyPath: 'string',
  logFormat: ['json', 'pretty'],
  logLevel: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  trustedProxies: 'list',
  workers: 'int',
}

/** `RESTTHUMBS_LOCK_TIMEOUT` for `lockTimeout`, and so on. */
export function envName(key: keyof ServerConfig): string {
  return 'RESTTHUMBS_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

/** `RESTTHUMBS_*` variables that are not settings but are read elsewhere. */
const OTHER_ENV = new Set(['RESTTHUMBS_SECRET', 'RESTTHUMBS_CONFIG'])

/**
 * Reads `RESTTHUMBS_*` variables. `RESTTHUMBS_KEYS` is comma separated; `RESTTHUMBS_SECRET` is
 * accepted as a single key.
 * @param env - usually `process.env`
 * @param warn - receives one message per unknown `RESTTHUMBS_*` variable, naming the closest one
 */
export function configFromEnv(env: NodeJS.ProcessEnv, warn?: (message: string) => void): Partial<ServerConfig> {
  const out: Record<string, unknown> = {}
  if (warn) {
    const names = (Object.keys(KINDS) as (keyof ServerConfig)[]).map(envName)
    const known = new Set([...names, ...OTHER_ENV])
    for (const name of Object.keys(env)) {
      if (name.startsWith('RESTTHUMBS_') && !known.has(name)) warn(unknownNameMessage('environment variable', name, [...names, ...OTHER_ENV]) + ' (ignored)')
    }
  }
  for (const key of Object.keys(KINDS) as (keyof ServerConfig)[]) {
    const raw = env[envName(key)]
    if (raw === undefined || raw === '') continue
    out[key] = fromString(key, raw)
  }
  if (env.RESTTHUMBS_SECRET && out.keys === undefined) out.keys = [env.RESTTHUMBS_SECRET]
  return out as Partial<ServerConfig>
}

/**
 * Reads a JSON config file whose keys are {@link ServerConfig} names.
 * @param file - path of the JSON file
 */
export function configFromFile(file: string): Partial<ServerConfig> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ConfigError(`Could not read config file ${file}: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`Expected a JSON object in config file ${file}`)
  }
  for (const k of Object.keys(parsed)) {
    if (k === '$schema') continue
    if (!(k in KINDS)) throw new ConfigError(unknownNameMessage('setting', k, Object.keys(KINDS), ` in config file ${file}`))
  }
  const { $schema: _schema, ...settings } = parsed as Record<string, unknown>
  return settings as Partial<ServerConfig>
}

/** Where {@link resolveConfig} reads settings from, besides explicit options. */
export interface ConfigSources {
  /** JSON config file. */
  file?: string
  /** Environment with `RESTTHUMBS_*` variables. */
  env?: NodeJS.ProcessEnv
  /** Defaults of the caller over {@link SERVER_DEFAULTS} (`serve` turns metrics on). */
  defaults?: Partial<ServerConfig>
  /** Receives warnings (unknown `RESTTHUMBS_*` variables). */
  warn?: (message: string) => void
}

/**
 * Merges defaults, file, environment and explicit options (in that order) and validates the result.
 * @param options - explicit settings (highest priority)
 * @param sources - optional config file path, environment and caller defaults (defaults to none)
 */
export function resolveConfig(options: Partial<ServerConfig> = {}, sources: ConfigSources = {}): Readonly<ServerConfig> {
  const merged: Record<string, unknown> = { ...SERVER_DEFAULTS }
  const layers = [
    sources.defaults ?? {},
    sources.file ? configFromFile(sources.file) : {},
    sources.env ? configFromEnv(sources.env, sources.warn) : {},
    options,
  ]
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v
  }
  for (const key of Object.keys(KINDS) as (keyof ServerConfig)[]) check(key, merged[key])
  merged.basePath = withSlashes(merged.basePath as string)
  merged.sendfileBase = withSlashes(merged.sendfileBase as string)
  merged.keys = [...(merged.keys as string[])]
  merged.trustedProxies = [...(merged.trustedProxies as string[])]
  checkCombination(merged as unknown as ServerConfig)
  return Object.freeze(merged as unknown as ServerConfig)
}

function checkCombination(c: ServerConfig): void {
  if (c.sourceBucket && c.sourceUrl) {
    throw new ConfigError('Expected one of sourceBucket or sourceUrl but received both; unset one of them')
  }
  if (c.outputBucket && c.responseMode === 'apache') {
    throw new ConfigError("Expected responseMode 'stream', 'nginx' or 'redirect' with outputBucket but received 'apache' (X-Sendfile needs a local file)")
  }
  if (c.responseMode === 'redirect' && !c.redirectBase) {
    throw new ConfigError("Expected redirectBase (the public URL of the thumbnails) with responseMode 'redirect' but received none")
  }
}

function withSlashes(p: string): string {
  let s = p.startsWith('/') ? p : '/' + p
  if (!s.endsWith('/')) s += '/'
  return s
}

function describe(v: unknown): string {
  return `${typeof v === 'string' ? JSON.stringify(v) : String(v)} of type ${Array.isArray(v) ? 'array' : typeof v}`
}

function check(key: keyof ServerConfig, v: unknown): void {
  const kind = KINDS[key]
  const fail = (what: string) => {
    throw new ConfigError(`Expected ${what} for ${key} but received ${describe(v)}`)
  }
  if (Array.isArray(kind)) {
    if (!kind.includes(v as string)) fail(`one of ${kind.map((x) => `'${x}'`).join(', ')}`)
  } else if (kind === 'string') {
    if (typeof v !== 'string') fail('string')
  } else if (kind === 'bool') {
    if (typeof v !== 'boolean') fail('boolean')
  } else if (kind === 'list') {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) fail('array of non-empty strings')
  } else if (kind === 'int') {
    if (!Number.isInteger(v) || (v as number) < 0) fail('non-negative integer')
    if ((key === 'port' || key === 'metricsPort') && (v as number) > 65535) fail('port number')
    if (key === 'quality' && ((v as number) < 1 || (v as number) > 100)) fail('integer between 1 and 100')
  } else if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
    fail('positive number')
  }
}

function fromString(key: keyof ServerConfig, raw: string): unknown {
  const kind = KINDS[key]
  if (kind === 'int' || kind === 'number') {
    const n = Number(raw)
    if (raw.trim() === '' || Number.isNaN(n)) {
      throw new ConfigError(`Expected number for ${envName(key)} but received ${JSON.stringify(raw)}`)
    }
    return n
  }
  if (kind === 'bool') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off)$/i.test(raw)) return false
    throw new ConfigError(`Expected true or false for ${envName(key)} but received ${JSON.stringify(raw)}`)
  }
  if (kind === 'list') {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  }
  return raw
}
