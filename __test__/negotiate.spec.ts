import { access, readFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { FORMATS } from '../ts/image/options.js'
import { ConfigError, resolveConfig } from '../ts/server/config.js'
import { acceptPattern, acceptQualities, chooseFormat, enabledFormats, NEGOTIABLE_FORMATS, variantSpec } from '../ts/server/negotiate.js'
import { get, rig, sign } from './helpers/handler-rig.js'

// AVIF switches on by itself once the native encoder lists it; until then the AVIF cases assert
// the fallback instead, and say so in their titles.
const AVIF = (FORMATS as readonly string[]).includes('avif')
const avifTitle = (withAvif: string, without: string) => (AVIF ? withAvif : `${without} (this build has no AVIF encoder)`)

const BROWSER = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8'

test('only an explicit image/avif or image/webp turns a format on; q=0 refuses it and the higher q wins', (t) => {
  const both = ['avif', 'webp'] as const
  t.is(chooseFormat(BROWSER, both), 'avif')
  t.is(chooseFormat(BROWSER, ['webp', 'avif']), 'webp', 'a tie goes to the configured order')
  t.is(chooseFormat('image/webp,*/*', both), 'webp')
  t.is(chooseFormat('image/*', both), undefined, 'image/* alone is not AVIF or WebP support')
  t.is(chooseFormat('*/*', both), undefined)
  t.is(chooseFormat('', both), undefined)
  t.is(chooseFormat(undefined, both), undefined)
  t.is(chooseFormat('image/avif;q=0, image/webp', both), 'webp')
  t.is(chooseFormat('image/avif; q=0.000, image/webp;q=0', both), undefined)
  t.is(chooseFormat('image/avif;q=0.5, image/webp;q=0.9', both), 'webp')
  t.is(chooseFormat('IMAGE/WEBP', both), 'webp', 'media types are case-insensitive')
  t.is(chooseFormat('image/webpx, image/avif-sequence', both), undefined, 'only the exact type counts')
  t.is(chooseFormat(['text/html', 'image/webp'], both), 'webp', 'repeated headers are read together')
  t.is(chooseFormat(BROWSER, []), undefined)
  t.deepEqual(acceptQualities('image/webp;q=0.2, image/webp;q=0.7, text/html;level=1;q=0.4'), new Map([
    ['image/webp', 0.7],
    ['text/html', 0.4],
  ]))
  t.is(acceptQualities('image/webp;q=abc').get('image/webp'), 1, 'a malformed q is ignored, as nginx ignores it')
})

test('the nginx map reads Accept as the app does, apart from comparing two non-zero q values', (t) => {
  const headers = [
    BROWSER,
    'image/webp,*/*',
    'image/*,*/*;q=0.8',
    'image/avif;q=0, image/webp',
    'image/avif ;q=0.0,image/webp;q=0.00',
    'image/avif;q=0.001',
    'image/webp;level=1;q=0, text/html',
    'image/webp;q=0.5',
    'IMAGE/AVIF',
    'image/webpx, image/avif-sequence',
    'text/html,image/webp',
    'xyimage/webp',
    '',
  ]
  for (const format of NEGOTIABLE_FORMATS) {
    const re = new RegExp(acceptPattern(format), 'i')
    for (const h of headers) {
      t.is(re.test(h), (acceptQualities(h).get(`image/${format}`) ?? 0) > 0, `${format}: ${JSON.stringify(h)}`)
    }
  }
})

test('enabledFormats keeps the configured order and drops formats the encoder cannot write', (t) => {
  t.deepEqual(enabledFormats(['webp', 'avif', 'webp'], ['jpeg', 'png', 'webp', 'avif']), ['webp', 'avif'])
  t.deepEqual(enabledFormats(['avif', 'webp'], ['jpeg', 'png', 'webp']), ['webp'])
  t.deepEqual(enabledFormats(['avif', 'webp']), AVIF ? ['avif', 'webp'] : ['webp'])
  t.deepEqual(enabledFormats(['png', 'jpeg'], FORMATS), [], 'only formats better than the URL are negotiable')
})

test('a variant is the same thumbnail stored next to the URL file, for the signed and the key-free path', (t) => {
  const spec = { source: 'a.jpg', width: 10, height: 0, method: 'crop', ext: '.jpg', outputPath: 'a.jpg/10x0/crop/s.jpg', variantPath: 'a.jpg/10x0-crop.jpg' }
  t.deepEqual(variantSpec(spec, 'webp'), { ...spec, ext: '.webp', outputPath: 'a.jpg/10x0/crop/s.jpg.webp', variantPath: 'a.jpg/10x0-crop.jpg.webp' })
  const { variantPath: _v, ...bare } = spec
  t.false('variantPath' in variantSpec(bare, 'avif'))
})

test('the negotiate setting takes avif and webp from options, files and RESTTHUMBS_NEGOTIATE, nothing else', (t) => {
  t.deepEqual(resolveConfig({}).negotiate, [])
  t.deepEqual(resolveConfig({}, { env: { RESTTHUMBS_NEGOTIATE: 'webp, avif' } }).negotiate, ['webp', 'avif'])
  const bad = t.throws(() => resolveConfig({ negotiate: ['gif' as never] }), { instanceOf: ConfigError })
  t.is(bad!.message, 'Expected one of avif, webp for negotiate but received "gif" of type string')
  t.throws(() => resolveConfig({ negotiate: 'webp' as never }), { instanceOf: ConfigError, message: /array of non-empty strings for negotiate/ })
})

test('Accept: image/webp gets a WebP stored at <output path>.webp, with Vary: Accept on 200 and 304', async (t) => {
  const r = await rig(t, { negotiate: ['avif', 'webp'] })
  const u = sign('sunset.jpg', '120x80', 'crop', '.jpg')
  const accept = 'image/webp,image/*,*/*;q=0.8'
  const first = await get(r.url + u, { headers: { Accept: accept } })
  t.is(first.res.status, 200)
  t.is(first.res.headers.get('content-type'), 'image/webp')
  t.is(first.res.headers.get('vary'), 'Accept')
  const meta = await sharp(first.body).metadata()
  t.is(meta.format, 'webp')
  t.is(meta.width, 120)
  t.is(meta.height, 80)
  const stored = path.join(r.outputs, u.slice('/thumbnails/'.length))
  t.deepEqual(await readFile(stored + '.webp'), first.body, 'the variant sits next to the URL file, where nginx looks')
  await t.throwsAsync(access(stored), { code: 'ENOENT' }, 'the JPEG was not rendered for a WebP client')
  const again = await get(r.url + u, { headers: { Accept: accept } })
  t.deepEqual(again.body, first.body)
  t.is(r.handler.stats.renders, 1)
  const revalidated = await get(r.url + u, { headers: { Accept: accept, 'If-None-Match': first.res.headers.get('etag')! } })
  t.is(revalidated.res.status, 304)
  t.is(revalidated.res.headers.get('vary'), 'Accept')

  const plain = await get(r.url + u, { headers: { Accept: 'image/*,*/*;q=0.8' } })
  t.is(plain.res.headers.get('content-type'), 'image/jpeg', 'image/* alone gets the URL format')
  t.is(plain.res.headers.get('vary'), 'Accept')
  t.is((await sharp(plain.body).metadata()).format, 'jpeg')
  t.not(plain.res.headers.get('etag'), first.res.headers.get('etag'), 'each representation has its own validator')
  const refused = await get(r.url + u, { headers: { Accept: 'image/webp;q=0,*/*' } })
  t.is(refused.res.headers.get('content-type'), 'image/jpeg', 'q=0 refuses WebP')
  t.is(r.handler.stats.renders, 2)
})

test('a PNG URL is negotiated too and its variant keeps the alpha channel', async (t) => {
  const r = await rig(t, { negotiate: ['webp'] })
  const { res, body } = await get(r.url + sign('rings.png', '64x', 'scale', '.png'), { headers: { Accept: 'image/webp' } })
  t.is(res.headers.get('content-type'), 'image/webp')
  const meta = await sharp(body).metadata()
  t.is(meta.format, 'webp')
  t.is(meta.width, 64)
  t.true(meta.hasAlpha)
})

test(avifTitle('Accept: image/avif,image/webp gets an AVIF', 'Accept: image/avif,image/webp falls back to WebP'), async (t) => {
  const r = await rig(t, { negotiate: ['avif', 'webp'] })
  const u = sign('sunset.jpg', '96x64', 'crop', '.jpg')
  const { res, body } = await get(r.url + u, { headers: { Accept: BROWSER } })
  t.is(res.status, 200)
  t.is(res.headers.get('vary'), 'Accept')
  const meta = await sharp(body).metadata()
  t.is(meta.width, 96)
  t.is(meta.height, 64)
  const stored = path.join(r.outputs, u.slice('/thumbnails/'.length))
  if (AVIF) {
    t.is(res.headers.get('content-type'), 'image/avif')
    t.is(meta.format, 'heif')
    t.is(meta.compression, 'av1')
    t.deepEqual(await readFile(stored + '.avif'), body)
  } else {
    t.is(res.headers.get('content-type'), 'image/webp')
    t.is(meta.format, 'webp')
    t.deepEqual(await readFile(stored + '.webp'), body)
    await t.throwsAsync(access(stored + '.avif'), { code: 'ENOENT' })
  }
})

test(avifTitle('Accept: image/avif alone gets an AVIF', 'Accept: image/avif alone falls back to the URL format'), async (t) => {
  const r = await rig(t, { negotiate: ['avif'] })
  const u = sign('sunset.jpg', '80x', 'scale', '.jpg')
  const { res, body } = await get(r.url + u, { headers: { Accept: 'image/avif' } })
  t.is(res.status, 200)
  const meta = await sharp(body).metadata()
  t.is(meta.width, 80)
  if (AVIF) {
    t.is(res.headers.get('content-type'), 'image/avif')
    t.is(res.headers.get('vary'), 'Accept')
    t.is(meta.format, 'heif')
    t.is(meta.compression, 'av1')
  } else {
    t.is(res.headers.get('content-type'), 'image/jpeg')
    t.is(res.headers.get('vary'), null, 'nothing is negotiated, so nothing varies')
    t.is(meta.format, 'jpeg')
  }
})

test('errors of negotiated URLs carry Vary: Accept; other URLs and a handler without negotiate do not vary', async (t) => {
  const r = await rig(t, { negotiate: ['webp'] })
  const missing = await get(r.url + sign('nope.jpg', '50x50', 'crop', '.jpg'), { headers: { Accept: 'image/webp' } })
  t.is(missing.res.status, 404)
  t.is(missing.res.headers.get('cache-control'), 'public, max-age=30', 'a cacheable error…')
  t.is(missing.res.headers.get('vary'), 'Accept', '…that varies like the image would')
  const forged = await get(r.url + '/thumbnails/sunset.jpg/50x50/crop/forged.jpg', { headers: { Accept: 'image/webp' } })
  t.is(forged.res.status, 401)
  t.is(forged.res.headers.get('vary'), 'Accept')
  const webpUrl = await get(r.url + sign('sunset.jpg', '50x50', 'crop', '.webp'), { headers: { Accept: 'image/webp' } })
  t.is(webpUrl.res.headers.get('content-type'), 'image/webp')
  t.is(webpUrl.res.headers.get('vary'), null)

  const off = await rig(t)
  const plain = await get(off.url + sign('sunset.jpg', '50x50', 'crop', '.jpg'), { headers: { Accept: BROWSER } })
  t.is(plain.res.headers.get('content-type'), 'image/jpeg')
  t.is(plain.res.headers.get('vary'), null)
})

test('with X-Accel-Redirect the variant file is the one nginx is pointed at', async (t) => {
  const r = await rig(t, { negotiate: ['webp'], responseMode: 'nginx' })
  const u = sign('sunset.jpg', '40x40', 'crop', '.jpg')
  const { res } = await get(r.url + u, { headers: { Accept: 'image/webp' } })
  t.is(res.status, 200)
  t.is(res.headers.get('x-accel-redirect'), '/_restthumbs_internal/' + u.slice('/thumbnails/'.length) + '.webp')
  t.is(res.headers.get('vary'), 'Accept')
  const meta = await sharp(path.join(r.outputs, u.slice('/thumbnails/'.length) + '.webp')).metadata()
  t.is(meta.format, 'webp')
  t.is(meta.width, 40)
})
