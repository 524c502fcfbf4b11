// Start-up cost: wall time of short-lived processes that load restthumbs, as a ratio to a bare
// `node -e 0` measured in the same rounds (the target is at most 1.3x). The commands run in
// interleaved rounds so load on the machine hits every row alike; the table shows the median
// and the fastest run of each.
//   usage: node bench/startup.mjs [--runs N]   (after npm run build:ts)
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const at = process.argv.indexOf('--runs')
const runs = at > 0 ? Number(process.argv[at + 1]) : 21
const env = { ...process.env, RESTTHUMBS_KEYS: 'bench-key' }

const commands = [
  ['node -e 0', ['-e', '0']],
  ['restthumbs --version', ['bin/restthumbs.js', '--version']],
  ['restthumbs url …', ['bin/restthumbs.js', 'url', 'sunset.jpg', '200x150', 'crop', '.jpg']],
  ["import('restthumbs')", ['--input-type=module', '-e', "await import('restthumbs')"]],
  ["require('restthumbs')", ['-e', "require('restthumbs')"]],
  ["import('restthumbs') + thumbnail()", ['--input-type=module', '-e', "const { thumbnail } = await import('restthumbs'); await thumbnail(Buffer.from(await (await import('node:fs/promises')).readFile('media/rings.png')), { width: 32 })"]],
]

const times = commands.map(() => [])
for (let round = 0; round < runs; round++) {
  commands.forEach(([label, args], i) => {
    const start = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
    if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`)
    times[i].push(Number(process.hrtime.bigint() - start) / 1e6)
  })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const base = median(times[0])
console.log(`startup, ${runs} interleaved runs each, node ${process.version} (wall time)\n`)
console.log('| command | median ms | fastest ms | ratio to node -e 0 (median) |')
console.log('|---|---:|---:|---:|')
commands.forEach(([label], i) => {
  const m = median(times[i])
  console.log(`| ${label} | ${m.toFixed(1)} | ${Math.min(...times[i]).toFixed(1)} | ${(m / base).toFixed(2)}x |`)
})
