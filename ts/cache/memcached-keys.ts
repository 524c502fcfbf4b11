/**
 * Lists the keys a memcached server holds with `lru_crawler metadump all` (memcached ≥ 1.5),
 * so `MemcachedCache.clear()` can remove only its own prefix from servers it shares.
 * @module
 */
import { createConnection } from 'node:net'

import { CacheUnavailableError } from './errors.js'

/**
 * Every key on one server.
 * @param host - server host
 * @param port - server port
 * @param timeout - milliseconds for the whole dump
 * @throws {@link CacheUnavailableError} when the server cannot be reached or refuses the dump
 */
export function dumpKeys(host: string, port: number, timeout: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port })
    const chunks: Buffer[] = []
    const fail = (why: string) => {
      sock.destroy()
      reject(new CacheUnavailableError(`memcached ${host}:${port} key dump failed: ${why}`))
    }
    sock.setTimeout(timeout, () => fail('timed out'))
    sock.on('error', (err) => fail(err.message))
    sock.on('connect', () => sock.write('lru_crawler metadump all\r\n'))
    sock.on('data', (d) => {
      chunks.push(d)
      const tail = Buffer.concat(chunks.slice(-2)).toString('latin1')
      if (/(^|\n)END\r\n$/.test(tail)) {
        sock.end()
        const keys: string[] = []
        for (const line of Buffer.concat(chunks).toString('latin1').split(/\r?\n/)) {
          const m = /^key=(\S+)/.exec(line)
          if (!m) continue
          // Keys are URL-encoded bytes; ones that are not UTF-8 were not written by this cache.
          try {
            keys.push(decodeURIComponent(m[1]))
          } catch {
            continue
          }
        }
        resolve(keys)
      } else if (/^(ERROR|BUSY|CLIENT_ERROR|SERVER_ERROR)[^\n]*\r\n$/.test(tail)) fail(tail.trim())
    })
  })
}
