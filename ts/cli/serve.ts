/**
 * `restthumbs serve`: runs the thumbnail server on every core. The embedded default needs
 * nothing: memory cache, sources from `media/`, thumbnails written to `thumbnails/`, port 8080.
 * @module
 */
import { readdir } from 'node:fs/promises'
import { availableParallelism } from 'node:os'

import type { ServerConfig } from '../server/config.js'
import { Signer } from '../server/signing.js'
import { thumbnailUrl } from '../server/url-builder.js'
import { type Primary, runPrimary } from './cluster.js'
import { DEV_KEY_WARNING, serveSettings } from './settings.js'

/** Options of the `serve` command (flags override config file and environment). */
export interface ServeCommandOptions extends Partial<ServerConfig> {
  /** JSON config file. */
  config?: string
}

const IMAGE = /\.(jpe?g|png|webp|gif|avif|tiff?)$/i

/**
 * Checks the settings, starts the workers and prints where they listen plus a few example URLs.
 * @returns the cluster primary
 */
export async function serveCommand(options: ServeCommandOptions): Promise<Primary> {
  const { config: file, ...flags } = options
  const { config, devKey } = serveSettings(flags, file, process.env, (m) => process.stderr.write(`warning: ${m}\n`))
  if (devKey) process.stderr.write(DEV_KEY_WARNING + '\n')
  const workers = config.workers || availableParallelism()
  if (workers > 1 && config.cache === 'memory') {
    process.stderr.write(
      'warning: cache is "memory", so each worker has its own render lock and a thumbnail requested on two workers at once may render twice; set cache to a redis:// URL to share the lock\n',
    )
  }
  let announce: (url: string) => void = () => undefined
  const listening = new Promise<string>((resolve) => (announce = resolve))
  const primary = runPrimary({ brief: { flags, file }, config, onListening: (url) => announce(url) }, workers)
  const base = await listening
  const metrics = config.metricsPort ? `, metrics on port ${config.metricsPort}` : config.metricsPath ? `, metrics at ${config.metricsPath}` : ''
  process.stdout.write(
    `restthumbs listening on ${base}${config.basePath} (${workers} worker${workers === 1 ? '' : 's'}, ${config.responseMode} responses, cache ${config.cache.replace(/\/\/[^@/]*@/, '//***@')}${metrics})\n`,
  )
  if (!config.sourceUrl && !config.sourceBucket) {
    const names = await readdir(config.sourceRoot).catch(() => [] as string[])
    const signer = new Signer({ keys: config.keys, legacy: config.legacySignatures ? 'restthumbnails' : undefined })
    const samples = names.filter((n) => IMAGE.test(n)).slice(0, 4)
    if (samples.length) process.stdout.write('try:\n')
    for (const name of samples) {
      const url = thumbnailUrl(name, '200x200', 'smart', '.jpg', { signer, baseUrl: base + config.basePath })
      process.stdout.write(`  ${url}\n`)
    }
  }
  return primary
}
