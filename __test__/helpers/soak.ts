/**
 * Thousands of native thumbnail calls in one process, four at a time, over sources of several
 * formats and sizes (progressive and baseline JPEG, PNG, WebP, undecodable bytes). Prints one
 * JSON line: the RSS in MiB after every 200 calls. Run as a child by the soak spec, so the RSS
 * is this workload's alone.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { thumbnail } from '../../ts/image/thumbnail.js'
import { bigPng } from './big-png.js'

const MEDIA = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'media')
const calls = Number(process.argv[2] ?? 3000)
const inputs = [
  ...['sunset.jpg', 'rings.png', 'tiles.webp', 'mandelbrot.jpg'].map((f) => readFileSync(path.join(MEDIA, f))),
  await bigPng(900, 700),
  await bigPng(1400, 1000),
  Buffer.from('\xff\xd8\xff\xe0 not really a jpeg', 'latin1'),
]
const formats = ['jpeg', 'png', 'webp'] as const
const rss: number[] = []
for (let i = 0; i < calls; i += 4) {
  await Promise.all(
    [0, 1, 2, 3].map((k) =>
      thumbnail(inputs[(i + k) % inputs.length], {
        width: 60 + ((i * 37 + k) % 500),
        height: 40 + ((i * 13 + k) % 300),
        format: formats[(i + k) % 3],
      }).catch((err: unknown) => err),
    ),
  )
  if ((i + 4) % 200 === 0 || i + 4 >= calls) rss.push(Math.round(process.memoryUsage().rss / 2 ** 20))
}
process.stdout.write(JSON.stringify({ rss }) + '\n')
