import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import test, { type ExecutionContext } from 'ava'

import { ChainCache, FileCache, InvalidOptionError, MemoryCache, RedisCache } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'
import { quiet, serverForFile } from './helpers/per-file.js'
import { startRedis } from './helpers/redis.js'

const server = serverForFile(() => startRedis())
const root = mkdtemp(join(tmpdir(), 'restthumbs-chain-'))
test.after.always(async () => rm(await root, { recursive: true, force: true }))

async function tiers(ns: string) {
  return [
    new MemoryCache({ location: `chain-${ns}` }),
    new RedisCache({ location: (await server).url, keyPrefix: ns, ownsDatabase: false, logger: quiet }),
    new FileCache({ location: join(await root, ns), logger: quiet }),
  ] as const
}

/** A chain over fresh {@link tiers}, closed after the test. */
async function chainOf(t: ExecutionContext, ns: string) {
  const all = await tiers(ns)
  const chain = new ChainCache({ tiers: [...all], keyPrefix: ns })
  t.teardown(() => chain.close())
  return { chain, tiers: all }
}

// The memory tier keeps Buffers by reference (its default), so the chain does too.
runCacheConformance(
  'chain',
  async (ns, options) => new ChainCache({ tiers: [...(await tiers(ns))], keyPrefix: ns, ...options }),
  { buffersByReference: true },
)

test('a hit in a slower tier back-fills the faster ones with the remaining time to live', async (t) => {
  const { chain, tiers: [memory, redis, file] } = await chainOf(t, 'backfill')
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
  const { chain, tiers: [memory, redis, file] } = await chainOf(t, 'middle')
  const key = chain.makeKey('k')
  await redis._set(key, { from: 'redis' }, null)
  t.deepEqual(await chain.get('k'), { from: 'redis' })
  t.deepEqual(await memory._get(key), { from: 'redis' })
  t.is(await file._get(key), undefined)
  const entry = await memory._getEntry(key)
  t.is(entry?.expiresAt, null, 'a value without expiry is back-filled without expiry')
})

test('writes and deletes reach every tier', async (t) => {
  const { chain, tiers: all } = await chainOf(t, 'writes')
  const key = chain.makeKey('k')
  await chain.set('k', 'v')
  for (const tier of all) t.is(await tier._get(key), 'v')
  await chain.delete('k')
  for (const tier of all) t.is(await tier._get(key), undefined)
})

test('add is decided by the last tier even when a faster tier is empty', async (t) => {
  const { chain, tiers: [, , file] } = await chainOf(t, 'add-last')
  const key = chain.makeKey('lock')
  await file._set(key, 'held elsewhere', 60_000)
  t.false(await chain.add('lock', 'mine'))
  t.is(await chain.get('lock'), 'held elsewhere')
})

test('incr counts on the last tier and faster tiers re-read the new value', async (t) => {
  const { chain, tiers: all } = await chainOf(t, 'incr')
  await chain.set('n', 1)
  t.is(await chain.incr('n', 4), 5)
  t.is(await chain.get('n'), 5)
  t.is(await all[0]._get(chain.makeKey('n')), 5)
})

test('a chain needs at least one tier', (t) => {
  t.throws(() => new ChainCache({ tiers: [] }), { instanceOf: InvalidOptionError })
})
