/**
 * Large PNG sources made in a few hundred milliseconds (sharp takes seconds to encode noise):
 * rows of a fixed pattern, deflated at level 1. Decoding and resizing them costs what their pixel
 * count says, which makes them the slow renders of the render-slot specs.
 */
import { promisify } from 'node:util'
import { crc32, deflate } from 'node:zlib'

// Off the event loop: other tests in the same file keep their timers (lock keep-alives).
const deflateAsync = promisify(deflate)

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([head, body, crc])
}

/**
 * An 8-bit RGB PNG of `width`×`height` pixels with a diagonal pattern.
 * @param width - pixels
 * @param height - pixels
 */
export async function bigPng(width: number, height: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  const row = Buffer.alloc(1 + width * 3)
  for (let x = 0; x < width * 3; x++) row[1 + x] = (x * 7) & 0xff
  const raw = Buffer.concat(Array.from({ length: height }, () => row))
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', await deflateAsync(raw, { level: 1 })), chunk('IEND', Buffer.alloc(0))])
}
