// Without the platform binary: the built package copied to a scratch folder with no .node file
// and no platform package, as after `npm install --omit=optional`. What does not need the Rust
// core still works; what needs it fails with ERR_NATIVE_BINDING naming the package and the fix.
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import test from 'ava'

import { platformSuffix } from '../ts/platform.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const suffix = platformSuffix()
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
let dir: string

test.before(() => {
  if (!existsSync(join(root, 'dist/index.cjs'))) throw new Error('dist/ is not built: run npm run build:ts')
  dir = mkdtempSync(join(tmpdir(), 'restthumbs-nobinding-'))
  for (const entry of ['dist', 'bin', 'binding.cjs', 'package.json']) cpSync(join(root, entry), join(dir, entry), { recursive: true })
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
})
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

test('without the binary, the CLI still prints its version, its help and signed URLs', async (t) => {
  const env = { ...process.env, RESTTHUMBS_KEYS: 'k' }
  t.is((await run(process.execPath, ['bin/restthumbs.js', '--version'], { cwd: dir })).stdout.trim(), version)
  t.regex((await run(process.execPath, ['bin/restthumbs.js', '--help'], { cwd: dir })).stdout, /Usage: restthumbs/)
  const url = (await run(process.execPath, ['bin/restthumbs.js', 'url', 'a.jpg', '10x10', 'crop', '.jpg'], { cwd: dir, env })).stdout.trim()
  // node:crypto signs exactly as the Rust core does.
  t.is(url, thumbnailUrl('a.jpg', '10x10', 'crop', '.jpg', { signer: new Signer({ keys: ['k'] }), baseUrl: '/thumbnails/' }))
})

for (const [kind, args] of [
  ['import', ['--input-type=module', '-e', "const { thumbnail } = await import('./dist/index.js'); await thumbnail(Buffer.alloc(8), { width: 8 }).catch((e) => console.log(e.code + ' ' + e.name + ' ' + e.message))"]],
  ['require', ['-e', "require('./dist/index.cjs').thumbnail(Buffer.alloc(8), { width: 8 }).catch((e) => console.log(e.code + ' ' + e.name + ' ' + e.message))"]],
] as const) {
  test(`without the binary, thumbnail() through ${kind} names the platform package and the install command`, async (t) => {
    const { stdout } = await run(process.execPath, [...args], { cwd: dir })
    t.true(stdout.startsWith('ERR_NATIVE_BINDING NativeBindingError '), stdout)
    t.true(stdout.includes(`restthumbs-${suffix} is not installed`), stdout)
    t.true(stdout.includes(`npm install restthumbs-${suffix}@${version}`), stdout)
  })
}
