/**
 * Settings of the thumbnail handler and server: one documented interface, one frozen defaults
 * object, merged in {@link resolveConfig}. Values come from (lowest first) the defaults, a JSON
 * file, `RESTTHUMBS_*` environment variables, then explicit options.
 * @module
 */
import { readFileSync } from 'node:fs'

import { RestthumbsError } from '../errors.js'

/** How a response carries the thumbnail bytes (restthumbnails' `THUMBNAILS_RESPONSE_BACKEND`). */
export type ResponseMode = 'stream' | 'nginx' | 'apache'

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
   * Cache for locks, negative entries and thumbnail records: `'memory'`, or a `redis://`,
   * `postgres://`, `sqlite:path` or `memcached://host:port,…` URL.
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
})

/** A setting has the wrong type or an out-of-range value. */
export class ConfigError extends RestthumbsError {
  /** @param message - expected vs received, naming the setting */
  constructor(message: string) {
    super('ERR_CONFIG', message, { status: 500 })
  }
}

type Kind = 'string' | 'int' | 'number' | 'bool' | 'list' | readonly string[]

const KINDS: { [K in keyof ServerConfig]: Kind } = {
  host: 'string',
  port: 'int',
  basePath: 'string',
  sourceRoot: 'string',
  sourceUrl: 'string',
  sourceAllowPrivate: 'bool',
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
  hotCacheBytes: 'int',
  hotCacheMs: 'int',
  accessLog: 'bool',
}

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
    if (!(k in KINDS)) throw new ConfigError(`Unknown setting ${k} in config file ${file}`)
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
  const merged: Record<string, unknown> = { ...SERVER_DEFAULTS }
  const layers = [
    sources.file ? configFromFile(sources.file) : {},
    sources.env ? configFromEnv(sources.env) : {},
    options,
  ]
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v
  }
  for (const key of Object.keys(KINDS) as (keyof ServerConfig)[]) check(key, merged[key])
  merged.basePath = withSlashes(merged.basePath as string)
  merged.sendfileBase = withSlashes(merged.sendfileBase as string)
  merged.keys = [...(merged.keys as string[])]
  return Object.freeze(merged as unknown as ServerConfig)
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
    if (key === 'port' && (v as number) > 65535) fail('port number')
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
