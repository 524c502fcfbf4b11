/**
 * `/healthz` (the process answers) and `/readyz` (the cache and the storages answer) for load
 * balancers and orchestrators, served by the handler itself so embedding apps get them too.
 * @module
 */
import { access, constants } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'

import { NEVER_CACHE } from './responses.js'

/** Something readiness can check: resolves when it works, rejects with the reason. */
export type ReadinessCheck = () => Promise<unknown>

/** What a storage or cache may offer readiness. */
interface Checkable {
  ping?(): Promise<void>
  root?: string
  get?(key: string): unknown
}

const CHECK_TIMEOUT_MS = 2000

/**
 * The readiness check of a storage: its own `ping` (a bucket), else access to its `root`
 * directory (read for sources, write for outputs), else nothing to check.
 * @param storage - a source or output storage
 * @param write - whether the root must be writable
 */
export function storageCheck(storage: Checkable, write: boolean): ReadinessCheck | undefined {
  if (typeof storage.ping === 'function') return () => storage.ping!()
  if (typeof storage.root === 'string') {
    const root = storage.root
    return () => access(root, write ? constants.W_OK : constants.R_OK)
  }
  return undefined
}

/**
 * The readiness check of the lock cache: one `get` (a Redis round trip; instant for memory).
 * @param cache - the handler's cache
 * @param key - any key (its value is ignored)
 */
export function cacheCheck(cache: Checkable, key: string): ReadinessCheck {
  return async () => {
    await cache.get!(key)
  }
}

/**
 * Runs the checks side by side, each with a deadline. The answer says only `ok` or
 * `unavailable` per check (it may be public: no paths, buckets or hosts); the reason goes to
 * `onFailure`, for the log.
 * @returns `ok` and, per check, `'ok'` or `'unavailable'`
 */
export async function readiness(
  checks: Record<string, ReadinessCheck | undefined>,
  onFailure?: (name: string, err: unknown) => void,
): Promise<{ ok: boolean; checks: Record<string, string> }> {
  const out: Record<string, string> = {}
  let ok = true
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      if (!check) return
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
          }),
        ])
        out[name] = 'ok'
      } catch (err) {
        ok = false
        out[name] = 'unavailable'
        onFailure?.(name, err)
      } finally {
        clearTimeout(timer)
      }
    }),
  )
  return { ok, checks: out }
}

/**
 * Answers a health path: `live` always 200; otherwise 200 or 503 with the checks as JSON.
 * @returns the status sent
 */
export async function sendHealth(
  req: IncomingMessage,
  res: ServerResponse,
  checks: Record<string, ReadinessCheck | undefined> | 'live',
  onFailure?: (name: string, err: unknown) => void,
): Promise<number> {
  const result = checks === 'live' ? { ok: true, checks: {} } : await readiness(checks, onFailure)
  const body = JSON.stringify({ status: result.ok ? 'ok' : 'unavailable', checks: result.checks }) + '\n'
  const status = result.ok ? 200 : 503
  res.writeHead(status, {
    ...NEVER_CACHE,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...(result.ok ? {} : { 'Retry-After': '1' }),
  })
  res.end(req.method === 'HEAD' ? undefined : body)
  return status
}
