import { createConnection } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'
import { MemcacheClient } from 'memcache-client'

import { CacheUnavailableError, InvalidCacheKeyError, InvalidOptionError, MemcachedCache } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'
import { startMemcached, type TestMemcached } from './helpers/memcached.js'
import { quiet, serverForFile } from './helpers/per-file.js'

// Generous limits: on a loaded machine a slow reply must not pass for a dead server (a dropped
// write). The fault test sets its own short ones.
const patient = { connectTimeout: 10_000, commandTimeout: 10_000 }
// Three servers with room for the suite's 5 MB values; with 8 MB slab pages the default 64 MB
// would be only eight pages, and items of other sizes would be evicted to make room.
const big = ['-I', '8m', '-m', '512']
const trio = serverForFile(async () => {
  const servers = await Promise.all([startMemcached(big), startMemcached(big), startMemcached(big)])
  return Object.assign(servers, { stop: () => Promise.all(servers.map((s) => s.stop())) })
})

async function location(servers?: TestMemcached[]): Promise<string> {
  return `memcached://${(servers ?? (await trio)).map((s) => s.address).join(',')}`
}

runCacheConformance(
  'memcached',
  async (ns, options) => new MemcachedCache({ location: await location(), keyPrefix: ns, logger: quiet, ...patient, ...options }),
  { rejectsInvalidKeys: true },
)

/** Raw text-protocol command on one server (meta commands included). */
function raw(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ port, host: '127.0.0.1' })
    let out = ''
    sock.on('error', reject)
    sock.on('connect', () => sock.write(`${command}\r\n`))
    sock.on('data', (d) => {
      out += d.toString('latin1')
      if (out.endsWith('\r\n')) {
        sock.destroy()
        resolve(out.trim())
      }
    })
  })
}

test('keys spread over all three servers by consistent hashing', async (t) => {
  const servers = await trio
  const cache = new MemcachedCache({ location: await location(), keyPrefix: 'spread', logger: quiet, ...patient })
  t.teardown(() => cache.close())
  const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
  await cache.setMany(Object.fromEntries(keys.map((k) => [k, k])))
  const counts = await Promise.all(
    servers.map(async (s) => {
      const hits = await Promise.all(keys.map((k) => raw(s.port, `mg spread:1:${k}`)))
      return hits.filter((h) => h.startsWith('HD')).length
    }),
  )
  t.is(counts.reduce((a, b) => a + b, 0), 300, 'each key lives on exactly one server')
  for (const c of counts) t.true(c > 50, `a balanced share: ${counts.join(', ')}`)
  // The same list in another order maps every key to the same server.
  const reordered = new MemcachedCache({ location: `memcached://${[...servers].reverse().map((s) => s.address).join(';')}`, keyPrefix: 'spread', logger: quiet, ...patient })
  t.teardown(() => reordered.close())
  t.is((await reordered.getMany(keys)).size, 300)
})

test('timeouts over 30 days are sent as absolute times', async (t) => {
  const [server] = await trio
  const cache = new MemcachedCache({ location: `memcached://${server.address}`, keyPrefix: 'abs', logger: quiet, ...patient })
  t.teardown(() => cache.close())
  const days40 = 40 * 86400
  await cache.set('long', 'v', days40)
  t.is(await cache.get('long'), 'v')
  const ttl = Number(/ t(-?\d+)/.exec(await raw(server.port, 'mg abs:1:long t'))?.[1])
  // Sent relative, 40 days would read as a 1970 date and expire at once.
  // memcached's clock ticks in whole seconds and the absolute time is rounded up: allow 1 s over.
  t.true(ttl > days40 - 120 && ttl <= days40 + 1, `memcached reports ${ttl} s left`)
  await cache.set('forever', 'v', null)
  t.regex(await raw(server.port, 'mg abs:1:forever t'), / t-1/)
})

test('memcached key rules raise InvalidCacheKeyError', async (t) => {
  const cache = new MemcachedCache({ location: await location(), logger: quiet, ...patient })
  t.teardown(() => cache.close())
  await t.throwsAsync(cache.set('a b', 1), { instanceOf: InvalidCacheKeyError })
  await t.throwsAsync(cache.set('x'.repeat(251), 1), { instanceOf: InvalidCacheKeyError })
  await t.throwsAsync(cache.set('nl\n', 1), { instanceOf: InvalidCacheKeyError })
})

test('a value over the item size is not stored, deletes the old value and warns', async (t) => {
  const small = await startMemcached(['-I', '1m'])
  const warnings: string[] = []
  const cache = new MemcachedCache({ location: `memcached://${small.address}`, logger: { warn: (m) => warnings.push(m), info: () => {} }, ...patient })
  t.teardown(async () => {
    await cache.close()
    await small.stop()
  })
  await cache.set('big', 'small value')
  await cache.set('big', Buffer.alloc(2 * 1024 * 1024, 7))
  t.is(await cache.get('big'), undefined)
  t.is(warnings.length, 1)
  t.regex(warnings[0], /over the server's item size/)
})

test('clear on shared servers removes only the cache prefix', async (t) => {
  const loc = await location()
  const mine = new MemcachedCache({ location: loc, keyPrefix: 'mine', logger: quiet, ...patient })
  const other = new MemcachedCache({ location: loc, keyPrefix: 'other', logger: quiet, ...patient })
  t.teardown(() => Promise.all([mine.close(), other.close()]))
  t.false(mine.ownsServers)
  await mine.setMany({ a: 1, b: 2, c: 3, 'ключ': 4 })
  await other.setMany({ a: 1, b: 2 })
  await mine.clear()
  t.is((await mine.getMany(['a', 'b', 'c', 'ключ'])).size, 0)
  t.is((await other.getMany(['a', 'b'])).size, 2)
})

test('100 concurrent incrs from three clients lose nothing and negatives work', async (t) => {
  const loc = await location()
  const caches = [0, 1, 2].map(() => new MemcachedCache({ location: loc, keyPrefix: 'count', logger: quiet, ...patient }))
  t.teardown(() => Promise.all(caches.map((c) => c.close())))
  await caches[0].set('n', -50, 30)
  await Promise.all(Array.from({ length: 100 }, (_, i) => caches[i % 3].incr('n')))
  t.is(await caches[1].get('n'), 50)
  const wins = await Promise.all(Array.from({ length: 30 }, (_, i) => caches[i % 3].add('lock', i, 30)))
  t.is(wins.filter(Boolean).length, 1)
})

test('bad server lists are rejected', (t) => {
  t.throws(() => new MemcachedCache({ location: 'memcached://' }), { instanceOf: InvalidOptionError })
  t.throws(() => new MemcachedCache({ location: 'h1:11211,h2' }), { instanceOf: InvalidOptionError })
  t.deepEqual(new MemcachedCache({ location: 'h1:1;h2:2' }).servers, ['h1:1', 'h2:2'])
})

test('a server killed mid-load: its keys miss without hanging, the others keep working, and it rejoins', async (t) => {
  const servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()])
  t.teardown(() => Promise.all(servers.map((s) => s.stop())))
  const warnings: string[] = []
  const infos: string[] = []
  const cache = new MemcachedCache({
    location: await location(servers),
    keyPrefix: 'fault',
    commandTimeout: 500,
    retryTimeout: 300,
    logger: { warn: (m) => warnings.push(m), info: (m) => infos.push(m) },
  })
  t.teardown(() => cache.close())
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
  await cache.setMany(Object.fromEntries(keys.map((k) => [k, k])))
  // Which server holds each key, read from the servers themselves.
  const owner = new Map<string, number>()
  await Promise.all(
    keys.map(async (k) => {
      for (const [i, s] of servers.entries()) if ((await raw(s.port, `mg fault:1:${k}`)).startsWith('HD')) owner.set(k, i)
    }),
  )
  t.is(owner.size, 200)

  // Load running while server 1 dies.
  let slowest = 0
  let running = true
  const load = (async () => {
    let errors = 0
    while (running) {
      await Promise.all(
        keys.slice(0, 50).map(async (k) => {
          const start = performance.now()
          await cache.get(k).catch(() => errors++)
          slowest = Math.max(slowest, performance.now() - start)
        }),
      )
    }
    return errors
  })()
  await sleep(100)
  await servers[1].kill()
  await sleep(300)
  running = false
  t.is(await load, 0, 'no call rejected: misses only')
  t.true(slowest < 1500, `no call hung (slowest ${Math.round(slowest)} ms)`)

  const after = await cache.getMany(keys)
  for (const k of keys) {
    if (owner.get(k) === 1) t.false(after.has(k), `${k} lived on the dead server`)
    else t.is(after.get(k), k)
  }
  await cache.set('k0', 'written during the outage')
  t.is(warnings.filter((w) => w.includes(servers[1].address)).length, 1, 'one warning for the outage')
  const strict = new MemcachedCache({ location: await location(servers), keyPrefix: 'fault', strict: true, logger: quiet, ...patient })
  t.teardown(() => strict.close())
  const deadKey = keys.find((k) => owner.get(k) === 1) as string
  await t.throwsAsync(strict.get(deadKey), { instanceOf: CacheUnavailableError })

  await servers[1].restart()
  await sleep(400)
  const deadKeys = keys.filter((k) => owner.get(k) === 1)
  await cache.setMany(Object.fromEntries(deadKeys.map((k) => [k, `back ${k}`])))
  const back = await cache.getMany(deadKeys)
  t.is(back.size, deadKeys.length, 'the restarted server serves its keys again')
  t.true((await raw(servers[1].port, `mg fault:1:${deadKeys[0]}`)).startsWith('HD'), 'on the same server as before')
  t.true(infos.some((m) => m.includes(`${servers[1].address} recovered`)))
})

test('values written by the cache are readable as bytes by a plain client (8-byte expiry header)', async (t) => {
  const [server] = await trio
  const cache = new MemcachedCache({ location: `memcached://${server.address}`, keyPrefix: 'plain', logger: quiet, ...patient })
  const client = new MemcacheClient({ server: server.address })
  t.teardown(async () => {
    await cache.close()
    client.shutdown()
  })
  await cache.set('k', 'text', null)
  const got = await client.get<Buffer>('plain:1:k')
  t.is(got.value.readDoubleBE(0), 0)
  t.is(got.value.subarray(9).toString(), 'text')
})
