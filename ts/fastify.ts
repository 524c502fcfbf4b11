/**
 * A Fastify plugin that serves signed thumbnail URLs (`restthumbs/fastify`):
 *
 * ```js
 * import Fastify from 'fastify'
 * import restthumbs from 'restthumbs/fastify'
 *
 * const app = Fastify()
 * await app.register(restthumbs, { keys: ['change-me'], sourceRoot: 'media', outputRoot: 'thumbnails' })
 * ```
 *
 * The plugin is encapsulated (made with `fastify-plugin`, `encapsulate: true`): it adds one GET
 * route (`<basePath>*`, with the HEAD route Fastify adds for it), decorates only its own context
 * with `restthumbs` (the handler, for its `stats`), and closes the handler's connections in an
 * `onClose` hook. The handler writes the response itself (a file stream, or an
 * `X-Accel-Redirect`/`X-Sendfile` header), so the route takes over the reply for Fastify.
 * @module
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

import { createThumbnailHandler, type ThumbnailHandler, type ThumbnailHandlerOptions } from './index.js'

/**
 * Options of the plugin: the settings of {@link createThumbnailHandler}. Mount the route with
 * `basePath` (default `/thumbnails/`), not with Fastify's `prefix`, because the handler checks
 * signatures against the full request path.
 */
export type RestthumbsFastifyOptions = ThumbnailHandlerOptions

declare module 'fastify' {
  interface FastifyInstance {
    /** The thumbnail handler of the restthumbs plugin (inside the plugin's context). */
    restthumbs: ThumbnailHandler
  }
}

/**
 * Registers the thumbnail route.
 * @param fastify - the (encapsulated) instance
 * @param options - see {@link RestthumbsFastifyOptions}
 */
async function plugin(fastify: FastifyInstance, options: RestthumbsFastifyOptions): Promise<void> {
  const handler = createThumbnailHandler(options)
  fastify.decorate('restthumbs', handler)
  fastify.addHook('onClose', async () => handler.close())
  fastify.get(`${handler.config.basePath}*`, (request, reply) => {
    reply.hijack()
    const res = reply.raw
    handler(request.raw, res, (err?: unknown) => {
      // Under basePath but not a thumbnail URL (the handler's `next`): answer as Fastify would.
      if (err) request.log.error({ err }, 'restthumbs handler failed')
      if (!res.headersSent) res.writeHead(err ? 500 : 404, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(err ? 'Internal server error' : 'Not found')
    })
  })
}

/** The restthumbs Fastify plugin (Fastify 5). */
export const restthumbsFastify: FastifyPluginAsync<RestthumbsFastifyOptions> = fp(plugin, {
  fastify: '5.x',
  name: 'restthumbs',
  encapsulate: true,
})

export default restthumbsFastify
