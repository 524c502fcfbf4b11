/**
 * Adds HEIF item properties (`irot`, `imir`, `clap`) to the primary item of an AVIF made by
 * sharp, which cannot write them: the property boxes are appended to `ipco`, associated in
 * `ipma`, box sizes fixed up, and `iloc` file offsets moved by the bytes the `meta` box grew.
 */

interface Box {
  type: string
  start: number
  headerSize: number
  end: number
}

function boxes(buf: Buffer, start: number, end: number): Box[] {
  const out: Box[] = []
  for (let at = start; at + 8 <= end; ) {
    const size = buf.readUInt32BE(at)
    if (size < 8) throw new Error('unsupported box size in test fixture')
    out.push({ type: buf.toString('latin1', at + 4, at + 8), start: at, headerSize: 8, end: at + size })
    at += size
  }
  return out
}

function child(buf: Buffer, parent: Box, type: string, skip = 0): Box {
  const found = boxes(buf, parent.start + parent.headerSize + skip, parent.end).find((b) => b.type === type)
  if (!found) throw new Error(`no ${type} box`)
  return found
}

function box(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(payload.length + 8)
  head.write(type, 4, 'latin1')
  return Buffer.concat([head, payload])
}

/** `irot` with `angle` quarter turns anti-clockwise. */
export const irot = (angle: number): Buffer => box('irot', Buffer.from([angle & 3]))
/** `imir` about `axis` 0 (vertical: left and right swap) or 1 (horizontal). */
export const imir = (axis: number): Buffer => box('imir', Buffer.from([axis & 1]))
/** `clap` of `width` × `height` whose centre is (`dx`, `dy`) pixels from the image centre. */
export function clap(width: number, height: number, dx: number, dy: number): Buffer {
  const p = Buffer.alloc(32)
  ;[width, 1, height, 1, dx, 1, dy, 1].forEach((v, i) => p.writeInt32BE(v, i * 4))
  return box('clap', p)
}

function primaryItem(buf: Buffer, meta: Box): number {
  const pitm = child(buf, meta, 'pitm', 4)
  const version = buf[pitm.start + 8]
  return version === 0 ? buf.readUInt16BE(pitm.start + 12) : buf.readUInt32BE(pitm.start + 12)
}

/** Returns a copy of `avif` with `props` added to its primary item, in order (all essential). */
export function withProperties(avif: Buffer, props: Buffer[]): Buffer {
  const top = boxes(avif, 0, avif.length)
  const meta = top.find((b) => b.type === 'meta')!
  const mdat = top.find((b) => b.type === 'mdat')!
  const iprp = child(avif, meta, 'iprp', 4)
  const ipco = child(avif, iprp, 'ipco')
  const ipma = child(avif, iprp, 'ipma')
  const primary = primaryItem(avif, meta)
  const existing = boxes(avif, ipco.start + 8, ipco.end).length

  // Rebuild ipma with the new associations on the primary item.
  const version = avif[ipma.start + 8]
  const wide = (avif.readUInt32BE(ipma.start + 8) & 1) === 1
  let at = ipma.start + 12
  const count = avif.readUInt32BE(at)
  at += 4
  const entries: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const idBytes = version < 1 ? 2 : 4
    const id = idBytes === 2 ? avif.readUInt16BE(at) : avif.readUInt32BE(at)
    const n = avif[at + idBytes]
    const assocBytes = n * (wide ? 2 : 1)
    const assoc = [avif.subarray(at + idBytes + 1, at + idBytes + 1 + assocBytes)]
    let total = n
    if (id === primary) {
      props.forEach((_, k) => {
        const index = existing + k + 1
        assoc.push(wide ? Buffer.from([0x80 | (index >> 8), index & 255]) : Buffer.from([0x80 | index]))
      })
      total += props.length
    }
    entries.push(Buffer.concat([avif.subarray(at, at + idBytes), Buffer.from([total]), ...assoc]))
    at += idBytes + 1 + assocBytes
  }
  const ipmaNew = box('ipma', Buffer.concat([avif.subarray(ipma.start + 8, ipma.start + 16), ...entries]))
  const ipcoNew = box('ipco', Buffer.concat([avif.subarray(ipco.start + 8, ipco.end), ...props]))
  const iprpParts = boxes(avif, iprp.start + 8, iprp.end).map((b) =>
    b.type === 'ipco' ? ipcoNew : b.type === 'ipma' ? ipmaNew : avif.subarray(b.start, b.end),
  )
  const iprpNew = box('iprp', Buffer.concat(iprpParts))
  const metaParts = boxes(avif, meta.start + 12, meta.end).map((b) => (b.type === 'iprp' ? iprpNew : Buffer.from(avif.subarray(b.start, b.end))))
  const grow = iprpNew.length - (iprp.end - iprp.start)
  if (mdat.start > meta.start) shiftIloc(metaParts, grow)
  const metaNew = box('meta', Buffer.concat([avif.subarray(meta.start + 8, meta.start + 12), ...metaParts]))
  return Buffer.concat(top.map((b) => (b.type === 'meta' ? metaNew : avif.subarray(b.start, b.end))))
}

/** Adds `delta` to every file offset in the `iloc` box among `parts` (edited in place). */
function shiftIloc(parts: Buffer[], delta: number): void {
  const iloc = parts.find((p) => p.toString('latin1', 4, 8) === 'iloc')!
  const version = iloc[8]
  const offSize = iloc[12] >> 4
  const lenSize = iloc[12] & 15
  const baseSize = iloc[13] >> 4
  const indexSize = version >= 1 ? iloc[13] & 15 : 0
  let at = 14
  const count = version < 2 ? iloc.readUInt16BE(at) : iloc.readUInt32BE(at)
  at += version < 2 ? 2 : 4
  const read = (pos: number, n: number): number => (n === 0 ? 0 : n === 4 ? iloc.readUInt32BE(pos) : iloc.readUInt16BE(pos))
  const write = (pos: number, n: number, v: number): void => void (n === 4 ? iloc.writeUInt32BE(v, pos) : iloc.writeUInt16BE(v, pos))
  for (let i = 0; i < count; i++) {
    at += version < 2 ? 2 : 4
    let method = 0
    if (version >= 1) {
      method = iloc.readUInt16BE(at) & 15
      at += 2
    }
    at += 2
    const basePos = at
    at += baseSize
    const extents = iloc.readUInt16BE(at)
    at += 2
    if (method === 0 && baseSize > 0) write(basePos, baseSize, read(basePos, baseSize) + delta)
    for (let e = 0; e < extents; e++) {
      at += indexSize
      if (method === 0 && baseSize === 0) write(at, offSize, read(at, offSize) + delta)
      at += offSize + lenSize
    }
  }
}
