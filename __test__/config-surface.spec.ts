import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

import test from 'ava'

import { closestName } from '../ts/server/config-names.js'
import { configFromEnv, envName, SETTING_KINDS, resolveConfig, SERVER_DEFAULTS, type ServerConfig } from '../ts/server/config.js'
import { ROOT, runSourceCli as run } from './helpers/cli.js'

const SETTINGS = Object.keys(SETTING_KINDS) as (keyof ServerConfig)[]


const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())

test('serve --help has a flag for every setting, with its environment variable next to it', async (t) => {
  const { code, stdout } = await run(['serve', '--help'])
  t.is(code, 0)
  const flat = stdout.replace(/\s+/g, ' ')
  for (const key of SETTINGS) {
    const flag = SETTING_KINDS[key] === 'bool' && SERVER_DEFAULTS[key] === true ? `--no-${kebab(key)}` : `--${kebab(key)}`
    t.regex(flat, new RegExp(`${flag}\\b[^-]*?.*?\\(env ${envName(key)},`), key)
  }
  t.regex(flat, /--metrics-path <path> .*?default \/metrics\)/, 'serve shows its own default')
})

test('an unknown RESTTHUMBS_ variable is a warning naming the closest one; an unknown file key an error naming it', async (t) => {
  const warnings: string[] = []
  const env = { RESTTHUMBS_LOCK_TIMOUT: '3', RESTTHUMBS_PORT: '9000', RESTTHUMBS_SECRET: 'x', RESTTHUMBS_ZZZZZZZZZZZZZZZZ: '1' }
  t.deepEqual(configFromEnv(env, (m) => warnings.push(m)), { port: 9000, keys: ['x'] })
  t.deepEqual(warnings, [
    'Unknown environment variable RESTTHUMBS_LOCK_TIMOUT; did you mean RESTTHUMBS_LOCK_TIMEOUT? (ignored)',
    'Unknown environment variable RESTTHUMBS_ZZZZZZZZZZZZZZZZ (ignored)',
  ])
  t.is(closestName('outputbuckt', SETTINGS), 'outputBucket')
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-surface-'))
  try {
    const file = path.join(dir, 'c.json')
    await writeFile(file, JSON.stringify({ respnseMode: 'nginx' }))
    t.throws(() => resolveConfig({}, { file }), { code: 'ERR_CONFIG', message: `Unknown setting respnseMode in config file ${file}; did you mean responseMode?` })
    const cli = await run(['config'], { RESTTHUMBS_RESPONSE_MOD: 'nginx' })
    t.is(cli.code, 0)
    t.regex(cli.stderr, /^warning: Unknown environment variable RESTTHUMBS_RESPONSE_MOD; did you mean RESTTHUMBS_RESPONSE_MODE\? \(ignored\)$/m)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('restthumbs config prints every effective setting with its source, secrets masked', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-surface-'))
  try {
    const file = path.join(dir, 'c.json')
    await writeFile(file, JSON.stringify({ $schema: '../schema/config.schema.json', maxAge: 60, waiter: '503', s3SecretAccessKey: 'very-secret' }))
    const env = { RESTTHUMBS_KEYS: 'k1,k2', RESTTHUMBS_CACHE: 'redis://user:hunter2@cache:6379/0', RESTTHUMBS_MAX_AGE: '120' }
    const { code, stdout, stderr } = await run(['config', '--json', '--config', file, '--port', '9001', '--no-access-log'], env)
    t.is(code, 0, stderr)
    const rows = JSON.parse(stdout) as { key: string; value: unknown; source: string }[]
    const by = Object.fromEntries(rows.map((r) => [r.key, r]))
    t.deepEqual(rows.map((r) => r.key), SETTINGS)
    t.deepEqual(by.port, { key: 'port', value: 9001, source: 'flag' })
    t.deepEqual(by.accessLog, { key: 'accessLog', value: false, source: 'flag' })
    t.deepEqual(by.maxAge, { key: 'maxAge', value: 120, source: 'env' })
    t.deepEqual(by.waiter, { key: 'waiter', value: '503', source: 'file' })
    t.deepEqual(by.keys, { key: 'keys', value: ['***', '***'], source: 'env' })
    t.deepEqual(by.s3SecretAccessKey, { key: 's3SecretAccessKey', value: '***', source: 'file' })
    t.deepEqual(by.cache, { key: 'cache', value: 'redis://user:***@cache:6379/0', source: 'env' })
    t.deepEqual(by.metricsPath, { key: 'metricsPath', value: '/metrics', source: 'serve default' })
    t.deepEqual(by.quality, { key: 'quality', value: 85, source: 'default' })
    t.false(stdout.includes('hunter2') || stdout.includes('very-secret') || stdout.includes('k1'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('the published JSON Schema is the one generated from the setting kinds, and the defaults satisfy it', async (t) => {
  const { stdout } = await run(['config', '--schema'])
  const committed = await readFile(path.join(ROOT, 'schema', 'config.schema.json'), 'utf8')
  t.is(committed, stdout, 'regenerate with: restthumbs config --schema > schema/config.schema.json')
  const schema = JSON.parse(committed) as { properties: Record<string, { type?: string; enum?: string[]; default: unknown; minimum?: number; maximum?: number }> }
  t.deepEqual(Object.keys(schema.properties).slice(1), SETTINGS)
  for (const key of SETTINGS) {
    const p = schema.properties[key]
    const v = SERVER_DEFAULTS[key] as unknown
    t.deepEqual(p.default, v, key)
    if (p.enum) t.true(p.enum.includes(v as string), key)
    else if (p.type === 'array') t.true(Array.isArray(v), key)
    else if (p.type === 'integer') t.true(Number.isInteger(v) && (v as number) >= (p.minimum ?? 0) && (v as number) <= (p.maximum ?? Infinity), key)
    else if (p.type === 'number') t.is(typeof v, 'number', key)
    else t.is(typeof v, p.type === 'boolean' ? 'boolean' : 'string', key)
  }
  const types: Record<string, string> = { string: 'string', int: 'integer', number: 'number', bool: 'boolean', list: 'array' }
  for (const key of SETTINGS) {
    const kind = SETTING_KINDS[key]
    if (!Array.isArray(kind)) t.is(schema.properties[key].type, types[kind as string], key)
  }
})

test('the compose example uses exactly the nginx config that nginx-config prints for it', async (t) => {
  const { code, stdout } = await run(['nginx-config', '--backend', 'restthumbs:8080', '--output-root', '/data/thumbnails'])
  t.is(code, 0)
  t.is(await readFile(path.join(ROOT, 'docker', 'nginx.conf'), 'utf8'), stdout)
  const compose = await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8')
  t.regex(compose, /\.\/docker\/nginx\.conf:\/etc\/nginx\/conf\.d\/default\.conf:ro/)
  t.regex(compose, /RESTTHUMBS_RESPONSE_MODE: nginx/, 'nginx.conf has the X-Accel-Redirect location the nginx mode needs')
  const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8')
  t.regex(dockerfile, /^FROM node:20-bookworm-slim$/m)
  t.regex(dockerfile, /^USER node$/m)
  t.regex(dockerfile, /^HEALTHCHECK .*\n.*\/healthz/m)
  // Every variable the compose file sets is a real setting.
  for (const [, name] of compose.matchAll(/^\s+(RESTTHUMBS_\w+):/gm)) t.true(SETTINGS.some((k) => envName(k) === name), name)
})
