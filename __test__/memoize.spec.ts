import { randomBytes, randomUUID } from 'node:crypto'

import test from 'ava'

import { makeCacheKey } from '../ts/cache/keys.js'
import { MemoryCache } from '../ts/cache/memory.js'
import { cacheMemoize, CACHE_MEMOIZE_DEFAULTS } from '../ts/cache/memoize.js'
import { RedisCache } from '../ts/cache/redis.js'
import { AbortError, ChunkCorruptError, InvalidOptionError, TooLargeError } from '../ts/errors.js'
import { binding, callAsync, callSync } from '../ts/native.js'
import { startRedis } from './helpers/redis.js'
import { bigValue, chunkKey, counted, memory, quiet } from './helpers/memoize.js'

test('a small value is computed once and then served from the cache', async (t) => {
  const cache = memory()
  const fn = counted(() => ({ n: 42, tags: ['a', 'b'] }))
  t.deepEqual(await cacheMemoize(cache, 'small', fn), { n: 42, tags: ['a', 'b'] })
  t.deepEqual(await cacheMemoize(cache, 'small', fn), { n: 42, tags: ['a', 'b'] })
  t.is(fn.calls, 1)
  t.deepEqual(await cache.get('small'), { n: 42, tags: ['a', 'b'] })
})

test('key parts are joined and escaped like makeCacheKey', async (t) => {
  const cache = memory()
  await cacheMemoize(cache, ['user', 'a:b'], () => 'v')
  t.is(await cache.get('user:a%3Ab'), 'v')
})

test('the default expiration is 30 days', (t) => {
  t.is(CACHE_MEMOIZE_DEFAULTS.expiration, 2_592_000)
})

test('forceOverwrite computes and stores even on a hit', async (t) => {
  const cache = memory()
  let n = 0
  await cacheMemoize(cache, 'k', () => ++n)
  t.is(await cacheMemoize(cache, 'k', () => ++n, { forceOverwrite: true }), 2)
  t.is(await cacheMemoize(cache, 'k', () => ++n), 2)
})

test('a large value is stored in more than two chunks and read back intact', async (t) => {
  const cache = memory()
  const value = bigValue()
  const fn = counted(() => value)
  const first = await cacheMemoize(cache, 'large', fn, { largeData: true })
  t.true(first.blob.equals(value.blob))
  for (const i of [0, 1, 2, 3]) {
    const chunk = await cache.get<Buffer>(chunkKey('large', i))
    t.true(Buffer.isBuffer(chunk), `chunk ${i} is stored`)
    t.true((chunk as Buffer).length <= binding.CHUNK_SIZE)
  }
  t.is(await cache.get(chunkKey('large', 4)), undefined)
  const manifest = (await cache.get('large')) as { count: number; length: number }
  t.is(manifest.count, 4)
  const again = await cacheMemoize(cache, 'large', fn, { largeData: true })
  t.is(fn.calls, 1)
  t.true(again.blob.equals(value.blob))
  t.deepEqual(again.when, value.when)
  t.is(again.title, 'big')
})

test('compressible large data is compressed before it is chunked', async (t) => {
  const cache = memory()
  const rows = Array.from({ length: 40_000 }, (_, i) => ({ id: i, name: `row-${i % 100}`, ok: i % 2 === 0 }))
  const out = await cacheMemoize(cache, 'rows', () => rows, { largeData: true })
  t.deepEqual(out, rows)
  const manifest = (await cache.get('rows')) as { count: number; length: number; compressed: boolean }
  t.true(manifest.compressed)
  const stored = (await cache.get(chunkKey('rows', 0))) as Buffer
  t.true(stored.length * 3 < manifest.length, `compressed ${manifest.length} to ${stored.length}`)
  t.deepEqual(await cacheMemoize(cache, 'rows', () => [], { largeData: true }), rows)
})

test('an encrypted value hides its key and plaintext and round-trips', async (t) => {
  const cache = memory()
  const secret = 'memo-secret'
  const value = { message: 'PLAINTEXT-MARKER '.repeat(1000) }
  const fn = counted(() => value)
  t.deepEqual(await cacheMemoize(cache, 'private', fn, { encrypt: true, encryptionKey: secret }), value)
  t.is(await cache.get('private'), undefined)
  const mainKey = makeCacheKey('private', { useEncryption: true, encryptionKey: secret })
  t.regex(mainKey, /^[0-9a-f]{64}$/)
  const manifest = (await cache.get(mainKey)) as { encrypted: boolean; count: number }
  t.true(manifest.encrypted)
  const chunk = (await cache.get(chunkKey('private', 0, secret))) as Buffer
  t.false(chunk.includes('PLAINTEXT'))
  t.deepEqual(await cacheMemoize(cache, 'private', fn, { encrypt: true, encryptionKey: secret }), value)
  t.is(fn.calls, 1)
})

test('a tampered encrypted chunk in the store makes the value be recomputed', async (t) => {
  const cache = memory()
  const opts = { largeData: true, encrypt: true, encryptionKey: 'k1' }
  let version = 0
  const fn = () => ({ version: ++version, blob: Buffer.alloc(2_500_000, 7) })
  t.is((await cacheMemoize(cache, 'sealed', fn, opts)).version, 1)
  const key = chunkKey('sealed', 0, 'k1')
  const stored = (await cache.get(key)) as Buffer
  const tampered = Buffer.from(stored)
  tampered[40] ^= 0x01
  await cache.set(key, tampered)
  const after = await cacheMemoize(cache, 'sealed', fn, opts)
  t.is(after.version, 2)
  t.true(after.blob.equals(Buffer.alloc(2_500_000, 7)))
  t.is((await cacheMemoize(cache, 'sealed', fn, opts)).version, 2, 'the recomputed value was stored again')
})

test('chunks read with the wrong encryption key are recomputed, never returned as garbage', async (t) => {
  const cache = memory()
  await cacheMemoize(cache, 'k', () => 'first', { encrypt: true, encryptionKey: 'a' })
  // Same stored key (force it by reusing the first key's HMAC name) but another secret.
  const mainKey = makeCacheKey('k', { useEncryption: true, encryptionKey: 'a' })
  const manifest = await cache.get(mainKey)
  const chunk0 = await cache.get(chunkKey('k', 0, 'a'))
  const otherMain = makeCacheKey('k', { useEncryption: true, encryptionKey: 'b' })
  await cache.set(otherMain, manifest)
  await cache.set(chunkKey('k', 0, 'b'), chunk0)
  t.is(await cacheMemoize(cache, 'k', () => 'second', { encrypt: true, encryptionKey: 'b' }), 'second')
})

test('an edited plain chunk is detected by its checksum and recomputed', async (t) => {
  const cache = memory()
  let n = 0
  const fn = () => ({ n: ++n, blob: randomBytes(1_500_000) })
  await cacheMemoize(cache, 'plain', fn, { largeData: true, compress: false })
  const key = chunkKey('plain', 1)
  const edited = Buffer.from((await cache.get(key)) as Buffer)
  edited[5] ^= 0xff
  await cache.set(key, edited)
  t.is((await cacheMemoize(cache, 'plain', fn, { largeData: true, compress: false })).n, 2)
})

test('a missing chunk makes the value be recomputed', async (t) => {
  const cache = memory()
  let n = 0
  const fn = () => ({ n: ++n, blob: randomBytes(2_200_000) })
  await cacheMemoize(cache, 'gap', fn, { largeData: true })
  t.true(await cache.delete(chunkKey('gap', 1)))
  const again = await cacheMemoize(cache, 'gap', fn, { largeData: true })
  t.is(again.n, 2)
  t.is(again.blob.length, 2_200_000)
  t.true(await cache.has(chunkKey('gap', 1)))
})

test('a value under the main key that is not a manifest is ignored and recomputed', async (t) => {
  const cache = memory()
  await cache.set('forged', { restthumbsChunks: 1, count: 1e9, length: 1, crc32: 0, id: 'x', compressed: true, encrypted: false })
  t.is(await cacheMemoize(cache, 'forged', () => 'fresh', { largeData: true }), 'fresh')
})

test('ten concurrent misses for one key compute the value once', async (t) => {
  const cache = memory()
  const fn = counted(() => ({ answer: 42 }), 30)
  const results = await Promise.all(Array.from({ length: 10 }, () => cacheMemoize(cache, 'flight', fn)))
  t.is(fn.calls, 1)
  for (const r of results) t.deepEqual(r, { answer: 42 })
  const chunked = await Promise.all(Array.from({ length: 10 }, () => cacheMemoize(cache, 'flight2', fn, { largeData: true })))
  t.is(fn.calls, 2)
  t.deepEqual(chunked[9], { answer: 42 })
})

test('a failing computation rejects every waiter and is retried on the next call', async (t) => {
  const cache = memory()
  const fn = counted((call) => {
    if (call === 1) throw new Error('boom')
    return 'ok'
  }, 10)
  const all = await Promise.allSettled([cacheMemoize(cache, 'fail', fn), cacheMemoize(cache, 'fail', fn)])
  t.deepEqual(all.map((r) => r.status), ['rejected', 'rejected'])
  t.is(await cacheMemoize(cache, 'fail', fn), 'ok')
  t.is(fn.calls, 2)
})

test('encrypt without an encryption key throws InvalidOptionError', async (t) => {
  const err = await t.throwsAsync(cacheMemoize(memory(), 'k', () => 1, { encrypt: true }), { instanceOf: InvalidOptionError })
  t.is(err?.code, 'ERR_INVALID_OPTION')
  t.is(err?.message, 'Expected non-empty string or Uint8Array for encryptionKey when encrypt is true but received undefined of type undefined')
  await t.throwsAsync(cacheMemoize(memory(), 'k', () => 1, { compressionLevel: 12 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected integer between 0 and 9 for compressionLevel but received 12 of type number',
  })
})

test('chunked memoization works against a real Redis server', async (t) => {
  const redis = await startRedis()
  const cache = new RedisCache({ location: redis.url, timeout: null, logger: quiet })
  try {
    const value = bigValue()
    const fn = counted(() => value)
    const opts = { largeData: true, encrypt: true, encryptionKey: 'redis-secret' }
    const first = await cacheMemoize(cache, 'redis-big', fn, opts)
    const second = await cacheMemoize(cache, 'redis-big', fn, opts)
    t.is(fn.calls, 1)
    t.true(second.blob.equals(value.blob))
    t.true(first.blob.equals(value.blob))
    const key = chunkKey('redis-big', 2, 'redis-secret')
    const edited = Buffer.from((await cache.get(key)) as Buffer)
    edited[100] ^= 0x80
    await cache.set(key, edited)
    await cacheMemoize(cache, 'redis-big', fn, opts)
    t.is(fn.calls, 2)
  } finally {
    await cache.close()
    await redis.stop()
  }
})

test('a chunk manifest is never returned as the value of a plain memoization of the same key', async (t) => {
  const cache = memory()
  await cacheMemoize(cache, 'mixed', () => 'chunked value', { largeData: true })
  t.is(await cacheMemoize(cache, 'mixed', () => 'plain value'), 'plain value')
})

test('a chunked value spanning several 1 MiB segments round-trips through parallel inflation', async (t) => {
  const cache = memory()
  const rows = Array.from({ length: 120_000 }, (_, i) => ({ id: i, name: `user-${i % 977}`, score: (i * 37) % 1000 }))
  await cacheMemoize(cache, 'segmented', () => rows, { largeData: true })
  const manifest = (await cache.get('segmented')) as { length: number; segments: number[] }
  t.true(manifest.length > 3 * 1024 * 1024)
  t.is(manifest.segments.length, Math.ceil(manifest.length / (1024 * 1024)))
  t.deepEqual(await cacheMemoize(cache, 'segmented', () => [], { largeData: true }), rows)
})

test('with lockTimeout, two processes sharing a store compute a missing value once', async (t) => {
  // Two MemoryCache instances on one location stand for two processes: the in-process single
  // flight is per cache instance, so only the lock in the store can keep the second one waiting.
  const location = randomUUID()
  const a = new MemoryCache({ location, maxEntries: 100, timeout: null, logger: quiet })
  const b = new MemoryCache({ location, maxEntries: 100, timeout: null, logger: quiet })
  let calls = 0
  const fn = async () => {
    calls++
    await new Promise((r) => setTimeout(r, 150))
    return { from: calls }
  }
  const [x, y] = await Promise.all([
    cacheMemoize(a, 'locked', fn, { lockTimeout: 5 }),
    cacheMemoize(b, 'locked', fn, { lockTimeout: 5 }),
  ])
  t.is(calls, 1)
  t.deepEqual(x, { from: 1 })
  t.deepEqual(y, { from: 1 })
  t.is(await a.get(makeCacheKey('_lock_:locked')), undefined, 'the lock was released')
})

test('a process that waited lockWait seconds for a held lock computes anyway', async (t) => {
  const cache = memory()
  t.true(await cache.add(makeCacheKey('_lock_:stuck'), 'another-owner', 10))
  const started = Date.now()
  t.is(await cacheMemoize(cache, 'stuck', () => 'computed', { lockTimeout: 5, lockWait: 0.3 }), 'computed')
  t.true(Date.now() - started >= 250)
  t.is(await cache.get(makeCacheKey('_lock_:stuck')), 'another-owner', "another owner's lock is never deleted")
})

test('an aborted signal stops memoization with AbortError', async (t) => {
  const ctl = new AbortController()
  ctl.abort()
  const err = await t.throwsAsync(cacheMemoize(memory(), 'k', () => 1, { signal: ctl.signal }), { instanceOf: AbortError })
  t.is(err?.code, 'ERR_ABORTED')
})

test('native chunk errors surface as typed errors with stable codes', async (t) => {
  const data = randomBytes(100_000)
  const opts = { cacheKey: 'k', level: 2, encryptionKey: Buffer.from('s') }
  const { chunks, manifest } = await binding.splitChunks(data, opts)
  t.true((await binding.joinChunks(chunks, manifest, opts)).equals(data))
  const tampered = [Buffer.from(chunks[0])]
  tampered[0][20] ^= 1
  const corrupt = await t.throwsAsync(callAsync(() => binding.joinChunks(tampered, manifest, opts)), { instanceOf: ChunkCorruptError })
  t.is(corrupt?.code, 'ERR_CHUNK_CORRUPT')
  t.regex(corrupt?.message ?? '', /failed authentication/)
  await t.throwsAsync(callAsync(() => binding.joinChunks(chunks, manifest, { cacheKey: 'other', encryptionKey: opts.encryptionKey })), {
    instanceOf: ChunkCorruptError,
  })
  const big = await t.throwsAsync(callAsync(() => binding.joinChunks(chunks, manifest, opts, 1000)), { instanceOf: TooLargeError })
  t.is(big?.code, 'ERR_TOO_LARGE')
  const writer = new binding.ChunkWriter({ cacheKey: 'w' })
  writer.finish()
  t.throws(() => callSync(() => writer.push(Buffer.from('x'))), { instanceOf: InvalidOptionError })
})

test('a signal aborted while the value is computed stops the chunked write with AbortError', async (t) => {
  const cache = memory()
  const ctl = new AbortController()
  const fn = async () => {
    ctl.abort()
    return { blob: randomBytes(10_000) }
  }
  await t.throwsAsync(cacheMemoize(cache, 'aborted', fn, { largeData: true, signal: ctl.signal }), { instanceOf: AbortError })
  t.is(await cache.get('aborted'), undefined)
})
