import test from 'ava'
import sharp from 'sharp'

import { DecodeError, thumbnail } from '../ts/index.js'
import { decode, pixelAt } from './helpers/fixtures.js'

/** A GIF89a with no global and no local colour table: `w` × `h`, left half index 0, right half 1. */
function gifWithoutColourTable(w: number, h: number): Buffer {
  // LZW with minimum code size 2: clear (4) before every index keeps codes 3 bits wide.
  const codes: number[] = []
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) codes.push(4, x < w / 2 ? 0 : 1)
  codes.push(5)
  const bytes: number[] = []
  let acc = 0
  let bits = 0
  for (const c of codes) {
    acc |= c << bits
    bits += 3
    while (bits >= 8) {
      bytes.push(acc & 255)
      acc >>= 8
      bits -= 8
    }
  }
  if (bits > 0) bytes.push(acc & 255)
  const blocks: number[] = []
  for (let i = 0; i < bytes.length; i += 255) blocks.push(Math.min(255, bytes.length - i), ...bytes.slice(i, i + 255))
  const size = (v: number): number[] => [v & 255, v >> 8]
  return Buffer.from([
    ...Buffer.from('GIF89a', 'latin1'), ...size(w), ...size(h), 0x00, 0, 0,
    0x2c, 0, 0, 0, 0, ...size(w), ...size(h), 0x00,
    2, ...blocks, 0, 0x3b,
  ])
}

test('a GIF frame with no colour table at all uses the default table (black, white, …)', async (t) => {
  const out = await decode((await thumbnail(gifWithoutColourTable(8, 8), { width: 8, height: 8, format: 'png' })).data)
  t.deepEqual(pixelAt(out, 1, 4), [0, 0, 0])
  t.deepEqual(pixelAt(out, 6, 4), [255, 255, 255])
})

test('a JPEG whose header declares far more pixels than its data holds is a DecodeError', async (t) => {
  const noise = Buffer.alloc(960 * 640 * 3)
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2_654_435_761) >>> 24
  const jpeg = Buffer.from(await sharp(noise, { raw: { width: 960, height: 640, channels: 3 } }).jpeg({ quality: 80 }).toBuffer())
  // SOF0: FF C0, length, precision, then height and width.
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]))
  t.true(sof > 0)
  t.deepEqual([jpeg.readUInt16BE(sof + 5), jpeg.readUInt16BE(sof + 7)], [640, 960])
  jpeg.writeUInt16BE(7000, sof + 5)
  jpeg.writeUInt16BE(7000, sof + 7)
  const err = await t.throwsAsync(thumbnail(jpeg, { width: 256 }))
  t.true(err instanceof DecodeError, String(err))
  t.is((err as DecodeError).code, 'ERR_DECODE')
})
