import { readFile } from 'node:fs/promises'
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

import test from 'ava'
import sharp from 'sharp'

import { settingOptions } from '../ts/cli/flags.js'
import { configFromEnv, resolveConfig } from '../ts/server/config.js'
import { freePort } from './helpers/process.js'
import { get, MEDIA, rig, sign } from './helpers/handler-rig.js'

async function listen(t: { teardown(fn: () => unknown): void }, listener: RequestListener) {
  const server = createServer(listener)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((r) => server.close(r))
  })
  return (server.address() as AddressInfo).port
}

test('every origin failure answers the same 502, so status codes reveal nothing about other ports', async (t) => {
  const jpeg = await readFile(path.join(MEDIA, 'sunset.jpg'))
  const seenByOther: string[] = []
  const other = await listen(t, (req, res) => {
    seenByOther.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg)
  })
  const closed = await freePort()
  const origin = await listen(t, (req, res) => {
    if (req.url === '/open.jpg') res.writeHead(302, { location: `http://127.1:${other}/x.jpg` }).end()
    else if (req.url === '/closed.jpg') res.writeHead(302, { location: `http://127.0.0.1:${closed}/x.jpg` }).end()
    else if (req.url === '/boom.jpg') res.writeHead(500).end('stack trace')
    else if (req.url === '/teapot.jpg') res.writeHead(418).end()
    else if (req.url === '/ok.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg)
    else res.writeHead(404).end()
  })
  const r = await rig(t, { sourceUrl: `http://127.0.0.1:${origin}/`, sourceAllowPrivate: true })
  const answers = []
  for (const name of ['open.jpg', 'closed.jpg', 'boom.jpg', 'teapot.jpg']) {
    const res = await get(r.url + sign(name, '32x32', 'crop', '.jpg'))
    answers.push({ status: res.res.status, text: res.text, cacheControl: res.res.headers.get('cache-control') })
  }
  for (const a of answers) t.deepEqual(a, answers[0])
  t.is(answers[0].status, 502)
  t.is(answers[0].text, 'Bad gateway (ERR_ORIGIN)\n')
  t.deepEqual(seenByOther, [], 'the redirect to another port was never followed')
  const ok = await get(r.url + sign('ok.jpg', '32x32', 'crop', '.jpg'))
  t.is(ok.res.status, 200)
  t.is((await sharp(ok.body).metadata()).width, 32)
})

test('allowedHosts in the server config lets a redirect reach a listed origin', async (t) => {
  const jpeg = await readFile(path.join(MEDIA, 'sunset.jpg'))
  const other = await listen(t, (_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg))
  const origin = await listen(t, (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${other}/x.jpg` }).end())
  const r = await rig(t, { sourceUrl: `http://127.0.0.1:${origin}/`, sourceAllowPrivate: true, allowedHosts: [`127.0.0.1:${other}`] })
  const res = await get(r.url + sign('a.jpg', '24x24', 'crop', '.jpg'))
  t.is(res.res.status, 200)
  t.is((await sharp(res.body).metadata()).height, 24)
})

test('allowedHosts is read from RESTTHUMBS_ALLOWED_HOSTS and validated as a list', (t) => {
  t.deepEqual(configFromEnv({ RESTTHUMBS_ALLOWED_HOSTS: 'cdn.example.com, https://img.example.com:8443 ,*.media.example.com' }).allowedHosts, [
    'cdn.example.com',
    'https://img.example.com:8443',
    '*.media.example.com',
  ])
  t.deepEqual(resolveConfig({}).allowedHosts, [])
  t.throws(() => resolveConfig({ allowedHosts: 'cdn.example.com' as unknown as string[] }), { message: /allowedHosts/ })
})

test('the serve command takes --allowed-hosts as a comma-separated list', (t) => {
  const option = settingOptions().find((o) => o.long === '--allowed-hosts')
  t.truthy(option, 'the flag exists')
  t.regex(option!.description, /RESTTHUMBS_ALLOWED_HOSTS/)
  t.deepEqual(option!.parseArg!('a.example.com,b.example.com:8080', undefined), ['a.example.com', 'b.example.com:8080'])
})
