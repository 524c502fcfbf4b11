/**
 * The `redirect` response mode: a `302` to the thumbnail's public URL (a CDN or the bucket's
 * website endpoint), so the bytes never pass through Node. The public URL has the same path as
 * the thumbnail URL after the base path, which is also the object key.
 * @module
 */
import type { ServerResponse } from 'node:http'

import { encodePath, type RespondOptions, type ThumbnailFile } from './responses.js'

/**
 * Answers `302 Found` with `Location: <publicBase><outputPath>`. The redirect itself may be cached
 * as long as the thumbnail (it never changes for a given URL).
 * @param publicBase - public base URL ending in `/`
 * @returns the status sent
 */
export function sendRedirect(res: ServerResponse, file: ThumbnailFile, publicBase: string, options: RespondOptions): number {
  const base = publicBase.endsWith('/') ? publicBase : publicBase + '/'
  res.writeHead(302, {
    Location: base + encodePath(file.outputPath),
    'Cache-Control': `public, max-age=${options.maxAge}`,
    'Content-Length': 0,
  })
  res.end()
  return 302
}
