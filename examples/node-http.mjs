// Thumbnail server on plain node:http.
//   RESTTHUMBS_KEYS=change-me node examples/node-http.mjs
import { createServer } from 'node:http'

import { createThumbnailHandler, Signer, thumbnailUrl } from 'restthumbs'

const keys = (process.env.RESTTHUMBS_KEYS ?? 'change-me').split(',')
const port = Number(process.env.PORT ?? 8080)
const thumbnails = createThumbnailHandler({ keys, sourceRoot: 'media', outputRoot: 'thumbnails' })

createServer((req, res) => {
  thumbnails(req, res, () => {
    // Not a thumbnail URL: the rest of your app.
    const url = thumbnailUrl('sunset.jpg', '300x200', 'smart', '.jpg', { signer: new Signer({ keys }), baseUrl: '/thumbnails' })
    res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<img src="${url}">`)
  })
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/`))
