import { execFileSync } from 'node:child_process'
import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { get, MEDIA, rig, sign } from './helpers/handler-rig.js'
import { tempDir } from './helpers/tmp.js'

/** A 1 MiB tmpfs at a fresh folder, unmounted when the test ends (needs root, as in CI). */
async function tinyDisk(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = path.join(await tempDir(t, 'tmpfs'), 'disk')
  await mkdir(dir)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    throw new Error(`Could not mount a tmpfs (run the tests as root, or in a container with CAP_SYS_ADMIN): ${String((err as Error).message)}`)
  }
  t.teardown(() => execFileSync('umount', ['-l', dir]))
  return dir
}

/** Fills the filesystem of `dir` with one file; returns its path. */
async function fill(dir: string): Promise<string> {
  const file = path.join(dir, 'filler')
  const fh = await open(file, 'w')
  try {
    const block = Buffer.alloc(64 * 1024, 1)
    for (;;) await fh.write(block)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    await fh.close()
  }
  return file
}

test('a full disk answers 507 with Retry-After, logged once per episode', async (t) => {
  const outputs = await tinyDisk(t)
  const logged: unknown[] = []
  const r = await rig(t, { outputRoot: outputs, retryAfter: 5, logger: { error: (e) => logged.push(e) } })
  const filler = await fill(outputs)
  for (const size of ['300x200', '301x200', '302x200']) {
    const res = await get(r.url + sign('sunset.jpg', size, 'scale', '.jpg'))
    t.is(res.res.status, 507, size)
    t.is(res.res.headers.get('retry-after'), '5')
    t.is(res.text, 'Insufficient storage, retry later (ERR_STORAGE_FULL)\n')
  }
  t.is(logged.length, 1, 'one log line for the whole episode')
  t.is((logged[0] as { code?: string }).code, 'ERR_STORAGE_FULL')
  await rm(filler)
  const ok = await get(r.url + sign('sunset.jpg', '300x200', 'scale', '.jpg'))
  t.is(ok.res.status, 200)
  t.is((await sharp(ok.body).metadata()).width, 300)
  // A new episode is logged again.
  const again = await fill(outputs)
  t.is((await get(r.url + sign('sunset.jpg', '303x200', 'scale', '.jpg'))).res.status, 507)
  t.is(logged.length, 2)
  await rm(again)
})

test('a full disk on the remote-source path answers 507 too', async (t) => {
  const outputs = await tinyDisk(t)
  const jpeg = await readFile(path.join(MEDIA, 'sunset.jpg'))
  const origin = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg))
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => origin.close(() => r())))
  const r = await rig(t, {
    outputRoot: outputs,
    sourceUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`,
    sourceAllowPrivate: true,
  })
  await fill(outputs)
  const res = await get(r.url + sign('a.jpg', '300x200', 'scale', '.jpg'))
  t.is(res.res.status, 507)
  t.is(res.res.headers.get('retry-after'), '1')
})

test('an origin dripping bytes answers 504 when renderTimeout runs out, not 503', async (t) => {
  const origin = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg' })
    const timer = setInterval(() => res.write('x'), 200)
    res.on('close', () => clearInterval(timer))
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    origin.closeAllConnections()
    return new Promise<void>((r) => origin.close(() => r()))
  })
  const r = await rig(t, {
    sourceUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`,
    sourceAllowPrivate: true,
    renderTimeout: 1,
  })
  const started = Date.now()
  const res = await get(r.url + sign('slow.jpg', '40x40', 'crop', '.jpg'))
  const took = Date.now() - started
  t.is(res.res.status, 504)
  t.is(res.text, 'Origin timed out (ERR_ORIGIN_TIMEOUT)\n')
  t.true(took >= 900 && took < 5000, `answered after ${took} ms`)
})
