/**
 * An undici connector that refuses to open sockets to non-public addresses. The check runs at
 * connect time on the address DNS actually returned (and on IP literals, which skip DNS), so it
 * holds for every redirect hop and against DNS rebinding: there is no window between "check the
 * name" and "connect to whatever the name means now" (imgproxy checks in `dialer.Control` for the
 * same reason).
 * @module
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'

import { buildConnector } from 'undici'

import { OriginForbiddenError } from '../errors.js'
import { forbiddenAddressReason } from './ip.js'

/** A `dns.lookup`-compatible function (only the callback-with-options form is used). */
export type LookupFunction = (
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void

/** Options of {@link guardedConnector}. */
export interface GuardedConnectOptions {
  /** Connect timeout in milliseconds (includes DNS). */
  timeout: number
  /**
   * Origins (scheme, host and port of the connection) allowed to resolve to any address; every
   * other connection must reach a public unicast address.
   */
  trusted: (origin: URL) => boolean
  /**
   * DNS resolver; a custom one is for split-horizon DNS and tests. Used for every connection,
   * trusted or not.
   * @default dns.lookup
   */
  lookup?: LookupFunction
}

/**
 * Builds the `connect` function for an undici `Agent`.
 * @param options - see {@link GuardedConnectOptions}
 */
export function guardedConnector(options: GuardedConnectOptions): buildConnector.connector {
  const resolve: LookupFunction = options.lookup ?? (dnsLookup as unknown as LookupFunction)
  const guardedLookup = (hostname: string, opts: LookupOptions, callback: Parameters<LookupFunction>[2]): void => {
    resolve(hostname, opts, (err, address, family) => {
      if (err) return callback(err, address, family)
      const list = Array.isArray(address) ? address : [{ address, family: family ?? isIP(address) }]
      // Refuse if ANY answer is forbidden: a name mixing public and private answers is an attack
      // or a misconfiguration, and Happy Eyeballs could pick either.
      for (const entry of list) {
        const reason = forbiddenAddressReason(entry.address)
        if (reason) return callback(forbidden(hostname, entry.address, reason), address, family)
      }
      callback(null, address, family)
    })
  }
  // Trusted origins skip the address check, not the resolver: a split-horizon `lookup` is what
  // makes an internal name resolve at all.
  const base = buildConnector({ timeout: options.timeout, ...(options.lookup ? { lookup: resolve } : {}) } as buildConnector.BuildOptions)
  const checked = buildConnector({ timeout: options.timeout, lookup: guardedLookup } as buildConnector.BuildOptions)
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, '')
    if (options.trusted(originOf(opts))) return base(opts, callback)
    if (isIP(host) !== 0) {
      // IP literals never reach `lookup`, so they are judged here.
      const reason = forbiddenAddressReason(host)
      if (reason) return callback(forbidden(host, host, reason), null)
    }
    return checked(opts, callback)
  }
}

function originOf(opts: buildConnector.Options): URL {
  const host = isIP(opts.hostname) === 6 ? `[${opts.hostname}]` : opts.hostname
  return new URL(`${opts.protocol}//${host}${opts.port ? `:${opts.port}` : ''}/`)
}

function forbidden(hostname: string, address: string, reason: string): OriginForbiddenError {
  const via = hostname === address ? '' : ` (${hostname} resolved to it)`
  return new OriginForbiddenError(address, `Refusing to connect to ${address}${via}: ${reason}; allowlist the host or set allowPrivate`)
}
