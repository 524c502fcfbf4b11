import test, { type ExecutionContext } from 'ava'
import { Redis } from 'ioredis'

import { CacheUnavailableError, CacheValueError, InvalidOptionError, RedisCache, type RedisCacheOptions } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'
import { quiet, serverForFile } from './helpers/per-file.js'
import { startRedis } from './helpers/redis.js'

const server = serverForFile(() => startRedis())

/** A RedisCache on `url` and a raw ioredis client on the same database, closed after the test. */
function withRaw(t: ExecutionContext, url: string, options: RedisCacheOptions) {
  const cache = new RedisCache({ location: url, logger: quiet, ...options })
  const raw = new Redis(url)
  t.teardown(async () => {
    await cache.close()
    raw.disconnect()
  })
  return { cache, raw }
}

runCacheConformance('redis', async (ns, options) =>
  new RedisCache({ location: (await server).url, keyPrefix: ns, ownsDatabase: false, logger: quiet, ...options }),
)

test('integers are stored as decimal text so INCRBY works in place', async (t) => {
  const { url } = await server
  const { cache, raw } = withRaw(t, url, { keyPrefix: 'decimal' })
  await cache.set('n', 41)
  t.is(await raw.get('decimal:1:n'), '41')
  await raw.incrby('decimal:1:n', 1)
  t.is(await cache.get('n'), 42)
  await cache.set('s', 'text')
  t.is((await raw.getBuffer('decimal:1:s'))?.[0], 0x02)
  await cache.set('f', 1.5)
  await t.throwsAsync(cache.incr('f'), { instanceOf: CacheValueError })
})

test('add uses SET NX PX and touch sets a millisecond expiry', async (t) => {
  const { url } = await server
  const { cache, raw } = withRaw(t, url, { keyPrefix: 'pttl' })
  t.true(await cache.add('k', 'v', 5))
  const ttl = await raw.pttl('pttl:1:k')
  t.true(ttl > 4000 && ttl <= 5000, `pttl ${ttl}`)
  t.true(await cache.touch('k', null))
  t.is(await raw.pttl('pttl:1:k'), -1)
  await raw.set('pttl:1:plain', 'x')
  t.true(await cache.touch('plain', null), 'a key without expiry still counts as existing')
})

test('clear on a shared database only removes keys with the cache prefix', async (t) => {
  const { url } = await server
  const { cache, raw } = withRaw(t, url, { keyPrefix: 'mine*[x]' })
  t.false(cache.ownsDatabase)
  await raw.set('someone-else', 'keep')
  await raw.set('mine*[x]-not-a-cache-key', 'keep')
  await cache.setMany(Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`k${i}`, i])))
  await cache.clear()
  t.is(await raw.get('someone-else'), 'keep')
  t.is(await raw.get('mine*[x]-not-a-cache-key'), 'keep')
  t.is((await raw.keys('mine*\\[x\\]:*')).length, 0)
})

test('a cache that owns its database clears it with FLUSHDB', async (t) => {
  const { port } = await server
  const url = `redis://127.0.0.1:${port}/3`
  const { cache, raw } = withRaw(t, url, {})
  t.true(cache.ownsDatabase)
  await raw.set('foreign', 'x')
  await cache.set('k', 'v')
  await cache.clear()
  t.is(await raw.dbsize(), 0)
})

test('an injected client is used and left open on close', async (t) => {
  const { url } = await server
  const client = new Redis(url)
  t.teardown(() => client.disconnect())
  const cache = new RedisCache({ client, keyPrefix: 'injected', logger: quiet })
  t.is(cache.client, client)
  await cache.set('k', 'v')
  await cache.close()
  t.is(await client.get('injected:1:k'), '\u0002v')
})

test('getClientOptions can be overridden in a subclass', async (t) => {
  const { url } = await server
  class Tuned extends RedisCache {
    override getClientOptions() {
      return { ...super.getClientOptions(), connectionName: 'tuned-cache' }
    }
  }
  const cache = new Tuned({ location: url, keyPrefix: 'tuned', logger: quiet })
  t.teardown(() => cache.close())
  await cache.set('k', 1)
  const list = (await (cache.client as Redis).client('LIST')) as string
  t.regex(list, /name=tuned-cache/)
})

test('a location that is not a redis URL is rejected', (t) => {
  t.throws(() => new RedisCache({ location: 'http://localhost' }), {
    instanceOf: InvalidOptionError,
    message: 'Expected redis:// or rediss:// URL for location but received "http://localhost" of type string',
  })
})

test('the password and db number of the URL are used', async (t) => {
  const locked = await startRedis(['--requirepass', 's3cr:t'])
  const good = new RedisCache({ location: `redis://:${encodeURIComponent('s3cr:t')}@127.0.0.1:${locked.port}/4`, logger: quiet })
  const bad = new RedisCache({ location: `redis://127.0.0.1:${locked.port}/4`, strict: true, logger: quiet })
  t.teardown(async () => {
    await good.close()
    await bad.close()
    await locked.stop()
  })
  await good.set('k', 'v')
  t.is(await good.get('k'), 'v')
  const direct = new Redis(`redis://:${encodeURIComponent('s3cr:t')}@127.0.0.1:${locked.port}/4`)
  t.teardown(() => direct.disconnect())
  t.is(await direct.exists(':1:k'), 1)
  const err = await t.throwsAsync(bad.get('k'), { instanceOf: CacheUnavailableError })
  t.regex(String((err?.cause as Error)?.message), /NOAUTH/)
})
