import { randomUUID } from 'node:crypto'

import test from 'ava'

import { MemoryCache } from '../ts/cache/memory.js'
import { RedisCache } from '../ts/cache/redis.js'
import { DogpileLock, LockOptionError, SingleFlight, waitFor } from '../ts/lock.js'
import { startRedis } from './helpers/redis.js'

const freshCache = () => new MemoryCache({ location: `lock-${randomUUID()}`, timeout: 60 })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('only one of many concurrent acquirers gets the lock', async (t) => {
  const cache = freshCache()
  const locks = Array.from({ length: 20 }, () => new DogpileLock(cache, { timeout: 5 }))
  const handles = await Promise.all(locks.map((l) => l.tryAcquire('thumb-a')))
  const winners = handles.filter((h) => h !== null)
  t.is(winners.length, 1)
  t.true(await locks[0].isLocked('thumb-a'))
  t.true(await winners[0]!.release())
  t.false(await locks[0].isLocked('thumb-a'))
})

test('the lock stores a random token and release only deletes its own token', async (t) => {
  const cache = freshCache()
  const lock = new DogpileLock(cache, { timeout: 5, prefix: 'L:' })
  const a = await lock.tryAcquire('x')
  t.truthy(a)
  t.regex(a!.token, /^[0-9a-f]{32}$/)
  t.is(await cache.get('L:x'), a!.token)
  // Simulate expiry and a new owner: the old owner's release must not free the new lock.
  await cache.delete('L:x')
  const b = await lock.tryAcquire('x')
  t.truthy(b)
  t.not(a!.token, b!.token)
  t.false(await a!.release())
  t.is(await cache.get('L:x'), b!.token)
  t.true(await b!.release())
  t.false(await b!.release(), 'a second release is a no-op')
})

test('a lock whose owner died without releasing it expires after the timeout', async (t) => {
  const cache = freshCache()
  const lock = new DogpileLock(cache, { timeout: 0.3 })
  // A dead owner leaves its token behind and no keep-alive: exactly an `add` with the timeout.
  t.true(await cache.add(lock.keyFor('z'), 'dead-owner-token', 0.2))
  t.is(await lock.tryAcquire('z'), null)
  await sleep(300)
  const taken = await lock.tryAcquire('z')
  t.truthy(taken, 'an abandoned lock can be taken once it expires')
  t.true(await taken!.release())
})

test('the owner keeps its lock alive while it works longer than the timeout', async (t) => {
  const cache = freshCache()
  // Refreshes every 200 ms for a 1 s lock: room for timer delays on a loaded machine.
  const lock = new DogpileLock(cache, { timeout: 1, refreshRatio: 0.2 })
  const h = await lock.tryAcquire('slow')
  t.truthy(h)
  await sleep(2500)
  t.true(await lock.isLocked('slow'))
  t.is(await lock.tryAcquire('slow'), null)
  t.true(await h!.extend())
  t.true(await h!.release())
  t.false(await lock.isLocked('slow'))
})

test('invalid lock options are rejected with expected-versus-received messages', (t) => {
  const cache = freshCache()
  const err = t.throws(() => new DogpileLock(cache, { timeout: -3 }), { instanceOf: LockOptionError })
  t.is(err!.code, 'ERR_LOCK_OPTION')
  t.is(err!.message, 'Expected positive number for timeout but received -3 of type number')
  t.throws(() => new DogpileLock(cache, { refreshRatio: 1.5 }), { instanceOf: LockOptionError })
})

test('single flight shares one promise between concurrent callers of the same key', async (t) => {
  const flight = new SingleFlight<number>()
  let runs = 0
  const work = async () => {
    runs++
    await sleep(30)
    return 42
  }
  const results = await Promise.all([flight.do('k', work), flight.do('k', work), flight.do('k', work), flight.do('j', work)])
  t.deepEqual(results, [42, 42, 42, 42])
  t.is(runs, 2)
  t.is(flight.size, 0)
  // After completion a new call runs again.
  await flight.do('k', work)
  t.is(runs, 3)
})

test('single flight propagates a failure to every waiter and then forgets it', async (t) => {
  const flight = new SingleFlight<number>()
  const boom = async (): Promise<number> => {
    await sleep(10)
    throw new Error('boom')
  }
  const all = await Promise.allSettled([flight.do('k', boom), flight.do('k', boom)])
  t.deepEqual(
    all.map((r) => r.status),
    ['rejected', 'rejected'],
  )
  t.is(await flight.do('k', async () => 7), 7)
})

test('waitFor polls with backoff until the check resolves, or gives up at the deadline', async (t) => {
  let calls = 0
  const start = Date.now()
  const v = await waitFor(
    async () => {
      calls++
      return Date.now() - start > 80 ? 'done' : undefined
    },
    { timeoutMs: 2000, initialDelayMs: 5, maxDelayMs: 40 },
  )
  t.is(v, 'done')
  t.true(calls >= 2 && calls < 30, `calls=${calls}`)
  const t0 = Date.now()
  t.is(await waitFor(async () => undefined, { timeoutMs: 100 }), undefined)
  t.true(Date.now() - t0 >= 95)
})

test('across two Redis clients only one owner gets the lock and a stale owner cannot release it', async (t) => {
  const redis = await startRedis()
  const a = new RedisCache({ location: redis.url, keyPrefix: 'lockspec' })
  const b = new RedisCache({ location: redis.url, keyPrefix: 'lockspec' })
  try {
    const la = new DogpileLock(a, { timeout: 0.4 })
    const lb = new DogpileLock(b, { timeout: 0.4 })
    const [ha, hb] = await Promise.all([la.tryAcquire('t'), lb.tryAcquire('t')])
    t.is([ha, hb].filter(Boolean).length, 1)
    const winner = (ha ?? hb)!
    t.true(await lb.isLocked('t'))
    // The other client sees the winner's token and cannot delete it by compare-and-delete.
    t.false(await b.deleteIfEquals(la.keyFor('t'), 'not-the-token'))
    t.true(await la.isLocked('t'))
    t.true(await winner.release())
    t.false(await la.isLocked('t'))
    // An owner that died leaves a key that Redis expires by itself (PX), then it can be taken.
    t.true(await a.add(la.keyFor('dead'), 'dead-token', 0.2))
    t.is(await lb.tryAcquire('dead'), null)
    await sleep(300)
    const taken = await lb.tryAcquire('dead')
    t.truthy(taken)
    await taken!.release()
  } finally {
    await a.close()
    await b.close()
    await redis.stop()
  }
})
