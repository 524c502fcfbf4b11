import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { get, remoteSource, rig, sign } from './helpers/handler-rig.js'
import { startRedis } from './helpers/redis.js'

test("the '503' waiter mode answers 503 with Retry-After while another worker holds the lock", async (t) => {
  const r = await rig(t, { waiter: '503', retryAfter: 2 })
  const u = sign('sunset.jpg', '70x70', 'crop', '.jpg')
  const outputPath = decodeURIComponent(u.slice('/thumbnails/'.length))
  const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath }))
  t.truthy(held)
  const busy = await get(r.url + u)
  t.is(busy.res.status, 503)
  t.is(busy.res.headers.get('retry-after'), '2')
  t.regex(busy.res.headers.get('cache-control') ?? '', /no-store/)
  await held!.release()
  const ok = await get(r.url + u)
  t.is(ok.res.status, 200)
})

test("the '404' waiter mode answers django-restthumbnails' never-cache 404 while another worker holds the lock", async (t) => {
  const r = await rig(t, { waiter: '404' })
  const u = sign('sunset.jpg', '71x71', 'crop', '.jpg')
  const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath: u.slice(12) }))
  const res = await get(r.url + u)
  t.is(res.res.status, 404)
  t.is(res.res.headers.get('cache-control'), 'max-age=0, no-cache, no-store, must-revalidate, private')
  t.truthy(res.res.headers.get('expires'))
  await held!.release()
})

test("the 'wait' waiter mode serves the file once the other worker has written it", async (t) => {
  const r = await rig(t, { waiter: 'wait', lockTimeout: 5 })
  const u = sign('sunset.jpg', '72x72', 'crop', '.jpg')
  const outputPath = u.slice('/thumbnails/'.length)
  const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath }))
  const pending = get(r.url + u)
  await new Promise((res) => setTimeout(res, 300))
  // "The other worker" finishes: a complete file appears (rename), then its lock goes away.
  const png = await sharp({ create: { width: 72, height: 72, channels: 3, background: '#336699' } }).jpeg().toBuffer()
  await mkdir(path.dirname(path.join(r.outputs, outputPath)), { recursive: true })
  await writeFile(path.join(r.outputs, outputPath + '.tmp'), png)
  await (await import('node:fs/promises')).rename(path.join(r.outputs, outputPath + '.tmp'), path.join(r.outputs, outputPath))
  await held!.release()
  const { res, body } = await pending
  t.is(res.status, 200)
  t.deepEqual(body, png)
  t.is(r.handler.stats.renders, 0, 'the waiter did not render')
  t.is(r.handler.stats.waits, 1)
})

test("in 'wait' mode a waiter whose lock owner never finishes gives up with 503 after lockTimeout", async (t) => {
  const r = await rig(t, { waiter: 'wait', lockTimeout: 0.5 })
  const u = sign('sunset.jpg', '73x73', 'crop', '.jpg')
  // Keep-alive on: the owner is alive but slow, so the lock never expires during the wait.
  const held = await r.handler.generator.lock.tryAcquire(r.handler.generator.lockName({ outputPath: u.slice(12) }))
  const started = Date.now()
  const { res } = await get(r.url + u)
  t.is(res.status, 503)
  t.true(Date.now() - started >= 450)
  await held!.release()
})

test('concurrent requests for one new thumbnail in one process render it once', async (t) => {
  const r = await rig(t)
  const u = r.url + sign('sunset.jpg', '150x100', 'smart', '.jpg')
  const all = await Promise.all(Array.from({ length: 25 }, () => get(u)))
  t.true(all.every((x) => x.res.status === 200))
  t.is(new Set(all.map((x) => x.body.toString('base64'))).size, 1)
  t.is(r.handler.stats.renders, 1)
})

test('when the shared Redis is down, a request still renders (fail open without the lock)', async (t) => {
  const redis = await startRedis()
  const url = redis.url
  await redis.stop()
  const r = await rig(t, { cache: url })
  const started = Date.now()
  const { res, body } = await get(r.url + sign('sunset.jpg', '57x57', 'crop', '.jpg'))
  t.is(res.status, 200)
  t.is((await sharp(body).metadata()).width, 57)
  t.is(r.handler.stats.renders, 1)
  t.true(Date.now() - started < 5000)
})

test('a source fetch that outlives renderTimeout is aborted, answered 504 and its lock released', async (t) => {
  const source = await remoteSource(
    t,
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg' })
      res.write(Buffer.from([0xff, 0xd8, 0xff]))
      // Never finishes the body: only the render deadline can end this.
    },
  )
  const r = await rig(t, { source, renderTimeout: 0.3 })
  const u = sign('stuck.jpg', '50x50', 'crop', '.jpg')
  const started = Date.now()
  const { res, text } = await get(r.url + u)
  // The origin did not deliver in time: a gateway timeout, as documented for origins (it was a
  // 503 ERR_ABORTED, which told the client to retry the same stuck origin).
  t.is(res.status, 504)
  t.is(text, 'Origin timed out (ERR_ORIGIN_TIMEOUT)\n')
  t.true(Date.now() - started < 5000)
  t.false(await r.handler.generator.lock.isLocked(r.handler.generator.lockName({ outputPath: u.slice(12) })))
})
