import test from 'ava'

import { InvalidOptionError } from '../ts/errors.js'
import {
  InvalidMethodError,
  InvalidSecretError,
  InvalidSizeError,
  InvalidUrlError,
  PathTraversalError,
} from '../ts/server/errors.js'
import { Signer } from '../ts/server/signing.js'
import { parseSize, parseThumbnailPath } from '../ts/server/url.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'

const base = { basePath: '/thumbnails' }

test('a full thumbnail path parses into its canonical fields', (t) => {
  const r = parseThumbnailPath('/thumbnails/animals/kitten.jpg/100x200/crop/abcDEF_-09.jpg', base)
  t.deepEqual(r, {
    source: 'animals/kitten.jpg',
    width: 100,
    height: 200,
    size: '100x200',
    method: 'crop',
    secret: 'abcDEF_-09',
    ext: '.jpg',
    outputPath: 'animals/kitten.jpg/100x200/crop/abcDEF_-09.jpg',
    variantPath: 'animals/kitten.jpg/100x200-crop.jpg',
  })
})

test('a width-only size is normalised to Wx0 in size and output path', (t) => {
  const r = parseThumbnailPath('/thumbnails/a.png/500x/scale/s.webp', base)
  t.is(r.width, 500)
  t.is(r.height, 0)
  t.is(r.size, '500x0')
  t.is(r.outputPath, 'a.png/500x0/scale/s.webp')
})

test('a height-only size is normalised to 0xH', (t) => {
  const r = parseThumbnailPath('/thumbnails/a.png/x500/smart/s.png', base)
  t.is(r.size, '0x500')
  t.is(r.width, 0)
  t.is(r.height, 500)
})

test('every allowlisted extension is accepted and kept with its dot', (t) => {
  for (const ext of ['.jpg', '.jpeg', '.png', '.webp'] as const) {
    t.is(parseThumbnailPath(`/thumbnails/a.png/1x1/crop/s${ext}`, base).ext, ext)
  }
})

test('extensions outside the allowlist or in upper case are rejected', (t) => {
  for (const last of ['s.gif', 's.JPG', 's.svg', 's', 's.jpg.exe', 's.', 's.jp/g']) {
    const err = t.throws(() => parseThumbnailPath(`/thumbnails/a.png/1x1/crop/${last}`, base))
    t.true(err instanceof InvalidUrlError, last)
  }
})

test('the source keeps its inner dots and the path is read from the right', (t) => {
  const r = parseThumbnailPath('/thumbnails/a/100x100/crop/b.jpg/10x10/scale/sec.jpeg', base)
  t.is(r.source, 'a/100x100/crop/b.jpg')
  t.is(r.size, '10x10')
  t.is(r.method, 'scale')
  t.is(r.ext, '.jpeg')
})

test('the source is percent-decoded exactly once', (t) => {
  const r = parseThumbnailPath('/thumbnails/my%20cats/k%C3%A4tzchen%25.jpg/10x10/crop/s.jpg', base)
  t.is(r.source, 'my cats/kätzchen%.jpg')
  t.is(r.outputPath, 'my cats/kätzchen%.jpg/10x10/crop/s.jpg')
})

test('paths outside the base path are flagged as not ours with status 404', (t) => {
  for (const p of ['/other/a.png/1x1/crop/s.jpg', '/thumbnailsX/a.png/1x1/crop/s.jpg', '/thumbnails', 'thumbnails/a.png/1x1/crop/s.jpg']) {
    const err = t.throws(() => parseThumbnailPath(p, base), { instanceOf: InvalidUrlError })
    t.true(err.notOurs, p)
    t.is(err.status, 404)
    t.is(err.code, 'ERR_INVALID_URL')
  }
})

test('a path under the base path with too few segments is a 400 invalid URL', (t) => {
  const err = t.throws(() => parseThumbnailPath('/thumbnails/1x1/crop/s.jpg', base), { instanceOf: InvalidUrlError })
  t.false(err.notOurs)
  t.is(err.status, 400)
})

test('the base path is normalised and may be the root', (t) => {
  t.is(parseThumbnailPath('/t/a.png/1x1/crop/s.jpg', { basePath: 't/' }).source, 'a.png')
  t.is(parseThumbnailPath('/a.png/1x1/crop/s.jpg').source, 'a.png')
  t.is(parseThumbnailPath('/x/y/a.png/1x1/crop/s.jpg', { basePath: '/x/y' }).source, 'a.png')
})

test('malformed sizes are rejected with InvalidSizeError and status 400', (t) => {
  for (const size of ['x', '0x0', '0x', 'x0', '100', '100X100', '+1x1', '-1x1', '1x-1', '1.5x2', '1x1x1', ' 1x1', '01x1', '1x007', 'axb', '8193x1', '1x8193', '99999999999999999999x1', '']) {
    const err = t.throws(() => parseThumbnailPath(`/thumbnails/a.png/${size}/crop/s.jpg`, base), { instanceOf: InvalidSizeError }, size)
    t.is(err.status, 400)
    t.is(err.code, 'ERR_INVALID_SIZE')
  }
})

test('the largest side is configurable and 0 is the canonical unset side', (t) => {
  t.deepEqual(parseSize('8192x0'), { width: 8192, height: 0, size: '8192x0' })
  t.deepEqual(parseSize('0x7'), { width: 0, height: 7, size: '0x7' })
  t.throws(() => parseSize('101x1', 100), { instanceOf: InvalidSizeError, message: 'Expected width of at most 100 but received 101' })
  t.throws(() => parseThumbnailPath('/thumbnails/a.png/1x1/crop/s.jpg', { ...base, maxSide: -3 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected positive integer for maxSide but received -3 of type number',
  })
})

test('unknown or differently cased methods are rejected with InvalidMethodError', (t) => {
  for (const method of ['fit', 'Crop', 'SMART', '', 'crop ']) {
    const err = t.throws(() => parseThumbnailPath(`/thumbnails/a.png/1x1/${method}/s.jpg`, base), { instanceOf: InvalidMethodError })
    t.is(err.code, 'ERR_INVALID_METHOD')
    t.is(err.status, 400)
  }
})

test('secrets outside the base64url and hex alphabet are rejected with 401', (t) => {
  for (const secret of ['', 'a%20b', 'a+b', 'a=b', 'x'.repeat(129)]) {
    const err = t.throws(() => parseThumbnailPath(`/thumbnails/a.png/1x1/crop/${secret}.jpg`, base), { instanceOf: InvalidSecretError })
    t.is(err.status, 401)
  }
})

test('traversal and confusion in the source are rejected with PathTraversalError', (t) => {
  const sources = [
    '..',
    '../etc/passwd',
    'a/../../b',
    '%2e%2e/x',
    '%2E%2E%2Fx',
    'a%2f..%2f..%2fb',
    'a%2Fb',
    '.',
    'a/./b',
    'a//b',
    '/abs',
    '%2fetc/passwd',
    'a%5c..%5cb',
    'a\\b',
    'a%00b',
    '%252e%252e/x',
    '%c0%ae%c0%ae/x',
    '%e0%80%ae/x',
    '%',
    'a%zz',
    '%EF%BC%8E%EF%BC%8E/x',
    '%E2%80%A5/x',
    'C%3A/windows/win.ini',
    '.git/config',
    '.env',
    'a/%0a/b',
  ]
  for (const s of sources) {
    const err = t.throws(() => parseThumbnailPath(`/thumbnails/${s}/1x1/crop/sig.jpg`, base), undefined, s)
    t.true(err instanceof PathTraversalError, `${s}: ${err?.constructor.name} ${err?.message}`)
    t.is((err as PathTraversalError).status, 400)
    t.is((err as PathTraversalError).code, 'ERR_PATH_TRAVERSAL')
  }
})

test('overlong paths are rejected before any other parsing', (t) => {
  const long = `/thumbnails/${'a/'.repeat(1100)}x.png/1x1/crop/s.jpg`
  t.throws(() => parseThumbnailPath(long, base), { instanceOf: InvalidUrlError, message: /at most 2048 characters/ })
})

test('the builder emits a URL the parser reads back to the same fields', (t) => {
  const signer = new Signer({ keys: ['k'] })
  const source = "my cats/kätzchen (1)%!.jpg"
  const url = thumbnailUrl(source, '500x', 'crop', 'jpg', { baseUrl: '/thumbnails/', signer })
  t.regex(url, /^\/thumbnails\/my%20cats\/k%C3%A4tzchen%20%281%29%25%21\.jpg\/500x0\/crop\/[A-Za-z0-9_-]{22}\.jpg$/)
  const r = parseThumbnailPath(url, base)
  t.is(r.source, source)
  t.is(r.size, '500x0')
  t.true(signer.verify(r.source, r.size, r.method, r.ext, r.secret))
})

test('the builder accepts sides as numbers and absolute base URLs', (t) => {
  const signer = new Signer({ keys: ['k'] })
  const url = thumbnailUrl('a.png', { height: 40 }, 'smart', '.webp', { baseUrl: 'https://cdn.example.com/t', signer })
  const u = new URL(url)
  t.is(u.host, 'cdn.example.com')
  const r = parseThumbnailPath(u.pathname, { basePath: '/t' })
  t.is(r.size, '0x40')
  t.is(r.ext, '.webp')
  t.true(signer.verify(r.source, r.size, r.method, r.ext, r.secret))
})

test('the builder refuses values the server would refuse', (t) => {
  const signer = new Signer({ keys: ['k'] })
  t.throws(() => thumbnailUrl('../x.png', '1x1', 'crop', '.jpg', { signer }), { instanceOf: PathTraversalError })
  t.throws(() => thumbnailUrl('x.png', '0x0', 'crop', '.jpg', { signer }), { instanceOf: InvalidSizeError })
  t.throws(() => thumbnailUrl('x.png', '1x1', 'fit', '.jpg', { signer }), { instanceOf: InvalidMethodError })
  t.throws(() => thumbnailUrl('x.png', '1x1', 'crop', '.gif', { signer }), { instanceOf: InvalidUrlError })
  t.throws(() => thumbnailUrl('x.png', '1x1', 'crop', '.jpg', {} as never), { instanceOf: InvalidOptionError })
})
