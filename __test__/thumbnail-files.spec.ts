import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { DecodeError, InvalidOptionError, IoError, thumbnailFile } from '../ts/index.js'
import { thumbnailFiles } from '../ts/image/thumbnail.js'
import { nativeRenderer } from '../ts/server/renderer.js'
import { SharedDecodeRenderer } from '../ts/warm/shared-decode.js'
import { tempDir } from './helpers/tmp.js'

/** 1200×800 lossy WebP: a horizontal red ramp over a vertical green ramp. */
async function gradientWebp(): Promise<Buffer> {
  const raw = Buffer.alloc(1200 * 800 * 3)
  for (let y = 0; y < 800; y++) for (let x = 0; x < 1200; x++) raw.set([Math.round((x * 255) / 1199), Math.round((y * 255) / 799), 90], (y * 1200 + x) * 3)
  return sharp(raw, { raw: { width: 1200, height: 800, channels: 3 } }).webp({ quality: 90 }).toBuffer()
}

async function meanAbsDiff(a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((f) => sharp(f).raw().toBuffer()))
  let sum = 0
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i])
  return sum / x.length
}

const SIZES = [
  { width: 100, height: 100, method: 'crop', format: 'jpeg', name: 'a.jpg', want: [100, 100] },
  { width: 500, height: 0, method: 'scale', format: 'webp', name: 'b.webp', want: [500, 333] },
  { width: 0, height: 200, method: 'scale', format: 'jpeg', name: 'c.jpg', want: [300, 200] },
] as const

test('thumbnailFiles writes every size from one decode, each close to its single render', async (t) => {
  const dir = await tempDir(t, 'files')
  const src = path.join(dir, 'src.webp')
  await writeFile(src, await gradientWebp())
  const results = await thumbnailFiles(
    src,
    SIZES.map((s) => ({ dst: path.join(dir, 'many', s.name), options: { width: s.width, height: s.height, method: s.method, format: s.format } })),
  )
  for (const [i, s] of SIZES.entries()) {
    const r = results[i]
    if (r instanceof Error) return t.fail(r.message)
    t.deepEqual([r.width, r.height], [...s.want])
    const single = path.join(dir, 'one', s.name)
    await thumbnailFile(src, single, { width: s.width, height: s.height, method: s.method, format: s.format })
    const meta = await sharp(path.join(dir, 'many', s.name)).metadata()
    t.deepEqual([meta.width, meta.height, meta.format], [...s.want, s.format])
    t.true((await meanAbsDiff(path.join(dir, 'many', s.name), single)) < 2, s.name)
  }
})

test('thumbnailFiles fails one unwritable item alone, a bad source for all, and bad options before any work', async (t) => {
  const dir = await tempDir(t, 'files-bad')
  const src = path.join(dir, 'src.webp')
  await writeFile(src, await gradientWebp())
  const results = await thumbnailFiles(src, [
    { dst: path.join(dir, 'ok.png'), options: { width: 30, height: 20, format: 'png' } },
    // Its folder would have to be inside a file.
    { dst: path.join(dir, 'src.webp', 'no.png'), options: { width: 30, height: 20, format: 'png' } },
  ])
  t.is((results[0] as { width: number }).width, 30)
  t.true(results[1] instanceof IoError, String(results[1]))
  t.is((await sharp(path.join(dir, 'ok.png')).metadata()).width, 30)

  const bad = path.join(dir, 'bad.webp')
  await writeFile(bad, Buffer.from('RIFF\x10\0\0\0WEBPVP8 \x04\0\0\0abcd', 'latin1'))
  await t.throwsAsync(thumbnailFiles(bad, [{ dst: path.join(dir, 'x.png'), options: { width: 10, format: 'png' } }]), { instanceOf: DecodeError })
  await t.throwsAsync(thumbnailFiles(src, [{ dst: path.join(dir, 'y.png'), options: { width: 30, format: 'png', maxOutputSide: 10 } }]), { instanceOf: InvalidOptionError })
  t.deepEqual((await readdir(dir)).sort(), ['bad.webp', 'ok.png', 'src.webp'])
})

test('the shared-decode renderer makes a group in one native call and removes what nobody took', async (t) => {
  const dir = await tempDir(t, 'shared')
  const src = path.join(dir, 'src.webp')
  await writeFile(src, await gradientWebp())
  const temp = path.join(dir, 'tmp')
  await (await import('node:fs/promises')).mkdir(temp)
  let calls = 0
  const counting = { ...nativeRenderer, thumbnailFile: (...a: Parameters<typeof nativeRenderer.thumbnailFile>) => (calls++, nativeRenderer.thumbnailFile(...a)) }
  const shared = new SharedDecodeRenderer(counting, temp)
  const opts = SIZES.map((s) => ({ width: s.width, height: s.height, method: s.method, format: s.format, quality: 85 }))
  await shared.group(opts, async () => {
    // Two of the three are asked for; the third was foreseen but is never taken.
    const [a, b] = await Promise.all([0, 1].map((i) => shared.thumbnailFile(src, path.join(dir, SIZES[i].name), opts[i])))
    t.deepEqual([a.width, a.height, b.width, b.height], [100, 100, 500, 333])
    // Not foreseen: rendered alone.
    const c = await shared.thumbnailFile(src, path.join(dir, 'other.png'), { width: 20, height: 20, method: 'crop', format: 'png', quality: 85 })
    t.is(c.width, 20)
  })
  t.is(calls, 1)
  t.deepEqual(await readdir(temp), [])
  t.is((await sharp(path.join(dir, 'b.webp')).metadata()).width, 500)
})
