/**
 * Set-ups a spec file shares between its tests: a server started once, and a quiet logger.
 * (Apart from `process.ts` because this one needs ava, which forked helper processes must not load.)
 */
import test from 'ava'

/**
 * Starts a server once for the spec file and stops it after the file's last test. Tests await
 * the promise; a failed start fails each test that awaits it rather than the whole file.
 */
export function serverForFile<T extends { stop(): Promise<unknown> }>(start: () => Promise<T>): Promise<T> {
  const server = start()
  server.catch(() => {}) // reported by the tests that await it, not as an unhandled rejection
  test.after.always(async () => (await server).stop())
  return server
}

/** A logger that drops the warnings the cache specs provoke on purpose. */
export const quiet = { warn: (): void => {}, info: (): void => {} }
