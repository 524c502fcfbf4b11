import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { servePoolEnv } from '../ts/cli/pool.js'
import { defaultRenderSlots, libuvPoolSize, RenderQueueFullError, RenderSlots, servePoolSize } from '../ts/server/render-slots.js'
import { bigPng } from './helpers/big-png.js'
import { get, rig, sign } from './helpers/handler-rig.js'
import { tempDir } from './helpers/tmp.js'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

test('render slots run at most `size` tasks, queue up to the limit, and refuse past it', async (t) => {
  const slots = new RenderSlots(2, 1, 7)
  const gates: Array<() => void> = []
  const started: number[] = []
  const task = (i: number) => () =>
    new Promise<number>((resolve) => {
      started.push(i)
      gates.push(() => resolve(i))
    })
  const a = slots.run(task(1))
  const b = slots.run(task(2))
  const c = slots.run(task(3))
  await new Promise((r) => setImmediate(r))
  t.deepEqual(started, [1, 2])
  t.is(slots.busy, 2)
  t.is(slots.waiting, 1)
  const full = await t.throwsAsync(slots.run(task(4)), { instanceOf: RenderQueueFullError })
  t.is(full.status, 503)
  t.is(full.retryAfter, 7)
  t.is(full.code, 'ERR_RENDER_QUEUE_FULL')
  gates[0]()
  t.is(await a, 1)
  await new Promise((r) => setImmediate(r))
  t.deepEqual(started, [1, 2, 3], 'the waiter got the freed slot')
  gates[1]()
  gates[2]()
  t.deepEqual([await b, await c], [2, 3])
  t.is(slots.busy, 0)
})

test('a wait for a slot ends when its signal aborts, and the task never starts', async (t) => {
  const slots = new RenderSlots(1, 5)
  let release!: () => void
  const holder = slots.run(() => new Promise<void>((r) => (release = r)))
  const ac = new AbortController()
  let ran = false
  const waiting = slots.run(async () => {
    ran = true
  }, ac.signal)
  ac.abort(new Error('deadline'))
  await t.throwsAsync(waiting, { message: 'deadline' })
  t.is(slots.waiting, 0)
  release()
  await holder
  t.false(ran)
  t.is(slots.busy, 0)
})

test('the default leaves two libuv threads for file I/O and serve asks for a larger pool', (t) => {
  t.is(defaultRenderSlots(4, 2), 2)
  t.is(defaultRenderSlots(4, 16), 2)
  t.is(defaultRenderSlots(3, 8), 1)
  t.is(defaultRenderSlots(1, 8), 1)
  t.is(defaultRenderSlots(20, 8), 8)
  t.is(libuvPoolSize({}), 4)
  t.is(libuvPoolSize({ UV_THREADPOOL_SIZE: '12' }), 12)
  t.is(servePoolSize(2), 6)
  t.is(servePoolEnv({ UV_THREADPOOL_SIZE: '9', MALLOC_ARENA_MAX: '4' }), undefined, "the operator's choice stays")
  t.deepEqual(servePoolEnv({ UV_THREADPOOL_SIZE: '9', HOME: '/h' }), { UV_THREADPOOL_SIZE: '9', MALLOC_ARENA_MAX: '2', HOME: '/h' })
  t.is(servePoolEnv({})!.UV_THREADPOOL_SIZE, String(servePoolSize()))
  t.is(servePoolEnv({})!.MALLOC_ARENA_MAX, '2')
})

test('serve relaunches itself so its libuv pool has the larger size from the start', async (t) => {
  const dir = await tempDir(t, 'pool')
  const script = path.join(dir, 'probe.ts')
  await writeFile(
    script,
    `import { readFileSync } from 'node:fs'
import { relaunch, servePoolEnv } from ${JSON.stringify(path.join(ROOT, 'ts/cli/pool.ts'))}
const env = servePoolEnv(process.env)
if (env) await relaunch(env, process.argv.slice(1))
const { pbkdf2 } = await import('node:crypto')
await new Promise((r) => pbkdf2('a', 'b', 1, 8, 'sha256', r))
const threads = readFileSync('/proc/self/status', 'utf8').match(/Threads:\\s+(\\d+)/)[1]
console.log(JSON.stringify({ pool: process.env.UV_THREADPOOL_SIZE, threads: Number(threads) }))
`,
  )
  const register = import.meta.resolve('@oxc-node/core/register')
  const env = { ...process.env }
  delete env.UV_THREADPOOL_SIZE
  const child = spawn(process.execPath, ['--import', register, script], { env, cwd: ROOT })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const code = await new Promise((r) => child.on('exit', r))
  t.is(code, 0)
  const { pool, threads } = JSON.parse(out.trim()) as { pool: string; threads: number }
  t.is(pool, String(servePoolSize()))
  t.true(threads >= servePoolSize(), `${threads} threads include the ${pool} pool threads`)
})

async function timed(url: string): Promise<number> {
  const started = performance.now()
  const res = await get(url)
  if (res.res.status !== 200) throw new Error(`warm hit answered ${res.res.status}`)
  return performance.now() - started
}

test('four slow renders in flight do not delay a warm hit', async (t) => {
  const r = await rig(t, { hotCacheBytes: 0, maxSourceBytes: 100_000_000, renderTimeout: 120 })
  await writeFile(path.join(r.sources, 'big.png'), await bigPng(5000, 5000))
  const warm = r.url + sign('sunset.jpg', '50x50', 'crop', '.jpg')
  t.is((await get(warm)).res.status, 200)
  const baseline: number[] = []
  for (let i = 0; i < 5; i++) baseline.push(await timed(warm))
  baseline.sort((a, b) => a - b)
  const base = baseline[2]

  const burstStarted = performance.now()
  const renders = [3600, 3601, 3602, 3603].map((side) => get(r.url + sign('big.png', `${side}x${side}`, 'scale', '.jpg')))
  // Let the renders reach the native pool.
  await new Promise((res) => setTimeout(res, 400))
  const during: number[] = []
  for (let i = 0; i < 3; i++) during.push(await timed(warm))
  const inFlight = r.handler.stats.renders
  const results = await Promise.all(renders)
  const burst = performance.now() - burstStarted
  for (const res of results) {
    t.is(res.res.status, 200)
    t.is((await sharp(res.body).metadata()).width! >= 3600, true)
  }
  t.true(inFlight < 4, 'the warm hits were measured while renders were in flight')
  const worst = Math.max(...during)
  t.log(`warm hit ${base.toFixed(1)} ms alone, at worst ${worst.toFixed(1)} ms during a ${burst.toFixed(0)} ms burst`)
  // Before render slots, all four libuv threads rendered and a warm hit waited for the first
  // render to end (seconds). The margin absorbs a loaded test machine, far below a render.
  t.true(worst - base < 250, `warm hit delayed by ${(worst - base).toFixed(1)} ms`)
  t.true(worst < burst / 8)
})

test('renders past the queue limit answer 503 with Retry-After', async (t) => {
  const r = await rig(t, { renderSlots: 1, renderQueue: 1, retryAfter: 3, maxSourceBytes: 100_000_000, renderTimeout: 120 })
  await writeFile(path.join(r.sources, 'big.png'), await bigPng(5000, 5000))
  const answers = await Promise.all(
    [3000, 3001, 3002].map((side) => get(r.url + sign('big.png', `${side}x${side}`, 'scale', '.jpg'))),
  )
  const refused = answers.filter((a) => a.res.status === 503)
  t.is(refused.length, 1)
  t.is(refused[0].res.headers.get('retry-after'), '3')
  t.is(refused[0].text, 'Temporarily unavailable, retry shortly (ERR_RENDER_QUEUE_FULL)\n')
  t.is(answers.filter((a) => a.res.status === 200).length, 2)
})

test('RSS levels off over two thousand native thumbnail calls in the environment serve runs with', async (t) => {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'UV_THREADPOOL_SIZE' && k !== 'MALLOC_ARENA_MAX'))
  const env = servePoolEnv(base)!
  const child = spawn(process.execPath, ['--import', import.meta.resolve('@oxc-node/core/register'), path.join(ROOT, '__test__', 'helpers', 'soak.ts'), '2000'], {
    env,
    cwd: ROOT,
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const code = await new Promise((r) => child.on('exit', r))
  t.is(code, 0, err)
  const { rss } = JSON.parse(out.trim()) as { rss: number[] }
  t.true(rss.length >= 10)
  // After a warm-up of a fifth of the calls the rest must not keep growing: little over the
  // warm-up level, and almost nothing over the first half's peak.
  const warm = rss[Math.floor(rss.length / 5)]
  const mid = Math.max(...rss.slice(0, Math.ceil(rss.length / 2)))
  const last = rss[rss.length - 1]
  t.log(`RSS MiB every 200 calls: ${rss.join(' ')}`)
  t.true(last - warm < 24, `grew ${last - warm} MiB after the warm-up`)
  t.true(last - mid < 12, `grew ${last - mid} MiB in the second half`)
})
