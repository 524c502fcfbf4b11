import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import test from 'ava'

import {
  DatabaseCache,
  Signer,
  createCacheTable,
  createThumbnailHandler,
  thumbnailUrl,
  InvalidOptionError,
  MemcachedCache,
  RedisCache,
  cacheFromUrl,
  caches,
  closeCaches,
  configureCaches,
  getCache,
} from '../ts/index.js'
import { loadDriver } from '../ts/cache/driver.js'
import { CacheDriverMissingError } from '../ts/index.js'
import { ROOT, runSourceCli as cli } from './helpers/cli.js'
import { startMemcached } from './helpers/memcached.js'

const dir = mkdtempSync(path.join(tmpdir(), 'restthumbs-url-'))
const quiet = { warn: () => {}, info: () => {} }
test.after.always(() => rmSync(dir, { recursive: true, force: true }))


test('cache URLs pick their backend', (t) => {
  t.true(cacheFromUrl('redis://127.0.0.1:6379/0') instanceof RedisCache)
  t.true(cacheFromUrl('postgres://u@h/db') instanceof DatabaseCache)
  t.true(cacheFromUrl('sqlite:x.db') instanceof DatabaseCache)
  const mc = cacheFromUrl('memcached://h1:11211,h2:11212') as MemcachedCache
  t.deepEqual(mc.servers, ['h1:11211', 'h2:11212'])
  t.throws(() => cacheFromUrl('mysql://h/db'), { instanceOf: InvalidOptionError })
})

test('configureCaches and getCache accept URL backends and the database/memcached names', async (t) => {
  const server = await startMemcached()
  t.teardown(async () => {
    await closeCaches()
    configureCaches({ default: { backend: 'memory' } })
    await server.stop()
  })
  const sqlite = `sqlite:${path.join(dir, 'registry.db')}`
  configureCaches({
    default: { backend: `memcached://${server.address}`, options: { logger: quiet, commandTimeout: 10_000 } },
    named: { backend: 'memcached', location: server.address, keyPrefix: 'named', options: { commandTimeout: 10_000 } },
    db: { backend: 'database', location: sqlite, options: { table: 'reg' } },
    dburl: { backend: `${sqlite}?table=reg2` },
  })
  t.true(caches.default instanceof MemcachedCache)
  await caches.default.set('k', 'via url')
  t.is(await caches.get('default').get('k'), 'via url')
  t.is(await caches.get('named').get('k'), undefined, 'its own prefix')
  const db = caches.get('db') as DatabaseCache
  t.is(db.table, 'reg')
  await db.createTable()
  await db.set('k', 1)
  t.is(await db.get('k'), 1)
  t.is((caches.get('dburl') as DatabaseCache).table, 'reg2')
  const adhoc = await getCache(`memcached://${server.address}`, { keyPrefix: '' })
  t.teardown(() => adhoc.close())
  t.is(await adhoc.get('k'), 'via url')
})

test('restthumbs createcachetable creates, reports existing tables and prints SQL in a dry run', async (t) => {
  const location = `sqlite:${path.join(dir, 'cli.db')}`
  const dry = await cli(['createcachetable', '--cache', location, '--dry-run'])
  t.is(dry.code, 0, dry.stderr)
  t.regex(dry.stdout, /CREATE TABLE IF NOT EXISTS "restthumbs_cache"[^]*CREATE INDEX IF NOT EXISTS "restthumbs_cache_expires"/)
  const first = await cli(['createcachetable', 'one', 'two'], { RESTTHUMBS_CACHE: location })
  t.is(first.code, 0, first.stderr)
  t.is(first.stdout, "Cache table 'one' created.\nCache table 'two' created.\n")
  const again = await cli(['createcachetable', 'one', '--cache', location])
  t.is(again.stdout, "Cache table 'one' already exists.\n")
  const cache = new DatabaseCache({ location, table: 'two' })
  t.teardown(() => cache.close())
  await cache.set('k', 'v')
  t.is(await cache.get('k'), 'v')
  const wrong = await cli(['createcachetable', '--cache', 'redis://127.0.0.1:6379/0'])
  t.is(wrong.code, 1)
  t.regex(wrong.stderr, /ERR_CONFIG: createcachetable needs a postgres:\/\/… or sqlite:path cache location/)
  const help = await cli(['--help'])
  t.regex(help.stdout, /^ {2}createcachetable /m)
})

test('the thumbnail server takes its lock and record cache from memcached:// and sqlite: URLs', async (t) => {
  const server = await startMemcached()
  t.teardown(() => server.stop())
  const sqlite = `sqlite:${path.join(dir, 'server.db')}`
  await createCacheTable({ location: sqlite })
  const signer = new Signer({ keys: ['url-spec-key'] })
  for (const cache of [`memcached://${server.address}`, sqlite]) {
    const handler = createThumbnailHandler({
      keys: ['url-spec-key'],
      sourceRoot: path.join(ROOT, 'media'),
      outputRoot: path.join(dir, `out-${cache.slice(0, 6)}`),
      cache,
      logger: { error: () => undefined },
    })
    const http = createServer((req, res) => handler(req, res))
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    t.teardown(async () => {
      await new Promise((r) => http.close(r))
      await handler.close()
    })
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}${thumbnailUrl('sunset.jpg', '64x64', 'crop', '.jpg', { signer, baseUrl: '/thumbnails' })}`
    const res = await fetch(url)
    t.is(res.status, 200, cache)
    t.is(res.headers.get('content-type'), 'image/jpeg')
    t.true((await res.arrayBuffer()).byteLength > 100)
  }
  // Both backends really received the server's records and locks.
  const Sqlite = (await import('better-sqlite3')).default
  const raw = new Sqlite(path.join(dir, 'server.db'), { readonly: true })
  t.teardown(() => raw.close())
  t.true((raw.prepare('SELECT count(*) AS n FROM restthumbs_cache').get() as { n: number }).n > 0, 'rows in the sqlite table')
  const stats = await new Promise<string>((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: server.port })
    let out = ''
    sock.on('error', reject)
    sock.on('connect', () => sock.write('stats\r\n'))
    sock.on('data', (d) => {
      out += d.toString()
      if (out.endsWith('END\r\n')) {
        sock.destroy()
        resolve(out)
      }
    })
  })
  t.true(Number(/STAT total_items (\d+)/.exec(stats)?.[1]) > 0, 'items written to memcached')
})

test('a missing driver package fails with the npm install command that fixes it', async (t) => {
  const err = await t.throwsAsync(loadDriver('restthumbs-no-such-driver', 'DatabaseCache with a postgres:// location'), {
    instanceOf: CacheDriverMissingError,
  })
  t.is(err?.code, 'ERR_CACHE_DRIVER_MISSING')
  t.is(
    err?.message,
    "DatabaseCache with a postgres:// location needs the 'restthumbs-no-such-driver' package; install it with: npm install restthumbs-no-such-driver",
  )
})
