import test from 'ava'

import { CacheKeyNotFoundError, DummyCache, InvalidCacheKeyError } from '../ts/index.js'

test('a dummy cache stores nothing and every read misses', async (t) => {
  const cache = new DummyCache()
  await cache.set('k', 'v')
  t.is(await cache.get('k'), undefined)
  t.is(await cache.get('k', 'fallback'), 'fallback')
  t.false(await cache.has('k'))
  t.deepEqual(await cache.setMany({ a: 1 }), [])
  t.is((await cache.getMany(['a', 'k'])).size, 0)
})

test('a dummy cache reports add as successful, like Django', async (t) => {
  const cache = new DummyCache()
  t.true(await cache.add('k', 'v'))
  t.true(await cache.add('k', 'again'))
})

test('dummy delete, touch and deleteIfEquals find nothing', async (t) => {
  const cache = new DummyCache()
  t.false(await cache.delete('k'))
  t.false(await cache.touch('k', 10))
  t.false(await cache.deleteIfEquals('k', 'v'))
  await t.notThrowsAsync(cache.clear())
  await t.notThrowsAsync(cache.close())
})

test('dummy incr and incrVersion raise CacheKeyNotFoundError', async (t) => {
  const cache = new DummyCache()
  await cache.set('n', 1)
  await t.throwsAsync(cache.incr('n'), { instanceOf: CacheKeyNotFoundError, code: 'ERR_CACHE_KEY_NOT_FOUND' })
  await t.throwsAsync(cache.incrVersion('n'), { instanceOf: CacheKeyNotFoundError })
})

test('dummy getOrSet returns the computed value every time', async (t) => {
  const cache = new DummyCache()
  let calls = 0
  t.is(await cache.getOrSet('k', () => ++calls), 1)
  t.is(await cache.getOrSet('k', () => ++calls), 2)
})

test('a dummy cache still validates keys', async (t) => {
  const warnings: Error[] = []
  const listener = (w: Error) => void warnings.push(w)
  process.on('warning', listener)
  t.teardown(() => process.off('warning', listener))
  t.is(await new DummyCache().get('bad key'), undefined)
  await new Promise((resolve) => setImmediate(resolve))
  const mine = warnings.filter((w) => w.message.includes('bad key'))
  t.is(mine.length, 1)
  t.is(mine[0].name, 'CacheKeyWarning')
  t.is((mine[0] as Error & { code?: string }).code, 'RESTTHUMBS_CACHE_KEY')
  class StrictDummy extends DummyCache {
    override validateKey(key: string): void {
      this.rejectInvalidKey(key)
    }
  }
  await t.throwsAsync(new StrictDummy().get('bad key'), { instanceOf: InvalidCacheKeyError })
})
