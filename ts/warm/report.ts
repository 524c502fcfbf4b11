/**
 * The machine-readable report of a warm run: one JSON line per failed thumbnail, with its stable
 * error code, written as failures happen so a long run can be watched with `tail -f`.
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'

import type { WarmFailure } from './runner.js'

/** An open report file. */
export interface WarmReport {
  /** Appends one failure. */
  write(failure: WarmFailure): void
  /** Flushes and closes the file. */
  close(): Promise<void>
}

/**
 * Creates (truncates) the report file.
 * @param file - path of the `.jsonl` report
 */
export async function openReport(file: string): Promise<WarmReport> {
  const stream: WriteStream = createWriteStream(file, { flags: 'w' })
  await once(stream, 'open')
  return {
    write(failure) {
      stream.write(JSON.stringify(failure) + '\n')
    },
    async close() {
      stream.end()
      await once(stream, 'finish')
    },
  }
}
