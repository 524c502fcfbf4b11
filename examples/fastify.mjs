// Fastify (npm install fastify): the restthumbs plugin adds the thumbnail route under basePath
// and closes its connections when Fastify closes.
//   RESTTHUMBS_KEYS=change-me node examples/fastify.mjs
import Fastify from 'fastify'
import { Signer, thumbnailUrl } from 'restthumbs'
import restthumbs from 'restthumbs/fastify'

const keys = (process.env.RESTTHUMBS_KEYS ?? 'change-me').split(',')
const port = Number(process.env.PORT ?? 3000)
const app = Fastify({ logger: process.env.LOG === '1' })

await app.register(restthumbs, {
  keys,
  sourceRoot: 'media',
  outputRoot: 'thumbnails',
  // Several Fastify processes behind a balancer share one Redis for the render lock.
  cache: process.env.REDIS_URL ?? 'memory',
})

app.get('/', async (request, reply) => {
  const src = thumbnailUrl('sunset.jpg', '200x', 'scale', '.webp', { signer: new Signer({ keys }), baseUrl: '/thumbnails' })
  return reply.type('text/html').send(`<img src="${src}">`)
})

await app.listen({ port, host: '127.0.0.1' })
console.log(`listening on http://127.0.0.1:${port}/`)
