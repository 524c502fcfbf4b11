/**
 * One conformance suite for every cache backend (keyv's model): each backend's spec calls
 * `runCacheConformance(name, factory)`.
 */
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'

import { BaseCache, CacheKeyNotFoundError, CacheValueError, InvalidCacheKeyError, InvalidOptionError } from '../../ts/index.js'
import type { BaseCacheOptions } from '../../ts/index.js'

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

/** Runs `fn` and returns the CacheKeyWarnings it emitted about keys containing `token`. */
async function keyWarnings(token: string, fn: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = []
  const listener = (w: Error) => {
    if (w.name === 'CacheKeyWarning' && w.message.includes(token)) seen.push(w)
  }
  process.on('warning', listener)
  try {
    await fn()
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listener)
  }
  return seen
}

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

  test(`${name}: unicode, binary and structured values round-trip exactly`, async (t) => {
    const { cache } = await fresh()
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const value = {
      text: 'héllo wörld ✓ 日本語 🎉',
      date: new Date('2024-02-29T12:34:56.789Z'),
      map: new Map<unknown, unknown>([['a', 1], [2, new Set(['x'])]]),
      big: 12345678901234567890123n,
      holes: [1, undefined, 3],
      bytes: all,
      floats: new Float64Array([1.5, -0.25]),
      special: [Number.NaN, Number.POSITIVE_INFINITY, -0],
      $t: 'user key that looks like a tag',
    }
    await cache.set('struct', value)
    await cache.set('ключ-🔑', 'unicode key')
    await cache.set('raw', all)
    await cache.set('text', 'ünïcødé ✓')
    await cache.set('big', 2n ** 70n)
    await cache.set('date', new Date(0))
    const got = (await cache.get('struct')) as typeof value
    t.deepEqual(got, value)
    t.true(got.date instanceof Date)
    t.is(got.holes.length, 3)
    t.true(Object.is(got.special[2], -0))
    t.is(await cache.get('ключ-🔑'), 'unicode key')
    const raw = (await cache.get('raw')) as Buffer
    t.true(Buffer.isBuffer(raw))
    t.true(raw.equals(all))
    t.is(await cache.get('text'), 'ünïcødé ✓')
    t.is(await cache.get('big'), 2n ** 70n)
    t.deepEqual(await cache.get('date'), new Date(0))
  })

  test(`${name}: mutating a value after set or get does not change the cached copy`, async (t) => {
    const { cache } = await fresh()
    const obj = { list: [1, 2] }
    const buf = Buffer.from('abc')
    await cache.set('obj', obj)
    await cache.set('buf', buf)
    obj.list.push(3)
    buf[0] = 0x7a
    const got = (await cache.get('obj')) as { list: number[] }
    t.deepEqual(got, { list: [1, 2] })
    got.list.push(9)
    t.deepEqual(await cache.get('obj'), { list: [1, 2] })
    const gotBuf = (await cache.get('buf')) as Buffer
    if (traits.buffersByReference) {
      t.is(gotBuf, buf, 'the very Buffer that was stored comes back')
      return
    }
    t.is(gotBuf.toString(), 'abc')
    gotBuf[1] = 0x7a
    t.is(((await cache.get('buf')) as Buffer).toString(), 'abc')
  })

  test(`${name}: 5 MB values round-trip byte for byte`, async (t) => {
    const { cache } = await fresh()
    const big = randomBytes(5 * 1024 * 1024)
    await cache.set('big', big)
    const got = (await cache.get('big')) as Buffer
    t.is(got.length, big.length)
    t.true(got.equals(big))
    await cache.set('nested', { image: big, name: 'x' })
    t.true(((await cache.get('nested')) as { image: Buffer }).image.equals(big))
  })

  test(`${name}: deleteIfEquals deletes only on a match`, async (t) => {
    const { cache } = await fresh()
    await cache.set('lock', 'token-a')
    t.false(await cache.deleteIfEquals('lock', 'token-b'))
    t.is(await cache.get('lock'), 'token-a')
    t.true(await cache.deleteIfEquals('lock', 'token-a'))
    t.false(await cache.has('lock'))
    t.false(await cache.deleteIfEquals('lock', 'token-a'))
    await cache.set('obj', { owner: 1, at: [1, 2] })
    t.false(await cache.deleteIfEquals('obj', { owner: 2, at: [1, 2] }))
    t.true(await cache.deleteIfEquals('obj', { owner: 1, at: [1, 2] }))
    await cache.set('num', 7)
    t.false(await cache.deleteIfEquals('num', '7'))
    t.true(await cache.deleteIfEquals('num', 7))
  })

  test(`${name}: clear removes every entry`, async (t) => {
    const { cache } = await fresh()
    await cache.setMany({ a: 1, b: 2, c: 3 })
    await cache.set('v2', 'x', undefined, 2)
    await cache.clear()
    t.is((await cache.getMany(['a', 'b', 'c'])).size, 0)
    t.is(await cache.get('v2', undefined, 2), undefined)
    await cache.set('after', 'ok')
    t.is(await cache.get('after'), 'ok')
  })

  test(`${name}: keys breaking memcached's rules are stored with one CacheKeyWarning per pattern`, async (t) => {
    const { ns, cache } = await fresh()
    const token = `t${randomBytes(6).toString('hex')}`
    const long = `${token}${'k'.repeat(300)}`
    if (traits.rejectsInvalidKeys) {
      const warned = await keyWarnings(token, async () => {
        for (const bad of [long, `${token} 1`, `${token}\ttab`]) {
          const err = await t.throwsAsync(cache.set(bad, 'v'), { instanceOf: InvalidCacheKeyError })
          t.regex(err?.message ?? '', /pass hashLongKeys: true to hash such keys$/)
          await t.throwsAsync(cache.get(bad), { instanceOf: InvalidCacheKeyError })
        }
      })
      t.is(warned.length, 0, 'a rejecting backend raises instead of warning')
      const hashing = await make(ns, { hashLongKeys: true })
      await hashing.set(long, 'hashed long value')
      t.is(await hashing.get(long), 'hashed long value')
      return
    }
    const warnings = await keyWarnings(token, async () => {
      await cache.set(long, 'long value')
      await cache.set(`${token} 1`, 'spaced one')
      await cache.set(`${token} 2`, 'spaced two')
      await cache.set(`${token}\ttab`, 'tabbed')
    })
    t.is(warnings.length, 3, warnings.map((w) => w.message).join('\n'))
    for (const w of warnings) {
      t.is(w.name, 'CacheKeyWarning')
      t.is((w as Error & { code?: string }).code, 'RESTTHUMBS_CACHE_KEY')
      t.regex(w.message, /^Cache key will cause errors if used with memcached: .*; pass hashLongKeys: true to hash such keys$/)
    }
    t.regex(warnings[0].message, /it is 3\d\d bytes long, over the limit of 250/)
    t.regex(warnings[1].message, /control character or space/)
    t.is(await cache.get(long), 'long value')
    t.is(await cache.get(`${token} 1`), 'spaced one')
    t.is(await cache.get(`${token} 2`), 'spaced two')
    t.is(await cache.get(`${token}\ttab`), 'tabbed')
    const hashing = await make(ns, { hashLongKeys: true })
    const quiet = await keyWarnings(token, async () => {
      await hashing.set(long, 'hashed long value')
      await hashing.set(`${token} 3`, 'hashed spaced')
    })
    t.is(quiet.length, 0, 'hashed keys are valid keys')
    t.is(await hashing.get(long), 'hashed long value')
    t.is(await hashing.get(`${token} 3`), 'hashed spaced')
    t.is(hashing.makeKey(long), `${hashing.keyPrefix}:1:${createHash('sha256').update(long).digest('hex')}`)
  })

  test(`${name}: an overridden validateKey can raise InvalidCacheKeyError or accept any key silently`, async (t) => {
    const { cache: strict } = await fresh()
    strict.validateKey = (key: string) => {
      if (key.includes(' ')) throw new InvalidCacheKeyError(`no spaces in ${key}`)
    }
    const token = `t${randomBytes(6).toString('hex')}`
    const err = await t.throwsAsync(strict.set(`${token} x`, 'v'), { instanceOf: InvalidCacheKeyError })
    t.is(err?.code, 'ERR_INVALID_CACHE_KEY')
    await t.throwsAsync(strict.get(`${token} x`), { instanceOf: InvalidCacheKeyError, message: /no spaces/ })
    t.false(await strict.has(`${token}x`))
    if (traits.rejectsInvalidKeys) return // the server itself cannot store such keys
    const { cache: lax } = await fresh()
    lax.validateKey = () => {}
    const warnings = await keyWarnings(token, async () => {
      await lax.set(`${token} spaced`, 'stored')
      await lax.set(`${token}${'k'.repeat(300)}`, 'long')
    })
    t.is(warnings.length, 0)
    t.is(await lax.get(`${token} spaced`), 'stored')
    t.is(await lax.get(`${token}${'k'.repeat(300)}`), 'long')
  })

  test(`${name}: getMany, setMany and deleteMany accept any iterable`, async (t) => {
    const { cache } = await fresh()
    function* pairs(): Generator<[string, unknown]> {
      yield ['g1', 1]
      yield ['g2', 'two']
    }
    t.deepEqual(await cache.setMany(pairs()), [])
    t.deepEqual(await cache.setMany([['a1', { a: 1 }]] as const), [])
    const got = await cache.getMany(new Set(['g1', 'g2', 'a1', 'missing']))
    t.deepEqual(Object.fromEntries(got), { g1: 1, g2: 'two', a1: { a: 1 } })
    function* keys() {
      yield 'g1'
      yield 'a1'
    }
    t.is((await cache.getMany(keys())).size, 2)
    await cache.deleteMany(new Set(['g1', 'a1']))
    t.deepEqual([...(await cache.getMany(['g1', 'g2', 'a1'])).keys()], ['g2'])
    await t.throwsAsync(cache.getMany('g2' as unknown as string[]), {
      instanceOf: InvalidOptionError,
      message: 'Expected iterable of strings for keys but received "g2" of type string',
    })
  })
}
