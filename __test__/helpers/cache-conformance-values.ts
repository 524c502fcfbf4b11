/**
 * The second half of the cache conformance suite: value fidelity, deleteIfEquals, clear and the
 * key rules. `runCacheConformance` calls it, so backends register only that one.
 */
import { createHash, randomBytes } from 'node:crypto'

import test from 'ava'

import { BaseCache, InvalidCacheKeyError, InvalidOptionError } from '../../ts/index.js'
import type { BaseCacheOptions } from '../../ts/index.js'

import type { ConformanceTraits } from './cache-conformance.js'

/** The cache constructors of one `runCacheConformance` run. */
export interface ConformanceContext {
  /** Builds a cache on namespace `ns`, closed after the suite. */
  make: (ns: string, options?: BaseCacheOptions) => Promise<BaseCache>
  /** Builds a cache on a namespace of its own. */
  fresh: (options?: BaseCacheOptions) => Promise<{ ns: string; cache: BaseCache }>
}

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

/** Registers the value and key conformance tests for one backend. */
export function runValueAndKeyConformance(name: string, { make, fresh }: ConformanceContext, traits: ConformanceTraits): void {
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
