/**
 * `restthumbs url <source> <size> <method> <ext>`: prints a signed thumbnail URL.
 * @module
 */
import { Signer } from '../server/signing.js'
import { thumbnailUrl } from '../server/url-builder.js'
import { cliSettings, DEV_KEY_WARNING } from './settings.js'

/** Options of the `url` command. */
export interface UrlCommandOptions {
  /** JSON config file. */
  config?: string
  /** Prefix of the URL: a path or an absolute URL. */
  base?: string
}

/**
 * Builds the signed URL the server will accept for these settings.
 * @returns the URL
 */
export function urlCommand(source: string, size: string, method: string, ext: string, options: UrlCommandOptions): string {
  const { config, devKey } = cliSettings({}, options.config)
  if (devKey) process.stderr.write(DEV_KEY_WARNING + '\n')
  const signer = new Signer({ keys: config.keys, legacy: config.legacySignatures ? 'restthumbnails' : undefined })
  return thumbnailUrl(source, size, method, ext, { signer, baseUrl: options.base ?? config.basePath })
}
