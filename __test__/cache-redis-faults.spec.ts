import test from 'ava'

import { CacheUnavailableError, RedisCache } from '../ts/index.js'
import { freePort } from './helpers/process.js'
import { startRedis, type TestRedis } from './helpers/redis.js'

const COMMAND_TIMEOUT = 400
// Scheduling slack on a loaded 2-core machine; still far below "hangs".
const MARGIN = 600

function recorder() {
  const warnings: string[] = []
  const infos: string[] = []
  return { warnings, infos, logger: { warn: (m: string) => warnings.push(m), info: (m: string) => infos.push(m) } }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - start }
}

async function until(ok: () => Promise<boolean>, ms = 8000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await ok()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

async function setup(t: import('ava').ExecutionContext, strict = false) {
  const server: TestRedis = await startRedis()
  const log = recorder()
  const cache = new RedisCache({
    location: server.url,
    keyPrefix: 'faults',
    commandTimeout: COMMAND_TIMEOUT,
    connectTimeout: COMMAND_TIMEOUT,
    strict,
    logger: log.logger,
  })
  t.teardown(async () => {
    await cache.close()
    await server.stop()
  })
  return { server, cache, ...log }
}

test('with redis-server killed, reads miss and writes are dropped without waiting', async (t) => {
  const { server, cache, warnings } = await setup(t)
  await cache.set('k', 'v')
  t.is(await cache.get('k'), 'v')
  await server.kill()
  const ops: Array<[string, () => Promise<unknown>, unknown]> = [
    ['get', () => cache.get('k', 'fallback'), 'fallback'],
    ['set', () => cache.set('k', 'new'), undefined],
    ['add', () => cache.add('other', 'v'), false],
    ['has', () => cache.has('k'), false],
    ['delete', () => cache.delete('k'), false],
    ['touch', () => cache.touch('k', 10), false],
    ['deleteIfEquals', () => cache.deleteIfEquals('k', 'v'), false],
    ['getMany', async () => (await cache.getMany(['k', 'x'])).size, 0],
    ['setMany', () => cache.setMany({ a: 1, b: 2 }), ['a', 'b']],
    ['deleteMany', () => cache.deleteMany(['a']), undefined],
    ['getOrSet', () => cache.getOrSet('g', () => 'computed'), 'computed'],
    ['clear', () => cache.clear(), undefined],
  ]
  for (const [name, op, expected] of ops) {
    const { value, ms } = await timed(op)
    t.deepEqual(value, expected, name)
    t.true(ms < COMMAND_TIMEOUT + MARGIN, `${name} took ${ms} ms`)
  }
  t.is(warnings.length, 1, 'an outage is logged once')
  t.regex(warnings[0], /unavailable/)
})

test('in-flight commands settle quickly when the server dies under them', async (t) => {
  const { server, cache } = await setup(t)
  await cache.set('k', 'v')
  const start = performance.now()
  const inflight = Array.from({ length: 50 }, () => cache.get('k'))
  await server.kill()
  const results = await Promise.all(inflight)
  t.true(performance.now() - start < COMMAND_TIMEOUT + MARGIN)
  t.true(results.every((r) => r === 'v' || r === undefined))
})

test('after a restart the cache recovers and logs the recovery once', async (t) => {
  const { server, cache, warnings, infos } = await setup(t)
  await cache.set('k', 'v')
  await server.kill()
  t.is(await cache.get('k'), undefined)
  await cache.set('k', 'dropped')
  await server.restart()
  t.true(
    await until(async () => {
      await cache.set('k', 'after')
      return (await cache.get('k')) === 'after'
    }),
    'the cache works again after the restart',
  )
  t.is(await cache.incr('n', 1).catch(() => 'missing'), 'missing')
  t.is(warnings.length, 1)
  t.is(infos.length, 1)
  t.regex(infos[0], /recovered/)
})

test('a strict cache raises CacheUnavailableError quickly when the server is down', async (t) => {
  const { server, cache } = await setup(t, true)
  await cache.set('k', 'v')
  await server.kill()
  for (const op of [() => cache.get('k'), () => cache.set('k', 'v'), () => cache.add('k', 'v'), () => cache.getMany(['k'])]) {
    const start = performance.now()
    const err = await t.throwsAsync(op(), { instanceOf: CacheUnavailableError })
    t.is(err?.code, 'ERR_CACHE_UNAVAILABLE')
    t.is(err?.status, 503)
    t.true(performance.now() - start < COMMAND_TIMEOUT + MARGIN)
  }
})

test('incr raises CacheUnavailableError during an outage even when not strict', async (t) => {
  const { server, cache } = await setup(t)
  await cache.set('n', 1)
  await server.kill()
  await t.throwsAsync(cache.incr('n'), { instanceOf: CacheUnavailableError, code: 'ERR_CACHE_UNAVAILABLE' })
})

test('a hung server (SIGSTOP) times out after commandTimeout instead of hanging', async (t) => {
  const { server, cache, warnings } = await setup(t)
  await cache.set('k', 'v')
  server.pause()
  t.teardown(() => server.resume())
  const { value, ms } = await timed(() => cache.get('k'))
  t.is(value, undefined)
  t.true(ms >= COMMAND_TIMEOUT - 50, `${ms} ms`)
  t.true(ms < COMMAND_TIMEOUT + MARGIN, `${ms} ms`)
  const write = await timed(() => cache.set('k', 'x'))
  t.true(write.ms < COMMAND_TIMEOUT + MARGIN, `${write.ms} ms`)
  t.is(warnings.length, 1)
  server.resume()
  t.true(await until(async () => (await cache.get('k')) !== undefined))
})

test('a cache whose server never started misses within the timeout', async (t) => {
  const port = await freePort()
  const log = recorder()
  const cache = new RedisCache({
    location: `redis://127.0.0.1:${port}/0`,
    commandTimeout: COMMAND_TIMEOUT,
    connectTimeout: COMMAND_TIMEOUT,
    logger: log.logger,
  })
  t.teardown(() => cache.close())
  const { value, ms } = await timed(() => cache.get('k', 'fallback'))
  t.is(value, 'fallback')
  t.true(ms < COMMAND_TIMEOUT + MARGIN, `${ms} ms`)
  const second = await timed(() => cache.set('k', 'v'))
  t.true(second.ms < COMMAND_TIMEOUT + MARGIN, `${second.ms} ms`)
  t.is(log.warnings.length, 1)
})
