import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import { Queue } from 'bullmq'
import sharp from 'sharp'

import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import type { WarmJobData, WarmJobResult } from '../ts/warm/queue.js'
import { collect, jsonSummary, runCli, spawnCli, type CliResult } from './helpers/cli.js'
import { startRedis, type TestRedis } from './helpers/redis.js'
import { tempDir, type Teardown } from './helpers/tmp.js'

const KEY = 'queue-test-key'
const ENV = { RESTTHUMBS_KEYS: KEY }
const signer = new Signer({ keys: [KEY] })
const PRESETS = [
  { text: '24x24:crop:.jpg', size: '24x24', method: 'crop', ext: '.jpg', width: 24, height: 24 },
  { text: '40x:scale:.png', size: '40x0', method: 'scale', ext: '.png', width: 40, height: 30 },
  { text: 'x20:scale:.webp', size: '0x20', method: 'scale', ext: '.webp', width: 27, height: 20 },
] as const

async function makeTree(root: string, count: number, width: number): Promise<string[]> {
  const first = path.join(root, 'src.jpg')
  await mkdir(root, { recursive: true })
  await sharp({ create: { width, height: (width * 3) / 4, channels: 3, background: { r: 20, g: 90, b: 200 } } })
    .jpeg()
    .toFile(first)
  const names: string[] = []
  for (let i = 0; i < count; i++) {
    const name = `batch${i % 4}/photo-${i}.jpg`
    await mkdir(path.join(root, path.dirname(name)), { recursive: true })
    await copyFile(first, path.join(root, name))
    names.push(name)
  }
  await rm(first)
  return names
}

async function setup(t: Teardown) {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const dir = await tempDir(t, 'queue')
  return { redis, media: path.join(dir, 'media'), out: path.join(dir, 'thumbs') }
}

function settings(redis: TestRedis, media: string, out: string): string[] {
  return ['--queue', redis.url, '--source-root', media, '--output-root', out]
}

function startWorkers(t: { teardown(fn: () => void): void }, n: number, redis: TestRedis, media: string, out: string, extra: string[] = []) {
  return Array.from({ length: n }, () => {
    const child = spawnCli(['worker', ...settings(redis, media, out), '--concurrency', '2', '--no-progress', ...extra], { env: ENV })
    // A failed assertion must not leave workers running.
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    return { child, done: collect(child) }
  })
}

async function untilCompleted(queue: Queue, n: number, timeoutMs: number): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')
    if (counts.completed + counts.failed >= n || Date.now() > deadline) return counts
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function checkOutputs(t: { is(a: unknown, b: unknown, m?: string): void }, out: string, names: string[]) {
  for (const name of names) {
    for (const p of PRESETS) {
      const url = thumbnailUrl(name, p.size, p.method, p.ext, { signer, baseUrl: '/thumbnails' })
      const meta = await sharp(path.join(out, decodeURIComponent(url.slice('/thumbnails/'.length)))).metadata()
      t.is(`${meta.width}x${meta.height}`, `${p.width}x${p.height}`, `${name} ${p.text}`)
    }
  }
}

function rendered(r: CliResult): number {
  const m = /worker: \d+ done \((\d+) rendered/.exec(r.stdout.trim().split('\n').pop() ?? '')
  if (!m) throw new Error(`Expected a worker summary but received ${JSON.stringify(r.stdout)}`)
  return Number(m[1])
}

test('three workers render a few hundred queued thumbnails, each exactly once, and enqueuing again adds nothing', async (t) => {
  const { redis, media, out } = await setup(t)
  const names = await makeTree(media, 100, 64)
  const queue = new Queue<WarmJobData, WarmJobResult>('warm', { connection: { host: '127.0.0.1', port: redis.port }, prefix: 'restthumbs' })
  t.teardown(() => queue.close())
  const presets = PRESETS.flatMap((p) => ['--preset', p.text])
  const sent = await runCli(['warm', ...settings(redis, media, out), ...presets, '--json'], { env: ENV })
  t.is(sent.code, 0, sent.stderr)
  t.like(jsonSummary(sent), { mode: 'queue', done: 300, failed: 0 })
  t.is((await queue.getJobCounts('waiting')).waiting, 300)

  const workers = startWorkers(t, 3, redis, media, out)
  const counts = await untilCompleted(queue, 300, 60_000)
  t.like(counts, { completed: 300, failed: 0 })
  for (const w of workers) w.child.kill('SIGTERM')
  const results = await Promise.all(workers.map((w) => w.done))
  for (const r of results) t.is(r.code, 0, r.stderr)
  const perWorker = results.map(rendered)
  t.log(`renders per worker: ${perWorker.join(', ')}`)
  t.is(perWorker.reduce((a, b) => a + b, 0), 300)
  const jobs = await queue.getJobs(['completed'], 0, -1)
  t.is(jobs.length, 300)
  t.is(jobs.filter((j) => j.returnvalue.via === 'render').length, 300)
  t.is(new Set(jobs.map((j) => j.returnvalue.output)).size, 300)
  await checkOutputs(t, out, names)

  // The same tree again: the job ids are the thumbnails, so nothing new is queued.
  const again = await runCli(['warm', ...settings(redis, media, out), ...presets, '--json'], { env: ENV })
  t.is(again.code, 0, again.stderr)
  t.like(await queue.getJobCounts('waiting', 'completed'), { waiting: 0, completed: 300 })

  const status = await runCli(['warm', '--queue', redis.url, '--status', '--json'])
  t.is(status.code, 0, status.stderr)
  t.like(jsonSummary(status), { waiting: 0, active: 0, completed: 300, failed: 0 })
})

test('a worker killed mid-run loses nothing: its jobs are retried elsewhere and the set completes', async (t) => {
  const { redis, media, out } = await setup(t)
  const names = await makeTree(media, 50, 1400)
  await writeFile(path.join(media, 'batch0', 'broken.jpg'), 'not an image')
  const queue = new Queue<WarmJobData, WarmJobResult>('warm', { connection: { host: '127.0.0.1', port: redis.port }, prefix: 'restthumbs' })
  t.teardown(() => queue.close())
  const sent = await runCli(['warm', ...settings(redis, media, out), ...PRESETS.flatMap((p) => ['--preset', p.text]), '--json'], { env: ENV })
  t.like(jsonSummary(sent), { done: 153 })
  const extra = ['--stalled-after', '1', '--lock-timeout', '2']
  const workers = startWorkers(t, 3, redis, media, out, extra)
  const victim = workers[0]
  // Kill one worker while it holds jobs (each active job names the worker that took it).
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const active = await queue.getJobs(['active'])
    if (active.some((j) => j.processedBy?.endsWith(`:${victim.child.pid}`))) break
    await new Promise((r) => setTimeout(r, 25))
  }
  victim.child.kill('SIGKILL')
  const counts = await untilCompleted(queue, 153, 60_000)
  t.like(counts, { completed: 150, failed: 3, waiting: 0, active: 0 })
  // The only failures are the corrupt source's three thumbnails, failed at once, not retried.
  for (const failed of await queue.getJobs(['failed'])) {
    t.is(failed.data.source, 'batch0/broken.jpg')
    t.regex(failed.failedReason, /^ERR_(DECODE|UNSUPPORTED_FORMAT): /)
    t.is(failed.attemptsMade, 1)
  }
  t.is((await victim.done).signal, 'SIGKILL')
  for (const w of workers.slice(1)) w.child.kill('SIGTERM')
  for (const r of await Promise.all(workers.slice(1).map((w) => w.done))) t.is(r.code, 0, r.stderr)
  await checkOutputs(t, out, names)
  // The killed worker's jobs came back to the queue (stalled) and another worker finished them.
  const recovered = (await queue.getJobs(['completed'], 0, -1)).filter((j) => j.stalledCounter > 0)
  t.log(`jobs recovered from the killed worker: ${recovered.length}`)
  t.true(recovered.length > 0)
})

test('without bullmq installed, --queue and worker say how to install it and a local warm still works', async (t) => {
  const dir = await tempDir(t, 'nobullmq')
  // A resolve hook that makes `bullmq` unresolvable, as on an install without the optional peer.
  const hook = path.join(dir, 'hide-bullmq.mjs')
  const resolver = `export async function resolve(specifier, context, next) {
    if (specifier === 'bullmq') throw Object.assign(new Error("Cannot find package 'bullmq'"), { code: 'ERR_MODULE_NOT_FOUND' })
    return next(specifier, context)
  }`
  await writeFile(hook, `import { register } from 'node:module'\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(resolver)}))\n`)
  const env = { ...ENV, NODE_OPTIONS: `--import ${hook}` }
  const media = path.join(dir, 'media')
  await makeTree(media, 2, 64)
  const expected = /^error: ERR_MISSING_DEPENDENCY: The queue mode \(--queue\) needs the optional package bullmq: run npm install bullmq$/m
  for (const args of [['warm', '--queue', 'redis://127.0.0.1:1/0', '--source-root', media, '--preset', '10x10'], ['worker', '--queue', 'redis://127.0.0.1:1/0']]) {
    const r = await runCli(args, { env })
    t.is(r.code, 1)
    t.regex(r.stderr, expected)
  }
  const local = await runCli(['warm', '--source-root', media, '--output-root', path.join(dir, 'out'), '--preset', '10x10', '--json'], { env })
  t.is(local.code, 0, local.stderr)
  t.like(jsonSummary(local), { rendered: 2, failed: 0 })
})
