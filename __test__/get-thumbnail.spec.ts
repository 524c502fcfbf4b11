import { randomUUID } from 'node:crypto'
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'

import { MemoryCache } from '../ts/cache/memory.js'
import { caches, configureCaches } from '../ts/cache/registry.js'
import type { RendererLike } from '../ts/server/contracts.js'
import { createThumbnailer, getThumbnail, type ThumbnailerOptions } from '../ts/server/get-thumbnail.js'
import { nativeRenderer } from '../ts/server/renderer.js'
import { ThumbnailCache } from '../ts/server/thumbnail-records.js'
import { parseCrop, parseThumbnailSize } from '../ts/server/thumbnail-size.js'
import { decode, fromRaw, meanColour, pixelAt, quadrants, type Raw } from './helpers/fixtures.js'
import { startRedis } from './helpers/redis.js'
import { tempDir, type Teardown } from './helpers/tmp.js'

const RED = [220, 30, 30]
const BLUE = [30, 30, 220]

/** 200×100: left half red, right half blue. */
function twoColours(): Raw {
  const width = 200
  const height = 100
  const data = Buffer.alloc(width * height * 3)
  for (let i = 0; i < width * height; i++) data.set(i % width < width / 2 ? RED : BLUE, i * 3)
  return { data, width, height, channels: 3 }
}

/** A renderer that counts what reaches the native pipeline. */
function counting(): RendererLike & { calls: number } {
  const r = {
    calls: 0,
    thumbnailFile: (src: string, dst: string, o: Parameters<RendererLike['thumbnailFile']>[2]) => {
      r.calls++
      return nativeRenderer.thumbnailFile(src, dst, o)
    },
    thumbnail: (input: Buffer, o: Parameters<RendererLike['thumbnail']>[1]) => {
      r.calls++
      return nativeRenderer.thumbnail(input, o)
    },
  }
  return r
}

interface Site {
  sources: string
  outputs: string
}

/** A source folder with `photo.jpg` (800×600 quadrants) and `split.png` (two colours). */
async function site(t: Teardown): Promise<Site> {
  const dir = await tempDir(t, 'getthumb')
  const sources = path.join(dir, 'media')
  await mkdir(path.join(sources, 'photos'), { recursive: true })
  await fromRaw(quadrants(800, 600)).jpeg({ quality: 95 }).toFile(path.join(sources, 'photos', 'photo.jpg'))
  await fromRaw(twoColours()).png().toFile(path.join(sources, 'split.png'))
  return { sources, outputs: path.join(dir, 'thumbnails') }
}

function thumbnailer(t: Teardown, s: Site, options: ThumbnailerOptions = {}) {
  const renderer = counting()
  const thumbs = createThumbnailer({
    sourceRoot: s.sources,
    outputRoot: s.outputs,
    cache: new MemoryCache({ location: randomUUID(), timeout: null, maxEntries: 10_000 }),
    renderer,
    ...options,
  })
  t.teardown(() => thumbs.close())
  return { thumbs, renderer }
}

async function decodeFile(p: string): Promise<Raw> {
  return decode(await readFile(p))
}

const near = (a: number[], b: readonly number[], tolerance = 12) => a.every((v, i) => Math.abs(v - b[i]) <= tolerance)

test('renders the thumbnail and its @2x alternative, with URLs for srcset', async (t) => {
  const s = await site(t)
  const { thumbs, renderer } = thumbnailer(t, s, { url: '/media/thumbs/' })
  const thumb = await thumbs.getThumbnail('photos/photo.jpg', '200x200', { crop: 'center' })
  t.regex(thumb.name, /^cache\/[0-9a-f]{3}\/[0-9a-f]{37}\.jpg$/)
  t.is(thumb.url, `/media/thumbs/${thumb.name}`)
  t.is(thumb.path, path.join(s.outputs, thumb.name))
  t.is(thumb.width, 200)
  t.is(thumb.height, 200)
  t.is(thumb.format, 'jpeg')
  t.false(thumb.dummy)
  const main = await decodeFile(thumb.path!)
  t.deepEqual([main.width, main.height], [200, 200])
  t.is(thumb.alternatives.length, 1)
  const [alt] = thumb.alternatives
  t.is(alt.resolution, 2)
  t.is(alt.url, thumb.url.replace(/\.jpg$/, '@2x.jpg'))
  t.is(alt.path, thumb.path!.replace(/\.jpg$/, '@2x.jpg'))
  const big = await decodeFile(alt.path!)
  t.deepEqual([big.width, big.height, alt.width, alt.height], [400, 400, 400, 400])
  t.is(thumb.srcset, `${thumb.url} 1x, ${alt.url} 2x`)
  t.is(renderer.calls, 2)
  t.is(thumbs.stats.renders, 2)
})

test('a record hit answers without rendering or touching the disk', async (t) => {
  const s = await site(t)
  const { thumbs, renderer } = thumbnailer(t, s)
  const first = await thumbs.getThumbnail('photos/photo.jpg', '200x100', { alternativeResolutions: [] })
  t.is(renderer.calls, 1)
  // python-thumbnails trusts its cache: the file is not even looked at on a hit.
  await unlink(first.path!)
  const again = await thumbs.getThumbnail('photos/photo.jpg', '200x100', { alternativeResolutions: [] })
  t.deepEqual(again, first)
  t.is(renderer.calls, 1)
  t.deepEqual(await thumbs.records.get(first.name), { name: first.name, path: first.name, width: 133, height: 100, size: (await thumbs.records.get(first.name))!.size, format: 'jpeg' })
})

test('force renders again even when the record and the file exist', async (t) => {
  const s = await site(t)
  const { thumbs, renderer } = thumbnailer(t, s)
  const first = await thumbs.getThumbnail('photos/photo.jpg', '100x100', { crop: 'top' })
  t.is(renderer.calls, 2)
  // Spoil the file: only a real re-render makes it an image again.
  await writeFile(first.path!, 'not an image')
  const forced = await thumbs.getThumbnail('photos/photo.jpg', '100x100', { crop: 'top', force: true })
  t.is(renderer.calls, 4)
  t.is(forced.url, first.url)
  const raw = await decodeFile(forced.path!)
  t.deepEqual([raw.width, raw.height], [100, 100])
})

test('a file on disk without a record is recorded, not rendered again', async (t) => {
  const s = await site(t)
  const { thumbs, renderer } = thumbnailer(t, s, { records: 'memory' })
  const first = await thumbs.getThumbnail('photos/photo.jpg', 'x150', { alternativeResolutions: [] })
  await thumbs.records.delete(first.name)
  const again = await thumbs.getThumbnail('photos/photo.jpg', 'x150', { alternativeResolutions: [] })
  t.is(renderer.calls, 1)
  t.deepEqual([again.width, again.height], [200, 150])
  t.truthy(await thumbs.records.get(first.name))
})

test('sizes are read as python-thumbnails writes them', async (t) => {
  const s = await site(t)
  const { thumbs } = thumbnailer(t, s, { alternativeResolutions: [] })
  for (const [size, expected] of [
    ['200', [200, 150]],
    [200, [200, 150]],
    ['x150', [200, 150]],
    ['200x', [200, 150]],
    ['200x100', [133, 100]],
  ] as const) {
    const thumb = await thumbs.getThumbnail('photos/photo.jpg', size)
    const raw = await decodeFile(thumb.path!)
    t.deepEqual([raw.width, raw.height], [...expected], `size ${size}`)
    t.deepEqual([thumb.width, thumb.height], [...expected], `size ${size}`)
  }
  const cropped = await thumbs.getThumbnail('photos/photo.jpg', '200x100', { crop: true })
  const raw = await decodeFile(cropped.path!)
  t.deepEqual([raw.width, raw.height], [200, 100])
})

test('the size grammar refuses anything else with ERR_INVALID_SIZE', (t) => {
  t.deepEqual(parseThumbnailSize('200'), { width: 200, height: 0, size: '200x0' })
  t.deepEqual(parseThumbnailSize('x80'), { width: 0, height: 80, size: '0x80' })
  t.deepEqual(parseThumbnailSize('20x30'), { width: 20, height: 30, size: '20x30' })
  for (const bad of ['', 'x', '0', '0x0', 'abc', '20x30x40', '-5', '2.5', ' 200', '99999', 0, -1, 1.5, null]) {
    const err = t.throws(() => parseThumbnailSize(bad as string), undefined, `size ${JSON.stringify(bad)}`)
    t.is((err as { code?: string }).code, 'ERR_INVALID_SIZE', `size ${JSON.stringify(bad)}`)
  }
})

test('crop positions keep the named side of the source', async (t) => {
  const s = await site(t)
  const { thumbs } = thumbnailer(t, s, { alternativeResolutions: [] })
  const crop = async (position: string) => {
    const thumb = await thumbs.getThumbnail('split.png', '100x100', { crop: position })
    t.is(thumb.format, 'png')
    const raw = await decodeFile(thumb.path!)
    t.deepEqual([raw.width, raw.height], [100, 100])
    return raw
  }
  for (const left of ['left', '0% 50%', 'left center', 'top left']) t.true(near(meanColour(await crop(left), 3), RED, 2), left)
  for (const right of ['right', '100% 50%', '100%', 'bottom right']) t.true(near(meanColour(await crop(right), 3), BLUE, 2), right)
  const centre = await crop('center')
  t.true(near(pixelAt(centre, 10, 50), RED, 2))
  t.true(near(pixelAt(centre, 90, 50), BLUE, 2))
  // 25%: the crop is centred on x = 50 of 200, but cannot leave the image: it starts at 0.
  t.true(near(meanColour(await crop('25% 50%'), 3), RED, 2))
  // 75% of 200 = 150: the window 100..200 keeps only blue.
  t.true(near(meanColour(await crop('75%'), 3), BLUE, 2))
  // 60%: window 70..170, so 30 columns of red then blue.
  const sixty = await crop('60% 50%')
  t.true(near(pixelAt(sixty, 10, 50), RED, 2))
  t.true(near(pixelAt(sixty, 50, 50), BLUE, 2))
})

test('crop positions parse to focal points and refuse nonsense', (t) => {
  t.deepEqual(parseCrop('center'), { x: 0.5, y: 0.5 })
  t.deepEqual(parseCrop('top'), { x: 0.5, y: 0 })
  t.deepEqual(parseCrop('bottom right'), { x: 1, y: 1 })
  t.deepEqual(parseCrop('25% 75%'), { x: 0.25, y: 0.75 })
  t.deepEqual(parseCrop('left 30%'), { x: 0, y: 0.3 })
  t.deepEqual(parseCrop('40'), { x: 0.4, y: 0.4 })
  t.is(parseCrop(undefined), undefined)
  t.is(parseCrop(null), undefined)
  for (const bad of ['middle', '120%', 'left right', 'top bottom', '10% 20% 30%', '', 5]) {
    const err = t.throws(() => parseCrop(bad), undefined, `crop ${JSON.stringify(bad)}`)
    t.is((err as { code?: string }).code, 'ERR_INVALID_OPTION')
  }
})

test('bad options are typed errors and write nothing', async (t) => {
  const s = await site(t)
  const { thumbs, renderer } = thumbnailer(t, s)
  const cases: [() => Promise<unknown>, string][] = [
    [() => thumbs.getThumbnail('../etc/passwd', '100'), 'ERR_PATH_TRAVERSAL'],
    [() => thumbs.getThumbnail('photos/photo.jpg', '100x100', { crop: 'top', method: 'scale' }), 'ERR_INVALID_OPTION'],
    [() => thumbs.getThumbnail('photos/photo.jpg', '100', { format: 'gif' }), 'ERR_INVALID_OPTION'],
    [() => thumbs.getThumbnail('photos/photo.jpg', '100', { quality: 0 }), 'ERR_INVALID_OPTION'],
    [() => thumbs.getThumbnail('photos/photo.jpg', '100', { alternativeResolutions: [1] }), 'ERR_INVALID_OPTION'],
    [() => thumbs.getThumbnail('photos/photo.jpg', 'big'), 'ERR_INVALID_SIZE'],
    [() => thumbs.getThumbnail('photos/missing.jpg', '100'), 'ERR_SOURCE_NOT_FOUND'],
  ]
  for (const [call, code] of cases) {
    const err = await t.throwsAsync(call)
    t.is((err as { code?: string }).code, code, err?.message)
  }
  t.is(renderer.calls, 0)
  t.throws(() => createThumbnailer({ sourceRoot: s.sources, outputRoot: s.outputs, records: 'no-such-alias' }), { code: 'ERR_CONFIG' })
})

test('a missing source gives the dummy placeholder URL', async (t) => {
  const s = await site(t)
  const { thumbs, renderer } = thumbnailer(t, s)
  const dummy = await thumbs.getThumbnail('photos/missing.jpg', '200x100', { dummy: true })
  t.true(dummy.dummy)
  t.is(dummy.url, 'https://dummyimage.com/200x100')
  t.is(dummy.path, null)
  t.deepEqual([dummy.width, dummy.height], [200, 100])
  t.deepEqual(dummy.alternatives, [{ resolution: 2, url: 'https://dummyimage.com/400x200', path: null, width: 400, height: 200 }])
  t.is(renderer.calls, 0)
  // A present source is rendered as usual with dummy on.
  t.false((await thumbs.getThumbnail('photos/photo.jpg', '200x100', { dummy: true })).dummy)

  const { thumbs: custom } = thumbnailer(t, s, { dummy: true, dummyUrl: 'https://placehold.example/{width}/{height}.png' })
  const square = await custom.getThumbnail('nothing.png', 'x80')
  t.is(square.url, 'https://placehold.example/80/80.png')
  t.is(square.srcset, 'https://placehold.example/80/80.png 1x, https://placehold.example/160/160.png 2x')
  await t.throwsAsync(custom.getThumbnail('nothing.png', 'x80', { dummy: false }), { code: 'ERR_SOURCE_NOT_FOUND' })
})

test('names are python-thumbnails names for its own options, and explicit options change them', async (t) => {
  const s = await site(t)
  const { thumbs } = thumbnailer(t, s, { folder: '' })
  // python-thumbnails' generate_filename('url', '100x200', 'center') = 0afa360db703bd5c2fe7c83843ce7738a0a6d37b
  const golden = await thumbs.getThumbnail('url', '100x200', { crop: 'center', dummy: true })
  t.is(golden.name, '0af/a360db703bd5c2fe7c83843ce7738a0a6d37b.jpg')
  const q50 = await thumbs.getThumbnail('photos/photo.jpg', '300', { quality: 30, alternativeResolutions: [] })
  const q95 = await thumbs.getThumbnail('photos/photo.jpg', '300', { quality: 95, alternativeResolutions: [] })
  t.not(q50.name, q95.name)
  t.true((await stat(q50.path!)).size < (await stat(q95.path!)).size)
  const webp = await thumbs.getThumbnail('photos/photo.jpg', '300', { format: 'WEBP', alternativeResolutions: [] })
  t.regex(webp.name, /\.webp$/)
  t.is(webp.format, 'webp')
})

test('records in a cache alias are shared by thumbnailers using that alias', async (t) => {
  const alias = `thumbs-${randomUUID()}`
  configureCaches({ default: { backend: 'memory' }, [alias]: { backend: 'memory', location: alias } })
  t.teardown(() => caches.get(alias).close())
  const s = await site(t)
  const a = thumbnailer(t, s, { records: alias })
  const b = thumbnailer(t, s, { records: alias })
  const first = await a.thumbs.getThumbnail('photos/photo.jpg', '120x120', { crop: 'bottom' })
  const second = await b.thumbs.getThumbnail('photos/photo.jpg', '120x120', { crop: 'bottom' })
  t.deepEqual(second, first)
  t.is(b.renderer.calls, 0)
  t.true(a.thumbs.records.backend === caches.get(alias))
})

test('a Redis record cache and lock are shared by two thumbnailers', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const s = await site(t)
  const options = { cache: redis.url, records: redis.url }
  const a = thumbnailer(t, s, options)
  const b = thumbnailer(t, s, options)
  // Both ask at once: the dogpile lock in Redis lets one render each file.
  const [ra, rb] = await Promise.all([
    a.thumbs.getThumbnail('photos/photo.jpg', '160x90', { crop: 'left' }),
    b.thumbs.getThumbnail('photos/photo.jpg', '160x90', { crop: 'left' }),
  ])
  t.is(ra.url, rb.url)
  t.is(a.renderer.calls + b.renderer.calls, 2)
  const raw = await decodeFile(ra.alternatives[0].path!)
  t.deepEqual([raw.width, raw.height], [320, 180])
  // The record lives in Redis: a fresh thumbnailer (empty process memory) answers without a render.
  const c = thumbnailer(t, s, options)
  await unlink(ra.path!)
  t.deepEqual(await c.thumbs.getThumbnail('photos/photo.jpg', '160x90', { crop: 'left' }), ra)
  t.is(c.renderer.calls, 0)
  t.truthy(c.thumbs.records.backend)
})

test('a ThumbnailCache instance can be passed as the record cache', async (t) => {
  const s = await site(t)
  const records = new ThumbnailCache()
  const { thumbs } = thumbnailer(t, s, { records })
  const thumb = await thumbs.getThumbnail('photos/photo.jpg', '50', { alternativeResolutions: [] })
  t.is((await records.get(thumb.name))?.width, 50)
})

test('the module-level getThumbnail reads its settings from RESTTHUMBS_* variables', async (t) => {
  const s = await site(t)
  process.env.RESTTHUMBS_SOURCE_ROOT = s.sources
  process.env.RESTTHUMBS_OUTPUT_ROOT = s.outputs
  const thumb = await getThumbnail('photos/photo.jpg', 'x60', { alternativeResolutions: [] })
  t.is(thumb.path, path.join(s.outputs, thumb.name))
  t.regex(thumb.url, /^\/thumbnails\/cache\//)
  const raw = await decodeFile(thumb.path!)
  t.deepEqual([raw.width, raw.height], [80, 60])
})
