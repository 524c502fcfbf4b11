/**
 * Settings of the thumbnail handler and server: one documented interface, one frozen defaults
 * object, merged in {@link resolveConfig}. Values come from (lowest first) the defaults, a JSON
 * file, `RESTTHUMBS_*` environment variables, then explicit options.
 * @module
 */
import { readFileSync } from 'node:fs'

import { bool, type ErrorFactory, integer, invalidOption, mergeDefaults, oneOf, positiveNumber, string } from '../validate.js'
import { unknownNameMessage } from './config-names.js'
import type { ServerConfig } from './config-options.js'
import { INT_BOUNDS, LIST_CHOICES, SERVER_DEFAULTS, SETTING_KINDS } from './config-table.js'
import { ConfigError } from './errors.js'

export { ConfigError }
export type { LogFormat, LogLevel, ResponseMode, ServerConfig, WaiterMode } from './config-options.js'
export { INT_BOUNDS, LIST_CHOICES, SERVER_DEFAULTS, SETTING_KINDS, type SettingKind } from './config-table.js'


/** Makes a {@link ConfigError}: the error factory of every settings check. */
export const configError: ErrorFactory = (message) => new ConfigError(message)

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
    const names = (Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]).map(envName)
    const known = new Set([...names, ...OTHER_ENV])
    for (const name of Object.keys(env)) {
      if (name.startsWith('RESTTHUMBS_') && !known.has(name)) warn(unknownNameMessage('environment variable', name, [...names, ...OTHER_ENV]) + ' (ignored)')
    }
  }
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
    if (k === '$schema') continue
    if (!(k in SETTING_KINDS)) throw new ConfigError(unknownNameMessage('setting', k, Object.keys(SETTING_KINDS), ` in config file ${file}`))
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
  const merged = mergeDefaults<ServerConfig>(
    SERVER_DEFAULTS,
    sources.defaults,
    sources.file ? configFromFile(sources.file) : undefined,
    sources.env ? configFromEnv(sources.env, sources.warn) : undefined,
    options,
  )
  for (const key of Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]) check(key, merged[key])
  const config: ServerConfig = {
    ...merged,
    basePath: withSlashes(merged.basePath),
    sendfileBase: withSlashes(merged.sendfileBase),
    keys: [...merged.keys],
    allowedHosts: [...merged.allowedHosts],
    trustedProxies: [...merged.trustedProxies],
    negotiate: [...merged.negotiate],
  }
  checkCombination(config)
  return Object.freeze(config)
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

function check(key: keyof ServerConfig, v: unknown): void {
  const kind = SETTING_KINDS[key]
  if (Array.isArray(kind)) oneOf(key, v, kind, configError)
  else if (kind === 'string') string(key, v, { error: configError })
  else if (kind === 'bool') bool(key, v, configError)
  else if (kind === 'int') integer(key, v, { ...INT_BOUNDS[key], error: configError })
  else if (kind === 'number') positiveNumber(key, v, configError)
  else if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    throw invalidOption(key, 'array of non-empty strings', v, configError)
  } else if (LIST_CHOICES[key]) {
    for (const item of v as string[]) oneOf(key, item, LIST_CHOICES[key]!, configError)
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
