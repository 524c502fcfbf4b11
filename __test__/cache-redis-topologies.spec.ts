import test from 'ava'

import { RedisCache } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'
import { quiet, serverForFile } from './helpers/per-file.js'
import { startRedisCluster, startRedisSentinel } from './helpers/redis.js'

const cluster = serverForFile(() => startRedisCluster(3))

// Keys of one cache spread over every master: MGET, pipelines and SCAN must all go per node.
runCacheConformance('redis-cluster', async (ns, options) =>
  new RedisCache({ cluster: (await cluster).nodes, keyPrefix: ns, ownsDatabase: false, logger: quiet, ...options }),
)

test('a cluster cache spreads keys over the masters and clears them all', async (t) => {
  const { nodes } = await cluster
  const cache = new RedisCache({ cluster: nodes, keyPrefix: 'spread', logger: quiet })
  t.teardown(() => cache.close())
  const entries = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]))
  t.deepEqual(await cache.setMany(entries), [])
  t.is((await cache.getMany(Object.keys(entries))).size, 60)
  const client = cache.client as import('ioredis').Cluster
  const perNode = await Promise.all(client.nodes('master').map((n) => n.dbsize()))
  t.true(perNode.filter((n) => n > 0).length >= 2, `keys per master: ${perNode}`)
  await cache.clear()
  t.is((await cache.getMany(Object.keys(entries))).size, 0)
})

test('a Sentinel-configured cache finds the master through the Sentinel', async (t) => {
  const s = await startRedisSentinel()
  const cache = new RedisCache({
    location: 'redis://ignored-host:1/2',
    sentinels: [s.sentinel],
    sentinelName: s.name,
    keyPrefix: 'sentinel',
    logger: quiet,
  })
  t.teardown(async () => {
    await cache.close()
    await s.stop()
  })
  await cache.set('k', 'through sentinel')
  t.is(await cache.get('k'), 'through sentinel')
  const { Redis } = await import('ioredis')
  const direct = new Redis(`redis://127.0.0.1:${s.master.port}/2`)
  t.teardown(() => direct.disconnect())
  t.is(await direct.get('sentinel:1:k'), '\u0002through sentinel', 'the db number of the URL is used')
})
