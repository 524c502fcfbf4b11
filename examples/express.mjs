// Mounting the handler in Express (npm install express). It calls next() for anything that is
// not a thumbnail URL, so it can sit in front of your routes.
//   RESTTHUMBS_KEYS=change-me node examples/express.mjs
import express from 'express'
import { createThumbnailHandler, Signer, thumbnailUrl } from 'restthumbs'

const keys = (process.env.RESTTHUMBS_KEYS ?? 'change-me').split(',')
const signer = new Signer({ keys })
const port = Number(process.env.PORT ?? 3000)
const app = express()

app.use(createThumbnailHandler({ keys, basePath: '/thumbnails/', sourceRoot: 'media', outputRoot: 'thumbnails', maxAge: 604800 }))

app.get('/', (req, res) => {
  const src = thumbnailUrl('sunset.jpg', '200x', 'scale', '.webp', { signer, baseUrl: '/thumbnails' })
  res.send(`<img src="${src}">`)
})

app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/`))
