import test from 'ava'

import { CacheUnavailableError, RedisCache } from '../ts/index.js'
import { get, rig, sign } from './helpers/handler-rig.js'
import { startRedis } from './helpers/redis.js'

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - start }
}

test('with Redis frozen, only the first command waits its timeout; the rest fail fast until a probe succeeds', async (t) => {
  const server = await startRedis()
  const cache = new RedisCache({
    location: server.url,
    keyPrefix: 'breaker',
    commandTimeout: 500,
    strict: true,
    breaker: { openMs: 800 },
    logger: { warn: () => undefined, info: () => undefined },
  })
  t.teardown(async () => {
    server.resume()
    await cache.close()
    await server.stop()
  })
  await cache.set('k', 'v')
  server.pause()
  const first = await timed(() => cache.get('k').catch((e: unknown) => e))
  t.true(first.value instanceof Error)
  t.true(first.ms >= 450, `the first command waited its timeout (${first.ms.toFixed(0)} ms)`)
  for (const op of [() => cache.get('k'), () => cache.set('k', 'x'), () => cache.add('a', 1)]) {
    const { value, ms } = await timed(() => op().catch((e: unknown) => e))
    t.true(value instanceof CacheUnavailableError)
    t.regex((value as Error).message, /failing fast/)
    t.true(ms < 200, `failed fast in ${ms.toFixed(0)} ms`)
  }
  server.resume()
  await new Promise((r) => setTimeout(r, 900))
  t.is(await cache.get('k'), 'v', 'the probe found the server back and closed the circuit')
  await cache.set('k', 'w')
  t.is(await cache.get('k'), 'w')
})

test('with Redis frozen, cold renders after the first do not each wait for command timeouts', async (t) => {
  const server = await startRedis()
  t.teardown(async () => {
    server.resume()
    await server.stop()
  })
  const r = await rig(t, { cache: server.url, keyPrefix: 'breaker-handler' })
  t.is((await get(r.url + sign('sunset.jpg', '30x30', 'crop', '.jpg'))).res.status, 200)
  server.pause()
  const times: number[] = []
  for (const size of ['31x31', '32x32', '33x33', '34x34']) {
    const { value, ms } = await timed(() => get(r.url + sign('sunset.jpg', size, 'crop', '.jpg')))
    t.is(value.res.status, 200, size)
    times.push(ms)
  }
  t.log(`cold renders with Redis frozen: ${times.map((ms) => ms.toFixed(0)).join(', ')} ms`)
  // The default command timeout is 1 s, and a cold render asks the cache about three times: the
  // first render pays one timeout, the circuit then answers at once for the next two seconds.
  for (const ms of times.slice(1)) t.true(ms < 700, `${ms.toFixed(0)} ms`)
})
