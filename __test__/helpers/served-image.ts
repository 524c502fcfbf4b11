/** An assertion shared by the specs that fetch thumbnails over HTTP. */
import type { ExecutionContext } from 'ava'
import sharp, { type FormatEnum } from 'sharp'

/**
 * Asserts that a response carries the default one-day public caching and that its body decodes
 * to `format` at exactly `width` x `height`.
 */
export async function assertServedImage(t: ExecutionContext, res: Response, body: Buffer, format: keyof FormatEnum, width: number, height: number): Promise<void> {
  t.is(res.headers.get('cache-control'), 'public, max-age=86400')
  const meta = await sharp(body).metadata()
  t.is(meta.format, format)
  t.is(meta.width, width)
  t.is(meta.height, height)
}
