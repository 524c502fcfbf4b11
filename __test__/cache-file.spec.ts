import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'

import test from 'ava'

import { FileCache, FILE_CACHE_SUFFIX, InvalidOptionError } from '../ts/index.js'
import { runCacheConformance } from './helpers/cache-conformance.js'

const root = mkdtemp(join(tmpdir(), 'restthumbs-filecache-'))
test.after.always(async () => rm(await root, { recursive: true, force: true }))

const quiet = { warn: () => {}, info: () => {} }

runCacheConformance('file', async (ns, options) => new FileCache({ location: join(await root, ns), logger: quiet, ...options }))

async function cacheIn(name: string, options = {}) {
  const warnings: string[] = []
  const cache = new FileCache({
    location: join(await root, name),
    logger: { warn: (m) => warnings.push(m), info: () => {} },
    ...options,
  })
  return { cache, warnings }
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true })
  return entries.filter((e) => String(e).endsWith(FILE_CACHE_SUFFIX)).length
}

test('entries are sharded files named by the hashed key with a magic header', async (t) => {
  const { cache } = await cacheIn('layout')
  await cache.set('k', 'value')
  const file = cache.pathFor(cache.makeKey('k'))
  t.regex(file, /[/\\]([0-9a-f]{2})[/\\]([0-9a-f]{2})[/\\]\1\2[0-9a-f]{60}\.djcache$/)
  const bytes = await readFile(file)
  t.is(bytes.subarray(0, 4).toString('latin1'), 'RTC1')
  t.false(bytes.includes(Buffer.from(':1:k')))
})

test('a file overwritten with garbage reads as a miss and is removed', async (t) => {
  const { cache, warnings } = await cacheIn('garbage')
  await cache.set('k', { some: 'value' })
  const file = cache.pathFor(cache.makeKey('k'))
  await writeFile(file, 'this is not a cache entry')
  t.is(await cache.get('k'), undefined)
  await t.throwsAsync(readFile(file), { code: 'ENOENT' })
  t.is(warnings.length, 1)
  t.regex(warnings[0], /corrupt/)
})

test('a truncated file reads as a miss, never an exception', async (t) => {
  const { cache } = await cacheIn('truncated')
  await cache.set('k', Buffer.alloc(100_000, 7))
  await truncate(cache.pathFor(cache.makeKey('k')), 1000)
  t.is(await cache.get('k'), undefined)
  t.false(await cache.has('k'))
  await cache.set('short', 'v')
  await truncate(cache.pathFor(cache.makeKey('short')), 10)
  t.false(await cache.has('short'))
  t.true(await cache.add('short', 'replaced'))
  t.is(await cache.get('short'), 'replaced')
})

test('a file whose compressed payload is damaged reads as a miss', async (t) => {
  const { cache } = await cacheIn('bitflip')
  await cache.set('k', 'x'.repeat(5000))
  const file = cache.pathFor(cache.makeKey('k'))
  const bytes = await readFile(file)
  bytes[bytes.length - 3] ^= 0xff
  await writeFile(file, bytes)
  t.is(await cache.get('k'), undefined)
})

test('expired files are deleted when read', async (t) => {
  const { cache } = await cacheIn('expired')
  await cache.set('k', 'v', 0.1)
  const file = cache.pathFor(cache.makeKey('k'))
  await new Promise((r) => setTimeout(r, 200))
  t.is(await cache.get('k'), undefined)
  await t.throwsAsync(readFile(file), { code: 'ENOENT' })
})

test('culling keeps the number of files under maxEntries and leaves no temp files', async (t) => {
  const { cache } = await cacheIn('cull', { maxEntries: 10, cullFrequency: 3 })
  for (let i = 0; i < 40; i++) await cache.set(`k${i}`, i)
  const dir = join(await root, 'cull')
  const n = await countFiles(dir)
  t.true(n <= 10, `${n} files`)
  t.true(n >= 5, `${n} files`)
  const all = await readdir(dir, { recursive: true })
  t.false(all.some((e) => String(e).endsWith('.tmp')))
  t.is(await cache.get('k39'), 39)
})

test('a cullFrequency of 0 clears the folder when it is full', async (t) => {
  const { cache } = await cacheIn('cull0', { maxEntries: 5, cullFrequency: 0 })
  for (let i = 0; i < 6; i++) await cache.set(`k${i}`, i)
  t.is(await countFiles(join(await root, 'cull0')), 1)
  t.is(await cache.get('k5'), 5)
})

test('clear leaves files that are not cache shards alone', async (t) => {
  const { cache } = await cacheIn('clear-own')
  await cache.set('k', 'v')
  const keep = join(await root, 'clear-own', 'README.txt')
  await writeFile(keep, 'mine')
  await cache.clear()
  t.is(await readFile(keep, 'utf8'), 'mine')
  t.is(await countFiles(join(await root, 'clear-own')), 0)
})

test('a FileCache without a location is rejected', (t) => {
  t.throws(() => new FileCache({}), {
    instanceOf: InvalidOptionError,
    message: 'Expected non-empty string for location but received undefined of type undefined',
  })
})

test('concurrent adds from separate processes on one folder have exactly one winner', async (t) => {
  const location = join(await root, 'processes')
  const script = join(await root, 'adder.mjs')
  const index = pathToFileURL(join(process.cwd(), 'ts', 'index.ts')).href
  // Every process waits for the same wall-clock instant so the adds really overlap.
  const startAt = Date.now() + 2500
  await writeFile(
    script,
    `import { FileCache } from ${JSON.stringify(index)}
const cache = new FileCache({ location: ${JSON.stringify(location)} })
await new Promise((r) => setTimeout(r, ${startAt} - Date.now()))
const wins = await Promise.all(Array.from({ length: 5 }, (_, i) => cache.add('lock', process.pid + '-' + i, 30)))
console.log(JSON.stringify(wins.map((w, i) => (w ? process.pid + '-' + i : null)).filter(Boolean)))
`,
  )
  const run = promisify(execFile)
  const outputs = await Promise.all(
    Array.from({ length: 4 }, () => run(process.execPath, ['--import', '@oxc-node/core/register', script])),
  )
  const winners = outputs.flatMap(({ stdout }) => JSON.parse(stdout.trim().split('\n').pop() ?? '[]') as string[])
  t.is(winners.length, 1, `winners: ${winners.join(', ')}`)
  const cache = new FileCache({ location })
  t.is(await cache.get('lock'), winners[0])
})

test('culling removes temp files abandoned by a crashed writer, and only old ones', async (t) => {
  const { cache } = await cacheIn('stale-temp', { maxEntries: 4 })
  const shard = dirname(cache.pathFor(cache.makeKey('x')))
  await mkdir(shard, { recursive: true })
  const old = join(shard, '.abandoned.tmp')
  const fresh = join(shard, '.inflight.tmp')
  await writeFile(old, 'half a value')
  await writeFile(fresh, 'being written')
  const hourAgo = new Date(Date.now() - 3600_000)
  await utimes(old, hourAgo, hourAgo)
  for (let i = 0; i < 6; i++) await cache.set(`k${i}`, i)
  await t.throwsAsync(readFile(old), { code: 'ENOENT' })
  t.is(await readFile(fresh, 'utf8'), 'being written')
})

test('the cache folder and its shards are created 0o700 and entry files 0o600', async (t) => {
  const previous = process.umask(0o022)
  t.teardown(() => process.umask(previous))
  const location = join(await root, 'modes', 'cache')
  const cache = new FileCache({ location, logger: quiet })
  await cache.set('k', 'secret value')
  t.true(await cache.add('added', 'secret too'))
  await cache.incr('n', 1).catch(() => undefined)
  await cache.set('n', 1)
  t.is(await cache.incr('n'), 2)
  t.is((await stat(location)).mode & 0o777, 0o700, 'the cache folder')
  const file = cache.pathFor(cache.makeKey('k'))
  t.is((await stat(dirname(file))).mode & 0o777, 0o700, 'the inner shard folder')
  t.is((await stat(dirname(dirname(file)))).mode & 0o777, 0o700, 'the outer shard folder')
  for (const key of ['k', 'added', 'n']) {
    t.is((await stat(cache.pathFor(cache.makeKey(key)))).mode & 0o777, 0o600, `the file of ${key}`)
  }
})
