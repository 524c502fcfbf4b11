import { execFileSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { freePort } from './helpers/process.js'
import { metricValue, startServe } from './helpers/serve-process.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')

function workerPids(primary: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number).sort()
  } catch {
    return []
  }
}

async function site(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-cluster-'))
  await mkdir(path.join(dir, 'media'))
  for (const f of ['sunset.jpg', 'rings.png']) await copyFile(path.join(MEDIA, f), path.join(dir, 'media', f))
  return dir
}

test('a worker killed under load is replaced, and only the requests in flight on it fail', async (t) => {
  const dir = await site()
  const key = 'cluster-key'
  const signer = new Signer({ keys: [key] })
  const serve = await startServe(['--port', '0', '--workers', '2', '--no-access-log'], { RESTTHUMBS_KEYS: key }, dir)
  try {
    const before = workerPids(serve.child.pid!)
    t.is(before.length, 2)
    const urls = Array.from({ length: 20 }, (_, i) => serve.url + thumbnailUrl(i % 2 ? 'sunset.jpg' : 'rings.png', `${80 + i}x${60 + i}`, 'crop', '.jpg', { signer, baseUrl: '/thumbnails' }))
    const results: { started: number; ok: boolean; status?: number; error?: string; client: number }[] = []
    let killedAt = Infinity
    let deadAt = Infinity
    const total = 600
    let next = 0
    const client = async (_: unknown, id: number) => {
      while (next < total) {
        const i = next++
        if (i === 200) {
          killedAt = performance.now()
          process.kill(before[0], 'SIGKILL')
          const poll = setInterval(() => {
            try {
              process.kill(before[0], 0)
            } catch {
              deadAt = performance.now()
              clearInterval(poll)
            }
          }, 2)
        }
        const started = performance.now()
        try {
          // A request may fail, but never hang.
          const res = await fetch(urls[i % urls.length], { signal: AbortSignal.timeout(15_000) })
          const body = Buffer.from(await res.arrayBuffer())
          results.push({ started, ok: res.status === 200 && body[0] === 0xff && body[1] === 0xd8, status: res.status, client: id })
        } catch (err) {
          results.push({ started, ok: false, error: String((err as Error).cause ?? err), client: id })
        }
      }
    }
    const concurrency = 8
    await Promise.all(Array.from({ length: concurrency }, client))
    const failed = results.filter((r) => !r.ok)
    t.is(results.length, total)
    if (failed.length > concurrency) t.log(serve.stdout().slice(-3000), serve.stderr().slice(-3000))
    t.true(failed.length <= concurrency, `${failed.length} failed: ${[...new Set(failed.map((f) => f.error ?? f.status))].join('; ')}`)
    t.log(failed.map((f) => `${(f.started - killedAt).toFixed(1)} ms after the kill (dead after ${(deadAt - killedAt).toFixed(1)} ms): ${f.error}`))
    // A failure is a request in flight on the dead worker, or one sent on a keep-alive socket of
    // it before the client saw that socket close: at most one per client, right at the death.
    t.is(new Set(failed.map((f) => f.client)).size, failed.length, 'no client failed twice')
    for (const f of failed) t.true(f.started <= deadAt + 250, 'every failure was on a socket of the dead worker')
    t.true(failed.every((f) => f.error !== undefined && !/TimeoutError|aborted/i.test(f.error)), 'no request hung')
    // The replacement is up and serving.
    let after = workerPids(serve.child.pid!)
    for (let i = 0; i < 50 && after.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100))
      after = workerPids(serve.child.pid!)
    }
    t.is(after.length, 2)
    t.false(after.includes(before[0]))
    t.true(serve.logs().some((l) => l.msg === 'worker died; starting a replacement' && l.worker === before[0]))
    const meta = await sharp(Buffer.from(await (await fetch(urls[3])).arrayBuffer())).metadata()
    t.is(meta.width, 83)
    // A scrape on the main port adds up every live worker (a gauge each sets to its core count).
    const scrape = await (await fetch(serve.url + '/metrics')).text()
    t.is(metricValue(scrape, 'restthumbs_cpu_cores'), 2 * availableParallelism())
    t.true((metricValue(scrape, 'restthumbs_requests_total') ?? 0) > 0)
  } finally {
    await serve.stop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('SIGTERM drains: a render in flight is answered, then the process exits 0', async (t) => {
  const dir = await site()
  const key = 'drain-key'
  const signer = new Signer({ keys: [key] })
  const image = await readFile(path.join(MEDIA, 'sunset.jpg'))
  let arrived!: () => void
  const requested = new Promise<void>((r) => (arrived = r))
  // A slow origin keeps the render in flight while the signal arrives.
  const origin = createServer((_req, res) => {
    arrived()
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(image), 800)
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}/`
  const serve = await startServe(
    ['--port', '0', '--workers', '1', '--source-url', originUrl, '--source-allow-private'],
    { RESTTHUMBS_KEYS: key },
    dir,
  )
  try {
    const pending = fetch(serve.url + thumbnailUrl('sunset.jpg', '64x48', 'crop', '.jpg', { signer, baseUrl: '/thumbnails' }))
    await requested
    const exit = serve.stop('SIGTERM')
    const res = await pending
    t.is(res.status, 200)
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata()
    t.is(meta.width, 64)
    t.is(meta.height, 48)
    t.is(await exit, 0)
    await t.throwsAsync(fetch(serve.url + '/healthz'), undefined, 'no longer listening')
  } finally {
    await serve.stop('SIGKILL')
    origin.closeAllConnections()
    origin.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test('SIGHUP reloads the config file and keys without refusing a request; metrics can move to their own port', async (t) => {
  const dir = await site()
  const file = path.join(dir, 'restthumbs.json')
  await writeFile(file, JSON.stringify({ keys: ['old-key'] }))
  const metricsPort = await freePort()
  const serve = await startServe(['--port', '0', '--workers', '2', '--config', file, '--metrics-port', String(metricsPort), '--no-access-log'], {}, dir)
  try {
    const fresh = serve.url + thumbnailUrl('rings.png', '40x40', 'crop', '.png', { signer: new Signer({ keys: ['new-key'] }), baseUrl: '/thumbnails' })
    const old = serve.url + thumbnailUrl('rings.png', '40x40', 'crop', '.png', { signer: new Signer({ keys: ['old-key'] }), baseUrl: '/thumbnails' })
    t.is((await fetch(fresh)).status, 401)
    t.is((await fetch(serve.url + '/metrics')).status, 404, 'metrics are not on the main port')
    await writeFile(file, JSON.stringify({ keys: ['new-key', 'old-key'] }))
    const pids = workerPids(serve.child.pid!)
    serve.child.kill('SIGHUP')
    const statuses = new Set<number | string>()
    let reloaded = false
    // Four keep-alive clients keep requesting through the rolling restart; none may be refused.
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!reloaded) {
          try {
            const res = await fetch(old, { signal: AbortSignal.timeout(15_000) })
            await res.arrayBuffer()
            statuses.add(res.status)
          } catch (err) {
            statuses.add(String((err as Error).cause ?? err))
          }
        }
      }),
    )
    for (let i = 0; i < 200 && !reloaded; i++) {
      reloaded = (await fetch(fresh)).status === 200 && workerPids(serve.child.pid!).every((p) => !pids.includes(p))
      await new Promise((r) => setTimeout(r, 50))
    }
    reloaded = true
    await load
    t.true((await fetch(fresh)).ok, 'the new key is accepted by every worker')
    t.true(workerPids(serve.child.pid!).every((p) => !pids.includes(p)), 'every worker was replaced')
    t.deepEqual([...statuses], [200])
    const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    t.true((metricValue(scrape, 'restthumbs_requests_total') ?? 0) >= 1)
  } finally {
    await serve.stop()
    await rm(dir, { recursive: true, force: true })
  }
})
