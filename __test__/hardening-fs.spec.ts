import { fork } from 'node:child_process'
import { copyFile, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { tempPathFor } from '../ts/fs.js'
import { InvalidUrlError, MAX_SEGMENT_BYTES, PathTooLongError } from '../ts/server/errors.js'
import { checkRelativePath } from '../ts/server/paths.js'
import { LocalOutputStorage } from '../ts/server/storage/local-output.js'
import { sweepTemps } from '../ts/server/storage/temp-files.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { parseThumbnailPath } from '../ts/server/url.js'
import { get, KEY, MEDIA, rig, sign, signer } from './helpers/handler-rig.js'
import { tempDir } from './helpers/tmp.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Every file under `dir`, relative, including hidden ones. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name
    if (e.isDirectory()) out.push(...(await walk(path.join(dir, e.name), rel)))
    else out.push(rel)
  }
  return out
}

test('a symlink loop in the source root answers 404, not 500', async (t) => {
  const errors: unknown[] = []
  const r = await rig(t, { logger: { error: (e) => errors.push(e) } })
  await symlink('loop-b.jpg', path.join(r.sources, 'loop-a.jpg'))
  await symlink('loop-a.jpg', path.join(r.sources, 'loop-b.jpg'))
  await symlink('dir-b', path.join(r.sources, 'dir-a'))
  await symlink('dir-a', path.join(r.sources, 'dir-b'))
  for (const source of ['loop-a.jpg', 'dir-a/x.jpg']) {
    const res = await get(r.url + sign(source, '40x40', 'crop', '.jpg'))
    t.is(res.res.status, 404, source)
    t.is(res.text, 'Not found (ERR_SOURCE_NOT_FOUND)\n')
  }
  t.deepEqual(errors, [], 'nothing was logged as an unexpected error')
})

test('a source name longer than a filesystem name answers 414, not 500', async (t) => {
  const errors: unknown[] = []
  const r = await rig(t, { logger: { error: (e) => errors.push(e) } })
  const long = `${'n'.repeat(300)}.jpg`
  // Signed by hand: the URL builder refuses it (next test).
  const secret = signer.sign(long, '40x40', 'crop', '.jpg')
  const res = await get(`${r.url}/thumbnails/${long}/40x40/crop/${secret}.jpg`)
  t.is(res.res.status, 414)
  t.is(res.text, 'Path too long (ERR_PATH_TOO_LONG)\n')
  t.deepEqual(errors, [])
})

test('the path checks limit segment and path length in UTF-8 bytes', (t) => {
  t.notThrows(() => checkRelativePath(`${'a'.repeat(MAX_SEGMENT_BYTES - 4)}.jpg`))
  t.throws(() => checkRelativePath(`${'a'.repeat(MAX_SEGMENT_BYTES - 3)}.jpg`), { instanceOf: PathTooLongError, message: /at most 255 bytes/ })
  // 128 two-byte characters: 256 bytes although only 128 characters.
  const e = t.throws(() => checkRelativePath(`d/${'é'.repeat(128)}`), { instanceOf: PathTooLongError })
  t.is(e.status, 414)
  t.is(e.code, 'ERR_PATH_TOO_LONG')
  const deep = `${'abcdefghi/'.repeat(102)}x.jpg`
  t.true(deep.length > 1024)
  t.throws(() => checkRelativePath(deep), { instanceOf: PathTooLongError, message: /at most 1024 bytes/ })
  t.notThrows(() => checkRelativePath(`${'abcdefghi/'.repeat(101)}x.jpg`))
})

test('the URL builder refuses exactly the paths the server refuses', (t) => {
  const base = { basePath: '/thumbnails' }
  // A path of 2,048 characters is built and parsed; one more character is refused by both.
  const build = (source: string, maxPathLength?: number) =>
    thumbnailUrl(source, '10x10', 'crop', '.jpg', { signer, baseUrl: '/thumbnails', maxPathLength })
  // Segments of two 2-byte characters encode to 12 characters each, so the URL limit is crossed
  // well before the byte limit of the path checks.
  const grow = (n: number) => `${'éé/'.repeat(n)}x.jpg`
  let n = 0
  while (build(grow(n + 1), 10_000).length <= 2048) n++
  const fits = build(grow(n))
  t.true(fits.length <= 2048 && fits.length > 2040)
  t.notThrows(() => parseThumbnailPath(fits, base))
  const over = grow(n + 1)
  t.throws(() => build(over), { instanceOf: InvalidUrlError, message: /at most 2048 characters/ })
  const overUrl = build(over, 10_000)
  t.is(overUrl.length, fits.length + '%C3%A9%C3%A9/'.length, 'one more segment, percent-encoded')
  t.throws(() => parseThumbnailPath(overUrl, base), { instanceOf: InvalidUrlError, message: /at most 2048 characters/ })
  // An absolute base URL: only the path counts, as on the server.
  t.notThrows(() => thumbnailUrl(grow(n), '10x10', 'crop', '.jpg', { signer, baseUrl: 'https://cdn.example.com/thumbnails' }))
  // Names the filesystem cannot take are refused by both as well.
  const long = `${'n'.repeat(300)}.jpg`
  t.throws(() => build(long), { instanceOf: PathTooLongError })
})

test('renders write their temp files under the hidden temp folder, never beside the thumbnail', async (t) => {
  const seen: string[] = []
  const { nativeRenderer } = await import('../ts/server/renderer.js')
  const r = await rig(t, {
    renderer: {
      thumbnail: nativeRenderer.thumbnail,
      thumbnailFile: (src, dst, o) => {
        seen.push(dst)
        return nativeRenderer.thumbnailFile(src, dst, o)
      },
    },
  })
  const u = sign('sunset.jpg', '64x48', 'crop', '.jpg')
  const res = await get(r.url + u)
  t.is(res.res.status, 200)
  t.is((await sharp(res.body).metadata()).width, 64)
  t.is(seen.length, 1)
  t.is(path.dirname(seen[0]), path.join(r.outputs, '.restthumbs-tmp'))
  t.true((await stat(path.join(r.outputs, u.slice('/thumbnails/'.length)))).isFile())
  const files = await walk(r.outputs)
  t.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], 'no temp file is left anywhere')
  // The temp folder is not reachable through the app either.
  const hidden = await get(`${r.url}/thumbnails/.restthumbs-tmp/x.jpg/1x1/crop/abc.jpg`)
  t.is(hidden.res.status, 400)
})

test('a worker killed mid-write leaves its temp outside the served tree, and the next start sweeps it', async (t) => {
  const dir = await tempDir(t, 'crash')
  const sources = path.join(dir, 'media')
  const outputs = path.join(dir, 'thumbnails')
  await mkdir(sources)
  await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(sources, 'sunset.jpg'))
  const child = fork(path.join(HERE, 'helpers', 'crash-writer.ts'), [], {
    env: { ...process.env, RESTTHUMBS_KEYS: KEY, RESTTHUMBS_SOURCE_ROOT: sources, RESTTHUMBS_OUTPUT_ROOT: outputs },
    execArgv: ['--import', '@oxc-node/core/register'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  t.teardown(() => child.kill('SIGKILL'))
  const message = (type: string) =>
    new Promise<{ url?: string; path?: string }>((resolve, reject) => {
      child.on('message', (m: { type: string; url?: string; path?: string }) => m.type === type && resolve(m))
      child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)))
    })
  const ready = message('ready')
  const { url } = await ready
  const writing = message('writing')
  const u = sign('sunset.jpg', '300x200', 'scale', '.jpg')
  fetch(url + u).catch(() => undefined)
  const { path: temp } = await writing
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await exited

  t.is(path.dirname(temp!), path.join(outputs, '.restthumbs-tmp'))
  t.true((await stat(temp!)).size > 0, 'the half-written temp survived the crash')
  const served = (await walk(outputs)).filter((f) => !f.startsWith('.restthumbs-tmp/'))
  t.deepEqual(served, [], 'nothing half written is inside the served tree')

  // A temp of a live process (this one) is left alone; the dead worker's is removed.
  const live = tempPathFor(path.join(outputs, 'x.jpg'), path.join(outputs, '.restthumbs-tmp'))
  await writeFile(live, 'in progress')
  const storage = new LocalOutputStorage({ root: outputs })
  t.is(await storage.swept, 1)
  await t.throwsAsync(stat(temp!), { code: 'ENOENT' })
  t.true((await stat(live)).isFile())
  // Old enough, any temp goes, whoever wrote it.
  t.is(await sweepTemps(storage.tempDir, -1), 1)
  await t.throwsAsync(stat(live), { code: 'ENOENT' })
})
