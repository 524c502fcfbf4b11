#!/usr/bin/env node
// Cache framework benchmark, one run, one table with ratios (build first: `npm run build`, i.e.
// the release native build plus tsc; `--src` loads ts/ through @oxc-node instead of dist/):
//   1. RedisCache get/set vs raw ioredis on the same redis-server         (target >= 0.9x)
//   2. MemoryCache get/set vs lru-cache, like for like: the async API vs lru-cache behind the same
//      async wrapper, getSync/setSync vs lru-cache itself                  (target >= 0.8x)
//      plus the bare LruStore it keeps its entries in
//   3. chunked storage of an 8 MB JSON-like value: native zlib + split / join MB/s vs
//      node:zlib deflateSync/inflateSync at level 6                       (target >= 1.5x)
//      plus the whole cacheMemoize store/load against the same pipeline written by hand in JS
//   4. makeCacheKey with HMAC vs node:crypto createHmac                   (target >= 1.5x)
// A throw-away redis-server is started on a free loopback port and stopped at the end.
//   usage: node bench/cache.mjs [--seconds 3] [--concurrency 16] [--src] [--native file.node]
//                               [--only redis,memory,chunks,keys]
import { createHmac, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { compareOps as compareOpsIn, flag, freePort, printComparison, spawnServer, stopChild, waitUntil } from './lib.mjs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { deflateSync, inflateSync } from 'node:zlib'

import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const SECONDS = flag('seconds', 3)
const CONCURRENCY = flag('concurrency', 16)
const useSrc = args.includes('--src')
if (useSrc) await import('@oxc-node/core/register')
// `--native <file>` loads a specific build of the addon (e.g. a saved release build). It is set
// only after @oxc-node has loaded, since that package is a napi-rs addon honouring the same variable.
const nativeAt = args.indexOf('--native')
if (nativeAt !== -1) process.env.NAPI_RS_NATIVE_LIBRARY_PATH = path.resolve(args[nativeAt + 1])
const lib = await import(path.join(HERE, '..', useSrc ? 'ts/index.ts' : 'dist/index.js'))
const { LruStore, MemoryCache, RedisCache, cacheMemoize, makeCacheKey, serialize, deserialize } = lib
// The raw binding is internal (not exported from the package root); the chunk bench calls it directly.
// dist/ holds bundles only, so the built variant loads the napi-rs loader that ts/native.ts wraps.
const native = useSrc ? (await import(path.join(HERE, '..', 'ts/native.ts'))).binding : createRequire(import.meta.url)('../binding.cjs')
if (typeof cacheMemoize !== 'function' || typeof native.splitChunks !== 'function') {
  throw new Error('dist/ or the native build is out of date: run `npm run build` first, or pass --src')
}

const rows = []
/**
 * Adds a table row; `ours` = restthumbs figure, `base` = baseline figure, same unit. `ratio`
 * defaults to `ours / base`.
 */
function row(name, unit, ours, base, target, ratio = base ? ours / base : NaN) {
  rows.push({ name, unit, ours, base, ratio, target })
}

// Other work may share the machine. Throughput (MB/s) figures are the best of ROUNDS runs.
// Ops/s figures run OPS_ROUNDS short windows, restthumbs and its baseline back to back (order
// swapped every round), and report the medians plus the median of the per-round ratios: a load
// burst then skews one pair of windows, not the whole row (best-of let a single quiet window on
// one side decide a Redis row by ±30%).
const ROUNDS = 5
const OPS_ROUNDS = 9
const WINDOW_MS = (SECONDS * 1000) / OPS_ROUNDS
const compareOps = (ours, base) => compareOpsIn(ours, base, { rounds: OPS_ROUNDS, windowMs: WINDOW_MS })

// Large runs leave megabytes of garbage (external buffers on both sides); collecting it before
// each timed run keeps one side's garbage from being collected on the other side's clock.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

/** Best MB/s over `runs` alternating runs of `ours` and `base`, each processing `bytes`. */
async function compareMb(bytes, ours, base, runs = 9) {
  await ours()
  await base()
  let a = Infinity
  let b = Infinity
  for (let r = 0; r < runs; r++) {
    gc()
    let t0 = performance.now()
    await ours()
    a = Math.min(a, performance.now() - t0)
    gc()
    t0 = performance.now()
    await base()
    b = Math.min(b, performance.now() - t0)
  }
  const mbps = (ms) => bytes / 1048576 / (ms / 1000)
  return [mbps(a), mbps(b)]
}


async function startRedis() {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-redis-'))
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
  const child = await spawnServer('redis-server', args, 'apt-get install redis-server')
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {}) // refused connections while the server boots are expected
  await waitUntil(async () => {
    await probe.connect()
    await probe.ping()
  })
  probe.disconnect()
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    async stop() {
      await stopChild(child)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** About 8 MB of realistic, compressible, JSON-like records (deterministic). */
function jsonLikeValue(targetBytes = 8 * 1024 * 1024) {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike']
  let seed = 42
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
  const out = []
  let size = 0
  for (let i = 0; size < targetBytes; i++) {
    const r = {
      id: i,
      uuid: Math.floor(rnd() * 1e16).toString(36) + Math.floor(rnd() * 1e16).toString(36),
      name: `${words[Math.floor(rnd() * 13)]} ${words[Math.floor(rnd() * 13)]}`,
      email: `user${Math.floor(rnd() * 100000)}@example.com`,
      score: Math.round(rnd() * 10000) / 100,
      tags: [words[i % 13], words[(i * 7) % 13]],
      created: new Date(1.6e12 + Math.floor(rnd() * 1e10)).toISOString(),
      active: rnd() > 0.5,
    }
    size += JSON.stringify(r).length + 1
    out.push(r)
  }
  return out
}

// ---- 1. Redis --------------------------------------------------------------------------------
async function benchRedis() {
  const redis = await startRedis()
  const raw = new Redis(redis.url)
  const timed = new Redis(redis.url, { commandTimeout: 1000 })
  const cache = new RedisCache({ location: redis.url, timeout: 300 })
  const value = 'x'.repeat(100)
  const N = 1000
  try {
    for (let i = 0; i < N; i++) {
      await raw.set(`raw:${i}`, value, 'PX', 300_000)
      await cache.set(`k:${i}`, value)
    }
    const [ourGet, rawGet, getRatio] = await compareOps(
      { fn: (i) => cache.get(`k:${i % N}`), concurrency: CONCURRENCY },
      { fn: (i) => raw.get(`raw:${i % N}`), concurrency: CONCURRENCY },
    )
    const [ourSet, rawSet, setRatio] = await compareOps(
      { fn: (i) => cache.set(`k:${i % N}`, value), concurrency: CONCURRENCY },
      { fn: (i) => raw.set(`raw:${i % N}`, value, 'PX', 300_000), concurrency: CONCURRENCY },
    )
    // RedisCache bounds every command by commandTimeout (a timer per command in ioredis); the
    // raw client above does not, so this row shows what that safety costs by itself.
    const [timedSet, rawSet2, timedRatio] = await compareOps(
      { fn: (i) => timed.set(`raw:${i % N}`, value, 'PX', 300_000), concurrency: CONCURRENCY },
      { fn: (i) => raw.set(`raw:${i % N}`, value, 'PX', 300_000), concurrency: CONCURRENCY },
    )
    if ((await cache.get('k:1')) !== value) throw new Error('RedisCache returned a wrong value')
    row(`RedisCache.get (${CONCURRENCY} in flight)`, 'ops/s', ourGet, rawGet, 0.9, getRatio)
    row(`RedisCache.set (${CONCURRENCY} in flight)`, 'ops/s', ourSet, rawSet, 0.9, setRatio)
    row('  raw ioredis.set with commandTimeout', 'ops/s', timedSet, rawSet2, null, timedRatio)
  } finally {
    raw.disconnect()
    timed.disconnect()
    await cache.close()
    await redis.stop()
  }
}

// ---- 2. Memory -------------------------------------------------------------------------------
async function benchMemory() {
  const N = 1000
  const value = Buffer.alloc(4096, 1) // a small thumbnail
  const lru = new LRUCache({ max: 10_000, ttl: 300_000 })
  const cache = new MemoryCache({ location: randomUUID(), maxEntries: 10_000, timeout: 300 })
  for (let i = 0; i < N; i++) {
    lru.set(`k:${i}`, value)
    await cache.set(`k:${i}`, value)
  }
  // Like for like: the async API against lru-cache behind the same `async` wrapper (a promise
  // per call is the floor of any async API), and the synchronous API against lru-cache itself.
  const key = (i) => `k:${i % N}`
  const [aGet, lruAGet, aGetRatio] = await compareOps({ fn: (i) => cache.get(key(i)) }, { fn: async (i) => lru.get(key(i)) })
  const [aSet, lruASet, aSetRatio] = await compareOps(
    { fn: (i) => cache.set(key(i), value) },
    {
      fn: async (i) => {
        lru.set(key(i), value)
      },
    },
  )
  const [sGet, lruGet, sGetRatio] = await compareOps({ fn: (i) => cache.getSync(key(i)), sync: true }, { fn: (i) => lru.get(key(i)), sync: true })
  const [sSet, lruSet, sSetRatio] = await compareOps(
    { fn: (i) => cache.setSync(key(i), value), sync: true },
    { fn: (i) => lru.set(key(i), value), sync: true },
  )
  // The bare store MemoryCache keeps its entries in (no key making, no policy), for the other
  // in-process maps that use it directly.
  const store = new LruStore({ maxEntries: 10_000 })
  for (let i = 0; i < N; i++) store.set(`k:${i}`, value, 300_000)
  const [stGet, lruGet2, stGetRatio] = await compareOps({ fn: (i) => store.get(key(i)), sync: true }, { fn: (i) => lru.get(key(i)), sync: true })
  if (cache.getSync('k:1') !== value || (await cache.get('k:2')) !== value) throw new Error('MemoryCache returned a wrong value')
  if (store.get('k:3') !== value) throw new Error('LruStore returned a wrong value')
  row('MemoryCache.get (async) vs async lru-cache', 'ops/s', aGet, lruAGet, 0.8, aGetRatio)
  row('MemoryCache.set (async) vs async lru-cache', 'ops/s', aSet, lruASet, 0.8, aSetRatio)
  row('MemoryCache.getSync vs lru-cache.get', 'ops/s', sGet, lruGet, 0.8, sGetRatio)
  row('MemoryCache.setSync vs lru-cache.set', 'ops/s', sSet, lruSet, 0.8, sSetRatio)
  // For the record: what the promise costs, i.e. the async API against synchronous lru-cache.
  row('  MemoryCache.get (async) vs sync lru-cache', 'ops/s', aGet, lruGet, null)
  row('  LruStore.get vs lru-cache.get', 'ops/s', stGet, lruGet2, null, stGetRatio)
}

// ---- 3. Chunked 8 MB value -------------------------------------------------------------------
async function benchChunks() {
  const value = jsonLikeValue()
  const bytes = serialize(value)
  const level = native.DEFAULT_CHUNK_LEVEL
  const opts = { cacheKey: 'bench:memo', level }
  const split = await native.splitChunks(bytes, opts)
  const z6 = deflateSync(bytes, { level: 6 })
  const ours = split.chunks.reduce((a, c) => a + c.length, 0)
  const mb = bytes.length
  const [cOurs, cNode] = await compareMb(mb, () => native.splitChunks(bytes, opts), () => deflateSync(bytes, { level: 6 }))
  const [dOurs, dNode] = await compareMb(mb, () => native.joinChunks(split.chunks, split.manifest, opts), () => inflateSync(z6))
  // CPU time (all threads of this process) per 8 MB, which contention from other processes
  // cannot inflate: the cost of the work itself rather than how fast a busy machine ran it.
  const cpuMs = async (fn, n = 5) => {
    const c0 = process.cpuUsage()
    for (let r = 0; r < n; r++) await fn()
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / 1000 / n
  }
  const cpu = {
    split: await cpuMs(() => native.splitChunks(bytes, opts)),
    deflate: await cpuMs(() => deflateSync(bytes, { level: 6 })),
    join: await cpuMs(() => native.joinChunks(split.chunks, split.manifest, opts)),
    inflate: await cpuMs(() => inflateSync(z6)),
  }
  const joined = await native.joinChunks(split.chunks, split.manifest, opts)
  if (!joined.equals(bytes)) throw new Error('joinChunks returned different bytes')
  const size = `${(mb / 1048576).toFixed(1)} MB → ${(ours / 1048576).toFixed(2)} MB (node L6 ${(z6.length / 1048576).toFixed(2)} MB)`
  row(`8 MB chunk compress, zlib L${level} vs node L6`, 'MB/s', cOurs, cNode, 1.5)
  row(`8 MB chunk decompress vs node inflateSync`, 'MB/s', dOurs, dNode, 1.5)

  const secret = Buffer.from('bench-secret')
  const enc = { ...opts, encryptionKey: secret }
  const sealed = await native.splitChunks(bytes, enc)
  const [ceOurs, ceNode] = await compareMb(mb, () => native.splitChunks(bytes, enc), () => deflateSync(bytes, { level: 6 }))
  const [deOurs, deNode] = await compareMb(mb, () => native.joinChunks(sealed.chunks, sealed.manifest, enc), () => inflateSync(z6))
  row('  same + AES-256-GCM, compress', 'MB/s', ceOurs, ceNode, null)
  row('  same + AES-256-GCM, decompress', 'MB/s', deOurs, deNode, null)

  // The whole memoize path (serialize, compress, chunk, store / fetch, join, deserialize) against
  // the same steps written by hand with node:zlib level 6 over the same MemoryCache.
  const cache = new MemoryCache({ location: randomUUID(), maxEntries: 1000, timeout: null })
  const CHUNK = native.CHUNK_SIZE
  const handStore = async () => {
    const z = deflateSync(serialize(value), { level: 6 })
    const entries = new Map()
    let i = 0
    for (let at = 0; at < z.length; at += CHUNK) entries.set(`hand-${i++}`, z.subarray(at, at + CHUNK))
    await cache.setMany(entries)
    await cache.set('hand', i)
  }
  const handLoad = async () => {
    const n = await cache.get('hand')
    const keys = Array.from({ length: n }, (_, i) => `hand-${i}`)
    const got = await cache.getMany(keys)
    return deserialize(inflateSync(Buffer.concat(keys.map((k) => got.get(k)))))
  }
  const memo = { largeData: true, compressionLevel: level }
  const ourStore = () => cacheMemoize(cache, 'memo', () => value, { ...memo, forceOverwrite: true })
  const ourLoad = () => cacheMemoize(cache, 'memo', () => { throw new Error('cache miss in load benchmark') }, memo)
  const [sOurs, sHand] = await compareMb(mb, ourStore, handStore, 5)
  row('cacheMemoize 8 MB store, end to end vs by hand', 'MB/s', sOurs, sHand, null)
  await ourStore()
  await handStore()
  const [lOurs, lHand] = await compareMb(mb, ourLoad, handLoad, 5)
  row('cacheMemoize 8 MB load, end to end vs by hand', 'MB/s', lOurs, lHand, null)
  const [ser, de] = await compareMb(mb, () => serialize(value), () => deserialize(bytes), 5)
  return { size, ser, de, cpu }
}

// ---- 4. makeCacheKey with HMAC ---------------------------------------------------------------
async function benchKeys() {
  const secret = 'bench-encryption-key'
  const opts = { sitePrefix: 'example.com', useEncryption: true, encryptionKey: secret }
  if (makeCacheKey('a', opts) !== createHmac('sha256', secret).update('example.com:a').digest('hex')) {
    throw new Error('makeCacheKey disagrees with createHmac')
  }
  const [ours, node, keyRatio] = await compareOps(
    { fn: (i) => makeCacheKey(`thumbnails/${i}`, opts), sync: true },
    { fn: (i) => createHmac('sha256', secret).update(`example.com:thumbnails/${i}`).digest('hex'), sync: true },
  )
  row('makeCacheKey (HMAC-SHA256) vs createHmac', 'ops/s', ours, node, 1.5, keyRatio)
  const [plain, node2, plainRatio] = await compareOps(
    { fn: (i) => makeCacheKey(`thumbnails/${i}`, { sitePrefix: 'example.com' }), sync: true },
    { fn: (i) => createHmac('sha256', secret).update(`example.com:thumbnails/${i}`).digest('hex'), sync: true },
  )
  row('  makeCacheKey without encryption', 'ops/s', plain, node2, null, plainRatio)
}

const fmt = (n) => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1))
// `--only redis,memory,chunks,keys` runs just those sections (a quicker re-run of one table part).
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null
const runs = (section) => only === null || only.includes(section)
if (runs('redis')) await benchRedis()
if (runs('memory')) await benchMemory()
const chunkInfo = runs('chunks') ? await benchChunks() : undefined
if (runs('keys')) await benchKeys()

printComparison(rows, fmt)
if (chunkInfo === undefined) process.exit(0)
console.log(
  `\n8 MB value: ${chunkInfo.size}; serialize ${fmt(chunkInfo.ser)} MB/s, deserialize ${fmt(chunkInfo.de)} MB/s ` +
    `(part of both end-to-end rows). Node ${process.version}; ops/s: medians of ${OPS_ROUNDS} paired windows, ` +
    `ratio = median of the paired ratios; MB/s: best of ${ROUNDS} alternating runs.`,
)
console.log(
  'Baselines are like for like: raw ioredis sends the same 100-character string value; the async ' +
    'MemoryCache rows race lru-cache behind the same async function, the *Sync rows race lru-cache itself.',
)
const c = chunkInfo.cpu
console.log(
  `CPU per 8 MB value: compress ${c.split.toFixed(1)} ms vs node ${c.deflate.toFixed(1)} ms ` +
    `(${(c.deflate / c.split).toFixed(2)}x), decompress ${c.join.toFixed(1)} ms vs node ${c.inflate.toFixed(1)} ms ` +
    `(${(c.inflate / c.join).toFixed(2)}x); the wall-clock decompress ratio above also counts a second core.`,
)
