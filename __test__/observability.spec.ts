import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'

import test from 'ava'
import sharp from 'sharp'

import { createLogger, Episodes, TrustedProxies } from '../ts/server/log.js'
import { createServer as createThumbnailServer } from '../ts/server/server.js'
import { KEY, MEDIA, rig, sign } from './helpers/handler-rig.js'
import { startRedis } from './helpers/redis.js'
import { metricValue } from './helpers/serve-process.js'

test('a scrape before and after one render shows each counter moved by exactly one', async (t) => {
  const r = await rig(t, { metricsPath: '/metrics' })
  try {
    const before = await (await fetch(r.url + '/metrics')).text()
    const rel = sign('sunset.jpg', '90x60', 'crop', '.jpg')
    const res = await fetch(r.url + rel)
    t.is(res.status, 200)
    t.is((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).width, 90)
    const scrape = await fetch(r.url + '/metrics')
    t.regex(scrape.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/)
    const after = await scrape.text()
    const moved = (name: string, labels = '') => (metricValue(after, name, labels) ?? 0) - (metricValue(before, name, labels) ?? 0)
    t.is(moved('restthumbs_renders_total'), 1)
    t.is(moved('restthumbs_render_seconds_count'), 1)
    t.is(moved('restthumbs_requests_total', 'status="200",mode="stream"'), 1)
    t.is(moved('restthumbs_requests_total'), 1, 'scrapes are not counted as requests')
    t.is(moved('restthumbs_hits_total'), 0)
    t.is(moved('restthumbs_misses_total'), 0)
    t.is(metricValue(after, 'restthumbs_renders_in_flight'), 0)
    t.truthy(metricValue(after, 'process_cpu_user_seconds_total'), 'default process metrics are there')

    const hit = await fetch(r.url + rel)
    await hit.arrayBuffer()
    const missing = await fetch(r.url + sign('nope.jpg', '90x60', 'crop', '.jpg'))
    t.is(missing.status, 404)
    const again = await fetch(r.url + sign('nope.jpg', '90x60', 'crop', '.jpg'))
    t.is(again.status, 404)
    const last = await (await fetch(r.url + '/metrics')).text()
    const delta = (name: string, labels = '') => (metricValue(last, name, labels) ?? 0) - (metricValue(after, name, labels) ?? 0)
    t.is(delta('restthumbs_hits_total'), 1)
    t.is(delta('restthumbs_renders_total'), 0)
    t.is(delta('restthumbs_render_failures_total'), 1, 'the first missing source failed its render')
    t.is(delta('restthumbs_negative_hits_total'), 1, 'the second was answered from the negative cache')
    t.is(delta('restthumbs_requests_total', 'status="404",mode="error"'), 2)
  } finally {
    await r.close()
  }
})

test('the handler answers /healthz always and /readyz from its cache and storages', async (t) => {
  const redis = await startRedis()
  const r = await rig(t, { metricsPath: '/metrics', cache: redis.url })
  try {
    const live = await fetch(r.url + '/healthz')
    t.is(live.status, 200)
    const ready = await fetch(r.url + '/readyz')
    t.is(ready.status, 200)
    t.deepEqual(await ready.json(), { status: 'ok', checks: { cache: 'ok', source: 'ok', output: 'ok' } })
    await redis.kill()
    const down = await fetch(r.url + '/readyz')
    t.is(down.status, 503)
    t.is(down.headers.get('retry-after'), '1')
    const body = (await down.json()) as { checks: Record<string, string> }
    t.deepEqual(body, { status: 'unavailable', checks: { cache: 'unavailable', source: 'ok', output: 'ok' } }, 'no hosts, paths or reasons in the answer')
    t.is((await fetch(r.url + '/healthz')).status, 200, 'alive while not ready')
  } finally {
    await r.close()
    await redis.stop()
  }
})

test('one JSON log line per request, with the client address only from a trusted proxy', async (t) => {
  const lines: Record<string, unknown>[] = []
  const sink = new PassThrough()
  sink.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) if (l) lines.push(JSON.parse(l))
  })
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-log-'))
  await mkdir(path.join(dir, 'media'))
  await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(dir, 'media', 'sunset.jpg'))
  const server = createThumbnailServer({
    keys: [KEY],
    port: 0,
    sourceRoot: path.join(dir, 'media'),
    outputRoot: path.join(dir, 'thumbnails'),
    trustedProxies: ['127.0.0.0/8'],
    log: createLogger({ destination: sink }),
  })
  const base = await server.start()
  try {
    const rel = sign('sunset.jpg', '50x50', 'crop', '.jpg')
    const res = await fetch(base + rel, { headers: { 'X-Forwarded-For': '203.0.113.7, 127.0.0.1', 'X-Request-Id': 'abc-123' } })
    const body = Buffer.from(await res.arrayBuffer())
    t.is(res.headers.get('x-request-id'), 'abc-123', "a trusted proxy's request id is kept")
    await fetch(base + rel).then((x) => x.arrayBuffer())
    await new Promise((r) => setTimeout(r, 50))
    t.is(lines.length, 2)
    const [first, second] = lines
    t.is(first.reqId, 'abc-123')
    t.is(first.status, 200)
    t.is(first.cache, 'render')
    t.is(typeof first.renderMs, 'number')
    t.true((first.bytes as number) > body.length, 'bytes include the headers')
    t.is(first.client, '203.0.113.7')
    t.is(second.cache, 'hit')
    t.is(second.renderMs, undefined)
    t.regex(second.reqId as string, /^[0-9a-f-]{36}$/)
  } finally {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
  // An untrusted peer cannot choose its logged address.
  const proxies = new TrustedProxies(['10.0.0.0/8'])
  const req = { socket: { remoteAddress: '::ffff:192.0.2.1' }, headers: { 'x-forwarded-for': '1.2.3.4', 'x-real-ip': '1.2.3.4' } } as unknown as IncomingMessage
  t.is(proxies.clientAddress(req), '192.0.2.1')
  t.throws(() => new TrustedProxies(['10.0.0.0/99']), { code: 'ERR_CONFIG' })
})

test('an operator problem is logged once per episode, and once more when it ends', (t) => {
  const seen: unknown[][] = []
  const episodes = new Episodes({ error: (...a) => seen.push(['error', ...a]), info: (...a) => seen.push(['info', ...a]) })
  for (let i = 0; i < 50; i++) episodes.problem('storage', new Error('down'))
  t.is(seen.length, 1)
  t.regex(String(seen[0][2]), /503 with Retry-After/)
  episodes.ok('storage')
  episodes.ok('storage')
  t.is(seen.length, 2)
  t.is(seen[1][0], 'info')
  episodes.problem('storage')
  t.is(seen.length, 3)
})
