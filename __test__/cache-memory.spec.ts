import test from 'ava'

import { InvalidCacheKeyError, InvalidOptionError, MemoryCache } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'

runCacheConformance('memory', async (ns, options) => new MemoryCache({ location: ns, ...options }), {
  buffersByReference: true,
})
runCacheConformance('memory-copying', async (ns, options) => new MemoryCache({ location: ns, copyBuffers: true, ...options }))

test('memory caches with the same location share one store and others do not', async (t) => {
  const a = new MemoryCache({ location: 'shared-loc' })
  const b = new MemoryCache({ location: 'shared-loc' })
  const other = new MemoryCache({ location: 'other-loc' })
  await a.set('k', 'v')
  t.is(await b.get('k'), 'v')
  t.is(await other.get('k'), undefined)
})

test('the least recently used entries are culled when maxEntries is reached', async (t) => {
  const cache = new MemoryCache({ location: 'cull-lru', maxEntries: 6, cullFrequency: 3 })
  for (let i = 0; i < 6; i++) await cache.set(`k${i}`, i)
  // Reading k0 and k1 makes k2 and k3 the least recently used.
  await cache.get('k0')
  await cache.get('k1')
  await cache.set('k6', 6)
  const present = (await cache.getMany(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'])).size
  t.is(present, 5)
  t.false(await cache.has('k2'))
  t.false(await cache.has('k3'))
  t.true(await cache.has('k0'))
  t.true(await cache.has('k6'))
})

test('a cullFrequency of 0 clears the whole store when it is full', async (t) => {
  const cache = new MemoryCache({ location: 'cull-all', maxEntries: 4, cullFrequency: 0 })
  for (let i = 0; i < 4; i++) await cache.set(`k${i}`, i)
  await cache.set('k4', 4)
  t.deepEqual([...(await cache.getMany(['k0', 'k1', 'k2', 'k3', 'k4'])).keys()], ['k4'])
})

test('expired entries are culled before live ones', async (t) => {
  const cache = new MemoryCache({ location: 'cull-expired', maxEntries: 3, cullFrequency: 3 })
  await cache.set('short', 1, 0.05)
  await cache.set('a', 1)
  await cache.set('b', 2)
  await new Promise((r) => setTimeout(r, 80))
  await cache.set('c', 3)
  t.deepEqual([...(await cache.getMany(['short', 'a', 'b', 'c'])).keys()], ['a', 'b', 'c'])
})

test('overwriting a key never culls', async (t) => {
  const cache = new MemoryCache({ location: 'cull-overwrite', maxEntries: 2 })
  await cache.set('a', 1)
  await cache.set('b', 2)
  await cache.set('b', 3)
  t.is(await cache.get('a'), 1)
  t.is(await cache.get('b'), 3)
})

test('bad memory options raise InvalidOptionError with expected-vs-received text', (t) => {
  const err = t.throws(() => new MemoryCache({ maxEntries: -3 }), { instanceOf: InvalidOptionError })
  t.is(err?.message, 'Expected positive integer for maxEntries but received -3 of type number')
  t.throws(() => new MemoryCache({ timeout: 'soon' as unknown as number }), {
    instanceOf: InvalidOptionError,
    message: 'Expected number or null for timeout but received "soon" of type string',
  })
})

test('bad timeouts, versions and deltas raise InvalidOptionError', async (t) => {
  const cache = new MemoryCache({ location: 'validation' })
  await t.throwsAsync(cache.set('k', 'v', '10' as unknown as number), {
    instanceOf: InvalidOptionError,
    message: 'Expected number, null or undefined for timeout but received "10" of type string',
  })
  await t.throwsAsync(cache.get('k', undefined, 1.5), {
    instanceOf: InvalidOptionError,
    message: 'Expected integer for version but received 1.5 of type number',
  })
  await cache.set('n', 1)
  await t.throwsAsync(cache.incr('n', 0.5), {
    instanceOf: InvalidOptionError,
    message: 'Expected integer for delta but received 0.5 of type number',
  })
})

test('a logger without warn and info is rejected', (t) => {
  t.throws(() => new MemoryCache({ logger: { warn: () => {} } as never }), {
    instanceOf: InvalidOptionError,
    message: 'Expected { warn, info } functions for logger but received [object Object] of type object',
  })
})

test('the synchronous API reads and writes the same store as the async one', async (t) => {
  const cache = new MemoryCache({ location: 'sync-api' })
  cache.setSync('a', Buffer.from('thumb'))
  t.deepEqual(await cache.get('a'), Buffer.from('thumb'))
  await cache.set('b', { n: 1 })
  t.deepEqual(cache.getSync('b'), { n: 1 })
  t.is(cache.getSync('missing', 'dflt'), 'dflt')
  t.true(cache.hasSync('a'))
  t.true(cache.deleteSync('a'))
  t.false(cache.deleteSync('a'))
  t.false(cache.hasSync('a'))
  t.is(await cache.get('a'), undefined)
})

test('a hot key read through one instance sees overwrites and deletes made through another', async (t) => {
  const a = new MemoryCache({ location: 'sync-shared' })
  const b = new MemoryCache({ location: 'sync-shared' })
  a.setSync('k', 1)
  t.is(a.getSync('k'), 1)
  t.is(b.getSync('k'), 1)
  b.setSync('k', 2)
  t.is(a.getSync('k'), 2)
  await b.delete('k')
  t.is(a.getSync('k'), undefined)
  b.setSync('k', 3)
  t.is(a.getSync('k'), 3)
  await b.clear()
  t.is(a.getSync('k'), undefined)
  t.is(a.getSync('k', undefined, 2), undefined)
  a.setSync('k', 'v2', null, 2)
  t.is(a.getSync<string>('k', undefined, 2), 'v2')
  t.is(a.getSync('k'), undefined, 'another version is another key')
})

test('a hot key read through one instance misses once another instance culled it or it expired', async (t) => {
  const a = new MemoryCache({ location: 'sync-culled', maxEntries: 2, cullFrequency: 2 })
  const b = new MemoryCache({ location: 'sync-culled', maxEntries: 2, cullFrequency: 2 })
  a.setSync('hot', 'h')
  t.is(a.getSync('hot'), 'h') // remembered by a's key slot
  b.setSync('x', 1)
  b.getSync('x')
  b.setSync('y', 2) // full: b culls 'hot', the least recently used
  t.is(a.getSync('hot'), undefined)
  t.is(await a.get('hot'), undefined)
  a.setSync('brief', 'b', 0.02)
  t.is(a.getSync('brief'), 'b')
  await new Promise((r) => setTimeout(r, 60))
  t.is(a.getSync('brief'), undefined)
  t.is(await a.get('brief'), undefined)
})

test('a subclass that overrides makeKey is honoured by every read, the synchronous hits included', async (t) => {
  class CaseBlind extends MemoryCache {
    override makeKey(key: string, version?: number): string {
      return super.makeKey(key.toLowerCase(), version)
    }
  }
  const cache = new CaseBlind({ location: 'case-blind' })
  cache.setSync('Key', 1)
  t.is(cache.getSync('KEY'), 1)
  t.is(cache.getSync('key'), 1)
  t.is(await cache.get('kEy'), 1)
  await cache.set('OTHER', 2)
  t.is(cache.getSync('other'), 2)
})

test('the synchronous API applies timeouts, validation and culling', async (t) => {
  const cache = new MemoryCache({ location: 'sync-policy', maxEntries: 3, cullFrequency: 3 })
  cache.setSync('short', 'x', 0.05)
  t.is(cache.getSync('short'), 'x')
  await new Promise((r) => setTimeout(r, 80))
  t.is(cache.getSync('short'), undefined)
  t.false(cache.hasSync('short'))
  cache.setSync('gone', 1)
  cache.setSync('gone', 2, 0)
  t.false(cache.hasSync('gone'), 'a timeout of 0 deletes')
  for (const k of ['a', 'b', 'c']) cache.setSync(k, k)
  t.is(cache.getSync('a'), 'a')
  cache.setSync('d', 'd')
  t.false(cache.hasSync('b'), 'the least recently used entry is culled')
  t.true(cache.hasSync('a'))
  t.throws(() => cache.setSync('k', 1, '10' as unknown as number), {
    instanceOf: InvalidOptionError,
    message: 'Expected number, null or undefined for timeout but received "10" of type string',
  })
  t.is(cache.getSync('bad key'), undefined, 'an invalid key only warns (see the conformance suite)')
  class StrictMemory extends MemoryCache {
    override validateKey(key: string): void {
      this.rejectInvalidKey(key)
    }
  }
  const strict = new StrictMemory({ location: 'sync-policy-strict' })
  t.throws(() => strict.getSync('bad key'), { code: 'ERR_INVALID_CACHE_KEY' })
  t.throws(() => cache.setSync('fn', () => 1), { code: 'ERR_CACHE_SERIALIZATION' })
})

test('a cached object read through the synchronous API is a copy', (t) => {
  const cache = new MemoryCache({ location: 'sync-copy' })
  const value = { list: [1, 2] }
  cache.setSync('o', value)
  value.list.push(3)
  const read = cache.getSync<{ list: number[] }>('o')
  t.deepEqual(read, { list: [1, 2] })
  read?.list.push(4)
  t.deepEqual(cache.getSync('o'), { list: [1, 2] })
})

test('a subclass whose validateKey calls rejectInvalidKey raises InvalidCacheKeyError, as memcached does', async (t) => {
  class StrictMemory extends MemoryCache {
    override validateKey(key: string): void {
      this.rejectInvalidKey(key)
    }
  }
  const cache = new StrictMemory({ location: 'strict-keys' })
  const err = await t.throwsAsync(cache.set('k'.repeat(300), 'v'), { instanceOf: InvalidCacheKeyError })
  t.is(err?.code, 'ERR_INVALID_CACHE_KEY')
  t.regex(err?.message ?? '', /over the limit of 250; pass hashLongKeys: true to hash such keys$/)
  await t.throwsAsync(cache.get('has space'), { instanceOf: InvalidCacheKeyError, message: /control character or space/ })
  await t.throwsAsync(cache.get('tab\there'), { instanceOf: InvalidCacheKeyError })
  t.false(cache.hasSync('valid'))
  const hashing = new StrictMemory({ location: 'strict-keys', hashLongKeys: true })
  await hashing.set('has space', 'hashed')
  t.is(await hashing.get('has space'), 'hashed')
})

test('incr and decr count as a use, so a fresh counter is not culled first', async (t) => {
  const cache = new MemoryCache({ location: 'cull-incr', maxEntries: 3, cullFrequency: 3 })
  await cache.set('counter', 0)
  await cache.set('b', 'b')
  await cache.set('c', 'c')
  t.is(await cache.incr('counter'), 1)
  t.is(await cache.decr('counter', 2), -1)
  await cache.set('d', 'd')
  t.true(await cache.has('counter'), 'the counter was used last, so it stays')
  t.false(await cache.has('b'), 'the least recently used entry is culled')
  t.deepEqual([...(await cache.getMany(['counter', 'b', 'c', 'd'])).keys()], ['counter', 'c', 'd'])
})
