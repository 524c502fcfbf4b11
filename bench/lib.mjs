// Shared helpers of the bench scripts: paired ops/s windows, medians, free ports, tables, flags.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Median of a list of numbers. */
export function median(xs) {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Runs `fn(i)` on `concurrency` async workers for `windowMs`, `batch` calls between clock reads; returns ops/s. */
export async function asyncWindow(fn, { concurrency = 1, windowMs, batch = 64 }) {
  let count = 0
  const start = performance.now()
  const end = start + windowMs
  const worker = async (w) => {
    let i = w * 1_000_000
    while (true) {
      for (let k = 0; k < batch; k++) await fn(i++)
      count += batch
      if (performance.now() >= end) return
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)))
  return count / ((performance.now() - start) / 1000)
}

/** Same, for a synchronous `fn`. */
export function syncWindow(fn, { windowMs }) {
  let count = 0
  const start = performance.now()
  const end = start + windowMs
  let i = 0
  while (true) {
    for (let k = 0; k < 1024; k++) fn(i++)
    count += 1024
    if (performance.now() >= end) break
  }
  return count / ((performance.now() - start) / 1000)
}

/**
 * Median ops/s of `ours` and `base` over `rounds` paired windows, run back to back with the order
 * swapped every round, so a load burst skews one pair only. Each side is `{ fn, sync, concurrency }`.
 * @returns [ours, base, median of the per-round ratios ours/base]
 */
export async function compareOps(ours, base, { rounds, windowMs, warmup = 2000, batch = 64 }) {
  const run = async (x) =>
    x.sync ? syncWindow(x.fn, { windowMs }) : asyncWindow(x.fn, { concurrency: x.concurrency ?? 1, windowMs, batch })
  for (const x of [ours, base]) for (let i = 0; i < warmup; i++) await x.fn(i)
  const a = []
  const b = []
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(await run(ours))
      b.push(await run(base))
    } else {
      b.push(await run(base))
      a.push(await run(ours))
    }
  }
  return [median(a), median(b), median(a.map((x, i) => x / b[i]))]
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/**
 * Prints benchmark rows (`{ name, unit, ours, base, ratio, target }`) as an aligned table of
 * restthumbs against its baseline, with the ratio and whether it meets its target.
 * @param rows - the measured rows
 * @param fmt - formats one figure
 */
export function printComparison(rows, fmt) {
  const header = ['benchmark', 'restthumbs', 'baseline', 'ratio', 'target']
  const table = rows.map((r) => [
    r.name,
    `${fmt(r.ours)} ${r.unit}`,
    `${fmt(r.base)} ${r.unit}`,
    `${r.ratio.toFixed(2)}x`,
    r.target == null ? '' : `>= ${r.target}x ${r.ratio >= r.target ? 'ok' : 'MISSED'}`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const t of table) console.log(line(t))
}

/** The repository root (the bench scripts' parent folder). */
export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The number after `--name` on the command line, or `dflt` when the flag is absent.
 * @param name - flag name without the dashes
 * @param dflt - value when absent
 */
export function flag(name, dflt) {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i === -1 ? dflt : Number(args[i + 1])
}

/**
 * Spawns a throw-away server (output ignored); rejects with the install command when the binary
 * is missing.
 * @param install - e.g. `apt-get install redis-server`
 */
export async function spawnServer(command, args, install) {
  const child = spawn(command, args, { stdio: 'ignore' })
  await new Promise((resolve, reject) => {
    child.once('error', (err) => reject(err.code === 'ENOENT' ? new Error(`${command} not found: ${install}`) : err))
    child.once('spawn', resolve)
  })
  return child
}

/** Calls `probe` every `everyMs` until it resolves; rethrows its error after `tries` failures. */
export async function waitUntil(probe, { tries = 200, everyMs = 25 } = {}) {
  for (let i = 0; ; i++) {
    try {
      return await probe()
    } catch (err) {
      if (i >= tries) throw err
      await new Promise((r) => setTimeout(r, everyMs))
    }
  }
}

/** Sends `signal` to a server child and resolves once it has exited. */
export function stopChild(child, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    child.once('exit', resolve)
    child.kill(signal)
  })
}
