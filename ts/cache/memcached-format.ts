/**
 * How `MemcachedCache` talks to memcached: server lists, expiry fields and the stored layout.
 * @module
 */
import { InvalidOptionError } from '../errors.js'
import type { Ttl } from './base.js'

// Memcached reads an expiry over 30 days as an absolute Unix time.
const MAX_RELATIVE_EXPIRY = 2592000

/**
 * Parses a server list: `memcached://h1:p1,h2:p2`, `h1:p1;h2:p2`, or an array.
 * @throws {@link InvalidOptionError}
 */
export function parseMemcachedServers(location: unknown): Array<{ host: string; port: number }> {
  const list = Array.isArray(location)
    ? location
    : typeof location === 'string'
      ? location.replace(/^memcached:\/\//, '').split(/[;,]/)
      : undefined
  const servers = list?.map((s) => {
    const m = typeof s === 'string' ? /^\s*([^\s:]+|\[[^\]]+\]):(\d{1,5})\s*$/.exec(s) : null
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) }
  })
  if (!servers || servers.length === 0 || servers.some((s) => s === undefined)) {
    throw new InvalidOptionError(
      `Expected memcached://host:port[,host:port…] for location but received ${JSON.stringify(location)} of type ${typeof location}`,
    )
  }
  return servers as Array<{ host: string; port: number }>
}

/** Memcached's expiry field for a time to live: seconds, absolute past 30 days, 0 = never. */
export function exptime(ttl: Ttl): number {
  if (ttl === null) return 0
  const seconds = Math.max(1, Math.ceil(ttl / 1000))
  return seconds > MAX_RELATIVE_EXPIRY ? Math.floor(Date.now() / 1000) + seconds : seconds
}

/**
 * Stored bytes: an 8-byte absolute expiry in epoch ms (0 = never), then the serialized value.
 * Memcached's own expiry has whole-second steps; the header makes sub-second timeouts exact and
 * lets `incr`, `touch` and `incrVersion` keep the remaining time to live.
 */
export function pack(body: Buffer, expiresAt: number): Buffer {
  const out = Buffer.allocUnsafe(8 + body.length)
  out.writeDoubleBE(expiresAt, 0)
  body.copy(out, 8)
  return out
}

// Written by deleteIfEquals through CAS: already expired, so every read misses it.
export const TOMBSTONE = pack(Buffer.alloc(0), 1)

/** Memcached's replies to a conditional store; anything else from the server is an outage. */
export const REPLIES: ReadonlySet<string> = new Set(['NOT_STORED', 'EXISTS', 'NOT_FOUND'])
/** The error text of a value over the server's item size. */
export const TOO_LARGE = /too large/i
