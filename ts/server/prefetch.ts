/**
 * The download of a remote source (a bucket or an HTTP origin) started while a shared output is
 * still being looked up in its bucket. A cold render then waits for the slower of the two round
 * trips instead of their sum; on a store next to the renderer each costs about as much as a small
 * render. The render lock and the checks under it are unchanged: the bytes are only used by a
 * render that takes the lock without waiting, and every other outcome cancels the download. One
 * download per thumbnail at a time in a process: concurrent requests share it, and a render that
 * finds it cancelled by another request's early exit reads the source again. The price: a
 * host's first request for a thumbnail another host rendered also starts a download, cancelled
 * when the bucket answers (asking the shared records first would add a cache round trip to every
 * cold request, before the lock).
 * @module
 */
import type { SourceStorageLike } from './contracts.js'
import { settle, type Settled, unwrap } from './presence.js'

/** What a request learnt about its source before the lock. */
export interface EarlySource {
  /** The local path, being resolved (a local source). */
  local?: Promise<Settled<string>>
  /** The download, running (a remote source, when the output was looked up in a bucket). */
  remote?: SourcePrefetch
}

/** A source download that may be used by the render or cancelled. */
export class SourcePrefetch {
  readonly #source: SourceStorageLike
  readonly #name: string
  readonly #abort = new AbortController()
  #cancelled = false
  readonly #bytes: Promise<Settled<Buffer | Uint8Array>>

  /**
   * Starts the download.
   * @param source - a storage with `read`
   * @param name - the source name
   */
  constructor(source: SourceStorageLike, name: string) {
    this.#source = source
    this.#name = name
    this.#bytes = settle(source.read(name, { signal: this.#abort.signal }))
  }

  /** Stops the download (its result is not needed); a finished one is dropped. */
  cancel(): void {
    this.#cancelled = true
    this.#abort.abort(new DOMException('The source is not needed', 'AbortError'))
  }

  /**
   * The source bytes, or the error of the download.
   * @param signal - the render deadline; aborts the download still running
   */
  async take(signal?: AbortSignal): Promise<Buffer | Uint8Array> {
    const onAbort = () => this.#abort.abort(signal!.reason)
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const got = await this.#bytes
      // Cancelled by the early exit of the request that started it: read it now.
      if (!got.ok && this.#cancelled) return await this.#source.read(this.#name, { signal })
      return unwrap(got)
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
