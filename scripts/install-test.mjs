// The install a user gets, tried as a user would: packs the main package and the linux-x64-gnu
// platform package, installs both into a fresh project with cargo, rustc, nasm and the C
// compilers hidden from PATH, and there checks ESM import, require() (with require(esm) off),
// `restthumbs --version/--help/url/thumbnail` and `restthumbs serve` answering a signed URL.
// Every image is decoded (sharp, from this repository) and its size checked. Also runs publint
// and @arethetypeswrong/cli on what is packed.
//   usage: node scripts/install-test.mjs   (after `npm run build:ts` and a native build)
// The binary packed is npm/linux-x64-gnu/restthumbs.linux-x64-gnu.node from scripts/cross-build.sh
// (glibc 2.17) when present, else the local build restthumbs.linux-x64-gnu.node.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import sharp from 'sharp'

const root = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const started = Date.now()
const tmp = mkdtempSync(join(tmpdir(), 'restthumbs-install-'))
const log = (msg) => console.log(`install-test: ${msg}`)
let failures = 0

function check(ok, what) {
  if (ok) log(`ok   ${what}`)
  else {
    failures++
    console.error(`install-test: FAIL ${what}`)
  }
}

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options })
}

/** A folder of links to every program on PATH except the Rust and C toolchains and nasm. */
function pathWithoutToolchains() {
  const hidden = /^(cargo.*|rustc|rustup|rustdoc|rust-.*|nasm|yasm|zig|cc|c\+\+|gcc.*|g\+\+.*|clang.*|.*-linux-gnu-gcc.*|ld|ld\..*|make|cmake)$/
  const bin = join(tmp, 'bin')
  mkdirSync(bin)
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !existsSync(dir)) continue
    for (const name of readdirSync(dir)) {
      if (hidden.test(name) || existsSync(join(bin, name))) continue
      symlinkSync(join(dir, name), join(bin, name))
    }
  }
  return bin
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** Decodes an image and checks its format and size. */
async function checkImage(bytes, format, width, height, what) {
  try {
    const meta = await sharp(bytes).metadata()
    const { info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true })
    check(meta.format === format && info.width === width && info.height === height, `${what}: decoded ${meta.format} ${info.width}x${info.height} (want ${format} ${width}x${height})`)
  } catch (err) {
    check(false, `${what}: does not decode (${err.message})`)
  }
}

try {
  // 1. The two tarballs, staged in the temporary folder so the clone stays clean.
  const platform = 'linux-x64-gnu'
  const crossBuilt = join(root, `npm/${platform}/restthumbs.${platform}.node`)
  const binary = existsSync(crossBuilt) ? crossBuilt : join(root, `restthumbs.${platform}.node`)
  if (!existsSync(binary)) throw new Error(`no ${platform} binary: run npm run build:native (or npm run build:cross)`)
  if (!existsSync(join(root, 'dist/index.cjs'))) throw new Error('dist/ is not built: run npm run build:ts')
  log(`binary: ${binary.slice(root.length)}`)
  const platformDir = join(tmp, 'platform')
  mkdirSync(platformDir)
  cpSync(join(root, `npm/${platform}/package.json`), join(platformDir, 'package.json'))
  cpSync(binary, join(platformDir, `restthumbs.${platform}.node`))
  const platformTgz = join(tmp, run('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: platformDir }).trim())

  // The main package as `napi prepublish` publishes it: optionalDependencies on every target.
  const packed = run('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: root }).trim()
  const stage = join(tmp, 'stage')
  mkdirSync(stage)
  run('tar', ['xzf', join(tmp, packed), '-C', stage])
  const staged = JSON.parse(readFileSync(join(stage, 'package/package.json'), 'utf8'))
  staged.optionalDependencies = Object.fromEntries(
    readdirSync(join(root, 'npm')).sort().map((dir) => [`restthumbs-${dir}`, pkg.version]),
  )
  writeFileSync(join(stage, 'package/package.json'), `${JSON.stringify(staged, null, 2)}\n`)
  rmSync(join(tmp, packed))
  const mainTgz = join(tmp, run('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: join(stage, 'package') }).trim())
  const files = run('tar', ['tzf', mainTgz]).split('\n')
  check(!files.some((f) => f.endsWith('.node') || f.startsWith('package/ts/') || f.endsWith('.map')), 'the main tarball holds no binary, no TypeScript sources, no source maps')
  check(['package/dist/index.js', 'package/dist/index.cjs', 'package/dist/index.d.cts', 'package/binding.cjs', 'package/LICENSE'].every((f) => files.includes(f)), 'the main tarball holds both entries, their typings, the loader and LICENSE')
  log(`tarballs: ${packed} ${(statSync(mainTgz).size / 1024).toFixed(1)} KiB, ${platformTgz.slice(tmp.length + 1)} ${(statSync(platformTgz).size / 1048576).toFixed(2)} MiB`)

  // 2. Package lint on exactly what is published.
  const bins = join(root, 'node_modules/.bin')
  run(join(bins, 'publint'), ['--strict', join(stage, 'package')])
  check(true, 'publint --strict')
  run(join(bins, 'attw'), [mainTgz, '--profile', 'node16'])
  check(true, 'attw --profile node16 (ESM and CommonJS typings resolve)')

  // 3. A fresh project, no toolchain on PATH.
  const env = { ...process.env, PATH: pathWithoutToolchains(), RESTTHUMBS_KEYS: 'install-test-key', npm_config_update_notifier: 'false' }
  for (const tool of ['cargo', 'rustc', 'nasm', 'cc']) {
    check(run('bash', ['-c', `command -v ${tool} || true`], { env }).trim() === '', `${tool} is not on PATH`)
  }
  const app = join(tmp, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n')
  cpSync(join(root, 'media'), join(app, 'media'), { recursive: true })
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', mainTgz, platformTgz], { cwd: app, env })
  check(existsSync(join(app, `node_modules/restthumbs-${platform}/restthumbs.${platform}.node`)), `npm installed restthumbs-${platform}`)
  const inApp = (args) => run('node', args, { cwd: app, env })

  const esm = `import { thumbnail } from 'restthumbs'
import { readFileSync, writeFileSync } from 'node:fs'
const t = await thumbnail(readFileSync('media/sunset.jpg'), { width: 160, height: 120, method: 'crop', format: 'webp' })
writeFileSync('esm.webp', t.data)`
  inApp(['--input-type=module', '-e', esm])
  await checkImage(readFileSync(join(app, 'esm.webp')), 'webp', 160, 120, "import { thumbnail } from 'restthumbs'")

  const cjs = `const { thumbnail } = require('restthumbs')
const { readFileSync, writeFileSync } = require('node:fs')
thumbnail(readFileSync('media/mandelbrot.jpg'), { width: 90, height: 90, method: 'crop', format: 'jpeg' }).then((t) => writeFileSync('cjs.jpg', t.data))`
  inApp(['--no-experimental-require-module', '-e', cjs])
  await checkImage(readFileSync(join(app, 'cjs.jpg')), 'jpeg', 90, 90, "require('restthumbs') with require(esm) off")

  // Nothing heavy at import time: undici's WebAssembly parser reserves more address space than a
  // 3 GiB limit allows, so importing it eagerly would kill both lines below.
  const limited = "ulimit -v 3145728 && node --input-type=module -e \"await import('restthumbs')\" && node -e \"require('restthumbs')\" && echo imported"
  check(run('bash', ['-c', limited], { cwd: app, env }).trim() === 'imported', 'import and require under a 3 GiB address-space limit (no WebAssembly at import)')

  const npx = (args) => run('npx', ['--no-install', 'restthumbs', ...args], { cwd: app, env })
  check(npx(['--version']).trim() === pkg.version, `npx restthumbs --version prints ${pkg.version}`)
  check(/Usage: restthumbs/.test(npx(['--help'])), 'npx restthumbs --help')
  npx(['thumbnail', 'media/sunset.jpg', 'cli.jpg', '-s', '120x80', '-m', 'crop'])
  await checkImage(readFileSync(join(app, 'cli.jpg')), 'jpeg', 120, 80, 'npx restthumbs thumbnail')
  const url = npx(['url', 'rings.png', '100x100', 'crop', '.png']).trim()
  check(/^\/thumbnails\/rings\.png\/100x100\/crop\/[\w-]+\.png$/.test(url), `npx restthumbs url prints a signed URL (${url})`)

  // 4. The server answers that URL with the image.
  const port = await freePort()
  const server = spawn('npx', ['--no-install', 'restthumbs', 'serve', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npx runs the server as a child, and both must stop at the end.
    detached: true,
  })
  let output = ''
  server.stdout.on('data', (b) => (output += b))
  server.stderr.on('data', (b) => (output += b))
  try {
    let res
    for (let i = 0; i < 100 && !res; i++) {
      res = await fetch(`http://127.0.0.1:${port}${url}`).catch(() => new Promise((r) => setTimeout(r, 100)))
    }
    if (!res) throw new Error(`restthumbs serve did not answer on port ${port}: ${output}`)
    check(res.status === 200 && res.headers.get('content-type') === 'image/png', `serve answers ${url} with ${res.status} ${res.headers.get('content-type')}`)
    await checkImage(Buffer.from(await res.arrayBuffer()), 'png', 100, 100, 'npx restthumbs serve')
    const forged = await fetch(`http://127.0.0.1:${port}${url.replace(/\/[\w-]+\.png$/, '/AAAAAAAAAAAAAAAAAAAAAA.png')}`)
    check(forged.status === 401, `serve refuses a forged signature with 401 (got ${forged.status})`)
  } finally {
    process.kill(-server.pid, 'SIGTERM')
  }
} catch (err) {
  failures++
  console.error(`install-test: FAIL ${err.stack ?? err}${err.stderr ? `\n${err.stderr}` : ''}`)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
log(`${failures ? `${failures} check(s) failed` : 'all checks passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
process.exitCode = failures ? 1 : 0
