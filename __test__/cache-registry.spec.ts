import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import test from 'ava'

import {
  BaseCache,
  ChainCache,
  DummyCache,
  FileCache,
  InvalidCacheBackendError,
  MemoryCache,
  RedisCache,
  caches,
  closeCaches,
  configureCaches,
  getCache,
} from '../ts/index.js'
import { quiet, serverForFile } from './helpers/per-file.js'
import { startRedis } from './helpers/redis.js'

// The registry is process-global state: these tests run one after another.
const server = serverForFile(() => startRedis())
const dir = mkdtemp(join(tmpdir(), 'restthumbs-registry-'))

test.afterEach.always(async () => {
  await closeCaches()
  configureCaches({ default: { backend: 'memory' } })
})
test.after.always(async () => rm(await dir, { recursive: true, force: true }))

/** Writes a module exporting a cache class, as a user's own backend would be. */
async function customModule(body: string): Promise<string> {
  const index = pathToFileURL(join(process.cwd(), 'ts', 'index.ts')).href
  const file = join(await dir, `custom-${Math.random().toString(36).slice(2)}.mjs`)
  await writeFile(file, `import { MemoryCache, BaseCache } from ${JSON.stringify(index)}\n${body}\n`)
  return pathToFileURL(file).href
}

test.serial('the default alias is a memory cache, created once and reused', (t) => {
  const a = caches.default
  t.true(a instanceof MemoryCache)
  t.is(caches.get('default'), a)
})

test.serial('configured aliases build each built-in backend with its options', async (t) => {
  const { url } = await server
  configureCaches({
    default: { backend: 'memory', timeout: 60, keyPrefix: 'site', version: 2, options: { maxEntries: 10 } },
    files: { backend: 'file', location: join(await dir, 'files'), options: { logger: quiet } },
    shared: { backend: 'redis', location: url, keyPrefix: 'reg', options: { logger: quiet } },
    off: { backend: 'dummy' },
    layered: { backend: 'chain', keyPrefix: 'reg', options: { tiers: ['default', 'shared', 'files'] } },
  })
  t.deepEqual(caches.aliases(), ['default', 'files', 'shared', 'off', 'layered'])
  const memory = caches.default as MemoryCache
  t.true(memory instanceof MemoryCache)
  t.is(memory.defaultTimeout, 60)
  t.is(memory.keyPrefix, 'site')
  t.is(memory.version, 2)
  t.is(memory.maxEntries, 10)
  t.is(memory.location, 'default')
  t.true(caches.get('files') instanceof FileCache)
  t.true(caches.get('shared') instanceof RedisCache)
  t.true(caches.get('off') instanceof DummyCache)
  const chain = caches.get('layered') as ChainCache
  t.true(chain instanceof ChainCache)
  t.deepEqual(chain.tiers, [caches.default, caches.get('shared'), caches.get('files')])
  await chain.set('k', 'through every tier')
  t.is(await caches.get('files').get('k', undefined, 1), undefined, 'tiers use the chain key, not their own')
  t.is(await (caches.get('shared') as RedisCache)._get(chain.makeKey('k')), 'through every tier')
  t.is(await chain.get('k'), 'through every tier')
})

test.serial('an unknown alias names what was asked and what exists', (t) => {
  configureCaches({ default: { backend: 'memory' }, thumbs: { backend: 'dummy' } })
  const err = t.throws(() => caches.get('thumbnails'), { instanceOf: InvalidCacheBackendError })
  t.is(err?.code, 'ERR_INVALID_CACHE_BACKEND')
  t.is(err?.message, "Unknown cache alias 'thumbnails'; configured aliases: default, thumbs")
})

test.serial('an unknown backend name is rejected when configuring', (t) => {
  const err = t.throws(() => configureCaches({ default: { backend: 'mongodb' } }), {
    instanceOf: InvalidCacheBackendError,
  })
  t.regex(
    err?.message ?? '',
    /^Unknown cache backend 'mongodb' for alias 'default'; expected one of memory, file, redis, dummy, chain, database, memcached/,
  )
  t.true(caches.default instanceof MemoryCache, 'the previous configuration stays')
})

test.serial('a class that is not a BaseCache subclass is rejected', (t) => {
  class NotACache {}
  const err = t.throws(() => configureCaches({ default: { backend: NotACache as never } }), {
    instanceOf: InvalidCacheBackendError,
  })
  t.regex(err?.message ?? '', /class NotACache for alias 'default' is not a BaseCache subclass/)
})

test.serial('a BaseCache subclass can be the backend of an alias', (t) => {
  class Custom extends MemoryCache {}
  configureCaches({ default: { backend: Custom as never } })
  t.true(caches.default instanceof Custom)
})

test.serial('getCache gives the shared instance for an alias and a new one for a backend', async (t) => {
  configureCaches({ default: { backend: 'memory' }, mine: { backend: 'dummy' } })
  t.is(await getCache('mine'), caches.get('mine'))
  const a = await getCache('memory', { location: 'fresh', timeout: 5 })
  const b = await getCache('memory', { location: 'fresh' })
  t.true(a instanceof MemoryCache)
  t.not(a, b)
  t.is(a.defaultTimeout, 5)
  await a.set('k', 'shared location')
  t.is(await b.get('k'), 'shared location')
  await t.throwsAsync(getCache('nope'), {
    instanceOf: InvalidCacheBackendError,
    message: /^Unknown cache alias or backend 'nope'; configured aliases: default, mine; backends: expected one of/,
  })
})

test.serial('a module specifier backend is imported by getCache', async (t) => {
  const spec = await customModule('export default class Custom extends MemoryCache { kind = "custom" }')
  const cache = await getCache(spec, { location: 'mod' })
  t.true(cache instanceof MemoryCache)
  t.is((cache as unknown as { kind: string }).kind, 'custom')
  const named = await customModule('export class Named extends BaseCache {}')
  const err = await t.throwsAsync(getCache(`${named}#Missing`), { instanceOf: InvalidCacheBackendError })
  t.regex(err?.message ?? '', /has no BaseCache subclass export 'Missing'; cache exports: Named/)
})

test.serial('an alias with a module backend must be loaded before caches.get', async (t) => {
  const spec = await customModule('export class Tiered extends MemoryCache {}')
  configureCaches({ default: { backend: 'memory' }, custom: { backend: `${spec}#Tiered` } })
  const err = t.throws(() => caches.get('custom'), { instanceOf: InvalidCacheBackendError })
  t.regex(err?.message ?? '', /is not loaded; it is a module: load it first with await getCache\('custom'\)/)
  const cache = await getCache('custom')
  t.is(cache.constructor.name, 'Tiered')
  t.is(caches.get('custom'), cache)
})

test.serial('a module that cannot be imported is a backend error with the cause', async (t) => {
  const missing = pathToFileURL(join(await dir, 'does-not-exist.mjs')).href
  const err = await t.throwsAsync(getCache(missing), { instanceOf: InvalidCacheBackendError })
  t.regex(err?.message ?? '', /^Cannot import cache backend module/)
  t.truthy(err?.cause)
})

test.serial('a chain that contains itself is rejected', (t) => {
  configureCaches({ default: { backend: 'memory' }, loop: { backend: 'chain', options: { tiers: ['default', 'loop'] } } })
  t.throws(() => caches.get('loop'), { instanceOf: InvalidCacheBackendError, message: /refers to itself/ })
  configureCaches({ default: { backend: 'memory' }, empty: { backend: 'chain' } })
  t.throws(() => caches.get('empty'), { instanceOf: InvalidCacheBackendError, message: /needs options.tiers/ })
})

test.serial('closeCaches closes created caches and later gets build new ones', async (t) => {
  const { url } = await server
  configureCaches({ default: { backend: 'redis', location: url, keyPrefix: 'close', options: { logger: quiet } } })
  const first = caches.default as RedisCache
  await first.set('k', 'v')
  const client = first.client
  t.is(client.status, 'ready')
  await closeCaches()
  t.is(client.status, 'end')
  const second = caches.default
  t.not(second, first)
  t.is(await second.get('k'), 'v')
  t.true(second instanceof BaseCache)
})

test.serial('caches.all lists every alias, or with initializedOnly only the caches already created', (t) => {
  configureCaches({ default: { backend: 'memory' }, second: { backend: 'dummy' }, third: { backend: 'memory' } })
  t.deepEqual(caches.all({ initializedOnly: true }), [], 'nothing is created yet')
  const second = caches.get('second')
  t.deepEqual(caches.all({ initializedOnly: true }), [second])
  const all = caches.all()
  t.is(all.length, 3)
  t.is(all[0], caches.default)
  t.is(all[1], second)
  t.true(all[2] instanceof MemoryCache)
  t.deepEqual(caches.all({ initializedOnly: true }), all, 'all() created the others')
  t.throws(() => caches.all({ initializedOnly: 'yes' as unknown as boolean }), {
    message: 'Expected boolean for initializedOnly but received "yes" of type string',
  })
})
