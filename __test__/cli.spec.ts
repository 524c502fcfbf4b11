import { type ChildProcess, spawn } from 'node:child_process'
import { chmod, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { flagName } from '../ts/cli/flags.js'
import { DEV_KEY } from '../ts/cli/settings.js'
import { ConfigError, envName, resolveConfig, SERVER_DEFAULTS, SETTING_KINDS } from '../ts/server/config.js'
import { nginxConfig } from '../ts/server/nginx-config.js'
import { Signer } from '../ts/server/signing.js'
import { parseThumbnailPath } from '../ts/server/url.js'
import { findNginx } from './helpers/nginx.js'
import { tempDir } from './helpers/tmp.js'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const MEDIA = path.join(ROOT, 'media')
// Runs the TypeScript CLI directly (no build step), exactly as bin/restthumbs.js runs dist/.
const ENTRY = `import('${path.join(ROOT, 'ts', 'cli', 'main.ts').replace(/\\/g, '/')}').then((m) => m.main(['node', 'restthumbs', ...process.argv.slice(1)]))`

// Absolute, so children started in another working directory still find the loader.
const REGISTER = import.meta.resolve('@oxc-node/core/register')

function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): ChildProcess {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESTTHUMBS_')))
  return spawn(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', ENTRY, '--', ...args], {
    cwd,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = cli(args, env, cwd)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}

test('--help lists the four commands and serve --help shows the real defaults', async (t) => {
  const top = await run(['--help'])
  t.is(top.code, 0)
  for (const c of ['serve', 'thumbnail', 'url', 'nginx-config']) t.regex(top.stdout, new RegExp(`^  ${c} `, 'm'))
  const serve = await run(['serve', '--help'])
  t.regex(serve.stdout, /default 8080/)
  t.regex(serve.stdout, /--response-mode <mode>[^]*?choices:\s+"stream",\s+"nginx",\s+"apache"/)
  t.regex(serve.stdout, /--waiter <mode>/)
  // Every setting has a flag, and its help names the environment variable.
  for (const key of Object.keys(SETTING_KINDS) as (keyof typeof SETTING_KINDS)[]) {
    // A switch that is on by default is shown by its off form (--no-access-log).
    const flag = SERVER_DEFAULTS[key] === true ? flagName(key).replace(/^--/, '--no-') : flagName(key)
    t.regex(serve.stdout, new RegExp(`${flag}\\b[^]*?\\(env\\s+${envName(key)},`), key)
  }
})

test('serve flags are parsed like the variables and rejected with the flag named', async (t) => {
  const r = await run(['serve', '--port', 'eighty'])
  t.is(r.code, 1)
  t.is(r.stderr.trim(), 'error: ERR_CONFIG: Expected number for --port but received "eighty" of type string')
  const q = await run(['serve', '--quality', '0'])
  t.is(q.code, 1)
  t.is(q.stderr.trim(), 'error: ERR_CONFIG: Expected integer between 1 and 100 for quality but received 0 of type number')
})

test('url prints a signed URL that the server-side signer verifies', async (t) => {
  const { code, stdout, stderr } = await run(['url', 'sunset.jpg', '200x', 'smart', '.webp'], { RESTTHUMBS_KEYS: 'cli-key,old-key' })
  t.is(code, 0, stderr)
  t.is(stderr, '')
  const url = stdout.trim()
  t.regex(url, /^\/thumbnails\/sunset\.jpg\/200x0\/smart\/[A-Za-z0-9_-]+\.webp$/)
  const req = parseThumbnailPath(url, { basePath: '/thumbnails' })
  t.true(new Signer({ keys: ['cli-key'] }).verify(req.source, req.size, req.method, req.ext, req.secret))
  t.false(new Signer({ keys: ['old-key'] }).verify(req.source, req.size, req.method, req.ext, req.secret))
})

test('without a configured key, url uses the development key and warns loudly', async (t) => {
  const { code, stdout, stderr } = await run(['url', 'a.jpg', '10x10', 'crop', '.jpg'])
  t.is(code, 0)
  t.regex(stderr, /WARNING: no signing key configured/)
  const req = parseThumbnailPath(stdout.trim(), { basePath: '/thumbnails' })
  t.true(new Signer({ keys: [DEV_KEY] }).verify(req.source, req.size, req.method, req.ext, req.secret))
})

test('nginx-config prints a configuration that nginx itself accepts', async (t) => {
  const bin = findNginx()
  const dir = await tempDir(t, 'cli-nginx')
  const block = await run(['nginx-config', '--listen', '127.0.0.1:8081'], { RESTTHUMBS_OUTPUT_ROOT: path.join(dir, 'out') })
  t.is(block.code, 0)
  t.regex(block.stdout, /try_files \/\$restthumbs_file @restthumbs_backend;/)
  t.regex(block.stdout, /location \/_restthumbs_internal\/ \{\s+internal;/)
  t.regex(block.stdout, /server 127\.0\.0\.1:8080;/)
  const full = await run(['nginx-config', '--listen', '127.0.0.1:8081', '--standalone', dir], {
    RESTTHUMBS_OUTPUT_ROOT: path.join(dir, 'out'),
    RESTTHUMBS_PORT: '9999',
  })
  t.regex(full.stdout, /server 127\.0\.0\.1:9999;/)
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(dir, d))
  await writeFile(path.join(dir, 'nginx.conf'), full.stdout)
  const check = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(bin, ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')])
    let out = ''
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code, out }))
  })
  t.is(check.code, 0, check.out)
  t.regex(check.out, /syntax is ok/)
})

test('thumbnail renders one file to the requested size', async (t) => {
  const dir = await tempDir(t, 'cli')
  const out = path.join(dir, 'small.png')
  const r = await run(['thumbnail', path.join(MEDIA, 'sunset.jpg'), out, '--size', '90x60', '--method', 'crop'])
  t.is(r.code, 0, r.stderr)
  const meta = await sharp(out).metadata()
  t.is(meta.format, 'png')
  t.is(meta.width, 90)
  t.is(meta.height, 60)
})

test('thumbnail renders a directory of inputs into an output directory', async (t) => {
  const dir = await tempDir(t, 'cli')
  const out = path.join(dir, 'thumbs')
  const r = await run(['thumbnail', MEDIA, out, '--size', '64x64', '--method', 'smart', '--format', 'webp', '--quality', '70'])
  t.is(r.code, 0, r.stderr)
  const names = (await readdir(out)).sort()
  t.deepEqual(names, ['mandelbrot.webp', 'rings.webp', 'sunset.webp', 'tiles.webp'])
  for (const n of names) {
    const meta = await sharp(path.join(out, n)).metadata()
    t.is(meta.format, 'webp', n)
    t.is(meta.width, 64, n)
    t.is(meta.height, 64, n)
  }
  t.is(r.stdout.trim().split('\n').length, 4)
})

test('thumbnail expands a quoted glob itself', async (t) => {
  const dir = await tempDir(t, 'cli')
  const out = path.join(dir, 'thumbs')
  const r = await run(['thumbnail', path.join(MEDIA, '*.jpg'), out, '--size', 'x40', '--method', 'scale'])
  t.is(r.code, 0, r.stderr)
  t.deepEqual((await readdir(out)).sort(), ['mandelbrot.jpg', 'sunset.jpg'])
  t.is((await sharp(path.join(out, 'sunset.jpg')).metadata()).height, 40)
  t.is((await sharp(path.join(out, 'sunset.jpg')).metadata()).width, 60)
})

test('invalid thumbnail options exit 1 with the typed error and its message', async (t) => {
  const r = await run(['thumbnail', path.join(MEDIA, 'sunset.jpg'), '/nonexistent/x.jpg', '--size', '0x0'])
  t.is(r.code, 1)
  t.is(r.stderr.trim(), 'error: ERR_INVALID_SIZE: Expected at least one side above 0 but received "0x0"')
  const q = await run(['thumbnail', path.join(MEDIA, 'sunset.jpg'), '/nonexistent/x.jpg', '--quality', '101'])
  t.is(q.code, 1)
  t.is(q.stderr.trim(), 'error: ERR_INVALID_OPTION: Expected integer between 1 and 100 for quality but received 101 of type number')
})

test('serve starts on the embedded default and its printed example URLs return thumbnails', async (t) => {
  const dir = await tempDir(t, 'serve')
  await chmod(dir, 0o755)
  await mkdir(path.join(dir, 'media'))
  await copyFile(path.join(MEDIA, 'rings.png'), path.join(dir, 'media', 'rings.png'))
  // Run in a fresh directory so the defaults (media/, thumbnails/) are relative to it.
  const child = cli(['serve', '--port', '0'], {}, dir)
  try {
    let stdout = ''
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const example = await new Promise<string>((resolve, reject) => {
      // A primary and one worker per core start (60 s: the machine may be loaded).
      const timer = setTimeout(() => reject(new Error(`serve did not print a URL: ${stdout} ${stderr}`)), 60_000)
      child.stdout!.on('data', (d) => {
        stdout += d
        const m = /^ {2}(http:\/\/\S+)$/m.exec(stdout)
        if (m) {
          clearTimeout(timer)
          resolve(m[1])
        }
      })
    })
    t.regex(stdout, /restthumbs listening on http:\/\/127\.0\.0\.1:\d+\/thumbnails\//)
    t.regex(stderr, /WARNING: no signing key configured/)
    const res = await fetch(example)
    const body = Buffer.from(await res.arrayBuffer())
    t.is(res.status, 200)
    const meta = await sharp(body).metadata()
    t.is(meta.format, 'jpeg')
    t.is(meta.width, 200)
    t.is(meta.height, 200)
    // One access-log line per request: a JSON object (pino) with the method, path, status,
    // bytes sent (headers included), duration, and what the server did.
    await new Promise((r) => setTimeout(r, 100))
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    t.is(lines.length, 1)
    t.is(lines[0].method, 'GET')
    t.regex(lines[0].url as string, /^\/thumbnails\/rings\.png\/200x200\/smart\/\S+\.jpg$/)
    t.is(lines[0].status, 200)
    t.true((lines[0].bytes as number) > body.length)
    t.is(typeof lines[0].ms, 'number')
    t.is(lines[0].cache, 'render')
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('close', r))
  }
})

test('settings merge defaults, a JSON file, RESTTHUMBS_* variables and explicit options in that order', async (t) => {
  const dir = await tempDir(t, 'config')
  const file = path.join(dir, 'restthumbs.json')
  await writeFile(file, JSON.stringify({ port: 9000, waiter: '503', maxAge: 60, basePath: 'thumbs' }))
  const env = { RESTTHUMBS_PORT: '9100', RESTTHUMBS_KEYS: 'a, b', RESTTHUMBS_TRUST_CACHE: 'yes', RESTTHUMBS_LOCK_TIMEOUT: '2.5' }
  const c = resolveConfig({ maxAge: 5 }, { file, env })
  t.is(c.port, 9100)
  t.is(c.waiter, '503')
  t.is(c.maxAge, 5)
  t.is(c.basePath, '/thumbs/')
  t.deepEqual(c.keys, ['a', 'b'])
  t.true(c.trustCache)
  t.is(c.lockTimeout, 2.5)
  t.is(c.responseMode, SERVER_DEFAULTS.responseMode)
  t.true(Object.isFrozen(c))
  t.is(envName('hotCacheBytes'), 'RESTTHUMBS_HOT_CACHE_BYTES')
})

test('invalid settings are rejected with expected-versus-received messages', async (t) => {
  const bad = t.throws(() => resolveConfig({ port: -3 }), { instanceOf: ConfigError })
  t.is(bad!.code, 'ERR_CONFIG')
  t.is(bad!.message, 'Expected integer between 0 and 65535 for port but received -3 of type number')
  t.is(
    t.throws(() => resolveConfig({ waiter: 'later' as never }))!.message,
    'Expected one of wait, 503, 404 for waiter but received "later" of type string',
  )
  t.is(
    t.throws(() => resolveConfig({}, { env: { RESTTHUMBS_LOCK_TIMEOUT: 'soon' } }))!.message,
    'Expected number for RESTTHUMBS_LOCK_TIMEOUT but received "soon" of type string',
  )
  const dir = await tempDir(t, 'config')
  await writeFile(path.join(dir, 'c.json'), '{"prot": 1}')
  t.regex(t.throws(() => resolveConfig({}, { file: path.join(dir, 'c.json') }), { instanceOf: ConfigError })!.message, /^Unknown setting prot/)
})

test('nginx-config refuses values that would change the meaning of the generated config', (t) => {
  t.throws(() => nginxConfig({ backend: '127.0.0.1:8080; include /etc/passwd' }), {
    instanceOf: ConfigError,
    message: 'Expected host:port for backend but received "127.0.0.1:8080; include /etc/passwd" of type string',
  })
  t.throws(() => nginxConfig({ outputRoot: '/srv/thumbs"; root /x' }), {
    instanceOf: ConfigError,
    message: 'Expected a path without quotes, backslashes, semicolons, braces or $ for outputRoot but received "/srv/thumbs\\"; root /x" of type string',
  })
})
