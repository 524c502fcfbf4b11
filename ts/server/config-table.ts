/**
 * The table of server settings: the frozen defaults of {@link ServerConfig} and the kind of every
 * setting (which drives parsing of variables and flags, checks, `--help` and the config file
 * schema). The documented interface is in `config-options.ts`, resolution in `config.ts`.
 * @module
 */
import type { ServerConfig } from './config-options.js'
import { NEGOTIABLE_FORMATS, type NegotiableFormat } from './negotiate.js'

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
  negotiate: Object.freeze([]) as unknown as NegotiableFormat[],
  quality: 85,
  maxSourceBytes: 20_000_000,
  renderTimeout: 30,
  renderSlots: 0,
  renderQueue: 64,
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
  s3LeanClient: true,
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
  negotiate: 'list',
  quality: 'int',
  maxSourceBytes: 'int',
  renderTimeout: 'number',
  renderSlots: 'int',
  renderQueue: 'int',
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
  s3LeanClient: 'bool',
  redirectBase: 'string',
  metricsPath: 'string',
  metricsPort: 'int',
  healthPath: 'string',
  readyPath: 'string',
  logFormat: ['json', 'pretty'],
  logLevel: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  trustedProxies: 'list',
  workers: 'int',
})

/** Integer settings with bounds narrower than "non-negative". */
export const INT_BOUNDS: Partial<Record<keyof ServerConfig, { min?: number; max?: number }>> = {
  port: { max: 65535 },
  metricsPort: { max: 65535 },
  quality: { min: 1, max: 100 },
  renderSlots: { max: 1024 },
}

/** List settings whose items come from a fixed set. */
export const LIST_CHOICES: Partial<Record<keyof ServerConfig, readonly string[]>> = {
  negotiate: NEGOTIABLE_FORMATS,
}
