// TEMP until the native pipeline lands
import { readFile, rename, writeFile } from 'node:fs/promises'

import sharp from 'sharp'

export const TEMP_RENDERER = {
  async thumbnail(input: Buffer, o: { width: number; height: number; method: string; format: string; quality: number }) {
    let img = sharp(input)
    try {
      await img.metadata()
    } catch {
      throw Object.assign(new Error('bad'), { code: 'ERR_DECODE', status: 415 })
    }
    img = img.resize(o.width || null, o.height || null, { fit: o.method === 'scale' ? 'inside' : 'cover' })
    const data = await (img as any).toFormat(o.format, { quality: o.quality }).toBuffer()
    const m = await sharp(data).metadata()
    return { data, format: o.format, width: m.width!, height: m.height!, size: data.length }
  },
  async thumbnailFile(src: string, dst: string, o: any) {
    const r = await TEMP_RENDERER.thumbnail(await readFile(src), o)
    await writeFile(dst + '.t', r.data)
    await rename(dst + '.t', dst)
    return r
  },
}
