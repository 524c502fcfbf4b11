/**
 * A thumbnail handler on a real node:http server over a fresh source and output folder, for the
 * handler specs, plus small request helpers.
 */
import { randomUUID } from 'node:crypto'
import { copyFile, mkdir } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { MemoryCache } from '../../ts/cache/memory.js'
import { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions } from '../../ts/server/handler.js'
import { Signer } from '../../ts/server/signing.js'
import { thumbnailUrl } from '../../ts/server/url-builder.js'
import { makeTempDir, removeDir } from './tmp.js'

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
 * Starts a handler (memory cache, `sunset.jpg` and `rings.png` as sources) on a free port.
 * @param options - handler options over the rig's
 * @param wrap - wraps the handler (Express-style mounting)
 */
export async function rig(options: ThumbnailHandlerOptions = {}, wrap?: (h: ThumbnailHandler) => (req: IncomingMessage, res: ServerResponse) => void): Promise<Rig> {
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
  return {
    url: `http://127.0.0.1:${port}`,
    handler,
    dir,
    sources,
    outputs,
    server,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      })
      await handler.close()
      await removeDir(dir)
    },
  }
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
