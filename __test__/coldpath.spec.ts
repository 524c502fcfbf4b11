/*
 * The cold path of the thumbnail server: what one render of a new thumbnail costs in filesystem
 * calls besides the native pipeline itself. The native side reads and writes its own files, so
 * only calls made from JavaScript are counted, by wrapping the `fs` functions.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test from 'ava'
import sharp from 'sharp'

import { MemoryCache } from '../ts/cache/memory.js'
import { createThumbnailHandler } from '../ts/server/handler.js'
import { etagFor } from '../ts/server/responses.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 'coldpath-spec-key'
const ROTATED_KEY = 'coldpath-spec-rotated-key'
const signer = new Signer({ keys: [KEY] })
const rotated = new Signer({ keys: [ROTATED_KEY] })

const ASYNC = ['lstat', 'stat', 'realpath', 'open', 'read', 'fstat', 'close', 'mkdir', 'link', 'rename', 'readFile', 'writeFile', 'copyFile', 'unlink', 'readdir', 'access']
const SYNC = ['lstatSync', 'statSync', 'realpathSync', 'existsSync', 'openSync', 'readSync', 'fstatSync', 'readFileSync', 'mkdirSync', 'readdirSync', 'accessSync', 'linkSync', 'writeFileSync']

/* Wraps the fs functions (callback, promise and sync forms) with counters until `stop()`. */
function countFsCalls() {
  const calls: string[] = []
  const restore: (() => void)[] = []
  const wrap = (owner: Record<string, unknown>, name: string, label: string) => {
    const original = owner[name] as ((...args: unknown[]) => unknown) | undefined
    if (typeof original !== 'function') return
    const wrapped = Object.assign(function (this: unknown, ...args: unknown[]) {
      calls.push(label)
      return original.apply(this, args)
    }, original)
    owner[name] = wrapped
    restore.push(() => {
      owner[name] = original
    })
  }
  for (const name of ASYNC) {
    wrap(fs as unknown as Record<string, unknown>, name, `cb:${name}`)
    wrap(fs.promises as unknown as Record<string, unknown>, name, `promise:${name}`)
  }
  for (const name of SYNC) wrap(fs as unknown as Record<string, unknown>, name, `sync:${name}`)
  wrap(fs.realpathSync as unknown as Record<string, unknown>, 'native', 'sync:realpathSync.native')
  // Named ESM imports of node:fs see the wrappers only after this.
  syncBuiltinESMExports()
  return {
    calls,
    stop() {
      for (const r of restore) r()
      syncBuiltinESMExports()
    },
  }
}

async function rig(t: { teardown(fn: () => Promise<void> | void): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'restthumbs-coldpath-'))
  const sources = path.join(dir, 'media')
  const outputs = path.join(dir, 'thumbnails')
  await mkdir(sources)
  await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(sources, 'sunset.jpg'))
  const handler = createThumbnailHandler({
    keys: [KEY, ROTATED_KEY],
    sourceRoot: sources,
    outputRoot: outputs,
    cache: new MemoryCache({ location: `coldpath-${randomUUID()}`, timeout: null, maxEntries: 10_000 }),
    logger: { error: () => undefined },
  })
  const server = createServer((req, res) => handler(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  t.teardown(async () => {
    await new Promise<void>((r) => server.close(() => r()))
    await handler.close()
    await rm(dir, { recursive: true, force: true })
    await rm(`${outputs}.variants`, { recursive: true, force: true })
  })
  const get = async (size: string, by = signer) => {
    const url = thumbnailUrl('sunset.jpg', size, 'crop', '.jpg', { signer: by, baseUrl: '/thumbnails' })
    const res = await fetch(`http://127.0.0.1:${port}${url}`)
    return { res, body: Buffer.from(await res.arrayBuffer()), file: path.join(outputs, url.slice('/thumbnails/'.length)) }
  }
  return { handler, get, outputs }
}

// Lets the variant bookkeeping, which does not delay the response, finish.
const settle = () => new Promise((r) => setTimeout(r, 100))

test.serial('a cold render makes no synchronous filesystem call and at most nine thread-pool calls from JavaScript', async (t) => {
  const { handler, get } = await rig(t)
  // Earlier renders of the same source: its folders are now known, as on a running server.
  t.is((await get('40x30')).res.status, 200)
  t.is((await get('40x31')).res.status, 200)
  await settle()
  const counter = countFsCalls()
  let result
  try {
    result = await get('64x48')
    await settle()
  } finally {
    counter.stop()
  }
  t.is(result.res.status, 200)
  t.is(handler.stats.renders, 3)
  const meta = await sharp(result.body).metadata()
  t.is(meta.width, 64)
  t.is(meta.height, 48)
  const sync = counter.calls.filter((c) => c.startsWith('sync:'))
  t.deepEqual(sync, [], 'sync fs blocks the event loop')
  /* Expected: lstat of the output folder and of the source (side by side), the mkdir of the new
     size's folder, then after the render the rename of the temp file (written in the output
     root's temp folder, outside the served tree) into place, open + read + fstat + close to
     answer, and one link for the variant. The mkdir used to happen inside the native writer,
     which wrote its temp beside the thumbnail, where a crash left it to be served. The seed of
     this server made over twenty, plus about a hundred synchronous lstat calls. */
  const pool = counter.calls.filter((c) => !c.startsWith('sync:'))
  t.true(pool.length <= 9, `thread-pool fs calls: ${pool.join(', ')}`)
  t.is(pool.filter((c) => c.endsWith(':mkdir')).length, 1, `one mkdir, for the new folder: ${pool.join(', ')}`)
  t.is(pool.filter((c) => c.endsWith(':realpath')).length, 0, `no realpath for a known folder: ${pool.join(', ')}`)
})

test.serial('the response to a cold render carries the validators of the file on disk', async (t) => {
  const { get } = await rig(t)
  const first = await get('50x50')
  t.is(first.res.status, 200)
  const st = await stat(first.file)
  t.is(first.res.headers.get('etag'), etagFor(st.size, st.mtimeMs))
  t.is(Number(first.res.headers.get('content-length')), st.size)
  t.is(first.body.length, st.size)
  t.is(first.res.headers.get('last-modified'), new Date(st.mtimeMs).toUTCString())
  const meta = await sharp(first.body).metadata()
  t.is(meta.width, 50)
  t.is(meta.height, 50)
})

test.serial('a new secret for a rendered thumbnail is answered by a link to its variant, not a render', async (t) => {
  const { handler, get } = await rig(t)
  const first = await get('60x40')
  t.is(first.res.status, 200)
  await settle()
  const counter = countFsCalls()
  let second
  try {
    second = await get('60x40', rotated)
  } finally {
    counter.stop()
  }
  t.is(second.res.status, 200)
  t.not(second.file, first.file, 'another key names another file')
  t.is(handler.stats.renders, 1)
  t.is((await stat(second.file)).ino, (await stat(first.file)).ino)
  t.deepEqual(second.body, first.body)
  t.true(counter.calls.some((c) => c.endsWith(':link')), counter.calls.join(', '))
})
