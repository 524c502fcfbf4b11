import { type ChildProcess, fork } from 'node:child_process'
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import type { HandlerStats } from '../ts/server/contracts.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { startRedis } from './helpers/redis.js'
import { tempDir } from './helpers/tmp.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const MEDIA = path.join(HERE, '..', 'media')
const KEY = 'stampede-spec-key'

interface Worker {
  child: ChildProcess
  url: string
  stats(): Promise<HandlerStats>
}

async function startWorker(env: NodeJS.ProcessEnv): Promise<Worker> {
  const child = fork(path.join(HERE, 'helpers', 'worker-server.ts'), [], {
    env: { ...process.env, ...env },
    execArgv: ['--import', '@oxc-node/core/register'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not start within 20 s')), 20_000)
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)))
    child.on('message', (m: { type: string; url?: string }) => {
      if (m.type === 'ready') {
        clearTimeout(timer)
        resolve(m.url!)
      }
    })
  })
  return {
    child,
    url,
    stats: () =>
      new Promise((resolve) => {
        const onMsg = (m: { type: string; stats?: HandlerStats }) => {
          if (m.type !== 'stats') return
          child.off('message', onMsg)
          resolve(m.stats!)
        }
        child.on('message', onMsg)
        child.send({ type: 'stats' })
      }),
  }
}

function stopWorker(w: Worker): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => w.child.kill('SIGKILL'), 3000)
    w.child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    if (w.child.connected) w.child.send({ type: 'stop' })
    else w.child.kill('SIGKILL')
  })
}

test('200 concurrent requests for 10 new thumbnails over 3 processes sharing Redis render each thumbnail exactly once', async (t) => {
  const redis = await startRedis()
  const dir = await tempDir(t, 'stampede')
  const workers: Worker[] = []
  try {
    const sources = path.join(dir, 'media')
    await mkdir(sources)
    await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(sources, 'sunset.jpg'))
    await copyFile(path.join(MEDIA, 'mandelbrot.jpg'), path.join(sources, 'mandelbrot.jpg'))
    const env = {
      RESTTHUMBS_KEYS: KEY,
      RESTTHUMBS_CACHE: redis.url,
      RESTTHUMBS_SOURCE_ROOT: sources,
      RESTTHUMBS_OUTPUT_ROOT: path.join(dir, 'thumbnails'),
      RESTTHUMBS_WAITER: 'wait',
      RESTTHUMBS_KEY_PREFIX: 'stampede',
    }
    workers.push(...(await Promise.all([startWorker(env), startWorker(env), startWorker(env)])))

    const signer = new Signer({ keys: [KEY] })
    const thumbs = Array.from({ length: 10 }, (_, i) => ({
      path: thumbnailUrl(i % 2 ? 'sunset.jpg' : 'mandelbrot.jpg', `${100 + i * 10}x${80 + i * 5}`, 'crop', '.jpg', {
        signer,
        baseUrl: '/thumbnails',
      }),
      width: 100 + i * 10,
      height: 80 + i * 5,
    }))
    const requests = Array.from({ length: 200 }, (_, i) => ({ thumb: thumbs[i % 10], worker: workers[i % 3] }))
    const results = await Promise.all(
      requests.map(async ({ thumb, worker }) => {
        const res = await fetch(worker.url + thumb.path)
        const body = Buffer.from(await res.arrayBuffer())
        return { status: res.status, body, thumb }
      }),
    )
    const statuses = new Map<number, number>()
    for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    t.deepEqual([...statuses], [[200, 200]], 'every request answered 200')
    for (const r of results) {
      const meta = await sharp(r.body).metadata()
      if (meta.width !== r.thumb.width || meta.height !== r.thumb.height || meta.format !== 'jpeg') {
        t.fail(`bad image for ${r.thumb.path}: ${meta.format} ${meta.width}x${meta.height}`)
      }
    }
    // Identical bytes for every response of one thumbnail: nobody saw a half-written file.
    for (const thumb of thumbs) {
      const bodies = new Set(results.filter((r) => r.thumb === thumb).map((r) => r.body.toString('base64')))
      t.is(bodies.size, 1, thumb.path)
    }
    const stats = await Promise.all(workers.map((w) => w.stats()))
    const renders = stats.reduce((n, s) => n + s.renders, 0)
    t.is(renders, 10, `renders per worker: ${stats.map((s) => s.renders).join(', ')}`)
    t.is(
      stats.reduce((n, s) => n + s.requests, 0),
      200,
    )
  } finally {
    await Promise.all(workers.map(stopWorker))
    await redis.stop()
  }
})

test('a worker killed mid-render leaves no partial file, its lock expires and another worker renders', async (t) => {
  const redis = await startRedis()
  const dir = await tempDir(t, 'crash')
  const photo = await readFile(path.join(MEDIA, 'sunset.jpg'))
  let originHits = 0
  let firstArrived: () => void = () => undefined
  const arrived = new Promise<void>((resolve) => (firstArrived = resolve))
  // The first fetch hangs forever (the render is "in progress" when its worker dies); later
  // fetches get the image.
  const origin = createServer((_req, res) => {
    originHits++
    if (originHits === 1) {
      firstArrived()
      return
    }
    res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(photo)
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const workers: Worker[] = []
  try {
    const output = path.join(dir, 'thumbnails')
    const env = {
      RESTTHUMBS_KEYS: KEY,
      RESTTHUMBS_CACHE: redis.url,
      RESTTHUMBS_SOURCE_URL: `http://127.0.0.1:${(origin.address() as { port: number }).port}/`,
      RESTTHUMBS_SOURCE_ALLOW_PRIVATE: 'true',
      RESTTHUMBS_OUTPUT_ROOT: output,
      RESTTHUMBS_WAITER: 'wait',
      RESTTHUMBS_LOCK_TIMEOUT: '1.5',
      RESTTHUMBS_KEY_PREFIX: 'crash',
    }
    const [a, b] = await Promise.all([startWorker(env), startWorker(env)])
    workers.push(a, b)
    const u = thumbnailUrl('photos/sunset.jpg', '120x90', 'crop', '.jpg', { signer: new Signer({ keys: [KEY] }), baseUrl: '/thumbnails' })
    const doomed = fetch(a.url + u).then(
      (r) => r.status,
      () => 'connection lost',
    )
    await arrived
    a.child.kill('SIGKILL')
    t.is(await doomed, 'connection lost')
    const started = Date.now()
    const res = await fetch(b.url + u)
    const body = Buffer.from(await res.arrayBuffer())
    t.is(res.status, 200)
    const meta = await sharp(body).metadata()
    t.is(meta.width, 120)
    t.is(meta.height, 90)
    // B waited for the dead owner's lock to expire (keep-alive stopped with the process).
    const waited = Date.now() - started
    t.true(waited >= 300 && waited < 10_000, `waited ${waited} ms`)
    t.is((await b.stats()).renders, 1)
    const leftovers = (await readdir(output, { recursive: true })).filter((f) => String(f).endsWith('.tmp'))
    t.deepEqual(leftovers, [], 'no partial or temporary file was left behind')
  } finally {
    await Promise.all(workers.map(stopWorker))
    origin.closeAllConnections()
    await new Promise((r) => origin.close(r))
    await redis.stop()
  }
})
