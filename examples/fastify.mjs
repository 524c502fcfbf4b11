// Fastify (npm install fastify): hand the raw request/response to the handler and tell Fastify
// not to send a reply of its own.
import Fastify from 'fastify'

import { createThumbnailHandler } from '../dist/index.js'

const thumbnails = createThumbnailHandler({
  keys: [process.env.RESTTHUMBS_KEY ?? 'change-me'],
  sourceRoot: 'media',
  outputRoot: 'thumbnails',
  // Several Fastify processes behind a balancer share one Redis for the render lock.
  cache: process.env.REDIS_URL ?? 'memory',
})

const app = Fastify({ logger: true })
// Fastify exposes a HEAD route for every GET route, so HEAD reaches the handler too.
app.get('/thumbnails/*', (request, reply) => {
  reply.hijack()
  thumbnails(request.raw, reply.raw)
})

await app.listen({ port: Number(process.env.PORT ?? 3000) })
