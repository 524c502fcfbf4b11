/**
 * A real HTTP origin on loopback for the remote-source specs, plus the storage and resolver
 * set-ups they share.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { LookupFunction } from '../../ts/server/net/guarded-connect.js'
import { HttpSourceStorage, type HttpSourceStorageOptions } from '../../ts/server/storage/http-source.js'

/** The bytes every image route answers with. */
export const IMAGE = Buffer.from('\x89PNG\r\n\x1a\n-fake-image-bytes', 'latin1')

/** One path of an {@link origin}. */
export type Route = (req: IncomingMessage, res: ServerResponse) => void

/** Anything that takes teardowns (an ava `t`). */
export interface Teardowns {
  teardown(fn: () => unknown): void
}

/** A real HTTP origin on 127.0.0.1 that records the paths it was asked for. */
export async function origin(t: Teardowns, routes: Record<string, Route>) {
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(req.url ?? '')
    const route = routes[req.url ?? '']
    if (route) route(req, res)
    else res.writeHead(404).end('missing')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve(undefined)))
  })
  const port = (server.address() as AddressInfo).port
  return { port, seen, url: `http://127.0.0.1:${port}/` }
}

/** An HttpSourceStorage closed when the test ends. */
export function storage(t: Teardowns, options: HttpSourceStorageOptions): HttpSourceStorage {
  const s = new HttpSourceStorage(options)
  t.teardown(() => s.close())
  return s
}

/** A resolver for made-up names: every `*.example.test` name answers with `answers`. */
export function fakeDns(answers: Array<{ address: string; family: 4 | 6 }>): LookupFunction {
  return (hostname, options, callback) => {
    if (!hostname.endsWith('.example.test')) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '')
      return
    }
    if (options.all) callback(null, answers)
    else callback(null, answers[0].address, answers[0].family)
  }
}
/** Answers {@link IMAGE} as a PNG. */
export const image: Route = (_req, res) => {
  res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE)
}
