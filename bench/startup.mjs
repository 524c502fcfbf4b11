// Start-up cost: wall time of short-lived processes that load restthumbs, as a ratio to a bare
// `node -e 0` measured in the same rounds (the target is at most 1.3x). The commands run in
// interleaved rounds so load on the machine hits every row alike; the table shows the median
// and the fastest run of each, and the median CPU time (user + system, from bash's `time`), which
// other processes on a busy machine disturb less than the wall time.
//   usage: node bench/startup.mjs [--runs N]   (after npm run build:ts)
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
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

const loadBefore = loadavg()[0]
const times = commands.map(() => [])
const cpu = commands.map(() => [])
// bash's `time` reports the child's own wall and CPU time, without bash's start-up.
const timed = ['-c', 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null', 'bash', process.execPath]
for (let round = 0; round < runs; round++) {
  commands.forEach(([label, args], i) => {
    const r = spawnSync('bash', [...timed, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`)
    const [real, user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number)
    times[i].push(real * 1000)
    cpu[i].push((user + sys) * 1000)
  })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const base = median(times[0])
const cpuBase = median(cpu[0])
console.log(`startup, ${runs} interleaved runs each, node ${process.version} (wall and CPU time), load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after\n`)
console.log('| command | median ms | fastest ms | ratio to node -e 0 (median) | CPU ms (median) | CPU ratio |')
console.log('|---|---:|---:|---:|---:|---:|')
commands.forEach(([label], i) => {
  const m = median(times[i])
  const c = median(cpu[i])
  console.log(`| ${label} | ${m.toFixed(1)} | ${Math.min(...times[i]).toFixed(1)} | ${(m / base).toFixed(2)}x | ${c.toFixed(0)} | ${(c / cpuBase).toFixed(2)}x |`)
})
