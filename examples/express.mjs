// Mounting the handler in Express (npm install express). It calls next() for anything that is
// not a thumbnail URL, so it can sit in front of your routes.
import express from 'express'

import { createThumbnailHandler, Signer, thumbnailUrl } from '../dist/index.js'

const keys = [process.env.RESTTHUMBS_KEY ?? 'change-me']
const signer = new Signer({ keys })
const app = express()

app.use(createThumbnailHandler({ keys, basePath: '/thumbnails/', sourceRoot: 'media', outputRoot: 'thumbnails', maxAge: 604800 }))

app.get('/', (req, res) => {
  const src = thumbnailUrl('mandelbrot.jpg', '200x', 'scale', '.webp', { signer, baseUrl: '/thumbnails' })
  res.send(`<img src="${src}">`)
})

app.listen(Number(process.env.PORT ?? 3000), () => console.log('listening'))
