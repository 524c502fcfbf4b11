import test from 'ava'

import { CircuitBreaker } from '../ts/cache/breaker.js'
import { CacheUnavailableError, CacheValueError } from '../ts/cache/errors.js'
import { InvalidOptionError } from '../ts/errors.js'

function clock() {
  let now = 1_000
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

const outage = () => {
  throw new CacheUnavailableError('Redis timed out')
}

test('after the first outage calls fail fast without reaching the server, then one probe closes it', async (t) => {
  const c = clock()
  const states: string[] = []
  const breaker = new CircuitBreaker({ openMs: 500, now: c.now, onStateChange: (s) => states.push(s) })
  let calls = 0
  const server = (fail: boolean) => async () => {
    calls++
    if (fail) outage()
    return 'ok'
  }
  t.is(await breaker.run(server(false)), 'ok')
  await t.throwsAsync(breaker.run(server(true)), { message: 'Redis timed out' })
  t.is(breaker.state, 'open')
  for (let i = 0; i < 5; i++) {
    const err = await t.throwsAsync(breaker.run(server(false)), { instanceOf: CacheUnavailableError })
    t.is(err.code, 'ERR_CACHE_UNAVAILABLE')
  }
  t.is(calls, 2, 'the open circuit never called the server')
  c.advance(501)
  // The probe is in flight: everyone else still fails fast.
  let release!: () => void
  const probe = breaker.run(() => new Promise<string>((r) => (release = () => r('probed'))))
  t.is(breaker.state, 'half-open')
  await t.throwsAsync(breaker.run(server(false)), { instanceOf: CacheUnavailableError })
  release()
  t.is(await probe, 'probed')
  t.is(breaker.state, 'closed')
  t.is(await breaker.run(server(false)), 'ok')
  t.deepEqual(states, ['open', 'half-open', 'closed'])
})

test('a failed probe opens the circuit again for another period', async (t) => {
  const c = clock()
  const breaker = new CircuitBreaker({ openMs: 100, now: c.now })
  await t.throwsAsync(breaker.run(outage))
  c.advance(100)
  await t.throwsAsync(breaker.run(outage), { message: 'Redis timed out' }, 'the probe reached the server')
  t.is(breaker.state, 'open')
  c.advance(99)
  await t.throwsAsync(breaker.run(async () => 'x'), { message: /failing fast/ })
  c.advance(1)
  t.is(await breaker.run(async () => 'x'), 'x')
})

test('errors that are not outages do not open the circuit, and the threshold counts consecutive outages', async (t) => {
  const breaker = new CircuitBreaker({ failureThreshold: 2 })
  for (let i = 0; i < 3; i++) {
    await t.throwsAsync(
      breaker.run(() => {
        throw new CacheValueError('not a number')
      }),
      { instanceOf: CacheValueError },
    )
  }
  t.is(breaker.state, 'closed')
  await t.throwsAsync(breaker.run(outage))
  t.is(breaker.state, 'closed')
  await breaker.run(async () => 1)
  await t.throwsAsync(breaker.run(outage))
  t.is(breaker.state, 'closed', 'a success in between reset the count')
  await t.throwsAsync(breaker.run(outage))
  t.is(breaker.state, 'open')
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
  const other = new CircuitBreaker()
  await t.throwsAsync(other.run(() => Promise.reject(refused)))
  t.is(other.state, 'open', 'socket errors count as outages too')
})

test('breaker options are validated', (t) => {
  t.throws(() => new CircuitBreaker({ failureThreshold: 0 }), { instanceOf: InvalidOptionError, message: /failureThreshold/ })
  t.throws(() => new CircuitBreaker({ openMs: -1 }), { instanceOf: InvalidOptionError, message: /openMs/ })
})
