import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { startRedis } from './helpers/redis.js'
import { startSeaweedFS } from './helpers/seaweedfs.js'
import { metricValue, startServe, type ServeProcess } from './helpers/serve-process.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 'farm-spec-key'

test('three hosts with separate disks, one Redis and one bucket render 10 new thumbnails exactly once for 200 concurrent requests', async (t) => {
  const [redis, s3] = await Promise.all([startRedis(), startSeaweedFS()])
  const dirs: string[] = []
  const hosts: ServeProcess[] = []
  try {
    const bucket = 'farm'
    await s3.createBucket(bucket)
    const sources = ['sunset.jpg', 'mandelbrot.jpg', 'rings.png', 'tiles.webp']
    for (const name of sources) await s3.put(bucket, `media/${name}`, await readFile(path.join(MEDIA, name)))
    const env = {
      ...s3.env,
      RESTTHUMBS_KEYS: KEY,
      RESTTHUMBS_CACHE: redis.url,
      RESTTHUMBS_SOURCE_BUCKET: bucket,
      RESTTHUMBS_SOURCE_PREFIX: 'media/',
      RESTTHUMBS_OUTPUT_BUCKET: bucket,
      RESTTHUMBS_OUTPUT_PREFIX: 'thumbs/',
      RESTTHUMBS_ACCESS_LOG: 'false',
    }
    for (let i = 0; i < 3; i++) {
      const dir = await mkdtemp(path.join(tmpdir(), `restthumbs-host${i}-`))
      dirs.push(dir)
      hosts.push(await startServe(['--port', '0', '--workers', '1', '--output-root', path.join(dir, 'thumbnails')], env, dir))
    }
    const signer = new Signer({ keys: [KEY] })
    const thumbs = Array.from({ length: 10 }, (_, i) => {
      const width = 60 + i * 7
      const height = 40 + i * 5
      return { rel: thumbnailUrl(sources[i % sources.length], `${width}x${height}`, 'crop', '.jpg', { signer, baseUrl: '' }), width, height }
    })
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const thumb = thumbs[i % thumbs.length]
        const res = await fetch(hosts[i % hosts.length].url + '/thumbnails' + thumb.rel)
        return { thumb, status: res.status, body: Buffer.from(await res.arrayBuffer()) }
      }),
    )
    const statuses = new Map<number, number>()
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1)
    t.deepEqual([...statuses], [[200, 200]], 'every request got a thumbnail')
    // Decode one answer per thumbnail and host, and check every body equals it.
    const decoded = new Map<string, Buffer>()
    for (const a of answers) {
      const seen = decoded.get(a.thumb.rel)
      if (seen) {
        t.true(seen.equals(a.body), 'every host served the same bytes')
        continue
      }
      const meta = await sharp(a.body).metadata()
      t.is(meta.format, 'jpeg')
      t.is(meta.width, a.thumb.width)
      t.is(meta.height, a.thumb.height)
      decoded.set(a.thumb.rel, a.body)
    }
    const scrapes = await Promise.all(hosts.map(async (h) => (await fetch(h.url + '/metrics')).text()))
    const renders = scrapes.map((s) => metricValue(s, 'restthumbs_renders_total') ?? NaN)
    t.is(
      renders.reduce((a, b) => a + b, 0),
      10,
      `renders per host: ${renders.join(', ')}`,
    )
    const keys = await s3.listWhen(bucket, 'thumbs/', 10)
    t.deepEqual(keys, thumbs.map((th) => 'thumbs' + th.rel).sort())
    for (const th of thumbs) {
      const object = await s3.get(bucket, 'thumbs' + th.rel)
      const meta = await sharp(object!).metadata()
      t.is(meta.width, th.width)
      t.is(meta.height, th.height)
    }
  } finally {
    await Promise.all(hosts.map((h) => h.stop()))
    await Promise.all([redis.stop(), s3.stop(), ...dirs.map((d) => rm(d, { recursive: true, force: true }))])
  }
})
