/**
 * `restthumbs config`: the effective settings of `serve`, each with where it came from (default,
 * file, env, flag), secrets masked; and the JSON Schema of the config file, generated from the
 * same setting kinds the server validates with.
 * @module
 */
import { configFromEnv, configFromFile, envName, LIST_CHOICES, SETTING_KINDS, SERVER_DEFAULTS, type ServerConfig } from '../server/config.js'
import { flagName, SECRET_SETTINGS, SETTING_HELP } from './flags.js'
import { SERVE_DEFAULTS, serveSettings } from './settings.js'

/** Where an effective setting came from. */
export type SettingSource = 'default' | 'serve default' | 'file' | 'env' | 'flag' | 'development key'

/** One effective setting. */
export interface EffectiveSetting {
  /** Setting name (config file key). */
  key: keyof ServerConfig
  /** Value, with secrets masked. */
  value: unknown
  /** Where the value came from. */
  source: SettingSource
}

/** Masks a secret: keys become `***`, a password in a URL becomes `***`. */
export function maskSetting(key: keyof ServerConfig, value: unknown): unknown {
  if (SECRET_SETTINGS.has(key)) {
    if (Array.isArray(value)) return value.map(() => '***')
    return value === '' ? '' : '***'
  }
  if (typeof value === 'string') return value.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@')
  return value
}

/**
 * The effective `serve` settings with their sources.
 * @param flags - settings given as flags
 * @param file - `--config` file
 * @param env - environment
 * @param warn - receives warnings (unknown `RESTTHUMBS_*` variables)
 */
export function effectiveSettings(
  flags: Partial<ServerConfig>,
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): EffectiveSetting[] {
  const { config, devKey } = serveSettings(flags, file, env, warn)
  const path = file ?? (env.RESTTHUMBS_CONFIG || undefined)
  const fromFile = path ? configFromFile(path) : {}
  const fromEnv = configFromEnv(env)
  return (Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]).map((key) => {
    let source: SettingSource = key in SERVE_DEFAULTS ? 'serve default' : 'default'
    if (fromFile[key] !== undefined) source = 'file'
    if (fromEnv[key] !== undefined) source = 'env'
    if (flags[key] !== undefined) source = 'flag'
    if (key === 'keys' && devKey) source = 'development key'
    return { key, value: maskSetting(key, config[key]), source }
  })
}

/**
 * The settings as aligned text: name, value, source, and the flag and variable that set it.
 * @param settings - from {@link effectiveSettings}
 */
export function formatSettings(settings: readonly EffectiveSetting[]): string {
  const rows = settings.map((s) => [s.key, JSON.stringify(s.value), s.source, `${flagName(s.key)} / ${envName(s.key)}`])
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c)).join('  ')).join('\n') + '\n'
}

/** The JSON Schema (draft 2020-12) of the config file. */
export function configSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = { $schema: { type: 'string', description: 'URI of this schema' } }
  for (const key of Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]) {
    const kind = SETTING_KINDS[key]
    const base = { description: `${SETTING_HELP[key][0]} (env ${envName(key)})`, default: SERVER_DEFAULTS[key] }
    if (Array.isArray(kind)) properties[key] = { ...base, enum: [...kind] }
    else if (kind === 'string') properties[key] = { ...base, type: 'string' }
    else if (kind === 'bool') properties[key] = { ...base, type: 'boolean' }
    else if (kind === 'list') {
      const choices = LIST_CHOICES[key]
      properties[key] = { ...base, type: 'array', items: choices ? { enum: [...choices] } : { type: 'string', minLength: 1 } }
    }
    else if (kind === 'int') {
      const range = key === 'port' || key === 'metricsPort' ? { maximum: 65535 } : key === 'quality' ? { minimum: 1, maximum: 100 } : {}
      properties[key] = { ...base, type: 'integer', minimum: 0, ...range }
    } else properties[key] = { ...base, type: 'number', exclusiveMinimum: 0 }
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://unpkg.com/restthumbs/schema/config.schema.json',
    title: 'restthumbs config file',
    description: 'Settings of restthumbs serve (--config <file>); environment variables and flags override them.',
    type: 'object',
    additionalProperties: false,
    properties,
  }
}
