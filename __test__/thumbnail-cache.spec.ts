import { randomUUID } from 'node:crypto'

import test from 'ava'

import { makeCacheKey } from '../ts/cache/keys.js'
import { MemoryCache } from '../ts/cache/memory.js'
import type { CacheLogger } from '../ts/cache/options.js'
import { RedisCache } from '../ts/cache/redis.js'
import { ThumbnailCache, type ThumbnailRecord } from '../ts/server/thumbnail-records.js'
import { InvalidOptionError } from '../ts/errors.js'
import { startRedis } from './helpers/redis.js'

const warnings: string[] = []
const logger: CacheLogger = { warn: (m) => void warnings.push(m), info: () => {} }

const record = (name: string, extra: Partial<ThumbnailRecord> = {}): ThumbnailRecord => ({
  name,
  path: `thumbs/${name}`,
  url: `/thumbnails/${name}`,
  width: 100,
  height: 75,
  size: 4096,
  format: 'jpeg',
  ...extra,
})

const memory = () => new MemoryCache({ location: randomUUID(), maxEntries: 1000, logger })

for (const [kind, make] of [
  ['the in-process store', () => new ThumbnailCache()],
  ['a MemoryCache backend', () => new ThumbnailCache({ backend: memory() })],
] as const) {
  test(`${kind} returns a record set under its name`, async (t) => {
    const thumbs = make()
    await thumbs.set(record('3f7/a9c.jpg'))
    t.deepEqual(await thumbs.get('3f7/a9c.jpg'), record('3f7/a9c.jpg'))
    t.is(await thumbs.get('3f7/other.jpg'), undefined)
  })

  test(`${kind} joins a list name with slashes, as python-thumbnails does`, async (t) => {
    const thumbs = make()
    await thumbs.set(['3f7', 'a9c.jpg'], record('3f7/a9c.jpg'))
    t.is((await thumbs.get(['3f7', 'a9c.jpg']))?.path, 'thumbs/3f7/a9c.jpg')
    t.is((await thumbs.get('3f7/a9c.jpg'))?.width, 100)
  })

  test(`${kind} forgets a deleted record`, async (t) => {
    const thumbs = make()
    await thumbs.set(record('x.jpg'))
    t.true(await thumbs.delete('x.jpg'))
    t.is(await thumbs.get('x.jpg'), undefined)
    t.false(await thumbs.delete('x.jpg'))
  })

  test(`${kind} keeps names that differ only by a slash apart`, async (t) => {
    const thumbs = make()
    await thumbs.set(record('a/bc.jpg', { width: 1 }))
    await thumbs.set(record('ab/c.jpg', { width: 2 }))
    t.is((await thumbs.get('a/bc.jpg'))?.width, 1)
    t.is((await thumbs.get('ab/c.jpg'))?.width, 2)
  })

  test(`${kind} accepts names with spaces and names longer than any key limit`, async (t) => {
    const thumbs = make()
    const long = `${'d/'.repeat(200)}my photo.jpg`
    await thumbs.set(record(long))
    t.is((await thumbs.get(long))?.name, long)
  })
}

test('records from the in-process store cannot be mutated by callers', async (t) => {
  const thumbs = new ThumbnailCache()
  const r = record('m.jpg')
  await thumbs.set(r)
  r.width = 999
  const got = await thumbs.get('m.jpg')
  t.is(got?.width, 100)
  t.throws(() => {
    ;(got as ThumbnailRecord).width = 5
  })
})

test('the in-process store is bounded and drops the least recently used record', async (t) => {
  const thumbs = new ThumbnailCache({ maxEntries: 2 })
  await thumbs.set(record('a.jpg'))
  await thumbs.set(record('b.jpg'))
  t.truthy(await thumbs.get('a.jpg'))
  await thumbs.set(record('c.jpg'))
  t.is(thumbs.size, 2)
  t.truthy(await thumbs.get('a.jpg'))
  t.is(await thumbs.get('b.jpg'), undefined)
  t.truthy(await thumbs.get('c.jpg'))
})

test('two in-process stores do not share records', async (t) => {
  const a = new ThumbnailCache()
  const b = new ThumbnailCache()
  await a.set(record('shared.jpg'))
  t.is(await b.get('shared.jpg'), undefined)
})

test('a malformed record found in the backend is a miss, not a crash', async (t) => {
  const backend = memory()
  const thumbs = new ThumbnailCache({ backend })
  const key = makeCacheKey('bad.jpg', { sitePrefix: 'thumbnails' })
  await backend.set(key, { name: 'bad.jpg', path: 'p', width: -1, height: 2, size: 3, format: 'jpeg' })
  warnings.length = 0
  t.is(await thumbs.get('bad.jpg'), undefined)
  t.regex(warnings.join('\n'), /Expected non-negative integer for width but received -1 of type number/)
  await backend.set(key, 'not a record')
  t.is(await thumbs.get('bad.jpg'), undefined)
})

test('a valid record stored under another name is a miss', async (t) => {
  const backend = memory()
  const thumbs = new ThumbnailCache({ backend })
  await backend.set(makeCacheKey('one.jpg', { sitePrefix: 'thumbnails' }), record('two.jpg'))
  t.is(await thumbs.get('one.jpg'), undefined)
})

test('extra fields in a stored record are dropped on read', async (t) => {
  const backend = memory()
  const thumbs = new ThumbnailCache({ backend })
  await backend.set(makeCacheKey('e.jpg', { sitePrefix: 'thumbnails' }), { ...record('e.jpg'), evil: 'x' })
  t.deepEqual(await thumbs.get('e.jpg'), record('e.jpg'))
})

test('records are stored in the backend with the configured timeout', async (t) => {
  const backend = memory()
  const thumbs = new ThumbnailCache({ backend, timeout: 0.05 })
  await thumbs.set(record('t.jpg'))
  t.truthy(await thumbs.get('t.jpg'))
  await new Promise((r) => setTimeout(r, 120))
  t.is(await thumbs.get('t.jpg'), undefined)
})

test('an invalid record or a name mismatch is rejected with InvalidOptionError', async (t) => {
  const thumbs = new ThumbnailCache()
  const err = await t.throwsAsync(thumbs.set(record('a.jpg', { height: 1.5 })), { instanceOf: InvalidOptionError })
  t.is(err?.message, 'Expected non-negative integer for height but received 1.5 of type number')
  await t.throwsAsync(thumbs.set('b.jpg', record('a.jpg')), {
    instanceOf: InvalidOptionError,
    message: 'Expected the name "b.jpg" for record.name but received "a.jpg" of type string',
  })
  await t.throwsAsync(thumbs.get(''), { instanceOf: InvalidOptionError })
  t.throws(() => new ThumbnailCache({ maxEntries: 0 }), {
    instanceOf: InvalidOptionError,
    message: 'Expected positive integer for maxEntries but received 0 of type number',
  })
})

test('a record without a url round-trips without one', async (t) => {
  const thumbs = new ThumbnailCache()
  const { url: _, ...noUrl } = record('n.jpg')
  await thumbs.set(noUrl)
  const got = await thumbs.get('n.jpg')
  t.false(got !== undefined && 'url' in got)
  t.is(got?.format, 'jpeg')
})

test('records survive in a real Redis server shared by two ThumbnailCaches', async (t) => {
  const redis = await startRedis()
  const a = new RedisCache({ location: redis.url, logger })
  const b = new RedisCache({ location: redis.url, logger })
  try {
    await new ThumbnailCache({ backend: a }).set(record('r/1.webp', { format: 'webp', size: 1234 }))
    const got = await new ThumbnailCache({ backend: b }).get(['r', '1.webp'])
    t.deepEqual(got, record('r/1.webp', { format: 'webp', size: 1234 }))
  } finally {
    await a.close()
    await b.close()
    await redis.stop()
  }
})
