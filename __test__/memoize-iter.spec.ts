import { randomBytes } from 'node:crypto'

import test from 'ava'

import { cacheMemoizeIter } from '../ts/cache/memoize.js'
import { chunkKey, memory } from './helpers/memoize.js'

test('cacheMemoizeIter yields each item before the source produces the next one', async (t) => {
  const cache = memory()
  const log: string[] = []
  async function* source() {
    for (let i = 0; i < 3; i++) {
      log.push(`produce ${i}`)
      yield { i }
    }
  }
  for await (const item of cacheMemoizeIter(cache, 'stream', source)) log.push(`consume ${item.i}`)
  t.deepEqual(log, ['produce 0', 'consume 0', 'produce 1', 'consume 1', 'produce 2', 'consume 2'])
})

test('cacheMemoizeIter serves fully consumed items from the cache without calling the source', async (t) => {
  const cache = memory()
  const items = [{ a: 1 }, 'two', Buffer.from([3]), new Map([['four', 4n]]), null]
  let calls = 0
  const source = () => {
    calls++
    return items
  }
  const first: unknown[] = []
  for await (const x of cacheMemoizeIter(cache, 'iter', source)) first.push(x)
  const second: unknown[] = []
  for await (const x of cacheMemoizeIter(cache, 'iter', source)) second.push(x)
  t.is(calls, 1)
  t.deepEqual(second, items)
  t.deepEqual(first, items)
})

test('cacheMemoizeIter caches nothing when the consumer stops early', async (t) => {
  const cache = memory()
  let calls = 0
  const source = () => {
    calls++
    return [1, 2, 3]
  }
  for await (const x of cacheMemoizeIter(cache, 'partial', source)) if (x === 1) break
  const all: number[] = []
  for await (const x of cacheMemoizeIter(cache, 'partial', source)) all.push(x)
  t.is(calls, 2)
  t.deepEqual(all, [1, 2, 3])
})

test('cacheMemoizeIter writes full chunks to the store while items are still being produced', async (t) => {
  // A fresh cache and a source of 12 items of 256 KiB that notes, before item 10, whether
  // chunk 0 is already stored under its plain key.
  const bulk = () => {
    const cache = memory()
    const seen = { chunk0: false }
    async function* source() {
      for (let i = 0; i < 12; i++) {
        if (i === 10) seen.chunk0 = (await cache.get(chunkKey('bulk', 0))) !== undefined
        yield randomBytes(256 * 1024)
      }
    }
    return { cache, source, seen }
  }
  const secret = bulk()
  const opts = { encrypt: true, encryptionKey: 's' }
  const produced: Buffer[] = []
  for await (const b of cacheMemoizeIter(secret.cache, 'bulk', secret.source, opts)) produced.push(b)
  t.false(secret.seen.chunk0, 'encrypted keys are HMACs, so the plain chunk key must not exist')
  const replay: Buffer[] = []
  for await (const b of cacheMemoizeIter(secret.cache, 'bulk', () => [], opts)) replay.push(b as Buffer)
  t.is(replay.length, 12)
  t.true(replay.every((b, i) => b.equals(produced[i])))

  const plain = bulk()
  for await (const _ of cacheMemoizeIter(plain.cache, 'bulk', plain.source)) void _
  t.true(plain.seen.chunk0, 'chunk 0 was stored before the last item was produced')
})

test('cacheMemoizeIter recomputes when a stored chunk was tampered with', async (t) => {
  const cache = memory()
  let calls = 0
  const source = () => {
    calls++
    return Array.from({ length: 5 }, (_, i) => ({ i, pad: 'x'.repeat(300_000) }))
  }
  const opts = { encrypt: true, encryptionKey: 'z', compress: false }
  for await (const _ of cacheMemoizeIter(cache, 'tamper-iter', source, opts)) void _
  const key = chunkKey('tamper-iter', 1, 'z')
  const edited = Buffer.from((await cache.get(key)) as Buffer)
  edited[edited.length - 1] ^= 1
  await cache.set(key, edited)
  const out: Array<{ i: number }> = []
  for await (const x of cacheMemoizeIter(cache, 'tamper-iter', source, opts)) out.push(x)
  t.is(calls, 2)
  t.deepEqual(out.map((x) => x.i), [0, 1, 2, 3, 4])
})
