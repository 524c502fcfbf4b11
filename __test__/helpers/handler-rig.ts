/**
 * A thumbnail handler on a real node:http server over a fresh source and output folder, for the
 * handler specs, plus small request helpers.
 */
import { randomUUID } from 'node:crypto'
import { copyFile, mkdir } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { MemoryCache } from '../../ts/cache/memory.js'
import { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions } from '../../ts/server/handler.js'
import { Signer } from '../../ts/server/signing.js'
import { HttpSourceStorage, type HttpSourceStorageOptions } from '../../ts/server/storage/http-source.js'
import { thumbnailUrl } from '../../ts/server/url-builder.js'
import { makeTempDir, removeDir, type Teardown } from './tmp.js'

/** The sample images. */
export const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'media')
/** The signing key of every rig. */
export const KEY = 'handler-spec-key'
/** A signer with {@link KEY}. */
export const signer = new Signer({ keys: [KEY] })
/** The signed path of a thumbnail under `/thumbnails`. */
export const sign = (source: string, size: string, method: string, ext: string) =>
  thumbnailUrl(source, size, method, ext, { signer, baseUrl: '/thumbnails' })

/** A running handler and where its files are. */
export interface Rig {
  url: string
  handler: ThumbnailHandler
  dir: string
  sources: string
  outputs: string
  server: Server
  close(): Promise<void>
}

/**
 * Starts a handler (memory cache, `sunset.jpg` and `rings.png` as sources) on a free port; it is
 * closed, and its folder removed, when the test ends.
 * @param t - the ava test
 * @param options - handler options over the rig's
 * @param wrap - wraps the handler (Express-style mounting)
 */
export async function rig(
  t: Teardown,
  options: ThumbnailHandlerOptions = {},
  wrap?: (h: ThumbnailHandler) => (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Rig> {
  const dir = await makeTempDir('handler')
  const sources = path.join(dir, 'media')
  const outputs = path.join(dir, 'thumbnails')
  await mkdir(sources)
  for (const f of ['sunset.jpg', 'rings.png']) await copyFile(path.join(MEDIA, f), path.join(sources, f))
  const handler = createThumbnailHandler({
    keys: [KEY],
    sourceRoot: sources,
    outputRoot: outputs,
    cache: new MemoryCache({ location: `handler-${randomUUID()}`, timeout: null, maxEntries: 10_000 }),
    logger: { error: () => undefined },
    ...options,
  })
  const server = createServer(wrap ? wrap(handler) : (req, res) => handler(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  let closing: Promise<void> | undefined
  const started: Rig = {
    url: `http://127.0.0.1:${port}`,
    handler,
    dir,
    sources,
    outputs,
    server,
    close() {
      // Idempotent: a test may close early (before stopping what the handler talks to), and the
      // teardown closes again.
      closing ??= (async () => {
        await new Promise<void>((r) => {
          server.close(() => r())
          server.closeAllConnections()
        })
        await handler.close()
        await removeDir(dir)
      })()
      return closing
    },
  }
  t.teardown(() => started.close())
  return started
}

/** GET without client-side URL normalisation (fetch would resolve `%2e%2e` before sending). */
export function rawGet(base: string, pathname: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + '/', { path: pathname }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** fetch, with the body read as bytes and text. */
export async function get(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init)
  const body = Buffer.from(await res.arrayBuffer())
  return { res, body, text: body.toString('utf8') }
}

/**
 * An HTTP origin on a free loopback port and the source storage that reads from it (private
 * addresses allowed: it is loopback); both are closed when the test ends.
 * @param t - the ava test
 * @param listener - answers the origin's requests
 * @param options - more storage options (timeouts)
 */
export async function remoteSource(
  t: Teardown,
  listener: RequestListener,
  options: Partial<HttpSourceStorageOptions> = {},
): Promise<HttpSourceStorage> {
  const origin = createServer(listener)
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const { port } = origin.address() as { port: number }
  const source = new HttpSourceStorage({ ...options, baseUrl: `http://127.0.0.1:${port}/`, allowPrivate: true })
  t.teardown(async () => {
    await source.close()
    origin.closeAllConnections()
    await new Promise((r) => origin.close(r))
  })
  return source
}
