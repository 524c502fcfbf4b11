// `restthumbs url` runs its plain form without commander (a separate small bundle) for start-up
// speed. These specs hold that fast path to exactly what the full command line prints, and keep
// commander and the rest of the CLI out of it.
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'

import { ensureBuilt, ROOT, runCli, runSourceCli } from './helpers/cli.js'
import { tempDir } from './helpers/tmp.js'

const KEYS = { RESTTHUMBS_KEYS: 'fast-path-key' }

// CONFIG stands for a config file with its own key and base path, written for each test.
const CONFIG = '<config>'
for (const [what, args, env] of [
  ['a URL with --base=', ['url', 'a b.jpg', 'x20', 'smart', 'webp', '--base=https://cdn.example/t/'], KEYS],
  ['the key and base path of a config file (-c before the arguments)', ['url', '-c', CONFIG, 'a.jpg', '10x10', 'crop', '.png'], {}],
  ['a config file and -b after the arguments', ['url', 'a.jpg', '10x10', 'crop', '.png', '--config', CONFIG, '-b', '/p'], {}],
  ['a config file with an unknown setting', ['url', '-c', path.join(ROOT, 'schema', 'config.schema.json'), 'a.jpg', '10x10', 'crop', '.png'], KEYS],
  ['the development key warning', ['url', 'a.jpg', '10x', 'scale', '.jpg'], {}],
  ['an invalid method', ['url', 'a.jpg', '10x10', 'nope', '.jpg'], KEYS],
  ['a path that climbs out of the source root', ['url', '../etc/passwd', '10x10', 'crop', '.jpg'], KEYS],
  ['a missing config file', ['url', '-c', '/nonexistent/restthumbs.json', 'a.jpg', '10x10', 'crop', '.jpg'], KEYS],
  ['a missing argument (left to commander)', ['url', 'a.jpg', '10x10', 'crop'], KEYS],
  ['--help (left to commander)', ['url', '--help'], KEYS],
] as const) {
  test(`the built url command prints what the full command line prints: ${what}`, async (t) => {
    const config = path.join(await tempDir(t, 'cli-url'), 'config.json')
    await writeFile(config, JSON.stringify({ keys: ['key-from-file'], basePath: '/from-file/' }))
    const argv = args.map((a) => (a === CONFIG ? config : a))
    const [built, source] = await Promise.all([runCli(argv, { env }), runSourceCli(argv, env)])
    t.is(built.stdout, source.stdout)
    t.is(built.stderr, source.stderr)
    t.is(built.code, source.code)
    t.true(built.stdout.length + built.stderr.length > 0)
  })
}

test('the url bundle signs without loading commander, cli-progress or the other commands', (t) => {
  ensureBuilt()
  const script = [
    "const { runUrl } = require('./dist/cli-url.cjs')",
    "if (!runUrl(['a.jpg', '10x10', 'crop', '.jpg'])) throw new Error('the fast path refused the plain form')",
    "console.log(JSON.stringify(Object.keys(require.cache).map((f) => require('node:path').relative(process.cwd(), f))))",
  ].join('\n')
  const out = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, ...KEYS }, encoding: 'utf8' }).trim().split('\n')
  t.regex(out[0], /^\/thumbnails\/a\.jpg\/10x10\/crop\/[\w-]{22}\.jpg$/)
  const loaded = JSON.parse(out[1]) as string[]
  t.deepEqual(loaded.filter((f) => f.includes('node_modules') || f.startsWith('dist/cli.cjs')), [], loaded.join(', '))
  t.true(loaded.includes(path.join('dist', 'cli-url.cjs')))
})
