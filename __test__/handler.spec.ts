import { copyFile, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { get, MEDIA, rawGet, remoteSource, rig, sign } from './helpers/handler-rig.js'
import { assertServedImage } from './helpers/served-image.js'

test('a valid signed URL renders the thumbnail once and streams it with validators', async (t) => {
  const r = await rig(t)
  const u = sign('sunset.jpg', '120x80', 'crop', '.jpg')
  const { res, body } = await get(r.url + u)
  t.is(res.status, 200)
  t.is(res.headers.get('content-type'), 'image/jpeg')
  t.is(Number(res.headers.get('content-length')), body.length)
  t.regex(res.headers.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/)
  t.truthy(res.headers.get('last-modified'))
  await assertServedImage(t, res, body, 'jpeg', 120, 80)
  t.is(r.handler.stats.renders, 1)
  const again = await get(r.url + u)
  t.is(again.res.status, 200)
  t.deepEqual(again.body, body)
  t.is(r.handler.stats.renders, 1, 'the second request is a hit')
  t.is(r.handler.stats.hits, 1)
  // The file sits where nginx's try_files looks for it: output root + URL path after basePath.
  const onDisk = await readFile(path.join(r.outputs, u.slice('/thumbnails/'.length)))
  t.deepEqual(onDisk, body)
})

test('png and webp extensions pick the encoder and the content type', async (t) => {
  const r = await rig(t)
  const png = await get(r.url + sign('rings.png', '64x', 'scale', '.png'))
  t.is(png.res.status, 200)
  t.is(png.res.headers.get('content-type'), 'image/png')
  const pm = await sharp(png.body).metadata()
  t.is(pm.format, 'png')
  t.is(pm.width, 64)
  t.is(pm.height, 64)
  const webp = await get(r.url + sign('sunset.jpg', 'x50', 'scale', '.webp'))
  t.is(webp.res.headers.get('content-type'), 'image/webp')
  const wm = await sharp(webp.body).metadata()
  t.is(wm.format, 'webp')
  t.is(wm.height, 50)
  t.is(wm.width, 75)
})

test('conditional requests answer 304 and HEAD answers headers without a body', async (t) => {
  const r = await rig(t)
  const u = r.url + sign('sunset.jpg', '100x100', 'smart', '.jpg')
  const first = await get(u)
  const etag = first.res.headers.get('etag')!
  const lastModified = first.res.headers.get('last-modified')!
  const inm = await get(u, { headers: { 'If-None-Match': `"nope", ${etag}` } })
  t.is(inm.res.status, 304)
  t.is(inm.body.length, 0)
  t.is(inm.res.headers.get('etag'), etag)
  const ims = await get(u, { headers: { 'If-Modified-Since': lastModified } })
  t.is(ims.res.status, 304)
  const stale = await get(u, { headers: { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified } })
  t.is(stale.res.status, 200, 'If-None-Match wins over If-Modified-Since')
  t.is(stale.body.length, first.body.length)
  const old = await get(u, { headers: { 'If-Modified-Since': 'Thu, 01 Jan 2004 00:00:00 GMT' } })
  t.is(old.res.status, 200)
  const head = await get(u, { method: 'HEAD' })
  t.is(head.res.status, 200)
  t.is(head.body.length, 0)
  t.is(Number(head.res.headers.get('content-length')), first.body.length)
  t.is(head.res.headers.get('content-type'), 'image/jpeg')
  t.is(r.handler.stats.notModified, 2)
})

test('malformed sizes, methods, extensions and traversal answer 400 without touching storage', async (t) => {
  const r = await rig(t)
  const good = sign('sunset.jpg', '100x100', 'crop', '.jpg')
  const secret = good.split('/').pop()!.replace('.jpg', '')
  const cases = [
    `/thumbnails/sunset.jpg/100y100/crop/${secret}.jpg`,
    `/thumbnails/sunset.jpg/0x0/crop/${secret}.jpg`,
    `/thumbnails/sunset.jpg/100x100/stretch/${secret}.jpg`,
    `/thumbnails/sunset.jpg/100x100/crop/${secret}.bmp`,
    `/thumbnails/%2e%2e/etc/passwd/100x100/crop/${secret}.jpg`,
    `/thumbnails/a%2F..%2F..%2Fsecret.jpg/100x100/crop/${secret}.jpg`,
  ]
  for (const c of cases) {
    const { status, text } = await rawGet(r.url, c)
    t.is(status, 400, c)
    t.regex(text, /^Bad request \(ERR_[A-Z_]+\)\n$/, c)
  }
  t.is(r.handler.stats.renders, 0)
})

test('a wrong signature answers 401 and renders nothing', async (t) => {
  const r = await rig(t)
  const other = new Signer({ keys: ['another-key'] })
  const u = thumbnailUrl('sunset.jpg', '100x100', 'crop', '.jpg', { signer: other, baseUrl: '/thumbnails' })
  const { res, text } = await get(r.url + u)
  t.is(res.status, 401)
  t.is(text, 'Invalid signature\n')
  t.regex(res.headers.get('cache-control') ?? '', /no-store/)
  t.is(r.handler.stats.renders, 0)
})

test('a missing source answers a briefly cacheable 404 and is remembered as missing', async (t) => {
  const r = await rig(t, { negativeTtl: 30 })
  const u = r.url + sign('late.jpg', '50x50', 'crop', '.jpg')
  const first = await get(u)
  t.is(first.res.status, 404)
  t.is(first.text, 'Not found (ERR_SOURCE_NOT_FOUND)\n')
  t.is(first.res.headers.get('cache-control'), 'public, max-age=30')
  // The source appears, but the negative entry still answers for negativeTtl seconds.
  await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(r.sources, 'late.jpg'))
  const second = await get(u)
  t.is(second.res.status, 404)
  t.is(r.handler.stats.renders, 0)
})

test('methods other than GET and HEAD answer 405 with Allow', async (t) => {
  const r = await rig(t)
  const { res } = await get(r.url + sign('sunset.jpg', '100x100', 'crop', '.jpg'), { method: 'POST', body: 'x' })
  t.is(res.status, 405)
  t.is(res.headers.get('allow'), 'GET, HEAD')
})

test('an undecodable source answers 415 and a source over the byte limit answers 413', async (t) => {
  const r = await rig(t, { maxSourceBytes: 20_000 })
  await writeFile(path.join(r.sources, 'junk.jpg'), Buffer.from('this is not a jpeg at all, just text'))
  const junk = await get(r.url + sign('junk.jpg', '50x50', 'crop', '.jpg'))
  t.is(junk.res.status, 415)
  t.regex(junk.text, /^Unsupported or undecodable image \(ERR_[A-Z_]+\)\n$/)
  // sunset.jpg is ~25 kB, over the 20 kB cap.
  const big = await get(r.url + sign('sunset.jpg', '50x50', 'crop', '.jpg'))
  t.is(big.res.status, 413)
  t.is(r.handler.stats.renders, 0)
})

test('origin failures answer 502 and origin timeouts answer 504', async (t) => {
  const source = await remoteSource(
    t,
    (req, res) => {
      if (req.url?.includes('slow')) {
        setTimeout(() => res.end('late'), 2000)
        return
      }
      if (req.url?.includes('gone')) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(500).end('boom at /srv/secret/path')
    },
    { headersTimeout: 200, timeout: 1000 },
  )
  const r = await rig(t, { source })
  const bad = await get(r.url + sign('broken.jpg', '50x50', 'crop', '.jpg'))
  t.is(bad.res.status, 502)
  t.false(bad.text.includes('/srv'), 'the origin message does not leak')
  const slow = await get(r.url + sign('slow.jpg', '50x50', 'crop', '.jpg'))
  t.is(slow.res.status, 504)
  const gone = await get(r.url + sign('gone.jpg', '50x50', 'crop', '.jpg'))
  t.is(gone.res.status, 404)
})

test('remote sources render through the HTTP storage and are written atomically', async (t) => {
  const bytes = await readFile(path.join(MEDIA, 'sunset.jpg'))
  const source = await remoteSource(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(bytes)
  })
  const r = await rig(t, { source })
  const { res, body } = await get(r.url + sign('photos/sunset.jpg', '90x60', 'crop', '.jpg'))
  t.is(res.status, 200)
  const meta = await sharp(body).metadata()
  t.is(meta.width, 90)
  t.is(meta.height, 60)
})

test('Express-style mounting calls next() for paths that are not thumbnails', async (t) => {
  let nextCalls = 0
  const r = await rig(t, {}, (h) => (req, res) => {
    h(req, res, () => {
      nextCalls++
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('app route')
    })
  })
  try {
    const other = await get(r.url + '/about')
    t.is(other.text, 'app route')
    t.is(nextCalls, 1)
    const thumb = await get(r.url + sign('sunset.jpg', '40x40', 'crop', '.jpg'))
    t.is(thumb.res.status, 200)
    t.is(nextCalls, 1)
  } finally {
    await r.close()
  }
  const standalone = await rig(t)
  try {
    const { res } = await get(standalone.url + '/about')
    t.is(res.status, 404)
  } finally {
    await standalone.close()
  }
})

test('nginx mode answers X-Accel-Redirect with no body and no Content-Type; apache mode answers X-Sendfile', async (t) => {
  const r = await rig(t, { responseMode: 'nginx', sendfileBase: '/_internal/' })
  try {
    const u = sign('sunset.jpg', '60x60', 'crop', '.jpg')
    const { res, body } = await get(r.url + u)
    t.is(res.status, 200)
    t.is(res.headers.get('x-accel-redirect'), '/_internal/' + u.slice('/thumbnails/'.length))
    t.is(res.headers.get('content-type'), null)
    t.is(body.length, 0)
    const file = path.join(r.outputs, u.slice('/thumbnails/'.length))
    t.is((await sharp(file).metadata()).width, 60)
  } finally {
    await r.close()
  }
  const a = await rig(t, { responseMode: 'apache' })
  try {
    const u = sign('sunset.jpg', '61x61', 'crop', '.jpg')
    const { res } = await get(a.url + u)
    const sendfile = res.headers.get('x-sendfile')!
    t.true(path.isAbsolute(sendfile))
    t.true((await stat(sendfile)).isFile())
  } finally {
    await a.close()
  }
})

test('a bug answers a bare 500 and error bodies never contain paths', async (t) => {
  const r = await rig(t, {
    output: {
      pathFor() {
        throw new TypeError('cannot read properties of undefined at /srv/app/thumbnails/x.jpg')
      },
    },
  })
  try {
    const { res, text } = await get(r.url + sign('sunset.jpg', '10x10', 'crop', '.jpg'))
    t.is(res.status, 500)
    t.is(text, 'Internal server error\n')
  } finally {
    await r.close()
  }
  const s = await rig(t)
  try {
    const bodies = await Promise.all(
      [
        sign('missing/deep/file.jpg', '10x10', 'crop', '.jpg'),
        '/thumbnails/..%2f..%2fetc/10x10/crop/abc.jpg',
        '/thumbnails/%2e%2e/%2e%2e/etc/passwd/10x10/crop/abc.jpg',
        '/thumbnails/sunset.jpg/10x10/crop/wrongsecret.jpg',
      ].map((u) => rawGet(s.url, u)),
    )
    for (const b of bodies) {
      t.true(b.status >= 400)
      t.false(b.text.includes(s.dir), b.text)
      t.false(b.text.includes('/'), b.text)
    }
  } finally {
    await s.close()
  }
})
