#!/usr/bin/env node
// Database, memcached and per-view cache benchmark, one run, one table with ratios (build first:
// `npm run build`; `--src` loads ts/ through @oxc-node instead of dist/):
//   1. DatabaseCache get/set on PostgreSQL vs the same statement through a raw `pg` pool (>= 0.85x)
//   2. DatabaseCache get/set on SQLite vs the raw better-sqlite3 statement behind the same async
//      function                                                              (target >= 0.85x)
//   3. MemcachedCache get/set vs raw memcache-client on the same server      (target >= 0.9x),
//      plus memjs, the other client measured when choosing one
//   4. cachePage: a hit vs the same handler uncached (speed-up), and vs a bare `res.end` of the
//      same bytes (the overhead of a hit), under autocannon
// Throw-away PostgreSQL and memcached servers are started on free loopback ports and stopped.
//   usage: node bench/cache-backends.mjs [--seconds 3] [--concurrency 16] [--src]
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { createServer as createHttpServer } from 'node:http'
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises'
import { compareOps as compareOpsIn, flag, freePort, median, printComparison, spawnServer, stopChild, waitUntil } from './lib.mjs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import autocannon from 'autocannon'
import Sqlite from 'better-sqlite3'
import { MemcacheClient } from 'memcache-client'
import pg from 'pg'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const memjs = require('memjs')
const args = process.argv.slice(2)
const SECONDS = flag('seconds', 3)
const CONCURRENCY = flag('concurrency', 16)
const useSrc = args.includes('--src')
if (useSrc) await import('@oxc-node/core/register')
const lib = await import(path.join(HERE, '..', useSrc ? 'ts/index.ts' : 'dist/index.js'))
const { DatabaseCache, MemcachedCache, MemoryCache, cachePage, createCacheTable } = lib
if (typeof cachePage !== 'function') throw new Error('dist/ is out of date: run `npm run build` first, or pass --src')

const rows = []
function row(name, unit, ours, base, target, ratio = base ? ours / base : NaN) {
  rows.push({ name, unit, ours, base, ratio, target })
}

// Ops/s rows: OPS_ROUNDS short windows, ours and the baseline back to back (order swapped every
// round); medians, and the median of the per-round ratios, so a load burst skews one pair only.
const OPS_ROUNDS = 9
const WINDOW_MS = (SECONDS * 1000) / OPS_ROUNDS
const compareOps = (ours, base, concurrency = CONCURRENCY) =>
  compareOpsIn({ fn: ours, concurrency }, { fn: base, concurrency }, { rounds: OPS_ROUNDS, windowMs: WINDOW_MS, warmup: 500, batch: 16 })

// ---- servers ---------------------------------------------------------------------------------
async function startPostgres() {
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [])).sort((x, y) => Number(y) - Number(x))
  if (versions.length === 0) throw new Error('PostgreSQL not found: apt-get install postgresql')
  const bin = path.join('/usr/lib/postgresql', versions[0], 'bin')
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-pg-'))
  const root = process.getuid?.() === 0
  const as = (cmd, a) => (root ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...a]] : [cmd, a])
  if (root) await chown(dir, Number(spawnSync('id', ['-u', 'postgres']).stdout), Number(spawnSync('id', ['-g', 'postgres']).stdout))
  const data = path.join(dir, 'data')
  const init = spawnSync(...as(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']))
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const port = await freePort()
  // Default durability settings: the rows compare client paths, not server tuning.
  const child = spawn(...as(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1']), {
    stdio: 'ignore',
  })
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  await waitUntil(async () => {
    const c = new pg.Client(url)
    await c.connect()
    await c.end()
  }, { everyMs: 50 })
  return {
    url,
    async stop() {
      await stopChild(child, 'SIGINT')
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function startMemcached() {
  const port = await freePort()
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : []
  const child = await spawnServer('memcached', ['-p', String(port), '-l', '127.0.0.1', '-U', '0', ...user], 'apt-get install memcached')
  const probe = new MemcacheClient({ server: `127.0.0.1:${port}` })
  await waitUntil(() => probe.version())
  probe.shutdown()
  return { address: `127.0.0.1:${port}`, stop: () => stopChild(child) }
}

// ---- 1. PostgreSQL ---------------------------------------------------------------------------
const VALUE = 'x'.repeat(100)
const N = 1000

async function benchPostgres() {
  const server = await startPostgres()
  await createCacheTable({ location: server.url, table: 'bench' })
  const cache = new DatabaseCache({ location: server.url, table: 'bench', maxEntries: 100_000, poolSize: 10 })
  const pool = new pg.Pool({ connectionString: server.url, max: 10 })
  pool.on('error', () => {})
  const get = { name: 'raw_get', text: 'SELECT value, expires FROM bench WHERE cache_key = $1' }
  const set = {
    name: 'raw_set',
    text: 'INSERT INTO bench (cache_key, value, expires) VALUES ($1, $2, $3) ON CONFLICT (cache_key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires',
  }
  const bytes = Buffer.from(`\x02${VALUE}`)
  try {
    for (let i = 0; i < N; i++) {
      await cache.set(`k${i}`, VALUE)
      await pool.query({ ...set, values: [`raw${i}`, bytes, Date.now() + 300_000] })
    }
    const [og, rg, gr] = await compareOps(
      (i) => cache.get(`k${i % N}`),
      (i) => pool.query({ ...get, values: [`raw${i % N}`] }),
    )
    const [os, rs, sr] = await compareOps(
      (i) => cache.set(`k${i % N}`, VALUE),
      (i) => pool.query({ ...set, values: [`raw${i % N}`, bytes, Date.now() + 300_000] }),
    )
    if ((await cache.get('k1')) !== VALUE) throw new Error('DatabaseCache returned a wrong value')
    row(`DatabaseCache(pg).get (${CONCURRENCY} in flight)`, 'ops/s', og, rg, 0.85, gr)
    row(`DatabaseCache(pg).set (${CONCURRENCY} in flight)`, 'ops/s', os, rs, 0.85, sr)
  } finally {
    await cache.close()
    await pool.end()
    await server.stop()
  }
}

// ---- 2. SQLite -------------------------------------------------------------------------------
async function benchSqlite() {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-bench-sqlite-'))
  const file = path.join(dir, 'cache.db')
  await createCacheTable({ location: `sqlite:${file}`, table: 'bench' })
  const cache = new DatabaseCache({ location: `sqlite:${file}`, table: 'bench', maxEntries: 100_000 })
  const db = new Sqlite(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const get = db.prepare('SELECT value, expires FROM bench WHERE cache_key = ?')
  const set = db.prepare(
    'INSERT INTO bench (cache_key, value, expires) VALUES (?, ?, ?) ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires = excluded.expires',
  )
  const bytes = Buffer.from(`\x02${VALUE}`)
  // Like for like: the raw statement runs behind the same kind of async function as the cache.
  const rawGet = async (k) => get.get(k)
  const rawSet = async (k) => set.run(k, bytes, Date.now() + 300_000)
  try {
    for (let i = 0; i < N; i++) {
      await cache.set(`k${i}`, VALUE)
      await rawSet(`raw${i}`)
    }
    const [og, rg, gr] = await compareOps((i) => cache.get(`k${i % N}`), (i) => rawGet(`raw${i % N}`), 1)
    const [os, rs, sr] = await compareOps((i) => cache.set(`k${i % N}`, VALUE), (i) => rawSet(`raw${i % N}`), 1)
    row('DatabaseCache(sqlite).get', 'ops/s', og, rg, 0.85, gr)
    row('DatabaseCache(sqlite).set', 'ops/s', os, rs, 0.85, sr)
  } finally {
    await cache.close()
    db.close()
    await rm(dir, { recursive: true, force: true })
  }
}

// ---- 3. memcached ----------------------------------------------------------------------------
async function benchMemcached() {
  const server = await startMemcached()
  const cache = new MemcachedCache({ location: `memcached://${server.address}` })
  const raw = new MemcacheClient({ server: server.address, noDelay: true })
  const mj = memjs.Client.create(server.address, { keepAlive: true })
  const bytes = Buffer.from(`\x02${VALUE}`)
  try {
    for (let i = 0; i < N; i++) {
      await cache.set(`k${i}`, VALUE)
      await raw.set(`raw${i}`, bytes, { lifetime: 300 })
      await mj.set(`mj${i}`, bytes, { expires: 300 })
    }
    const [og, rg, gr] = await compareOps((i) => cache.get(`k${i % N}`), (i) => raw.get(`raw${i % N}`))
    const [os, rs, sr] = await compareOps((i) => cache.set(`k${i % N}`, VALUE), (i) => raw.set(`raw${i % N}`, bytes, { lifetime: 300 }))
    const [cg, jg, cjg] = await compareOps((i) => raw.get(`raw${i % N}`), (i) => mj.get(`mj${i % N}`))
    const [cs, js, cjs] = await compareOps(
      (i) => raw.set(`raw${i % N}`, bytes, { lifetime: 300 }),
      (i) => mj.set(`mj${i % N}`, bytes, { expires: 300 }),
    )
    if ((await cache.get('k1')) !== VALUE) throw new Error('MemcachedCache returned a wrong value')
    row(`MemcachedCache.get (${CONCURRENCY} in flight)`, 'ops/s', og, rg, 0.9, gr)
    row(`MemcachedCache.set (${CONCURRENCY} in flight)`, 'ops/s', os, rs, 0.9, sr)
    row('  client choice: memcache-client.get vs memjs', 'ops/s', cg, jg, null, cjg)
    row('  client choice: memcache-client.set vs memjs', 'ops/s', cs, js, null, cjs)
  } finally {
    await cache.close()
    raw.shutdown()
    mj.close()
    await server.stop()
  }
}

// ---- 4. cachePage ----------------------------------------------------------------------------
/** A view doing typical server-side rendering: a 1,000-row HTML table with escaping (~90 KB). */
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }
const escape = (s) => s.replace(/[&<>"]/g, (c) => ESC[c])
const DATA = Array.from({ length: 1000 }, (_, i) => ({ id: i, title: `Item <${i}> & "friends"`, price: i * 1.37, stock: (i * 7919) % 113 }))
function render(_req, res) {
  const rows = DATA.map(
    (x) => `<tr id="r${x.id}"><td>${escape(x.title)}</td><td>€${x.price.toFixed(2)}</td><td>${x.stock > 0 ? x.stock : 'sold out'}</td></tr>`,
  )
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.end(`<!doctype html><table>${rows.join('')}</table>`)
}

/** req/s of each handler under autocannon, in rounds that rotate the order; medians and paired ratios. */
async function compareRps(handlers, rounds = 5) {
  const servers = await Promise.all(
    handlers.map(async (h) => {
      const server = createHttpServer(h)
      await new Promise((r) => server.listen(0, '127.0.0.1', r))
      return server
    }),
  )
  const run = async (server, seconds) =>
    (await autocannon({ url: `http://127.0.0.1:${server.address().port}/page`, connections: CONCURRENCY, duration: seconds })).requests.average
  for (const server of servers) await run(server, 1) // warm-up (the page cache fills here)
  const results = handlers.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < servers.length; j++) {
      const k = (j + r) % servers.length
      results[k].push(await run(servers[k], Math.max(1, Math.round(SECONDS / rounds))))
    }
  }
  await Promise.all(servers.map((server) => new Promise((r) => server.close(r))))
  return results.map((xs) => ({ rps: median(xs), ratioTo: (other) => median(xs.map((x, i) => x / results[other][i])) }))
}

async function benchPage() {
  const page = cachePage(600, { cache: new MemoryCache({ location: 'bench-page', maxEntries: 1000 }) })
  const chunks = []
  render(null, { setHeader() {}, end: (b) => chunks.push(Buffer.from(b)) })
  const body = chunks[0]
  const bare = (_req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8')
    res.setHeader('Cache-Control', 'max-age=600')
    res.end(body)
  }
  const [hit, uncached, plain] = await compareRps([page(render), render, bare])
  row(`cachePage hit vs the same view uncached (${CONCURRENCY} conns)`, 'req/s', hit.rps, uncached.rps, null, hit.ratioTo(1))
  row('cachePage hit vs a bare res.end of the same bytes', 'req/s', hit.rps, plain.rps, null, hit.ratioTo(2))
}

const only = args.find((a) => a.startsWith('--only='))?.slice(7)
for (const [name, fn] of Object.entries({ pg: benchPostgres, sqlite: benchSqlite, memcached: benchMemcached, page: benchPage })) {
  if (!only || only.split(',').includes(name)) await fn()
}

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1))
printComparison(rows, fmt)
console.log(
  `\nNode ${process.version}; ops/s: medians of ${OPS_ROUNDS} paired windows, ratio = median of the paired ratios; ` +
    'req/s: medians of 5 rotating autocannon rounds, ratio = median of the per-round ratios. Baselines send the same 100-character value (serialized form) with the same ' +
    'statement; the SQLite baseline runs behind the same async function as the cache.',
)
