import test from 'ava'

import { InvalidOptionError } from '../ts/errors.js'
import { LruStore } from '../ts/store.js'

/** A store of strings weighed by their length. */
const byLength = (maxWeight: number, maxEntries = 1000) =>
  new LruStore<string>({ maxWeight, maxEntries, cullFrequency: maxEntries, weigh: (s) => s.length })

const keys = (store: LruStore<string>) => [...store.entries.keys()]

test('a weight budget evicts the least recently used entries until the total fits', (t) => {
  const store = byLength(10)
  store.set('a', 'aaa', null)
  store.set('b', 'bbb', null)
  store.set('c', 'ccc', null)
  t.is(store.weight, 9)
  t.is(store.get('a'), 'aaa') // a is now the most recently used: b is the oldest
  store.set('d', 'dddd', null) // 13 > 10: b goes (10 fits)
  t.deepEqual(keys(store), ['c', 'a', 'd'])
  t.is(store.weight, 10)
  store.set('e', 'eeeeeee', null) // 17: c, then a (14), then d (7) go
  t.deepEqual(keys(store), ['e'])
  t.is(store.weight, 7)
  t.is(store.get('b'), undefined)
  t.is(store.get('e'), 'eeeeeee')
})

test('peek and has do not count as a use under a weight budget', (t) => {
  const store = byLength(6)
  store.set('a', 'aa', null)
  store.set('b', 'bb', null)
  t.is(store.peek('a')?.value, 'aa')
  t.true(store.has('a'))
  store.set('c', 'cccc', null) // a is still the oldest
  t.deepEqual(keys(store), ['b', 'c'])
  t.is(store.weight, 6)
})

test('an entry heavier than the whole budget is not stored, and nothing is evicted for it', (t) => {
  const store = byLength(5)
  store.set('a', 'aa', null)
  t.is(store.set('big', '123456', null), undefined)
  t.false(store.has('big'))
  t.deepEqual(keys(store), ['a'])
  t.is(store.weight, 2)
  t.truthy(store.set('exact', '123', null)) // exactly fills the budget
  t.is(store.weight, 5)
})

test('setting a known key to a value heavier than the budget forgets its old value', (t) => {
  const store = byLength(5)
  store.set('a', 'aa', null)
  store.set('a', '123456', null)
  t.is(store.get('a'), undefined)
  t.is(store.weight, 0)
  t.is(store.size, 0)
})

test('updating a key re-weighs it and makes it the most recently used', (t) => {
  const store = byLength(10)
  store.set('a', 'aaaa', null)
  store.set('b', 'bbbb', null)
  store.set('a', 'a', null) // 4 → 1: total 5, order b, a
  t.is(store.weight, 5)
  t.deepEqual(keys(store), ['b', 'a'])
  store.set('a', 'aaaaaa', null) // 1 → 6: total 10, fits without eviction
  t.is(store.weight, 10)
  t.deepEqual(keys(store), ['b', 'a'])
  store.set('c', 'c', null) // 11: b (the oldest) goes
  t.deepEqual(keys(store), ['a', 'c'])
  t.is(store.weight, 7)
})

test('deleting, expiring and clearing give the weight back', async (t) => {
  const store = byLength(100)
  store.set('a', 'aaa', null)
  store.set('b', 'bb', 5)
  store.set('c', 'c', null)
  t.true(store.delete('a'))
  t.is(store.weight, 3)
  await new Promise((r) => setTimeout(r, 30))
  t.is(store.get('b'), undefined) // expired: dropped on lookup
  t.is(store.weight, 1)
  store.clear()
  t.is(store.weight, 0)
  t.is(store.size, 0)
})

test('a weight budget still honours maxEntries, dropping the least recently used', (t) => {
  const store = byLength(1000, 3)
  for (const k of ['a', 'b', 'c']) store.set(k, k, null)
  store.get('a')
  store.set('d', 'd', null)
  t.deepEqual(keys(store), ['c', 'a', 'd'])
  t.is(store.weight, 3)
})

test('weightless entries are kept under a weight budget', (t) => {
  const store = new LruStore<{ body?: string }>({ maxWeight: 4, weigh: (v) => v.body?.length ?? 0 })
  store.set('file', {}, null)
  store.set('body', { body: 'abcd' }, null)
  t.deepEqual([...store.entries.keys()], ['file', 'body'])
  t.is(store.weight, 4)
})

test('a weight budget needs a weigh function and a store of its own', (t) => {
  t.throws(() => new LruStore({ maxWeight: 10 }), { instanceOf: InvalidOptionError, message: /weigh/ })
  t.throws(() => new LruStore<string>({ maxWeight: 10, weigh: (s) => s.length, entries: new Map() }), {
    instanceOf: InvalidOptionError,
    message: /entries/,
  })
  t.throws(() => new LruStore({ maxWeight: -1, weigh: () => 1 }), { instanceOf: InvalidOptionError, message: /maxWeight/ })
  const store = new LruStore<string>({ maxWeight: 10, weigh: () => Number.NaN })
  t.throws(() => store.set('a', 'a', null), { instanceOf: InvalidOptionError, message: /weigh/ })
  t.is(store.size, 0)
})

test('without a weight budget entries weigh nothing and the total stays 0', (t) => {
  const store = new LruStore<string>({ maxEntries: 2, cullFrequency: 2 })
  store.set('a', 'aaaa', null)
  store.set('b', 'bbbb', null)
  store.get('a')
  store.set('c', 'cccc', null) // strict LRU by use: b goes
  t.deepEqual([...store.entries.keys()].sort(), ['a', 'c'])
  t.is(store.weight, 0)
  t.is(store.maxWeight, Infinity)
})

test('a removed entry reads as expired to whoever still holds it, and lets go of its value', (t) => {
  const store = new LruStore<string>({ maxEntries: 2, cullFrequency: 2 })
  const held = (key: string) => {
    store.set(key, `value of ${key}`, null)
    return store.hit(key)!
  }
  const deleted = held('a')
  t.true(store.reuse(deleted))
  store.delete('a')
  t.false(store.reuse(deleted))
  t.is(deleted.value as unknown, undefined)

  const culled = held('b')
  held('c')
  store.get('c')
  held('d') // full: b, the least recently used, is culled
  t.false(store.has('b'))
  t.false(store.reuse(culled))

  const cleared = store.hit('d')!
  store.clear()
  t.false(store.reuse(cleared))

  const expiring = store.set('e', 'soon', 5)!
  t.true(store.reuse(expiring))
  return new Promise<void>((resolve) =>
    setTimeout(() => {
      t.false(store.reuse(expiring))
      resolve()
    }, 30),
  )
})

test('reuse counts as a use, and is refused under a weight budget', (t) => {
  const store = new LruStore<string>({ maxEntries: 2, cullFrequency: 2 })
  const a = store.set('a', 'a', null)!
  store.set('b', 'b', null)
  t.true(store.reuse(a)) // a is now newer than b
  store.set('c', 'c', null)
  t.deepEqual([...store.entries.keys()].sort(), ['a', 'c'])
  const weighed = byLength(10)
  t.false(weighed.reuse(weighed.set('x', 'x', null)!))
})
