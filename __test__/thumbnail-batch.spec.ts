import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { runCli } from './helpers/cli.js'
import { tempDir, type Teardown } from './helpers/tmp.js'

async function jpeg(file: string, width: number, height: number, shade: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  await sharp({ create: { width, height, channels: 3, background: { r: shade, g: 255 - shade, b: 90 } } })
    .jpeg()
    .toFile(file)
}

function withDir(t: Teardown): Promise<string> {
  return tempDir(t, 'batch')
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort()
}

test('same-named inputs in different folders keep their folder structure under the output folder', async (t) => {
  const dir = await withDir(t)
  const tree = path.join(dir, 'tree')
  for (let i = 0; i < 4; i++) {
    await jpeg(path.join(tree, 'a', `p${i}.jpg`), 80, 60, i * 50)
    await jpeg(path.join(tree, 'b', 'deep', `p${i}.jpg`), 60, 80, 200 - i * 50)
  }
  const out = path.join(dir, 'out')
  const r = await runCli(['thumbnail', path.join(tree, 'a', '*'), path.join(tree, 'b', 'deep', '*'), out + '/', '--size', '30x20', '--method', 'crop'])
  t.is(r.code, 0, r.stderr)
  const written = await files(out)
  t.deepEqual(written, [0, 1, 2, 3].flatMap((i) => [`a/p${i}.jpg`, `b/deep/p${i}.jpg`]).sort())
  t.is(r.stdout.trim().split('\n').length, 8)
  for (const f of written) {
    const meta = await sharp(path.join(out, f)).metadata()
    t.is(meta.width, 30, f)
    t.is(meta.height, 20, f)
  }
  // The two p0 thumbnails come from different sources: red-ish versus green-ish.
  const [a, b] = await Promise.all(['a/p0.jpg', 'b/deep/p0.jpg'].map((f) => sharp(path.join(out, f)).stats()))
  t.true(a.channels[0].mean < a.channels[1].mean)
  t.true(b.channels[0].mean > b.channels[1].mean)
})

test('existing outputs are refused before any work unless --overwrite, and colliding outputs always are', async (t) => {
  const dir = await withDir(t)
  await jpeg(path.join(dir, 'in', 'x.jpg'), 90, 90, 10)
  await jpeg(path.join(dir, 'in', 'y.jpg'), 90, 90, 20)
  const out = path.join(dir, 'out')
  t.is((await runCli(['thumbnail', path.join(dir, 'in'), out, '--size', '40x40'])).code, 0)
  const before = await readFile(path.join(out, 'x.jpg'))
  const again = await runCli(['thumbnail', path.join(dir, 'in'), out, '--size', '20x20'])
  t.is(again.code, 1)
  t.regex(again.stderr, /^error: ERR_OUTPUT_CONFLICT: 2 outputs already exist: .*x\.jpg, .*y\.jpg; pass --overwrite to replace them$/m)
  t.deepEqual(await readFile(path.join(out, 'x.jpg')), before)
  const forced = await runCli(['thumbnail', path.join(dir, 'in'), out, '--size', '20x20', '--overwrite'])
  t.is(forced.code, 0, forced.stderr)
  t.is((await sharp(path.join(out, 'x.jpg')).metadata()).width, 20)

  // x.jpg and x.png would both become x.jpg: refused, and nothing is written.
  await sharp(path.join(dir, 'in', 'x.jpg')).png().toFile(path.join(dir, 'in', 'x.png'))
  const clash = await runCli(['thumbnail', path.join(dir, 'in'), path.join(dir, 'clash'), '--overwrite'])
  t.is(clash.code, 1)
  t.regex(clash.stderr, /ERR_OUTPUT_CONFLICT: 1 outputs would be written by more than one input: .*x\.jpg \(from .*x\.jpg and .*x\.png\)/)
  await t.throwsAsync(stat(path.join(dir, 'clash')), { code: 'ENOENT' })
})

test('an output name with an unsupported extension is an error, not a folder', async (t) => {
  const dir = await withDir(t)
  await jpeg(path.join(dir, 'x.jpg'), 50, 50, 0)
  const r = await runCli(['thumbnail', path.join(dir, 'x.jpg'), path.join(dir, 'out.bmp')])
  t.is(r.code, 1)
  t.regex(r.stderr, /^error: ERR_INVALID_OPTION: Expected an output file ending in \.jpg, \.jpeg, \.png, \.webp, \.avif or a folder but received ".*out\.bmp"/)
  await t.throwsAsync(stat(path.join(dir, 'out.bmp')), { code: 'ENOENT' })
  // Several inputs to a file name are refused too.
  await jpeg(path.join(dir, 'y.jpg'), 50, 50, 0)
  const many = await runCli(['thumbnail', path.join(dir, 'x.jpg'), path.join(dir, 'y.jpg'), path.join(dir, 'out.png')])
  t.is(many.code, 1)
  t.regex(many.stderr, /ERR_INVALID_OPTION: Expected a folder as the output of 2 inputs/)
  await t.throwsAsync(stat(path.join(dir, 'out.png')), { code: 'ENOENT' })
})

test('every failed input is listed with its reason and the others are still written', async (t) => {
  const dir = await withDir(t)
  for (let i = 0; i < 8; i++) await jpeg(path.join(dir, 'in', `ok${i}.jpg`), 64, 48, i * 30)
  await writeFile(path.join(dir, 'in', 'broken.jpg'), Buffer.from('definitely not an image'))
  const good = await readFile(path.join(dir, 'in', 'ok0.jpg'))
  await writeFile(path.join(dir, 'in', 'truncated.jpg'), good.subarray(0, 40))
  const out = path.join(dir, 'out')
  const r = await runCli(['thumbnail', path.join(dir, 'in'), out, '--size', '32x24', '--jobs', '3'])
  t.is(r.code, 1)
  const failed = r.stderr.split('\n').filter((l) => l.startsWith('failed: '))
  t.is(failed.length, 2, r.stderr)
  t.truthy(failed.find((l) => /broken\.jpg: ERR_[A-Z_]+: \S/.test(l)))
  t.truthy(failed.find((l) => /truncated\.jpg: ERR_[A-Z_]+: \S/.test(l)))
  t.regex(r.stderr, /error: ERR_BATCH_FAILED: 2 of 10 thumbnails failed/)
  t.deepEqual(await files(out), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `ok${i}.jpg`))
  t.is(r.stdout.trim().split('\n').length, 8)
  for (const f of await files(out)) t.is((await sharp(path.join(out, f)).metadata()).height, 24)
})
