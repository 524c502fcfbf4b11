#!/usr/bin/env node
/**
 * Builds the CMYK profile used for CMYK images that carry none (`crate/assets/cmyk-fogra39.icc`)
 * from the FOGRA39L characterisation data: 1617 measured CMYK → CIE XYZ patches of offset print
 * on coated paper (ISO 12647-2), published by Fogra and shipped under the zlib licence in
 * Debian's `icc-profiles-free` package as `/usr/share/color/icc/FOGRA39L.ti3`.
 *
 * The profile is an ICC v2 output profile with one `A2B0` lut16 table (CMYK → Lab, 11⁴ grid).
 * Each grid node is a weighted local linear fit of its nearest measured patches, in XYZ
 * normalised to the paper white (so paper maps to PCS white: relative colorimetric data).
 *
 *   usage: node scripts/make-cmyk-profile.mjs [path/to/FOGRA39L.ti3] [out.icc]
 * @module
 */
import fs from 'node:fs'

const input = process.argv[2] ?? '/usr/share/color/icc/FOGRA39L.ti3'
const output = process.argv[3] ?? new URL('../crate/assets/cmyk-fogra39.icc', import.meta.url).pathname
const GRID = 11
const NEIGHBOURS = 24
const D50 = [0.9642, 1.0, 0.8249]

/** Reads the CGATS data lines: [c, m, y, k] in % and [X, Y, Z] with Y = 100 for the diffuser. */
function readTi3(file) {
  const text = fs.readFileSync(file, 'utf8')
  const fields = text.match(/BEGIN_DATA_FORMAT\s+([\s\S]*?)\s+END_DATA_FORMAT/)[1].trim().split(/\s+/)
  const rows = text.match(/BEGIN_DATA\s+([\s\S]*?)\s+END_DATA/)[1].trim().split('\n')
  const col = (name) => fields.indexOf(name)
  return rows.map((line) => {
    const v = line.trim().split(/\s+/).map(Number)
    return {
      cmyk: ['CMYK_C', 'CMYK_M', 'CMYK_Y', 'CMYK_K'].map((f) => v[col(f)]),
      xyz: ['XYZ_X', 'XYZ_Y', 'XYZ_Z'].map((f) => v[col(f)] / 100),
    }
  })
}

/** Solves `a x = b` (n × n, row-major) by Gaussian elimination with partial pivoting. */
function solve(a, b) {
  const n = b.length
  for (let i = 0; i < n; i++) {
    let p = i
    for (let r = i + 1; r < n; r++) if (Math.abs(a[r][i]) > Math.abs(a[p][i])) p = r
    ;[a[i], a[p]] = [a[p], a[i]]
    ;[b[i], b[p]] = [b[p], b[i]]
    if (Math.abs(a[i][i]) < 1e-12) return null
    for (let r = i + 1; r < n; r++) {
      const f = a[r][i] / a[i][i]
      for (let c = i; c < n; c++) a[r][c] -= f * a[i][c]
      b[r] -= f * b[i]
    }
  }
  const x = new Array(n).fill(0)
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]
    for (let c = i + 1; c < n; c++) s -= a[i][c] * x[c]
    x[i] = s / a[i][i]
  }
  return x
}

/** XYZ at `node` (CMYK in %): intercept of a weighted linear fit over the nearest patches. */
function estimate(patches, node) {
  const near = patches
    .map((p) => ({ p, d2: p.cmyk.reduce((s, v, i) => s + (v - node[i]) ** 2, 0) }))
    .sort((a, b) => a.d2 - b.d2)
    .slice(0, NEIGHBOURS)
  if (near[0].d2 === 0) return near[0].p.xyz
  return [0, 1, 2].map((ch) => {
    // Normal equations of [1, dc, dm, dy, dk] → value, weights 1 / d², a small ridge on slopes.
    const ata = Array.from({ length: 5 }, () => new Array(5).fill(0))
    const atb = new Array(5).fill(0)
    for (const { p, d2 } of near) {
      const w = 1 / (d2 + 1)
      const row = [1, ...p.cmyk.map((v, i) => (v - node[i]) / 100)]
      for (let i = 0; i < 5; i++) {
        atb[i] += w * row[i] * p.xyz[ch]
        for (let j = 0; j < 5; j++) ata[i][j] += w * row[i] * row[j]
      }
    }
    for (let i = 1; i < 5; i++) ata[i][i] += 1e-4
    const x = solve(ata, atb)
    if (x) return x[0]
    const wsum = near.reduce((s, n) => s + 1 / (n.d2 + 1), 0)
    return near.reduce((s, n) => s + n.p.xyz[ch] / (n.d2 + 1), 0) / wsum
  })
}

function xyzToLab([x, y, z]) {
  const f = (t) => (t > (6 / 29) ** 3 ? Math.cbrt(t) : t / (3 * (6 / 29) ** 2) + 4 / 29)
  const [fx, fy, fz] = [f(x / D50[0]), f(y / D50[1]), f(z / D50[2])]
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)]
}

const patches = readTi3(input)
const paper = patches.find((p) => p.cmyk.every((v) => v === 0)).xyz
const relative = patches.map((p) => ({ cmyk: p.cmyk, xyz: p.xyz.map((v, i) => (v * D50[i]) / paper[i]) }))

// CLUT: C varies slowest, K fastest; lut16 Lab encoding (L 0..100 → 0..0xFF00, a/b + 128 → × 256).
const clut = []
for (let c = 0; c < GRID; c++)
  for (let m = 0; m < GRID; m++)
    for (let y = 0; y < GRID; y++)
      for (let k = 0; k < GRID; k++) {
        const node = [c, m, y, k].map((v) => (v * 100) / (GRID - 1))
        const [L, a, b] = xyzToLab(estimate(relative, node).map((v) => Math.max(v, 0)))
        clut.push(
          Math.round(Math.min(Math.max(L, 0), 100) * 652.8),
          Math.round(Math.min(Math.max(a + 128, 0), 255.996) * 256),
          Math.round(Math.min(Math.max(b + 128, 0), 255.996) * 256),
        )
      }

const be = {
  u8: (v) => Buffer.from([v]),
  u16: (v) => Buffer.from([v >> 8, v & 255]),
  u32: (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b },
  s15: (v) => { const b = Buffer.alloc(4); b.writeInt32BE(Math.round(v * 65536)); return b },
}
const pad4 = (b) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)])

const description = 'restthumbs CMYK (FOGRA39L, coated offset)'
const desc = Buffer.concat([
  Buffer.from('desc'), be.u32(0), be.u32(description.length + 1), Buffer.from(description + '\0', 'latin1'),
  be.u32(0), be.u32(0), be.u16(0), be.u8(0), Buffer.alloc(67),
])
const cprt = Buffer.concat([Buffer.from('text'), be.u32(0), Buffer.from('zlib licence; built from Fogra FOGRA39L data by scripts/make-cmyk-profile.mjs\0', 'latin1')])
const wtpt = Buffer.concat([Buffer.from('XYZ '), be.u32(0), ...paper.map(be.s15)])
const identity = [1, 0, 0, 0, 1, 0, 0, 0, 1]
const a2b0 = Buffer.concat([
  Buffer.from('mft2'), be.u32(0), be.u8(4), be.u8(3), be.u8(GRID), be.u8(0),
  ...identity.map(be.s15), be.u16(2), be.u16(2),
  ...Array.from({ length: 4 }, () => Buffer.concat([be.u16(0), be.u16(65535)])),
  ...clut.map(be.u16),
  ...Array.from({ length: 3 }, () => Buffer.concat([be.u16(0), be.u16(65535)])),
])

const tags = [['desc', desc], ['cprt', cprt], ['wtpt', wtpt], ['A2B0', a2b0]]
const tableSize = 4 + 12 * tags.length
let offset = 128 + tableSize
const entries = []
const bodies = []
for (const [sig, body] of tags) {
  entries.push(Buffer.concat([Buffer.from(sig), be.u32(offset), be.u32(body.length)]))
  const padded = pad4(body)
  bodies.push(padded)
  offset += padded.length
}
const header = Buffer.concat([
  be.u32(offset), be.u32(0), be.u32(0x02100000), Buffer.from('prtrCMYKLab '),
  be.u16(2026), be.u16(1), be.u16(1), be.u16(0), be.u16(0), be.u16(0),
  Buffer.from('acsp'), be.u32(0), be.u32(0), be.u32(0), be.u32(0), Buffer.alloc(8), be.u32(0),
  ...D50.map(be.s15), be.u32(0), Buffer.alloc(44),
])
if (header.length !== 128) throw new Error(`ICC header is ${header.length} bytes`)
const profile = Buffer.concat([header, be.u32(tags.length), ...entries, ...bodies])
fs.mkdirSync(new URL('.', `file://${output}`).pathname, { recursive: true })
fs.writeFileSync(output, profile)
console.log(`wrote ${output}: ${profile.length} bytes, ${GRID}^4 grid from ${patches.length} patches`)
