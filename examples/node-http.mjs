// Thumbnail server on plain node:http. Build first (`npm run build`), then:
//   RESTTHUMBS_KEYS=change-me node examples/node-http.mjs
import { createServer } from 'node:http'

import { createThumbnailHandler, Signer, thumbnailUrl } from '../dist/index.js'

const keys = (process.env.RESTTHUMBS_KEYS ?? 'change-me').split(',')
const thumbnails = createThumbnailHandler({ keys, sourceRoot: 'media', outputRoot: 'thumbnails' })

createServer((req, res) => {
  thumbnails(req, res, () => {
    // Not a thumbnail URL: the rest of your app.
    const url = thumbnailUrl('sunset.jpg', '300x200', 'smart', '.jpg', { signer: new Signer({ keys }), baseUrl: '/thumbnails' })
    res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<img src="${url}">`)
  })
}).listen(Number(process.env.PORT ?? 8080), () => console.log(`http://127.0.0.1:${process.env.PORT ?? 8080}/`))
