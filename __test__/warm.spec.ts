import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { copyFile, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { createServer } from '../ts/server/server.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { collect, jsonSummary, runCli, spawnCli } from './helpers/cli.js'
import { startRedis } from './helpers/redis.js'
import { tempDir, type Teardown } from './helpers/tmp.js'

const KEY = 'warm-test-key'
const signer = new Signer({ keys: [KEY] })
const PRESETS = [
  { text: '40x30:crop:.jpg', size: '40x30', method: 'crop', ext: '.jpg', width: 40, height: 30 },
  { text: '50x:scale:.webp', size: '50x0', method: 'scale', ext: '.webp', width: 50, height: 25 },
] as const

interface Summary {
  listed: number
  done: number
  rendered: number
  present: number
  waited: number
  failed: number
  interrupted: boolean
}

/** A tree of `count` 2:1 sources spread over nested folders; returns their names. */
async function makeTree(root: string, count: number, width = 120): Promise<string[]> {
  const names: string[] = []
  const base = await sharp({ create: { width, height: width / 2, channels: 3, background: { r: 200, g: 60, b: 30 } } })
    .jpeg()
    .toBuffer()
  for (let i = 0; i < count; i++) {
    const name = `${['a', 'a/b', 'c d'][i % 3]}/img ${i}.jpg`
    await mkdir(path.join(root, path.dirname(name)), { recursive: true })
    await writeFile(path.join(root, name), base)
    names.push(name)
  }
  return names
}

async function setup(t: Teardown) {
  const dir = await tempDir(t, 'warm')
  return { dir, media: path.join(dir, 'media'), out: path.join(dir, 'thumbs') }
}

function warmArgs(media: string, out: string, extra: string[] = []): string[] {
  return ['warm', '--source-root', media, '--output-root', out, ...PRESETS.flatMap((p) => ['--preset', p.text]), '--json', ...extra]
}

const ENV = { RESTTHUMBS_KEYS: KEY }

/** The output file of a thumbnail, from the URL builder: output path = URL path after basePath. */
function outputFile(out: string, source: string, p: (typeof PRESETS)[number]): string {
  const url = thumbnailUrl(source, p.size, p.method, p.ext, { signer, baseUrl: '/thumbnails' })
  return path.join(out, ...decodeURIComponent(url.slice('/thumbnails/'.length)).split('/'))
}

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
}

test('warm writes every thumbnail at its URL path, a rerun renders nothing, and a deleted one is rendered again alone', async (t) => {
  const { media, out } = await setup(t)
  const names = await makeTree(media, 9)
  const first = await runCli(warmArgs(media, out), { env: ENV })
  t.is(first.code, 0, first.stderr)
  const s1 = jsonSummary<Summary>(first)
  t.like(s1, { listed: 18, done: 18, rendered: 18, present: 0, failed: 0, interrupted: false })
  for (const name of names) {
    for (const p of PRESETS) {
      const meta = await sharp(outputFile(out, name, p)).metadata()
      t.is(meta.width, p.width, `${name} ${p.text}`)
      t.is(meta.height, p.height, `${name} ${p.text}`)
      t.is(meta.format, p.ext === '.jpg' ? 'jpeg' : 'webp')
    }
  }
  t.is((await allFiles(out)).length, 18)

  const second = jsonSummary<Summary>(await runCli(warmArgs(media, out), { env: ENV }))
  t.like(second, { done: 18, rendered: 0, present: 18, failed: 0 })

  // Gone from the served tree only: restored from its key-independent copy, without a render.
  const victim = outputFile(out, names[4], PRESETS[1])
  await unlink(victim)
  const relinked = jsonSummary<Summary>(await runCli(warmArgs(media, out), { env: ENV }))
  t.like(relinked, { rendered: 0, present: 18 })
  t.is((await sharp(victim).metadata()).width, 50)

  // Gone with its copy: rendered again, and it is the only render.
  await unlink(victim)
  await unlink(path.join(`${out}.variants`, names[4], '50x0-scale.webp'))
  const third = jsonSummary<Summary>(await runCli(warmArgs(media, out), { env: ENV }))
  t.like(third, { done: 18, rendered: 1, present: 17, failed: 0 })
  t.is((await sharp(victim).metadata()).width, 50)

  // --force renders everything again.
  const forced = jsonSummary<Summary>(await runCli(warmArgs(media, out, ['--force']), { env: ENV }))
  t.like(forced, { rendered: 18, present: 0 })
})

test('a corrupt source is reported with its code and every other thumbnail is written', async (t) => {
  const { dir, media, out } = await setup(t)
  const names = await makeTree(media, 4)
  await writeFile(path.join(media, 'a', 'corrupt.jpg'), Buffer.from('this is not a JPEG'))
  const good = await readFile(path.join(media, names[0]))
  await writeFile(path.join(media, 'a', 'cut.jpg'), good.subarray(0, 60))
  const report = path.join(dir, 'report.jsonl')
  const r = await runCli(warmArgs(media, out, ['--report', report]), { env: ENV })
  t.is(r.code, 1)
  t.regex(r.stderr, /error: ERR_WARM_FAILED: 4 of 12 thumbnails failed; see .*report\.jsonl/)
  t.like(jsonSummary<Summary>(r), { done: 12, rendered: 8, failed: 4 })
  const lines = (await readFile(report, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  t.is(lines.length, 4)
  t.deepEqual([...new Set(lines.map((l) => l.source))].sort(), ['a/corrupt.jpg', 'a/cut.jpg'])
  for (const l of lines) {
    t.regex(l.code, /^ERR_(DECODE|UNSUPPORTED_FORMAT)$/)
    t.is(l.status, 415)
    t.truthy(l.output)
    t.truthy(l.message)
  }
  for (const name of names) for (const p of PRESETS) t.is((await sharp(outputFile(out, name, p)).metadata()).height, p.height)
})

test('SIGINT stops after the renders in flight: no partial or temp file, and the rerun completes the set', async (t) => {
  const { media, out } = await setup(t)
  // Big enough sources so the signal lands mid-run. Three jobs need a bigger libuv pool than the
  // default four threads, so the command re-runs itself in a child process.
  const names = await makeTree(media, 3, 2400)
  for (let i = 3; i < 240; i++) {
    const name = `${['a', 'a/b', 'c d'][i % 3]}/img ${i}.jpg`
    await copyFile(path.join(media, names[i % 3]), path.join(media, name))
    names.push(name)
  }
  const args = warmArgs(media, out, ['--jobs', '3'])
  const child = spawnCli([...args, '--progress-interval', '0.05'], { env: ENV, ownGroup: true })
  const done = collect(child)
  let exited = false
  void done.then(() => (exited = true))
  // The progress lines (stderr is not a terminal) say how far it got, without walking the tree.
  let progressed = 0
  child.stderr!.on('data', (d: Buffer) => {
    for (const m of d.toString().matchAll(/^warm: (\d+)\//gm)) progressed = Math.max(progressed, Number(m[1]))
  })
  const deadline = Date.now() + 60_000
  while (!exited && progressed < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  if (exited) {
    const early = await done
    t.fail(`warm exited before the signal: ${early.code} ${early.stdout} ${early.stderr}`)
    return
  }
  // To the whole group, as Ctrl-C on a terminal: the re-run child gets it twice (directly and
  // relayed by its parent), which must still read as one request to stop cleanly.
  process.kill(-child.pid!, 'SIGINT')
  const r = await done
  t.is(r.code, 130, r.stderr)
  t.regex(r.stderr, /interrupted; run the same command again to continue/)
  const s1 = jsonSummary<Summary>(r)
  t.true(s1.interrupted)
  t.log(`interrupted after ${s1.rendered} renders`)
  t.true(s1.rendered >= 10 && s1.rendered < 480, String(s1.rendered))
  const written = [...(await allFiles(out)), ...(await allFiles(`${out}.variants`))]
  t.deepEqual(written.filter((f) => /\.tmp$|\/\.[^/]*$/.test(f)), [])
  t.is((await allFiles(out)).length, s1.rendered)
  // Every file left behind is whole.
  for (const f of await allFiles(out)) await t.notThrowsAsync(sharp(f).stats(), f)

  const rerun = await runCli(args, { env: ENV })
  t.is(rerun.code, 0, rerun.stderr)
  const s2 = jsonSummary<Summary>(rerun)
  t.like(s2, { done: 480, present: s1.rendered, rendered: 480 - s1.rendered, failed: 0 })
  t.is((await allFiles(out)).length, 480)
  for (const p of PRESETS) t.is((await sharp(outputFile(out, names[239], p)).metadata()).width, p.width)
})

test('warm and live requests through serve on the same Redis render each thumbnail exactly once in total', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const { media, out } = await setup(t)
  const names = await makeTree(media, 45, 400)
  const server = createServer({ sourceRoot: media, outputRoot: out, keys: [KEY], cache: redis.url, port: 0, accessLog: false, hotCacheBytes: 0 })
  const base = await server.start()
  t.teardown(() => server.stop())
  const urls = names.flatMap((n) => PRESETS.map((p) => ({ p, url: thumbnailUrl(n, p.size, p.method, p.ext, { signer, baseUrl: `${base}/thumbnails` }) })))
  const warm = collect(spawnCli(warmArgs(media, out, ['--cache', redis.url, '--jobs', '2']), { env: ENV }))
  // Live traffic for the same thumbnails, in the opposite order, while warm runs.
  const queue = [...urls].reverse()
  const statuses: number[] = []
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const res = await fetch(job.url)
        statuses.push(res.status)
        const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata()
        t.is(meta.width, job.p.width)
      }
    }),
  )
  const r = await warm
  t.is(r.code, 0, r.stderr)
  const s = jsonSummary<Summary>(r)
  t.deepEqual([...new Set(statuses)], [200])
  t.is(s.done, 90)
  t.true(server.handler.stats.renders > 0 || s.present + s.waited > 0, 'the two ran concurrently or one after the other')
  t.log(`warm rendered ${s.rendered}, waited ${s.waited}, found ${s.present}; serve rendered ${server.handler.stats.renders}, waited ${server.handler.stats.waits}`)
  t.is(s.rendered + server.handler.stats.renders, 90, `warm rendered ${s.rendered}, serve rendered ${server.handler.stats.renders}`)
  t.is((await allFiles(out)).length, 90)
})

test('a wiped output tree is rendered again although the shared cache still holds its thumbnail records', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const { media, out } = await setup(t)
  const names = await makeTree(media, 6)
  const args = warmArgs(media, out, ['--cache', redis.url])
  t.like(jsonSummary<Summary>(await runCli(args, { env: ENV })), { rendered: 12, failed: 0 })
  await rm(out, { recursive: true })
  await rm(`${out}.variants`, { recursive: true })
  const again = await runCli(args, { env: ENV })
  t.is(again.code, 0, again.stderr)
  t.like(jsonSummary<Summary>(again), { rendered: 12, present: 0 })
  for (const name of names) for (const p of PRESETS) t.is((await sharp(outputFile(out, name, p)).metadata()).width, p.width)
})

test('warm reads source names from stdin and presets from a file, and reports names the server would refuse', async (t) => {
  const { dir, media, out } = await setup(t)
  const names = await makeTree(media, 3)
  const presetFile = path.join(dir, 'presets.txt')
  await writeFile(presetFile, `# the two sizes of the gallery\n${PRESETS[0].text}\n\n${PRESETS[1].text}  # hero\n`)
  const child = spawnCli(['warm', '--source-root', media, '--output-root', out, '--list', '-', '--preset-file', presetFile, '--json'], { env: ENV, stdin: true })
  const done = collect(child)
  child.stdin!.end(`${names[0]}\n# a comment\n\n../outside.jpg\n${names[2]}\nmissing.jpg\n`)
  const r = await done
  t.is(r.code, 1)
  const s = jsonSummary<Summary>(r)
  t.like(s, { listed: 8, rendered: 4, failed: 4 })
  t.regex(r.stderr, /failed: \.\.\/outside\.jpg 40x30:crop:\.jpg: ERR_PATH_TRAVERSAL: /)
  t.regex(r.stderr, /failed: missing\.jpg 50x0:scale:\.webp: ERR_SOURCE_NOT_FOUND: /)
  for (const name of [names[0], names[2]]) for (const p of PRESETS) t.is((await sharp(outputFile(out, name, p)).metadata()).width, p.width)
  await t.throwsAsync(stat(outputFile(out, names[1], PRESETS[0])), { code: 'ENOENT' })
})

test('bad presets and options are refused before any work with their typed errors', async (t) => {
  const { media, out } = await setup(t)
  await makeTree(media, 2)
  const bad = await runCli(['warm', '--source-root', media, '--output-root', out, '--preset', '100x100:fill:.jpg'], { env: ENV })
  t.is(bad.code, 1)
  t.regex(bad.stderr, /^error: ERR_INVALID_PRESET: Invalid preset "100x100:fill:\.jpg": Expected one of crop, scale, smart for method but received "fill" of type string$/m)
  const none = await runCli(['warm', '--source-root', media, '--output-root', out], { env: ENV })
  t.regex(none.stderr, /^error: ERR_INVALID_PRESET: Expected at least one --preset/m)
  const status = await runCli(['warm', '--status'], { env: ENV })
  t.regex(status.stderr, /^error: ERR_INVALID_OPTION: Expected --queue redis:\/\/… with --status/m)
  const jobs = await runCli(['warm', '--preset', '10x10', '--jobs', '0'], { env: ENV })
  t.regex(jobs.stderr, /^error: ERR_INVALID_OPTION: Expected positive integer for --jobs but received 0 of type number$/m)
  const missing = await runCli(['warm', '--source-root', path.join(media, 'nope'), '--output-root', out, '--preset', '10x10'], { env: ENV })
  t.is(missing.code, 1)
  t.regex(missing.stderr, /^error: ERR_SOURCE_LIST: Cannot read the source folder .*nope: ENOENT/m)
  t.deepEqual(await allFiles(out), [])
})

test('warm renders from an HTTP origin, reading the origin listing of source URLs', async (t) => {
  const { media, out } = await setup(t)
  const names = await makeTree(media, 4)
  // The origin: the media folder over HTTP, plus a listing of absolute source URLs.
  const origin = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/listing.txt') {
      res.end(names.map((n) => `${base}/media/${n.split('/').map(encodeURIComponent).join('/')}`).join('\n') + '\n')
      return
    }
    const file = path.join(media, ...decodeURIComponent(url.pathname.replace(/^\/media\//, '')).split('/'))
    try {
      res.end(await readFile(file))
    } catch {
      res.statusCode = 404
      res.end()
    }
  })
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => origin.close(() => resolve())))
  const base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
  const args = ['warm', '--source-url', `${base}/media/`, '--source-allow-private', '--output-root', out, '--list', `${base}/listing.txt`]
  const r = await runCli([...args, ...PRESETS.flatMap((p) => ['--preset', p.text]), '--json'], { env: ENV })
  t.is(r.code, 0, r.stderr)
  t.like(jsonSummary<Summary>(r), { listed: 8, rendered: 8, failed: 0 })
  for (const name of names) for (const p of PRESETS) t.is((await sharp(outputFile(out, name, p)).metadata()).width, p.width)
})
