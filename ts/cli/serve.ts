/**
 * `restthumbs serve`: runs the thumbnail server. The embedded default needs nothing: memory
 * cache, sources from `media/`, thumbnails written to `thumbnails/`, port 8080.
 * @module
 */
import { readdir } from 'node:fs/promises'

import type { ServerConfig } from '../server/config.js'
import { createServer, type ThumbnailServer } from '../server/server.js'
import { Signer } from '../server/signing.js'
import { thumbnailUrl } from '../server/url-builder.js'
import { cliSettings, DEV_KEY_WARNING } from './settings.js'

/** Options of the `serve` command (flags override config file and environment). */
export interface ServeCommandOptions extends Partial<ServerConfig> {
  /** JSON config file. */
  config?: string
}

const IMAGE = /\.(jpe?g|png|webp|gif|avif|tiff?)$/i

/**
 * Starts the server and prints where it listens plus a few example URLs.
 * @returns the running server
 */
export async function serveCommand(options: ServeCommandOptions): Promise<ThumbnailServer> {
  const { config: file, ...flags } = options
  const { config, devKey } = cliSettings(flags, file)
  if (devKey) process.stderr.write(DEV_KEY_WARNING + '\n')
  const server = createServer(config)
  const base = await server.start()
  process.stdout.write(
    `restthumbs listening on ${base}${config.basePath} (${config.responseMode} responses, cache ${config.cache.replace(/\/\/[^@/]*@/, '//***@')})\n`,
  )
  if (!config.sourceUrl) {
    const names = await readdir(config.sourceRoot).catch(() => [] as string[])
    const signer = new Signer({ keys: config.keys, legacy: config.legacySignatures ? 'restthumbnails' : undefined })
    const samples = names.filter((n) => IMAGE.test(n)).slice(0, 4)
    if (samples.length) process.stdout.write('try:\n')
    for (const name of samples) {
      const url = thumbnailUrl(name, '200x200', 'smart', '.jpg', { signer, baseUrl: base + config.basePath })
      process.stdout.write(`  ${url}\n`)
    }
  }
  const shutdown = () => {
    void server.stop().then(() => process.exit(0))
    setTimeout(() => process.exit(0), 5000).unref()
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  return server
}
