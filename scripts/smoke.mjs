// Loads the binary through both entries and makes a thumbnail in each output format, then decodes
// every result again with restthumbs itself (no sharp, so it also runs in a bare Alpine image).
// The release workflow runs it on each target's own runner or container.
//   usage: node scripts/smoke.mjs   (after npm run build:ts, with the .node next to binding.cjs)
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'

const esm = await import('../dist/index.js')
const cjs = createRequire(import.meta.url)('../dist/index.cjs')
const source = await readFile(new URL('../media/sunset.jpg', import.meta.url))
let failed = false
for (const [name, api] of [['import', esm], ['require', cjs]]) {
  for (const format of ['jpeg', 'webp', 'png']) {
    const t = await api.thumbnail(source, { width: 120, height: 90, method: 'crop', format })
    // A full decode of the output: shrink it again and check what comes out.
    const again = await api.thumbnail(t.data, { width: 60, format: 'png' })
    const ok = t.format === format && t.width === 120 && t.height === 90 && again.width === 60 && again.height === 45
    failed ||= !ok
    console.log(`smoke: ${ok ? 'ok  ' : 'FAIL'} ${name} ${format} ${t.width}x${t.height}, re-decoded ${again.width}x${again.height} (${process.platform}-${process.arch})`)
  }
}
process.exitCode = failed ? 1 : 0
