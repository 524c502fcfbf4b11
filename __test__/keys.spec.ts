import { createHash, createHmac } from 'node:crypto'

import test from 'ava'

import {
  hmacSha1,
  hmacSha1Hex,
  hmacSha256,
  hmacSha256Hex,
  saltedHmacSha1,
  sha1,
  sha1Hex,
  sha256,
  sha256Hex,
} from '../ts/hash.js'
import { makeCacheKey, MAX_KEY_SIZE } from '../ts/cache/keys.js'
import { InvalidOptionError } from '../ts/errors.js'

const sha256Ref = (s: string | Buffer) => createHash('sha256').update(s).digest('hex')

test('sha256 of "abc" matches the FIPS 180-2 vector', (t) => {
  t.is(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  t.true(Buffer.isBuffer(sha256('abc')))
  t.is(sha256('abc').length, 32)
})

test('sha1 of "abc" matches the FIPS 180-1 vector', (t) => {
  t.is(sha1Hex('abc'), 'a9993e364706816aba3e25717850c26c9cd0d89d')
  t.is(sha1(Buffer.from('abc')).length, 20)
})

test('strings are hashed as UTF-8, like Buffers holding the same bytes', (t) => {
  const s = 'é☃𝄞'
  t.is(sha256Hex(s), sha256Ref(Buffer.from(s, 'utf8')))
  t.is(sha256Hex(new Uint8Array(Buffer.from(s, 'utf8'))), sha256Ref(s))
})

test('hmacSha256 matches RFC 4231 test case 2', (t) => {
  t.is(
    hmacSha256Hex('Jefe', 'what do ya want for nothing?'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  )
})

test('hmacSha256 matches RFC 4231 test case 6 with a key longer than one block', (t) => {
  const mac = hmacSha256(Buffer.alloc(131, 0xaa), 'Test Using Larger Than Block-Size Key - Hash Key First')
  t.is(mac.toString('hex'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54')
})

test('hmacSha1 matches RFC 2202 test case 2', (t) => {
  t.is(hmacSha1Hex('Jefe', 'what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79')
  t.is(hmacSha1('Jefe', '').length, 20)
})

test('hashes agree with node:crypto on empty and binary inputs', (t) => {
  const bin = Buffer.from([0, 1, 2, 255, 254, 0])
  t.is(sha256Hex(''), sha256Ref(''))
  t.is(sha256Hex(bin), sha256Ref(bin))
  t.is(hmacSha256Hex(bin, ''), createHmac('sha256', bin).update('').digest('hex'))
  t.is(hmacSha1Hex('', bin), createHmac('sha1', '').update(bin).digest('hex'))
})

test('saltedHmacSha1 reproduces the restthumbnails golden secret', (t) => {
  const source = 'animals/kitten.jpg'
  const mac = saltedHmacSha1(source, [source, '100x100', 'crop', '.jpg'].join('-'), 'foobar')
  t.is(mac.toString('hex'), '38cdd9ad3dda068a81ebd59c113039637c1c8d1d')
})

test('hash functions reject values that are not strings or bytes with InvalidOptionError', (t) => {
  const err = t.throws(() => sha256(42 as unknown as string), { instanceOf: InvalidOptionError })
  t.is(err?.code, 'ERR_INVALID_OPTION')
  t.is(err?.message, 'Expected string or Uint8Array for data but received 42 of type number')
  t.throws(() => hmacSha256(null as unknown as string, 'x'), { instanceOf: InvalidOptionError })
})

test('a single key part is neither escaped nor changed', (t) => {
  t.is(makeCacheKey('a:b%c'), 'a:b%c')
  t.is(makeCacheKey(['a:b%c']), 'a:b%c')
})

test('several parts are escaped, percent before colon, and joined with colons', (t) => {
  t.is(makeCacheKey(['a:b', '50%', '%3A']), 'a%3Ab:50%25:%253A')
})

test('escaping stops a user-supplied part from forging another key', (t) => {
  t.not(makeCacheKey(['user', 'a:b']), makeCacheKey(['user', 'a', 'b']))
})

test('the site prefix is joined with a colon and is not escaped', (t) => {
  t.is(makeCacheKey(['x', 'y:z'], { sitePrefix: 'example.com:/root' }), 'example.com:/root:x:y%3Az')
  t.is(makeCacheKey('x', { sitePrefix: '' }), 'x')
})

test('control characters, spaces and DEL become \\xNN escapes', (t) => {
  t.is(makeCacheKey('a b\tc\u0000d\u007fe\u00e9'), 'a\\x20b\\x09c\\x00d\\x7fe\u00e9')
})

test('a key of exactly 240 characters is kept as is', (t) => {
  const key = 'k'.repeat(MAX_KEY_SIZE)
  t.is(makeCacheKey(key), key)
})

test('a key of 241 characters keeps its first 176 and appends its SHA-256', (t) => {
  const key = 'k'.repeat(241)
  const out = makeCacheKey(key)
  t.is(out.length, 240)
  t.is(out, key.slice(0, 176) + sha256Ref(key))
})

test('the length limit applies to the escaped key and hashes the escaped form', (t) => {
  const escaped = '\\x20'.repeat(100)
  t.is(makeCacheKey(' '.repeat(100)), escaped.slice(0, 176) + sha256Ref(escaped))
})

test('the length limit counts characters, not UTF-8 bytes', (t) => {
  t.is(makeCacheKey('é'.repeat(240)), 'é'.repeat(240))
  const long = 'é'.repeat(241)
  t.is(makeCacheKey(long), 'é'.repeat(176) + sha256Ref(long))
})

test('encryption replaces the whole prefixed key with its hex HMAC-SHA256', (t) => {
  const out = makeCacheKey(['a', 'b c'], { sitePrefix: 'site', useEncryption: true, encryptionKey: 'secret' })
  t.is(out, createHmac('sha256', 'secret').update('site:a:b c').digest('hex'))
  const bytes = makeCacheKey('k', { useEncryption: true, encryptionKey: Buffer.from('secret') })
  t.is(bytes, createHmac('sha256', 'secret').update('k').digest('hex'))
})

test('an encryption key is ignored unless useEncryption is on', (t) => {
  t.is(makeCacheKey('k', { encryptionKey: 'secret' }), 'k')
})

test('useEncryption without an encryption key throws InvalidOptionError', (t) => {
  const err = t.throws(() => makeCacheKey('k', { useEncryption: true }), { instanceOf: InvalidOptionError })
  t.is(
    err?.message,
    'Expected string or Uint8Array for encryptionKey when useEncryption is true but received undefined of type undefined',
  )
})

test('an empty parts array or a non-string part throws InvalidOptionError', (t) => {
  const err = t.throws(() => makeCacheKey([]), { instanceOf: InvalidOptionError })
  t.is(err?.code, 'ERR_INVALID_OPTION')
  t.throws(() => makeCacheKey(['a', 3 as unknown as string]), { instanceOf: InvalidOptionError })
})

test('encrypted keys follow a change of secret or site prefix between calls', (t) => {
  const ref = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest('hex')
  t.is(makeCacheKey('k', { useEncryption: true, encryptionKey: 'one' }), ref('one', 'k'))
  t.is(makeCacheKey('k', { useEncryption: true, encryptionKey: 'two' }), ref('two', 'k'))
  t.is(makeCacheKey('k', { useEncryption: true, encryptionKey: 'two', sitePrefix: 's' }), ref('two', 's:k'))
  t.is(makeCacheKey(['k'], { useEncryption: true, encryptionKey: 'two' }), ref('two', 'k'))
  t.is(makeCacheKey('k', { useEncryption: true, encryptionKey: Buffer.from('one') }), ref('one', 'k'))
})
