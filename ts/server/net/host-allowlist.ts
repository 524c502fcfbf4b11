/**
 * Origin allowlist, matched on the parsed URL: scheme, host and port. An entry is a host
 * (`images.example.com`, `127.0.0.1`, `[::1]`, `*.example.com` for subdomains), optionally with a
 * scheme (`https://images.example.com`) and a port (`images.example.com:8080`). Without a scheme
 * both http and https match; without a port only the scheme's default port (80, 443) does. Ports
 * count because a host is not one service: allowing `127.0.0.1` must not allow every port on it
 * (a redirect to `127.0.0.1:6379` is a port scan, or a request to Redis).
 *
 * Entries and targets are both read by the WHATWG URL parser, so every spelling of an address
 * (`127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`, a tab inside the name) means what it means
 * to the connection, never what it looks like as text. Never a string prefix: `http://example.com`
 * as a prefix admits `http://example.com@evil.net` (the imgproxy warning), and `*`-only patterns
 * make an open proxy (the Next.js `remotePatterns` pitfall), so both are refused.
 * @module
 */
import { isIP } from 'node:net'

import { invalidOption } from '../../validate.js'

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' }

/** One compiled entry. */
interface Entry {
  /** `http:`, `https:`, or `undefined` for both. */
  scheme: string | undefined
  /** The exact host, or the `.example.com` suffix of a wildcard. */
  host: string
  wildcard: boolean
  /** The port as text, or `undefined` for the scheme's default. */
  port: string | undefined
}

/** A compiled allowlist. */
export class HostAllowlist {
  readonly #entries: Entry[] = []

  /**
   * @param patterns - `host`, `host:port`, `scheme://host[:port]`, with `*.example.com` for
   *   subdomains
   * @throws `InvalidOptionError` for empty entries, bare `*`, mid-name wildcards, one-label
   *   suffixes (`*.com`), other schemes, paths, queries or credentials
   */
  constructor(patterns: Iterable<string>) {
    for (const raw of patterns) this.#entries.push(parseEntry(raw))
  }

  /**
   * True when the target's scheme, host and port are allowed.
   * @param target - a URL, or a bare host (`images.example.com`, read as `http://` on port 80)
   */
  matches(target: URL | string): boolean {
    return this.#find(target, true)
  }

  /**
   * True when the target is listed by exact host name, not only through a wildcard. Only such
   * origins may resolve to private addresses: a wildcard covers names whose DNS the operator may
   * not control.
   * @param target - a URL, or a bare host as in {@link HostAllowlist.matches}
   */
  isExact(target: URL | string): boolean {
    return this.#find(target, false)
  }

  #find(target: URL | string, wildcards: boolean): boolean {
    const url = typeof target === 'string' ? parseTarget(target) : target
    if (!url) return false
    const host = normaliseHostname(url.hostname)
    const port = url.port || DEFAULT_PORTS[url.protocol]
    return this.#entries.some(
      (e) =>
        (e.scheme === undefined || e.scheme === url.protocol) &&
        (e.port ?? DEFAULT_PORTS[url.protocol]) === port &&
        (e.wildcard ? wildcards && host.endsWith(e.host) : host === e.host),
    )
  }
}

/**
 * Lower-cases a hostname and strips IPv6 brackets and a trailing root dot, so `Example.COM.`
 * and `example.com` compare equal.
 * @param hostname - a hostname or IP literal
 */
export function normaliseHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
}

function parseTarget(text: string): URL | undefined {
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`)
  } catch {
    return undefined
  }
}

function parseEntry(raw: unknown): Entry {
  const bad = (expected: string): never => {
    throw invalidOption('an allowed host', expected, raw)
  }
  if (typeof raw !== 'string' || raw.trim() === '') return bad('non-empty string')
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)
  const scheme = schemeMatch ? `${schemeMatch[1].toLowerCase()}:` : undefined
  if (scheme && !(scheme in DEFAULT_PORTS)) bad('an http or https origin')
  const rest = schemeMatch ? raw.slice(schemeMatch[0].length) : raw
  // Only scheme, host and port: a path, query, fragment or credentials mean the entry says more
  // than the check can honour.
  if (/[/?#@\\]/.test(rest.replace(/\/$/, ''))) bad('scheme://host:port without path, query or credentials')
  const wildcard = rest.startsWith('*.')
  // The URL parser does the normalising; a wildcard is parsed with a stand-in first label.
  let url: URL
  try {
    url = new URL(`${scheme ?? 'http:'}//${wildcard ? `x${rest.slice(1)}` : rest}`)
  } catch {
    return bad('a hostname or IP address, optionally with scheme and port')
  }
  const host = normaliseHostname(url.hostname)
  if (!isHostnameLike(host) && isIP(host) === 0) bad('a hostname or IP address, optionally with scheme and port')
  // The port as written: `:80` stays explicit (the URL parser would drop a default port).
  const portMatch = /:(\d+)\/?$/.exec(rest)
  const port = portMatch ? String(Number(portMatch[1])) : undefined
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) bad('a port from 1 to 65535')
  if (!wildcard) {
    if (host.includes('*')) bad('a pattern like *.example.com')
    return { scheme, host, wildcard: false, port }
  }
  const suffix = host.slice(1)
  if (suffix.split('.').filter(Boolean).length < 2 || isIP(host.slice(2)) !== 0) bad('a pattern like *.example.com')
  return { scheme, host: suffix, wildcard: true, port }
}

function isHostnameLike(name: string): boolean {
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)
}
