import test from 'ava'

import { probe, thumbnail } from '../ts/index.js'
import { decode, meanAbsDiff, ORIENTED_UPRIGHT, oriented, pixelAt, QUADRANT_COLOURS } from './helpers/fixtures.js'

const FORMATS = ['jpeg', 'png', 'webp'] as const
// JPEG round trips through chroma subsampling; lossless formats must match exactly.
const TOLERANCE = { jpeg: 6, png: 0, webp: 0 }

for (const format of FORMATS) {
  for (let o = 1; o <= 8; o++) {
    test(`a ${format} with EXIF orientation ${o} comes out upright and matches orientation 1 pixel for pixel`, async (t) => {
      const input = await oriented(o, format)
      const info = probe(input)
      t.is(info.orientation, o)
      t.deepEqual([info.width, info.height], [64, 48])
      const out = await thumbnail(input, { width: 64, height: 48, format: 'png' })
      t.deepEqual([out.width, out.height, out.sourceWidth, out.sourceHeight], [64, 48, 64, 48])
      const raw = await decode(out.data)
      t.true(meanAbsDiff(raw, ORIENTED_UPRIGHT) <= TOLERANCE[format], `mean diff ${meanAbsDiff(raw, ORIENTED_UPRIGHT)}`)
      // Quadrant centres: top-left red, top-right green, bottom-left blue, bottom-right yellow.
      const centres = [pixelAt(raw, 16, 12), pixelAt(raw, 48, 12), pixelAt(raw, 16, 36), pixelAt(raw, 48, 36)]
      centres.forEach((px, q) => px.forEach((v, c) => t.true(Math.abs(v - QUADRANT_COLOURS[q][c]) <= 12, `quadrant ${q}: ${px}`)))
    })
  }
}

test('orientations 5 to 8 swap width and height when resizing and cropping', async (t) => {
  const reference = await decode((await thumbnail(await oriented(1, 'png'), { width: 32, height: 32, format: 'png' })).data)
  for (const o of [5, 6, 7, 8]) {
    const out = await thumbnail(await oriented(o, 'png'), { width: 32, height: 32, format: 'png' })
    t.deepEqual([out.width, out.height, out.sourceWidth, out.sourceHeight], [32, 32, 64, 48])
    t.true(meanAbsDiff(await decode(out.data), reference) < 1, `orientation ${o}`)
  }
})

test('a width-only request on a rotated JPEG derives the height from the upright aspect ratio', async (t) => {
  const out = await thumbnail(await oriented(6, 'jpeg'), { width: 32, format: 'png' })
  t.deepEqual([out.width, out.height], [32, 24])
  const raw = await decode(out.data)
  t.true(meanAbsDiff(raw, await decode((await thumbnail(await oriented(1, 'jpeg'), { width: 32, format: 'png' })).data)) < 6)
})
