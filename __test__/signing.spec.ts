import { createHmac } from 'node:crypto'

import test from 'ava'

import { InvalidOptionError } from '../ts/errors.js'
import { InvalidSecretError } from '../ts/server/errors.js'
import { Signer } from '../ts/server/signing.js'
import { parseThumbnailPath } from '../ts/server/url.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'

test('legacy restthumbnails secrets match the django-restthumbnails golden vector', (t) => {
  const signer = new Signer({ keys: ['foobar'], legacy: 'restthumbnails' })
  t.is(signer.sign('animals/kitten.jpg', '100x100', 'crop', '.jpg'), '38cdd9ad3dda068a81ebd59c113039637c1c8d1d')
  t.true(signer.verify('animals/kitten.jpg', '100x100', 'crop', '.jpg', '38cdd9ad3dda068a81ebd59c113039637c1c8d1d'))
})

test('a legacy URL built by the template tag parses and verifies', (t) => {
  const signer = new Signer({ keys: ['foobar'], legacy: 'restthumbnails' })
  const r = parseThumbnailPath('/thumbnails/animals/kitten.jpg/100x100/crop/38cdd9ad3dda068a81ebd59c113039637c1c8d1d.jpg', {
    basePath: '/thumbnails',
  })
  t.notThrows(() => signer.assertValid(r))
})

test('default secrets are a truncated base64url HMAC-SHA256 of source|size|method|ext', (t) => {
  const signer = new Signer({ keys: ['k1'] })
  const secret = signer.sign('a/b.jpg', '500x0', 'scale', '.png')
  const expected = createHmac('sha256', 'k1').update('a/b.jpg|500x0|scale|.png').digest().subarray(0, 16).toString('base64url')
  t.is(secret, expected)
  t.is(secret.length, 22)
})

test('the truncation length is configurable and validated', (t) => {
  t.is(new Signer({ keys: ['k'], length: 32 }).sign('a', '1x1', 'crop', '.jpg').length, 43)
  t.is(new Signer({ keys: ['k'], length: 8 }).sign('a', '1x1', 'crop', '.jpg').length, 11)
  t.throws(() => new Signer({ keys: ['k'], length: 7 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected integer between 8 and 32 for length but received 7 of type number',
  })
  t.throws(() => new Signer({ keys: ['k'], length: 33 }), { instanceOf: InvalidOptionError })
})

test('a signer needs at least one non-empty key', (t) => {
  t.throws(() => new Signer({ keys: [] }), { instanceOf: InvalidOptionError, message: /non-empty array for keys/ })
  t.throws(() => new Signer({ keys: [''] }), { instanceOf: InvalidOptionError, message: /keys\[0\]/ })
  t.throws(() => new Signer({ keys: ['a', 3 as never] }), { instanceOf: InvalidOptionError, message: /keys\[1\]/ })
})

test('string and Buffer keys with the same bytes sign alike', (t) => {
  const a = new Signer({ keys: ['sécret'] }).sign('a', '1x1', 'crop', '.jpg')
  const b = new Signer({ keys: [Buffer.from('sécret', 'utf8')] }).sign('a', '1x1', 'crop', '.jpg')
  t.is(a, b)
})

test('every signed field changes the secret', (t) => {
  const s = new Signer({ keys: ['k'] })
  const base = s.sign('a.jpg', '1x1', 'crop', '.jpg')
  t.not(s.sign('b.jpg', '1x1', 'crop', '.jpg'), base)
  t.not(s.sign('a.jpg', '1x2', 'crop', '.jpg'), base)
  t.not(s.sign('a.jpg', '1x1', 'scale', '.jpg'), base)
  t.not(s.sign('a.jpg', '1x1', 'crop', '.png'), base)
  t.false(s.verify('b.jpg', '1x1', 'crop', '.jpg', base))
})

test('wrong, short, long and differently cased secrets fail verification', (t) => {
  const s = new Signer({ keys: ['k'] })
  const good = s.sign('a.jpg', '1x1', 'crop', '.jpg')
  const flipped = (good[0] === 'A' ? 'B' : 'A') + good.slice(1)
  for (const bad of [flipped, good.slice(0, -1), `${good}A`, '', good.toUpperCase() === good ? good.toLowerCase() : good.toUpperCase(), undefined as never]) {
    t.false(s.verify('a.jpg', '1x1', 'crop', '.jpg', bad), String(bad))
  }
  const err = t.throws(() => s.assertValid({ source: 'a.jpg', size: '1x1', method: 'crop', ext: '.jpg', secret: flipped }), {
    instanceOf: InvalidSecretError,
  })
  t.is(err.status, 401)
  t.is(err.code, 'ERR_INVALID_SECRET')
})

test('keys rotate: new URLs use the first key and old secrets still verify', (t) => {
  const old = new Signer({ keys: ['old'] })
  const rotated = new Signer({ keys: ['new', 'old'] })
  const oldSecret = old.sign('a.jpg', '1x1', 'crop', '.jpg')
  const newSecret = rotated.sign('a.jpg', '1x1', 'crop', '.jpg')
  t.not(newSecret, oldSecret)
  t.is(newSecret, new Signer({ keys: ['new'] }).sign('a.jpg', '1x1', 'crop', '.jpg'))
  t.true(rotated.verify('a.jpg', '1x1', 'crop', '.jpg', oldSecret))
  t.true(rotated.verify('a.jpg', '1x1', 'crop', '.jpg', newSecret))
  t.false(new Signer({ keys: ['new'] }).verify('a.jpg', '1x1', 'crop', '.jpg', oldSecret))
})

test('a URL with the secret moved onto another path does not verify', (t) => {
  const signer = new Signer({ keys: ['k'] })
  const url = thumbnailUrl('public/a.jpg', '10x10', 'crop', '.jpg', { baseUrl: '/t', signer })
  const secret = url.split('/').pop()!.replace('.jpg', '')
  for (const tampered of [`/t/private/a.jpg/10x10/crop/${secret}.jpg`, `/t/public/a.jpg/10x11/crop/${secret}.jpg`, `/t/public/a.jpg/10x10/crop/${secret}.png`]) {
    const r = parseThumbnailPath(tampered, { basePath: '/t' })
    t.false(signer.verify(r.source, r.size, r.method, r.ext, r.secret), tampered)
  }
})

test('Wx and Wx0 URLs share one signature because the canonical size is signed', (t) => {
  const signer = new Signer({ keys: ['k'] })
  const a = parseThumbnailPath('/a.jpg/500x/crop/s.jpg')
  const b = parseThumbnailPath('/a.jpg/500x0/crop/s.jpg')
  t.is(signer.sign(a.source, a.size, a.method, a.ext), signer.sign(b.source, b.size, b.method, b.ext))
})

test('the URL builder in legacy mode emits the django-restthumbnails template tag URL', (t) => {
  const signer = new Signer({ keys: ['foobar'], legacy: 'restthumbnails' })
  t.is(
    thumbnailUrl('animals/kitten.jpg', '100x100', 'crop', '.jpg', { baseUrl: '/thumbnails/', signer }),
    '/thumbnails/animals/kitten.jpg/100x100/crop/38cdd9ad3dda068a81ebd59c113039637c1c8d1d.jpg',
  )
})
