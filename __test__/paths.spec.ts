import { mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'

import { InvalidOptionError } from '../ts/errors.js'
import { PathTraversalError, SourceNotFoundError, SourceTooLargeError } from '../ts/server/errors.js'
import { checkRelativePath, isInside, SafeRoot, safeResolve } from '../ts/server/paths.js'
import { LocalOutputStorage } from '../ts/server/storage/local-output.js'
import { LocalSourceStorage } from '../ts/server/storage/local-source.js'
import { tempDir } from './helpers/tmp.js'

/*
 * Layout, in a fresh temp dir per test:
 *   base/root/ok.jpg, base/root/sub/inner.jpg, base/root/dir/
 *   base/root-evil/secret.jpg   (sibling sharing the root's name as a prefix)
 *   base/outside/secret.jpg
 */
async function layout(t: { teardown(fn: () => Promise<void>): void }) {
  const base = await tempDir(t, 'paths')
  const root = path.join(base, 'root')
  await mkdir(path.join(root, 'sub'), { recursive: true })
  await mkdir(path.join(root, 'dir'))
  await mkdir(path.join(base, 'root-evil'))
  await mkdir(path.join(base, 'outside'))
  await writeFile(path.join(root, 'ok.jpg'), 'OK')
  await writeFile(path.join(root, 'sub', 'inner.jpg'), 'INNER')
  await writeFile(path.join(base, 'root-evil', 'secret.jpg'), 'EVIL')
  await writeFile(path.join(base, 'outside', 'secret.jpg'), 'SECRET')
  return { base, root }
}

const PAYLOADS: readonly string[] = [
  '..',
  '../outside/secret.jpg',
  'sub/../../outside/secret.jpg',
  '../root-evil/secret.jpg',
  '..%2foutside%2fsecret.jpg',
  '%2e%2e/outside/secret.jpg',
  '%2E%2E%2Foutside%2Fsecret.jpg',
  '%252e%252e/outside/secret.jpg',
  '..%252foutside',
  '%c0%ae%c0%ae/outside/secret.jpg',
  '%c0%af',
  '%e0%80%ae%e0%80%ae/x',
  '%u002e%u002e/outside',
  '....//outside/secret.jpg',
  '....',
  '..\\outside\\secret.jpg',
  'sub\\..\\..\\outside',
  'ok.jpg\u0000.png',
  'ok.jpg%00.png',
  '\uff0e\uff0e/outside/secret.jpg',
  '\u2025/outside/secret.jpg',
  '\ufe52\ufe52/outside',
  'sub\uff0f..\uff0f..',
  'sub\uff3c..',
  '/etc/passwd',
  '//etc/passwd',
  'C:/Windows/win.ini',
  'c:\\windows\\win.ini',
  '.',
  './ok.jpg',
  'sub/./inner.jpg',
  'sub//inner.jpg',
  'sub/',
  '',
  '.git/config',
  '..;/outside/secret.jpg',
  'sub/\n/inner.jpg',
  '\ud800.jpg',
]

test(`at least 30 traversal payloads are refused by the syntactic check`, (t) => {
  t.true(PAYLOADS.length >= 30)
  for (const p of PAYLOADS) {
    const err = t.throws(() => checkRelativePath(p), { instanceOf: PathTraversalError }, JSON.stringify(p))
    t.is(err.code, 'ERR_PATH_TRAVERSAL')
    t.is(err.status, 400)
    t.is(err.path, p)
  }
})

test('every traversal payload is refused by safeResolve and SafeRoot.resolveParent without touching the target', async (t) => {
  const { root } = await layout(t)
  for (const p of PAYLOADS) {
    await t.throwsAsync(safeResolve(root, p), { instanceOf: PathTraversalError }, JSON.stringify(p))
    await t.throwsAsync(safeResolve(root, p, { allowMissing: true }), { instanceOf: PathTraversalError }, JSON.stringify(p))
    await t.throwsAsync(new SafeRoot(root).resolveParent(p), { instanceOf: PathTraversalError }, JSON.stringify(p))
  }
})

test('names that only look unusual resolve inside the root', async (t) => {
  const { root } = await layout(t)
  for (const name of ['a..b.jpg', 'x.y.z.jpg', '100% real.jpg', 'kätzchen.jpg', 'with space.jpg', 'a|b-c.jpg']) {
    await writeFile(path.join(root, name), name)
    t.is(await safeResolve(root, name), path.join(root, name))
  }
})

test('containment compares path segments, so a sibling sharing the prefix is outside', (t) => {
  t.true(isInside('/srv/root', '/srv/root'))
  t.true(isInside('/srv/root', '/srv/root/a/b'))
  t.false(isInside('/srv/root', '/srv/root-evil/secret.jpg'))
  t.false(isInside('/srv/root', '/srv'))
  t.false(isInside('/srv/root', '/etc/passwd'))
  t.true(isInside('/srv/root', '/srv/root/..a'))
})

test('a symlink to a directory outside the root is refused', async (t) => {
  const { base, root } = await layout(t)
  await symlink(path.join(base, 'outside'), path.join(root, 'escape'))
  const err = await t.throwsAsync(safeResolve(root, 'escape/secret.jpg'), { instanceOf: PathTraversalError })
  t.false(err.message.includes(base), 'the message must not leak absolute paths')
  await t.throwsAsync(new SafeRoot(root).resolveParent('escape/new.jpg'), { instanceOf: PathTraversalError })
  await t.throwsAsync(safeResolve(root, 'escape/new/deeper.jpg', { allowMissing: true }), { instanceOf: PathTraversalError })
})

test('a symlink to the prefix-sharing sibling directory is refused', async (t) => {
  const { base, root } = await layout(t)
  await symlink(path.join(base, 'root-evil'), path.join(root, 'evil'))
  await t.throwsAsync(safeResolve(root, 'evil/secret.jpg'), { instanceOf: PathTraversalError })
})

test('a symlinked file pointing outside the root is refused', async (t) => {
  const { base, root } = await layout(t)
  await symlink(path.join(base, 'outside', 'secret.jpg'), path.join(root, 'leak.jpg'))
  await t.throwsAsync(safeResolve(root, 'leak.jpg'), { instanceOf: PathTraversalError })
})

test('a dangling symlink cannot be written through', async (t) => {
  const { base, root } = await layout(t)
  await symlink(path.join(base, 'outside', 'not-yet.jpg'), path.join(root, 'dangling.jpg'))
  await t.throwsAsync(new SafeRoot(root).lookup('dangling.jpg'), { instanceOf: PathTraversalError })
  await t.throwsAsync(safeResolve(root, 'dangling.jpg', { allowMissing: true }), { instanceOf: PathTraversalError })
})

test('symlinks that stay inside the root, and a symlinked root, are followed', async (t) => {
  const { base, root } = await layout(t)
  await symlink(path.join(root, 'sub'), path.join(root, 'alias'))
  t.is(await safeResolve(root, 'alias/inner.jpg'), path.join(root, 'sub', 'inner.jpg'))
  await symlink(root, path.join(base, 'root-link'))
  t.is(await safeResolve(path.join(base, 'root-link'), 'ok.jpg'), path.join(root, 'ok.jpg'))
})

test('missing paths throw SourceNotFoundError unless allowMissing', async (t) => {
  const { root } = await layout(t)
  const err = await t.throwsAsync(safeResolve(root, 'nope/missing.jpg'), { instanceOf: SourceNotFoundError })
  t.is(err.status, 404)
  t.false(err.message.includes(root))
  t.is(await safeResolve(root, 'nope/missing.jpg', { allowMissing: true }), path.join(root, 'nope', 'missing.jpg'))
})

test('the local source storage reads files inside its root', async (t) => {
  const { root } = await layout(t)
  const storage = new LocalSourceStorage({ root })
  t.is((await storage.read('sub/inner.jpg')).toString(), 'INNER')
  t.is(await storage.localPath('ok.jpg'), path.join(root, 'ok.jpg'))
})

test('the local source storage answers 404 for missing files and directories without leaking paths', async (t) => {
  const { root } = await layout(t)
  const storage = new LocalSourceStorage({ root })
  for (const name of ['missing.jpg', 'dir', 'ok.jpg/child']) {
    const err = await t.throwsAsync(storage.read(name), { instanceOf: SourceNotFoundError }, name)
    t.is(err.code, 'ERR_SOURCE_NOT_FOUND')
    t.is(err.source, name)
    t.false(err.message.includes(root))
  }
  await t.throwsAsync(storage.localPath('dir'), { instanceOf: SourceNotFoundError })
  await t.throwsAsync(storage.read('../outside/secret.jpg'), { instanceOf: PathTraversalError })
})

test('the local source storage refuses files over maxBytes with 413', async (t) => {
  const { root } = await layout(t)
  await writeFile(path.join(root, 'big.jpg'), Buffer.alloc(1000, 7))
  const storage = new LocalSourceStorage({ root, maxBytes: 999 })
  const err = await t.throwsAsync(storage.read('big.jpg'), { instanceOf: SourceTooLargeError })
  t.is(err.status, 413)
  t.is(err.limit, 999)
  t.is((await storage.read('big.jpg', { maxBytes: 1000 })).length, 1000)
  t.throws(() => new LocalSourceStorage({ root, maxBytes: -3 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected positive integer for maxBytes but received -3 of type number',
  })
})

test('the output storage resolves not-yet-existing files and creates their parents', async (t) => {
  const { base, root } = await layout(t)
  const out = new LocalOutputStorage({ root: path.join(base, 'thumbs') })
  const rel = 'animals/kitten.jpg/100x0/crop/abc.jpg'
  t.is(await out.pathFor(rel), path.join(base, 'thumbs', ...rel.split('/')))
  t.false(await out.exists(rel))
  t.is(await out.stat(rel), null)
  const abs = await out.mkdirp(rel)
  t.true((await stat(path.dirname(abs))).isDirectory())
  await writeFile(abs, 'T')
  t.true(await out.exists(rel))
  await t.throwsAsync(out.pathFor('../root/ok.jpg'), { instanceOf: PathTraversalError })
  await symlink(root, path.join(base, 'thumbs', 'planted'))
  await t.throwsAsync(out.pathFor('planted/x.jpg'), { instanceOf: PathTraversalError })
  await t.throwsAsync(out.mkdirp('planted/new/x.jpg'), { instanceOf: PathTraversalError })
})

test('a new secret adopts the rendered variant by hard link instead of re-rendering', async (t) => {
  const { base } = await layout(t)
  const out = new LocalOutputStorage({ root: path.join(base, 'thumbs') })
  t.is(out.variantRoot, `${path.join(base, 'thumbs')}.variants`)
  const oldPath = 'a.jpg/10x10/crop/OLDSECRET.jpg'
  const newPath = 'a.jpg/10x10/crop/NEWSECRET.jpg'
  const variant = 'a.jpg/10x10-crop.jpg'
  t.false(await out.adopt(newPath, variant), 'nothing rendered yet')
  await writeFile(await out.mkdirp(oldPath), 'RENDERED')
  await out.remember(oldPath, variant)
  t.true(await out.adopt(newPath, variant))
  t.is(await readFile(await out.pathFor(newPath), 'utf8'), 'RENDERED')
  t.is((await stat(await out.pathFor(newPath))).ino, (await stat(await out.pathFor(oldPath))).ino)
  t.true(await out.adopt(oldPath, variant), 'an existing output is reported as present')
})

test('without a variant root every secret needs its own render', async (t) => {
  const { base } = await layout(t)
  const out = new LocalOutputStorage({ root: path.join(base, 'thumbs'), variantRoot: false })
  t.is(out.variantRoot, null)
  await writeFile(await out.mkdirp('a.jpg/1x1/crop/S1.jpg'), 'X')
  await out.remember('a.jpg/1x1/crop/S1.jpg', 'a.jpg/1x1-crop.jpg')
  t.false(await out.adopt('a.jpg/1x1/crop/S2.jpg', 'a.jpg/1x1-crop.jpg'))
})

test('every traversal payload is refused by the cached resolver before any lookup', async (t) => {
  const { root } = await layout(t)
  const paths = new SafeRoot(root)
  for (const p of PAYLOADS) {
    await t.throwsAsync(paths.lookup(p), { instanceOf: PathTraversalError }, JSON.stringify(p))
    await t.throwsAsync(paths.resolveParent(p), { instanceOf: PathTraversalError }, JSON.stringify(p))
    await t.throwsAsync(paths.prepare(p), { instanceOf: PathTraversalError }, JSON.stringify(p))
  }
})

test('the cached resolver finds files, directories and missing names inside the root', async (t) => {
  const { root } = await layout(t)
  const paths = new SafeRoot(root)
  const ok = await paths.lookup('sub/inner.jpg')
  t.is(ok.path, path.join(root, 'sub', 'inner.jpg'))
  t.true(ok.stats?.isFile())
  t.is(ok.stats?.size, 5)
  t.true(ok.folderExists)
  t.true((await paths.lookup('dir')).stats?.isDirectory())
  const missing = await paths.lookup('sub/new/deeper/x.jpg')
  t.is(missing.path, path.join(root, 'sub', 'new', 'deeper', 'x.jpg'))
  t.is(missing.stats, null)
  t.false(missing.folderExists)
  t.is((await paths.lookup('ok.jpg/child')).stats, null, 'a file where a folder is expected')
  await mkdir(path.join(root, 'sub', 'a', 'b', 'c'), { recursive: true })
  await writeFile(path.join(root, 'sub', 'a', 'b', 'c', 'deep.jpg'), 'DEEP')
  const deep = await paths.lookup('sub/a/b/c/deep.jpg')
  t.is(deep.path, path.join(root, 'sub', 'a', 'b', 'c', 'deep.jpg'))
  t.is(deep.stats?.size, 4)
  t.is((await paths.lookup('sub/a/b/new/x.jpg')).folderExists, false)
  const made = await paths.prepare('sub/new/deeper/x.jpg')
  t.is(made, path.join(root, 'sub', 'new', 'deeper', 'x.jpg'))
  t.true((await stat(path.dirname(made))).isDirectory())
})

test('the cached resolver refuses symlink escapes at every depth, and dangling symlinks', async (t) => {
  const { base, root } = await layout(t)
  await symlink(path.join(base, 'outside'), path.join(root, 'escape'))
  await symlink(path.join(base, 'root-evil'), path.join(root, 'sub', 'evil'))
  await symlink(path.join(base, 'outside', 'secret.jpg'), path.join(root, 'leak.jpg'))
  await symlink(path.join(base, 'outside', 'not-yet.jpg'), path.join(root, 'dangling.jpg'))
  await symlink(path.join(base, 'outside', 'not-yet'), path.join(root, 'sub', 'dangling-dir'))
  const paths = new SafeRoot(root)
  for (const p of ['escape/secret.jpg', 'escape/new/deeper.jpg', 'sub/evil/secret.jpg', 'leak.jpg', 'dangling.jpg', 'sub/dangling-dir/x.jpg']) {
    const err = await t.throwsAsync(paths.lookup(p), { instanceOf: PathTraversalError }, p)
    t.false(err.message.includes(base), 'the message must not leak absolute paths')
  }
  // Deep paths resolve their upper folders with one realpath: still contained.
  for (const p of ['sub/evil/a/b/c/x.jpg', 'escape/a/b/c/x.jpg']) {
    await t.throwsAsync(paths.lookup(p), { instanceOf: PathTraversalError }, p)
  }
  for (const p of ['escape/new/x.jpg', 'sub/evil/x.jpg', 'sub/dangling-dir/x.jpg', 'sub/evil/a/b/c/x.jpg']) {
    await t.throwsAsync(paths.prepare(p), { instanceOf: PathTraversalError }, p)
    await t.throwsAsync(paths.resolveParent(p), { instanceOf: PathTraversalError }, p)
  }
  // Symlinks that stay inside are followed, like safeResolve does.
  await symlink(path.join(root, 'sub'), path.join(root, 'alias'))
  t.is((await paths.lookup('alias/inner.jpg')).path, path.join(root, 'sub', 'inner.jpg'))
})

test('a folder swapped for an escaping symlink is refused once the cached answer expires', async (t) => {
  const { base, root } = await layout(t)
  await mkdir(path.join(root, 'swap'))
  const paths = new SafeRoot(root, { ttlMs: 30 })
  t.is((await paths.lookup('swap/x.jpg')).path, path.join(root, 'swap', 'x.jpg'))
  await rm(path.join(root, 'swap'), { recursive: true })
  await symlink(path.join(base, 'outside'), path.join(root, 'swap'))
  await new Promise((r) => setTimeout(r, 50))
  await t.throwsAsync(paths.lookup('swap/secret.jpg'), { instanceOf: PathTraversalError })
  // forget() drops the cache at once, whatever the lifetime.
  const slow = new SafeRoot(root, { ttlMs: 60_000 })
  await rm(path.join(root, 'swap'))
  await mkdir(path.join(root, 'swap'))
  await slow.lookup('swap/x.jpg')
  await rm(path.join(root, 'swap'), { recursive: true })
  await symlink(path.join(base, 'outside'), path.join(root, 'swap'))
  slow.forget()
  await t.throwsAsync(slow.lookup('swap/secret.jpg'), { instanceOf: PathTraversalError })
})

test('a cold output folder skips the variant lookup, an existing one adopts', async (t) => {
  const { base } = await layout(t)
  const out = new LocalOutputStorage({ root: path.join(base, 'thumbs') })
  const variant = 'a.jpg/10x10-crop.jpg'
  const oldPath = 'a.jpg/10x10/crop/OLD.jpg'
  await writeFile(await out.mkdirp(oldPath), 'RENDERED')
  await out.remember(oldPath, variant)
  const newPath = 'a.jpg/10x10/crop/NEW.jpg'
  const found = await out.lookup(newPath)
  t.true(found.folderExists)
  t.is(found.stats, null)
  // A caller claiming the folder was missing is believed: no variant lookup, no link.
  t.false(await out.adopt(newPath, variant, { path: found.path, folderExists: false }))
  t.true(await out.adopt(newPath, variant, found))
  t.is(await readFile(found.path, 'utf8'), 'RENDERED')
})

test('the cached resolver validates its options', (t) => {
  t.throws(() => new SafeRoot('/srv/x', { ttlMs: -3 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected non-negative integer for ttlMs but received -3 of type number',
  })
  t.throws(() => new SafeRoot('', {}), { instanceOf: InvalidOptionError, message: 'Expected non-empty string for root but received "" of type string' })
  t.notThrows(() => new SafeRoot('/srv/x', { ttlMs: 0, maxEntries: undefined }))
})
