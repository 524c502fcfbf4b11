/**
 * Progress of a warm run: on a terminal a bar with done/total, rate, ETA, failures and bytes
 * written; elsewhere (logs, CI) one line every few seconds. The total grows while the listing is
 * still being read, and is marked `+` until it is complete.
 * @module
 */
import cliProgress from 'cli-progress'

import type { WarmCounters } from './runner.js'

/** Options of {@link startProgress}. */
export interface ProgressOptions {
  /** Where to draw. @default process.stderr */
  stream?: NodeJS.WriteStream
  /** Draw a bar (`true`), print lines (`false`) or nothing (`'off'`). @default stream.isTTY */
  mode?: boolean | 'off'
  /** Milliseconds between lines when not drawing a bar. @default 5000 */
  intervalMs?: number
}

/** A running progress display. */
export interface Progress {
  /** Draws the final state and stops. */
  stop(): void
}

/** Rate over a sliding window of about 10 s, so the ETA follows the current speed. */
class Rate {
  readonly #samples: { t: number; done: number }[] = []
  sample(done: number): number {
    const t = Date.now()
    this.#samples.push({ t, done })
    while (this.#samples.length > 2 && t - this.#samples[0].t > 10_000) this.#samples.shift()
    const first = this.#samples[0]
    return t > first.t ? ((done - first.done) * 1000) / (t - first.t) : 0
  }
}

/** `12.3 MB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000
    i++
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}

function fields(c: WarmCounters, rate: number) {
  const left = c.listed - c.done
  return {
    more: c.listingDone ? '' : '+',
    rate: rate.toFixed(1),
    eta: c.listingDone && rate > 0 ? formatEta(left / rate) : '?',
    failed: c.failed,
    rendered: c.rendered,
    bytes: formatBytes(c.bytes),
  }
}

/**
 * Shows the progress of `counters` until `stop()`.
 * @param counters - the run's live counters
 * @param options - see {@link ProgressOptions}
 */
export function startProgress(counters: WarmCounters, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr
  const mode = options.mode ?? Boolean(stream.isTTY)
  if (mode === 'off') return { stop() {} }
  const rate = new Rate()
  if (mode) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'warm [{bar}] {value}/{total}{more} | {rate}/s | eta {eta} | rendered {rendered} | failed {failed} | {bytes}',
        // The total changes as the listing streams in; cli-progress' own ETA assumes it does not.
        etaBuffer: 1,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(Math.max(1, counters.listed), 0, fields(counters, 0))
    const timer = setInterval(() => {
      bar.setTotal(Math.max(1, counters.listed))
      bar.update(counters.done, fields(counters, rate.sample(counters.done)))
    }, 250)
    return {
      stop() {
        clearInterval(timer)
        bar.setTotal(Math.max(1, counters.listed))
        bar.update(counters.done, fields(counters, rate.sample(counters.done)))
        bar.stop()
      },
    }
  }
  const line = () => {
    const f = fields(counters, rate.sample(counters.done))
    stream.write(
      `warm: ${counters.done}/${counters.listed}${f.more} done, ${f.rate}/s, eta ${f.eta}, rendered ${f.rendered}, failed ${f.failed}, ${f.bytes} written\n`,
    )
  }
  rate.sample(0)
  const timer = setInterval(line, options.intervalMs ?? 5000)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
    },
  }
}
