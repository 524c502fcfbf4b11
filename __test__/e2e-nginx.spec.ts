import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import test, { type ExecutionContext } from 'ava'
import sharp from 'sharp'

import { FORMATS } from '../ts/image/options.js'
import { createServer } from '../ts/server/server.js'
import { Signer } from '../ts/server/signing.js'
import { thumbnailUrl } from '../ts/server/url-builder.js'
import { startNginx } from './helpers/nginx.js'
import { tempDir } from './helpers/tmp.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'media')
const KEY = 'e2e-nginx-key'

/**
 * A temp folder with `names` (copies of sunset.jpg) as sources, the handler in nginx mode on it
 * and nginx in front; the caller stops both.
 */
async function serveThroughNginx(t: ExecutionContext, label: string, names: string[], negotiate?: ('avif' | 'webp')[]) {
  const dir = await tempDir(t, label)
  // nginx workers drop privileges (to nobody when started as root) and must read the thumbnails.
  await chmod(dir, 0o755)
  const sources = path.join(dir, 'media')
  const outputs = path.join(dir, 'thumbnails')
  await mkdir(sources)
  for (const name of names) await copyFile(path.join(MEDIA, 'sunset.jpg'), path.join(sources, name))
  const server = createServer({
    keys: [KEY],
    port: 0,
    sourceRoot: sources,
    outputRoot: outputs,
    responseMode: 'nginx',
    ...(negotiate ? { negotiate } : {}),
    accessLog: false,
  })
  const backend = new URL(await server.start())
  const nginx = await startNginx({
    backend: backend.host,
    basePath: server.handler.config.basePath,
    sendfileBase: server.handler.config.sendfileBase,
    outputRoot: outputs,
    ...(negotiate ? { negotiate: server.handler.config.negotiate } : {}),
  }).catch(async (err: unknown) => {
    await server.stop()
    throw err
  })
  return { server, nginx, outputs }
}

test('nginx forwards a miss to the handler, sends the file via X-Accel-Redirect, then serves it alone', async (t) => {
  const { server, nginx } = await serveThroughNginx(t, 'e2e', ['sunset.jpg', 'my sunset.jpg'])
  try {
    const signer = new Signer({ keys: [KEY] })
    for (const source of ['sunset.jpg', 'my sunset.jpg']) {
      const url = nginx.url + thumbnailUrl(source, '160x120', 'smart', '.jpg', { signer, baseUrl: '/thumbnails' })
      const before = server.handler.stats.requests
      const first = await fetch(url)
      const firstBody = Buffer.from(await first.arrayBuffer())
      t.is(first.status, 200, source)
      t.is(first.headers.get('content-type'), 'image/jpeg', 'nginx sets the type from the extension')
      t.is(first.headers.get('x-accel-redirect'), null, 'the internal header never reaches the client')
      t.is(Number(first.headers.get('content-length')), firstBody.length)
      const meta = await sharp(firstBody).metadata()
      t.is(meta.format, 'jpeg')
      t.is(meta.width, 160)
      t.is(meta.height, 120)
      t.is(server.handler.stats.requests, before + 1, 'the miss went to the handler')
      t.is(server.handler.stats.renders > 0, true)

      const second = await fetch(url)
      const secondBody = Buffer.from(await second.arrayBuffer())
      t.is(second.status, 200)
      t.deepEqual(secondBody, firstBody)
      t.is(server.handler.stats.requests, before + 1, 'the hit never reached Node')
      t.is(second.headers.get('cache-control'), 'public, max-age=86400')
      t.truthy(second.headers.get('etag'))
    }

    // The internal location is not reachable from outside, and bad URLs still get the app's answer.
    const internal = await fetch(nginx.url + server.handler.config.sendfileBase + 'sunset.jpg')
    await internal.arrayBuffer()
    t.is(internal.status, 404)
    const unsigned = await fetch(nginx.url + '/thumbnails/sunset.jpg/160x120/smart/forged.jpg')
    t.is(unsigned.status, 401)
    t.is(await unsigned.text(), 'Invalid signature\n')
  } finally {
    await nginx.stop()
    await server.stop()
  }
})

// AVIF switches on by itself once the native encoder lists it; until then the AVIF request must
// come back as the URL's own format, and the title says so.
const AVIF = (FORMATS as readonly string[]).includes('avif')

test(
  AVIF
    ? 'nginx serves the AVIF, WebP or JPEG variant of one signed .jpg URL by Accept, each rendered once by the handler'
    : 'nginx serves the WebP or JPEG variant of one signed .jpg URL by Accept, and image/avif falls back to JPEG (this build has no AVIF encoder)',
  async (t) => {
    const { server, nginx, outputs } = await serveThroughNginx(t, 'e2e-negotiate', ['sunset.jpg'], ['avif', 'webp'])
    try {
      const signer = new Signer({ keys: [KEY] })
      const path_ = thumbnailUrl('sunset.jpg', '160x120', 'crop', '.jpg', { signer, baseUrl: '/thumbnails' })
      const url = nginx.url + path_
      const stored = path.join(outputs, path_.slice('/thumbnails/'.length))
      // [Accept, expected type, sharp's name of the format, the stored file]
      const cases: [string, string, string, string][] = [
        AVIF ? ['image/avif', 'image/avif', 'heif', stored + '.avif'] : ['image/avif', 'image/jpeg', 'jpeg', stored],
        ['image/webp,image/*,*/*;q=0.8', 'image/webp', 'webp', stored + '.webp'],
        ['image/*,*/*;q=0.8', 'image/jpeg', 'jpeg', stored],
      ]
      const rendered = new Set<string>()
      for (const [accept, type, format, file] of cases) {
        const before = server.handler.stats.requests
        const first = await fetch(url, { headers: { Accept: accept } })
        const body = Buffer.from(await first.arrayBuffer())
        t.is(first.status, 200, accept)
        t.is(first.headers.get('content-type'), type, accept)
        t.is(first.headers.get('vary'), 'Accept', accept)
        t.is(first.headers.get('x-accel-redirect'), null)
        const meta = await sharp(body).metadata()
        t.is(meta.format as string, format, accept)
        if (format === 'heif') t.is(meta.compression, 'av1')
        t.is(meta.width, 160)
        t.is(meta.height, 120)
        t.deepEqual(await readFile(file), body, `${accept}: the bytes come from ${path.basename(file)}`)
        const miss = !rendered.has(file)
        t.is(server.handler.stats.requests, before + (miss ? 1 : 0), miss ? `${accept}: the miss went to the handler` : `${accept}: already on disk`)
        rendered.add(file)

        const second = await fetch(url, { headers: { Accept: accept } })
        const again = Buffer.from(await second.arrayBuffer())
        t.deepEqual(again, body, accept)
        t.is(second.headers.get('content-type'), type, accept)
        t.is(second.headers.get('vary'), 'Accept', accept)
        t.is(second.headers.get('cache-control'), 'public, max-age=86400')
        t.is(server.handler.stats.requests, before + (miss ? 1 : 0), `${accept}: the second request never reached Node`)
        const notModified = await fetch(url, { headers: { Accept: accept, 'If-None-Match': second.headers.get('etag')! } })
        await notModified.arrayBuffer()
        t.is(notModified.status, 304)
        t.is(notModified.headers.get('vary'), 'Accept')
      }
      t.is(server.handler.stats.renders, rendered.size)

      // q=0 refuses WebP at nginx as in the app, though the WebP file exists.
      const before = server.handler.stats.requests
      const refused = await fetch(url, { headers: { Accept: 'image/webp;q=0, */*' } })
      t.is((await sharp(Buffer.from(await refused.arrayBuffer())).metadata()).format, 'jpeg')
      t.is(refused.headers.get('content-type'), 'image/jpeg')
      t.is(server.handler.stats.requests, before)
      // A .webp URL is not negotiated and does not vary; errors of a .jpg URL vary.
      const webpUrl = await fetch(nginx.url + thumbnailUrl('sunset.jpg', '32x32', 'crop', '.webp', { signer, baseUrl: '/thumbnails' }))
      await webpUrl.arrayBuffer()
      t.is(webpUrl.headers.get('content-type'), 'image/webp')
      t.is(webpUrl.headers.get('vary'), null)
      const forged = await fetch(nginx.url + '/thumbnails/sunset.jpg/160x120/crop/forged.jpg', { headers: { Accept: 'image/webp' } })
      t.is(forged.status, 401)
      t.is(forged.headers.get('vary'), 'Accept')
      await forged.arrayBuffer()
    } finally {
      await nginx.stop()
      await server.stop()
    }
  },
)

test('nginx refuses a planted output symlink that leads outside, and never serves the temp folder', async (t) => {
  const { server, nginx, outputs } = await serveThroughNginx(t, 'e2e-symlink', ['sunset.jpg'])
  const outside = path.join(path.dirname(outputs), 'outside')
  await mkdir(outside)
  await writeFile(path.join(outside, 'secret.jpg'), 'SECRET-OUTSIDE-THE-ROOT')
  await chmod(path.join(outside, 'secret.jpg'), 0o644)
  t.teardown(async () => {
    await nginx.stop()
    await server.stop()
  })
  const signer = new Signer({ keys: [KEY] })
  const url = thumbnailUrl('sunset.jpg', '80x60', 'crop', '.jpg', { signer, baseUrl: '/thumbnails' })
  const file = path.join(outputs, decodeURIComponent(url.slice('/thumbnails/'.length)))
  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 })
  await symlink(path.join(outside, 'secret.jpg'), file)
  const planted = await fetch(nginx.url + url)
  const body = await planted.text()
  t.not(planted.status, 200, 'nginx did not follow the symlink')
  t.false(body.includes('SECRET-OUTSIDE-THE-ROOT'))
  t.is(planted.status, 400, 'the miss went to the app, which refuses the escape')

  // A temp file in the output root's temp folder is never served, whatever its name.
  await mkdir(path.join(outputs, '.restthumbs-tmp'), { recursive: true, mode: 0o755 })
  await writeFile(path.join(outputs, '.restthumbs-tmp', 'half.jpg'), 'HALF-WRITTEN')
  await chmod(path.join(outputs, '.restthumbs-tmp'), 0o755)
  await chmod(path.join(outputs, '.restthumbs-tmp', 'half.jpg'), 0o644)
  const temp = await fetch(`${nginx.url}/thumbnails/.restthumbs-tmp/half.jpg`)
  t.is(temp.status, 404)
  t.false((await temp.text()).includes('HALF-WRITTEN'))
})
