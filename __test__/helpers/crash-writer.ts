/**
 * A thumbnail server in its own process whose renders stop half way through writing the output
 * (real encoded bytes, half of them written, then the process waits to be killed). Forked by
 * the temp-file spec, which SIGKILLs it there: what a crash mid-write leaves on disk.
 * Settings come from `RESTTHUMBS_*` variables; reports `{ type: 'ready', url }`, then
 * `{ type: 'writing', path }` once half the file is on disk.
 */
import { open, readFile } from 'node:fs/promises'

import { thumbnail } from '../../ts/image/thumbnail.js'
import { resolveConfig } from '../../ts/server/config.js'
import type { RendererLike } from '../../ts/server/contracts.js'
import { nativeRenderer } from '../../ts/server/renderer.js'
import { createServer } from '../../ts/server/server.js'

const renderer: RendererLike = {
  thumbnail: nativeRenderer.thumbnail,
  async thumbnailFile(src, dst, options) {
    const out = await thumbnail(await readFile(src), { width: options.width, height: options.height, format: 'jpeg' })
    const file = await open(dst, 'wx')
    await file.write(out.data.subarray(0, out.data.length >> 1))
    await file.datasync()
    process.send!({ type: 'writing', path: dst })
    return new Promise(() => undefined)
  },
}

const config = resolveConfig({ port: 0, accessLog: false }, { env: process.env })
const server = createServer({ ...config, renderer })
process.send!({ type: 'ready', url: await server.start() })
