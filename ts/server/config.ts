/**
 * Settings of the thumbnail handler and server: one documented interface, one frozen defaults
 * object, merged in {@link resolveConfig}. Values come from (lowest first) the defaults, a JSON
 * file, `RESTTHUMBS_*` environment variables, then explicit options.
 * @module
 */
import { readFileSync } from 'node:fs'

import { bool, type ErrorFactory, integer, invalidOption, mergeDefaults, oneOf, positiveNumber, string } from '../validate.js'
import { ConfigError } from './errors.js'

export { ConfigError }

/** How a response carries the thumbnail bytes (restthumbnails' `THUMBNAILS_RESPONSE_BACKEND`). */
export type ResponseMode = 'stream' | 'nginx' | 'apache'

/**
 * What a request does while another worker renders the same thumbnail.
 * - `'wait'`: poll until the file exists (up to `lockTimeout`), then serve it.
 * - `'503'`: answer 503 with `Retry-After`.
 * - `'404'`: django-restthumbnails' behaviour, 404 with never-cache headers.
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
   * Other origins `sourceUrl` may redirect to: `host`, `host:port` or `scheme://host:port`, with
   * `*.example.com` for subdomains (no port: the scheme's default port only). The origin of
   * `sourceUrl` itself is always allowed; every other redirect is refused.
   * @default []
   */
  allowedHosts: string[]
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
   * Accept restthumbnails' SHA-1 `salted_hmac` secrets as well, for URLs minted by django-restthumbnails.
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
   * Cache for locks, negative entries and thumbnail records: `'memory'`, a `redis://`,
   * `rediss://`, `postgres://`, `sqlite:path` or `memcached://host:port,…` URL, or the name of an
   * alias configured with `configureCaches()` (shared with the rest of the app, so the handler
   * does not close it).
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
   * Renders at once in this process (`0`: one per core, and always two fewer than the libuv
   * thread pool has, so warm hits and file I/O never wait behind renders).
   * @default 0
   */
  renderSlots: number
  /**
   * Renders allowed to wait for a slot; past it a render is refused with 503 and `Retry-After`.
   * @default 64
   */
  renderQueue: number
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
}

/** The defaults of {@link ServerConfig}, merged in {@link resolveConfig} only. */
export const SERVER_DEFAULTS: Readonly<ServerConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  basePath: '/thumbnails/',
  sourceRoot: 'media',
  sourceUrl: '',
  sourceAllowPrivate: false,
  allowedHosts: Object.freeze([]) as unknown as string[],
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
  renderSlots: 0,
  renderQueue: 64,
  hotCacheBytes: 32 * 1024 * 1024,
  hotCacheMs: 1000,
  accessLog: true,
})

/** The type of a setting: how it is parsed from text and checked. */
export type SettingKind = 'string' | 'int' | 'number' | 'bool' | 'list' | readonly string[]

/** The kind of every setting, in the order `--help` lists them. */
export const SETTING_KINDS: Readonly<{ [K in keyof ServerConfig]: SettingKind }> = Object.freeze({
  host: 'string',
  port: 'int',
  basePath: 'string',
  sourceRoot: 'string',
  sourceUrl: 'string',
  sourceAllowPrivate: 'bool',
  allowedHosts: 'list',
  outputRoot: 'string',
  keys: 'list',
  legacySignatures: 'bool',
  responseMode: ['stream', 'nginx', 'apache'],
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
  renderSlots: 'int',
  renderQueue: 'int',
  hotCacheBytes: 'int',
  hotCacheMs: 'int',
  accessLog: 'bool',
})

// Integer settings with bounds narrower than "non-negative".
const INT_BOUNDS: Partial<Record<keyof ServerConfig, { min?: number; max?: number }>> = {
  port: { max: 65535 },
  quality: { min: 1, max: 100 },
  renderSlots: { max: 1024 },
}

/** Makes a {@link ConfigError}: the error factory of every settings check. */
export const configError: ErrorFactory = (message) => new ConfigError(message)

/** `RESTTHUMBS_LOCK_TIMEOUT` for `lockTimeout`, and so on. */
export function envName(key: keyof ServerConfig): string {
  return 'RESTTHUMBS_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

/**
 * Reads `RESTTHUMBS_*` variables. `RESTTHUMBS_KEYS` is comma separated; `RESTTHUMBS_SECRET` is
 * accepted as a single key.
 * @param env - usually `process.env`
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<ServerConfig> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]) {
    const raw = env[envName(key)]
    if (raw === undefined || raw === '') continue
    out[key] = settingFromString(key, raw)
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
    if (!(k in SETTING_KINDS)) throw new ConfigError(`Unknown setting ${k} in config file ${file}`)
  }
  return parsed as Partial<ServerConfig>
}

/**
 * Merges defaults, file, environment and explicit options (in that order) and validates the result.
 * @param options - explicit settings (highest priority)
 * @param sources - optional config file path and environment (defaults to none)
 */
export function resolveConfig(
  options: Partial<ServerConfig> = {},
  sources: { file?: string; env?: NodeJS.ProcessEnv } = {},
): Readonly<ServerConfig> {
  const merged = mergeDefaults<ServerConfig>(
    SERVER_DEFAULTS,
    sources.file ? configFromFile(sources.file) : undefined,
    sources.env ? configFromEnv(sources.env) : undefined,
    options,
  )
  for (const key of Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]) check(key, merged[key])
  return Object.freeze({
    ...merged,
    basePath: withSlashes(merged.basePath),
    sendfileBase: withSlashes(merged.sendfileBase),
    keys: [...merged.keys],
    allowedHosts: [...merged.allowedHosts],
  })
}

function withSlashes(p: string): string {
  let s = p.startsWith('/') ? p : '/' + p
  if (!s.endsWith('/')) s += '/'
  return s
}

function check(key: keyof ServerConfig, v: unknown): void {
  const kind = SETTING_KINDS[key]
  if (Array.isArray(kind)) oneOf(key, v, kind, configError)
  else if (kind === 'string') string(key, v, { error: configError })
  else if (kind === 'bool') bool(key, v, configError)
  else if (kind === 'int') integer(key, v, { ...INT_BOUNDS[key], error: configError })
  else if (kind === 'number') positiveNumber(key, v, configError)
  else if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    throw invalidOption(key, 'array of non-empty strings', v, configError)
  }
}

/**
 * Parses the text form of a setting (an environment variable or a command-line flag).
 * @param key - the setting
 * @param raw - the text
 * @param name - how the user wrote it, for the error (default: the environment variable)
 * @throws {@link ConfigError} for text that is not a number or a boolean where one is needed
 */
export function settingFromString(key: keyof ServerConfig, raw: string, name: string = envName(key)): unknown {
  const kind = SETTING_KINDS[key]
  if (kind === 'int' || kind === 'number') {
    const n = Number(raw)
    if (raw.trim() === '' || Number.isNaN(n)) throw invalidOption(name, 'number', raw, configError)
    return n
  }
  if (kind === 'bool') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off)$/i.test(raw)) return false
    throw invalidOption(name, 'true or false', raw, configError)
  }
  if (kind === 'list') {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  }
  return raw
}
