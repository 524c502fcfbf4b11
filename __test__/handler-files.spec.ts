import { rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { caches, closeCaches, configureCaches } from '../ts/cache/registry.js'
import { createThumbnailHandler } from '../ts/server/handler.js'
import { ConfigError } from '../ts/server/errors.js'
import { hashKey } from '../ts/server/generator.js'
import { get, rig, sign } from './helpers/handler-rig.js'

test('a thumbnail deleted on disk is served from memory for at most hotCacheMs, then restored', async (t) => {
  // Long enough that a loaded machine still makes the second request inside the window.
  const r = await rig(t, { hotCacheMs: 1500 })
  const u = sign('sunset.jpg', '55x55', 'crop', '.jpg')
  const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
  const first = await get(r.url + u)
  t.is(first.res.status, 200)
  await rm(file)
  const fromMemory = await get(r.url + u)
  t.is(fromMemory.res.status, 200)
  t.deepEqual(fromMemory.body, first.body)
  await t.throwsAsync(stat(file), { code: 'ENOENT' }, 'memory answered: the disk was not touched')
  await new Promise((res) => setTimeout(res, 1600))
  const again = await get(r.url + u)
  t.is(again.res.status, 200)
  t.is((await sharp(again.body).metadata()).width, 55)
  t.true((await stat(file)).isFile(), 'the file is back on disk (re-linked from its variant)')
})

test('with the hot cache off every warm hit goes to the disk', async (t) => {
  const r = await rig(t, { hotCacheBytes: 0 })
  const u = sign('sunset.jpg', '56x56', 'crop', '.jpg')
  const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
  t.is((await get(r.url + u)).res.status, 200)
  await rm(file)
  const again = await get(r.url + u)
  t.is(again.res.status, 200)
  t.true((await stat(file)).isFile())
})

test('with trustCache a recorded thumbnail is served without a stat, and a vanished file is rendered again', async (t) => {
  const r = await rig(t, { trustCache: true, hotCacheBytes: 0 })
  const u = sign('sunset.jpg', '58x58', 'crop', '.jpg')
  const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
  t.is((await get(r.url + u)).res.status, 200)
  const record = await r.handler.generator.records!.get(u.slice('/thumbnails/'.length))
  t.like(record, { width: 58, height: 58, format: 'jpeg' })
  await rm(file)
  const again = await get(r.url + u)
  t.is(again.res.status, 200)
  t.is((await sharp(again.body).metadata()).width, 58)
  t.true((await stat(file)).isFile())
  // One hit from the trusted record (no stat), one from re-linking the variant after the open
  // failed; without trustCache the stat would have found no file and counted only the second.
  t.is(r.handler.stats.hits, 2)
})

test('large thumbnails are streamed from the open descriptor with the same headers', async (t) => {
  const r = await rig(t)
  // Noise does not compress: a 900×900 PNG is well over the 256 KiB buffered-read threshold.
  const noise = await sharp({ create: { width: 900, height: 900, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png()
    .toBuffer()
  await writeFile(path.join(r.sources, 'noise.png'), noise)
  const u = r.url + sign('noise.png', '900x900', 'scale', '.png')
  const { res, body } = await get(u)
  t.is(res.status, 200)
  t.true(body.length > 256 * 1024, `only ${body.length} bytes`)
  t.is(Number(res.headers.get('content-length')), body.length)
  const meta = await sharp(body).metadata()
  t.is(meta.width, 900)
  t.is(meta.height, 900)
  const head = await get(u, { method: 'HEAD' })
  t.is(head.body.length, 0)
  t.is(Number(head.res.headers.get('content-length')), body.length)
  const cond = await get(u, { headers: { 'If-None-Match': res.headers.get('etag')! } })
  t.is(cond.res.status, 304)
})

test('the cache setting may name a registry alias, which the handler shares and does not close', async (t) => {
  configureCaches({ thumbs: { backend: 'memory', timeout: null } })
  t.teardown(() => closeCaches())
  const shared = caches.get('thumbs')
  const r = await rig(t, { cache: 'thumbs' })
  const miss = await get(r.url + sign('nope.jpg', '10x10', 'crop', '.jpg'))
  t.is(miss.res.status, 404)
  // The negative entry went to the shared cache, under the handler's key prefix.
  t.is(await shared.get(`restthumbs:missing:${hashKey('nope.jpg')}`), 1)
  await r.close()
  await shared.set('after', 'open')
  t.is(await shared.get('after'), 'open', 'closing the handler left the shared cache open')
  t.throws(() => createThumbnailHandler({ keys: ['k'], cache: 'nowhere' }), {
    instanceOf: ConfigError,
    message: `Expected 'memory', a redis://, postgres://, sqlite: or memcached:// URL, or a configured cache alias for cache but received "nowhere" of type string`,
  })
})
