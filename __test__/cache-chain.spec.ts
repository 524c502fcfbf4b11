import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'

import { ChainCache, FileCache, InvalidOptionError, MemoryCache, RedisCache } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'
import { startRedis } from './helpers/redis.js'

const server = startRedis()
server.catch(() => {})
const root = mkdtemp(join(tmpdir(), 'restthumbs-chain-'))
const quiet = { warn: () => {}, info: () => {} }
test.after.always(async () => {
  await (await server).stop()
  await rm(await root, { recursive: true, force: true })
})

async function tiers(ns: string) {
  return [
    new MemoryCache({ location: `chain-${ns}` }),
    new RedisCache({ location: (await server).url, keyPrefix: ns, ownsDatabase: false, logger: quiet }),
    new FileCache({ location: join(await root, ns), logger: quiet }),
  ] as const
}

// The memory tier keeps Buffers by reference (its default), so the chain does too.
runCacheConformance(
  'chain',
  async (ns, options) => new ChainCache({ tiers: [...(await tiers(ns))], keyPrefix: ns, ...options }),
  { buffersByReference: true },
)

test('a hit in a slower tier back-fills the faster ones with the remaining time to live', async (t) => {
  const [memory, redis, file] = await tiers('backfill')
  const chain = new ChainCache({ tiers: [memory, redis, file], keyPrefix: 'backfill' })
  t.teardown(() => chain.close())
  const key = chain.makeKey('k')
  await file._set(key, 'from file', 2000)
  t.is(await memory._get(key), undefined)
  t.is(await chain.get('k'), 'from file')
  t.is(await memory._get(key), 'from file')
  t.is(await redis._get(key), 'from file')
  await sleep(2300)
  t.is(await memory._get(key), undefined, 'the back-filled copy expires with the original')
  t.is(await redis._get(key), undefined)
})

test('a hit in the middle tier fills only the faster tier', async (t) => {
  const [memory, redis, file] = await tiers('middle')
  const chain = new ChainCache({ tiers: [memory, redis, file], keyPrefix: 'middle' })
  t.teardown(() => chain.close())
  const key = chain.makeKey('k')
  await redis._set(key, { from: 'redis' }, null)
  t.deepEqual(await chain.get('k'), { from: 'redis' })
  t.deepEqual(await memory._get(key), { from: 'redis' })
  t.is(await file._get(key), undefined)
  const entry = await memory._getEntry(key)
  t.is(entry?.expiresAt, null, 'a value without expiry is back-filled without expiry')
})

test('writes and deletes reach every tier', async (t) => {
  const all = await tiers('writes')
  const chain = new ChainCache({ tiers: [...all], keyPrefix: 'writes' })
  t.teardown(() => chain.close())
  const key = chain.makeKey('k')
  await chain.set('k', 'v')
  for (const tier of all) t.is(await tier._get(key), 'v')
  await chain.delete('k')
  for (const tier of all) t.is(await tier._get(key), undefined)
})

test('add is decided by the last tier even when a faster tier is empty', async (t) => {
  const [memory, redis, file] = await tiers('add-last')
  const chain = new ChainCache({ tiers: [memory, redis, file], keyPrefix: 'add-last' })
  t.teardown(() => chain.close())
  const key = chain.makeKey('lock')
  await file._set(key, 'held elsewhere', 60_000)
  t.false(await chain.add('lock', 'mine'))
  t.is(await chain.get('lock'), 'held elsewhere')
})

test('incr counts on the last tier and faster tiers re-read the new value', async (t) => {
  const all = await tiers('incr')
  const chain = new ChainCache({ tiers: [...all], keyPrefix: 'incr' })
  t.teardown(() => chain.close())
  await chain.set('n', 1)
  t.is(await chain.incr('n', 4), 5)
  t.is(await chain.get('n'), 5)
  t.is(await all[0]._get(chain.makeKey('n')), 5)
})

test('a chain needs at least one tier', (t) => {
  t.throws(() => new ChainCache({ tiers: [] }), { instanceOf: InvalidOptionError })
})
