/**
 * One conformance suite for every cache backend (keyv's model): each backend's spec calls
 * `runCacheConformance(name, factory)`.
 */
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'

import { BaseCache, CacheKeyNotFoundError, CacheValueError } from '../../ts/index.js'
import type { BaseCacheOptions } from '../../ts/index.js'

import { runValueAndKeyConformance } from './cache-conformance-values.js'

/**
 * Builds a cache. Calls with the same `ns` must share storage (two "clients" of one store);
 * different `ns` must not see each other's data, even through `clear()`.
 */
export type CacheFactory = (ns: string, options?: BaseCacheOptions) => Promise<BaseCache>

let counter = 0
// Values that must still be alive at the first check get a TTL with room for a loaded machine
// (other spec files run in parallel); values only checked for expiry use 0.3 s.
const ALIVE_TTL = 2
const PAST_ALIVE_TTL_MS = 2300

/** Backend traits the suite must respect. */
export interface ConformanceTraits {
  /** Buffers are stored and returned by reference (MemoryCache's default), so not mutation-proof. */
  buffersByReference?: boolean
  /**
   * Keys breaking memcached's rules raise `InvalidCacheKeyError` instead of being stored with a
   * warning (memcached itself, as in Django), and the server cannot store them at all.
   */
  rejectsInvalidKeys?: boolean
}

/** Registers the conformance tests for one backend. */
export function runCacheConformance(name: string, factory: CacheFactory, traits: ConformanceTraits = {}): void {
  const created: BaseCache[] = []
  const make = async (ns: string, options?: BaseCacheOptions) => {
    const c = await factory(ns, options)
    created.push(c)
    return c
  }
  const fresh = async (options?: BaseCacheOptions) => {
    const ns = `${name}${++counter}x${process.pid}`
    return { ns, cache: await make(ns, options) }
  }
  test.after.always(async () => {
    await Promise.all(created.map((c) => c.close()))
  })

  test(`${name}: get misses with the default value and set then get round-trips`, async (t) => {
    const { cache } = await fresh()
    t.is(await cache.get('absent'), undefined)
    t.is(await cache.get('absent', 'fallback'), 'fallback')
    await cache.set('s', 'hello')
    await cache.set('n', 42)
    await cache.set('f', 1.5)
    await cache.set('o', { a: [1, 'two', null, true], b: { c: -3 } })
    t.is(await cache.get('s'), 'hello')
    t.is(await cache.get('n'), 42)
    t.is(await cache.get('f'), 1.5)
    t.deepEqual(await cache.get('o'), { a: [1, 'two', null, true], b: { c: -3 } })
    await cache.set('s', 'again')
    t.is(await cache.get('s'), 'again')
  })

  test(`${name}: falsy values are hits, not misses`, async (t) => {
    const { cache } = await fresh()
    await cache.set('zero', 0)
    await cache.set('empty', '')
    await cache.set('false', false)
    await cache.set('null', null)
    t.is(await cache.get<unknown>('zero', 'd'), 0)
    t.is(await cache.get<unknown>('empty', 'd'), '')
    t.is(await cache.get<unknown>('false', 'd'), false)
    t.is(await cache.get<unknown>('null', 'd'), null)
    t.true(await cache.has('null'))
  })

  test(`${name}: delete and has report whether the key existed`, async (t) => {
    const { cache } = await fresh()
    await cache.set('k', 'v')
    t.true(await cache.has('k'))
    t.true(await cache.delete('k'))
    t.false(await cache.has('k'))
    t.false(await cache.delete('k'))
    t.is(await cache.get('k'), undefined)
  })

  test(`${name}: add stores only when the key is absent`, async (t) => {
    const { cache } = await fresh()
    t.true(await cache.add('k', 'first'))
    t.false(await cache.add('k', 'second'))
    t.is(await cache.get('k'), 'first')
  })

  test(`${name}: of 20 concurrent adds exactly one wins`, async (t) => {
    const { cache } = await fresh()
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.add('lock', `token-${i}`, 10)))
    t.is(results.filter(Boolean).length, 1)
    t.is(await cache.get('lock'), `token-${results.indexOf(true)}`)
  })

  test(`${name}: concurrent adds from two separate instances on one store have one winner`, async (t) => {
    const { ns, cache: a } = await fresh()
    const b = await make(ns)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).add('lock', `token-${i}`, 10)),
    )
    t.is(results.filter(Boolean).length, 1)
    const winner = `token-${results.indexOf(true)}`
    t.is(await a.get('lock'), winner)
    t.is(await b.get('lock'), winner)
  })

  test(`${name}: values expire after their timeout`, async (t) => {
    const { cache } = await fresh()
    await cache.set('short', 'v', ALIVE_TTL)
    t.true(await cache.add('added', 'v', ALIVE_TTL))
    t.is(await cache.get('short'), 'v')
    await sleep(PAST_ALIVE_TTL_MS)
    t.is(await cache.get('short'), undefined)
    t.false(await cache.has('added'))
    t.true(await cache.add('added', 'again', 10))
    t.is(await cache.get('added'), 'again')
  })

  test(`${name}: the default timeout applies and null keeps values forever`, async (t) => {
    const { cache } = await fresh({ timeout: 0.3 })
    await cache.set('default', 'v')
    await cache.set('forever', 'v', null)
    await cache.set('infinite', 'v', Number.POSITIVE_INFINITY)
    await sleep(450)
    t.is(await cache.get('default'), undefined)
    t.is(await cache.get('forever'), 'v')
    t.is(await cache.get('infinite'), 'v')
  })

  test(`${name}: a timeout of 0 means already expired`, async (t) => {
    const { cache } = await fresh()
    await cache.set('k', 'v')
    await cache.set('k', 'new', 0)
    t.is(await cache.get('k'), undefined)
    t.true(await cache.add('fresh', 'v', 0))
    t.is(await cache.get('fresh'), undefined)
    await cache.set('present', 'v')
    t.false(await cache.add('present', 'other', -1))
    t.is(await cache.get('present'), 'v')
    t.true(await cache.touch('present', 0))
    t.false(await cache.has('present'))
  })

  test(`${name}: touch extends, persists or reports a missing key`, async (t) => {
    const { cache } = await fresh()
    await cache.set('extend', 'v', ALIVE_TTL)
    await cache.set('persist', 'v', ALIVE_TTL)
    t.true(await cache.touch('extend', 10))
    t.true(await cache.touch('persist', null))
    t.false(await cache.touch('missing', 10))
    await sleep(PAST_ALIVE_TTL_MS)
    t.is(await cache.get('extend'), 'v')
    t.is(await cache.get('persist'), 'v')
    await cache.set('shorten', 'v', 10)
    t.true(await cache.touch('shorten', 0.2))
    await sleep(350)
    t.false(await cache.has('shorten'))
  })

  test(`${name}: incr and decr count and keep the expiry`, async (t) => {
    const { cache } = await fresh()
    await cache.set('n', 10)
    t.is(await cache.incr('n'), 11)
    t.is(await cache.incr('n', 5), 16)
    t.is(await cache.decr('n', 3), 13)
    t.is(await cache.decr('n'), 12)
    t.is(await cache.get('n'), 12)
    await cache.set('neg', -5)
    t.is(await cache.incr('neg', 2), -3)
    await cache.set('ttl', 1, ALIVE_TTL)
    t.is(await cache.incr('ttl'), 2)
    await sleep(PAST_ALIVE_TTL_MS)
    t.is(await cache.get('ttl'), undefined)
  })

  test(`${name}: incr of a missing key or a non-number raises typed errors`, async (t) => {
    const { cache } = await fresh()
    const missing = await t.throwsAsync(cache.incr('missing'), { instanceOf: CacheKeyNotFoundError })
    t.is(missing?.code, 'ERR_CACHE_KEY_NOT_FOUND')
    t.false(await cache.has('missing'))
    await cache.set('text', 'abc')
    const bad = await t.throwsAsync(cache.decr('text'), { instanceOf: CacheValueError })
    t.is(bad?.code, 'ERR_CACHE_VALUE')
  })

  test(`${name}: getMany, setMany and deleteMany work on the caller's keys`, async (t) => {
    const { cache } = await fresh()
    t.deepEqual(await cache.setMany({ a: 1, b: 'two', c: { three: 3 } }), [])
    t.deepEqual(await cache.setMany(new Map<string, unknown>([['d', Buffer.from([4])]]), null), [])
    const got = await cache.getMany(['a', 'b', 'c', 'd', 'missing'])
    t.deepEqual([...got.keys()].sort(), ['a', 'b', 'c', 'd'])
    t.is(got.get('a'), 1)
    t.is(got.get('b'), 'two')
    t.deepEqual(got.get('c'), { three: 3 })
    t.deepEqual(got.get('d'), Buffer.from([4]))
    t.is((await cache.getMany([])).size, 0)
    await cache.deleteMany(['a', 'b', 'missing'])
    t.deepEqual([...(await cache.getMany(['a', 'b', 'c'])).keys()], ['c'])
    await cache.setMany({ short: 1 }, 0.3)
    await sleep(450)
    t.false(await cache.has('short'))
  })

  test(`${name}: versions are separate keys and incrVersion moves a value`, async (t) => {
    const { cache } = await fresh()
    await cache.set('k', 'v1')
    await cache.set('k', 'v2', undefined, 2)
    t.is(await cache.get('k'), 'v1')
    t.is(await cache.get<unknown>('k', undefined, 2), 'v2')
    t.is(await cache.incrVersion('k', 2), 3)
    t.is(await cache.get('k'), undefined)
    t.is(await cache.get<unknown>('k', undefined, 3), 'v1')
    t.is(await cache.decrVersion('k', 1, 3), 2)
    t.is(await cache.get<unknown>('k', undefined, 2), 'v1')
    t.is(await cache.incrVersion('k', 0, 2), 2)
    t.is(await cache.get<unknown>('k', undefined, 2), 'v1', 'a zero delta keeps the value')
    await t.throwsAsync(cache.incrVersion('missing'), { instanceOf: CacheKeyNotFoundError })
    const { ns } = await fresh()
    const v5 = await make(ns, { version: 5 })
    const v1 = await make(ns)
    await v5.set('k', 'five')
    t.is(await v1.get('k'), undefined)
    t.is(await v1.get<unknown>('k', undefined, 5), 'five')
  })

  test(`${name}: caches with different key prefixes do not see each other`, async (t) => {
    const { ns } = await fresh()
    const a = await make(ns, { keyPrefix: `${ns}a` })
    const b = await make(ns, { keyPrefix: `${ns}b` })
    await a.set('k', 'from a')
    t.is(await b.get('k'), undefined)
    t.true(await b.add('k', 'from b'))
    t.is(await a.get('k'), 'from a')
    t.is(await b.get('k'), 'from b')
    t.true(a.makeKey('k').startsWith(`${ns}a:1:`))
  })

  test(`${name}: getOrSet computes on a miss and concurrent callers agree on the winner`, async (t) => {
    const { cache } = await fresh()
    let calls = 0
    t.is(await cache.getOrSet('k', () => ++calls), 1)
    t.is(await cache.getOrSet('k', () => ++calls), 1)
    t.is(calls, 1)
    t.is(await cache.getOrSet('plain', 'value'), 'value')
    t.is(await cache.getOrSet('async', async () => 'computed', 10), 'computed')
    const racers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cache.getOrSet('race', async () => `r${i}`)),
    )
    t.is(new Set(racers).size, 1)
    t.is(await cache.get('race'), racers[0])
  })

  runValueAndKeyConformance(name, { make, fresh }, traits)
}
