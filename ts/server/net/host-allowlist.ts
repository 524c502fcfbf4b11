/**
 * Origin host allowlist, matched on the parsed hostname: an exact name, or a `*.example.com`
 * pattern for its subdomains. Never a string prefix: `http://example.com` as a prefix admits
 * `http://example.com@evil.net` (the imgproxy warning), and `*`-only patterns make an open proxy
 * (the Next.js `remotePatterns` pitfall), so both are refused.
 * @module
 */
import { isIP } from 'node:net'

import { invalidOption } from '../../validate.js'

/** A compiled allowlist. */
export class HostAllowlist {
  readonly #exact = new Set<string>()
  readonly #suffixes: string[] = []

  /**
   * @param patterns - hostnames (`images.example.com`, `127.0.0.1`, `[::1]`) or `*.example.com`
   * @throws `InvalidOptionError` for empty, bare `*`, mid-name wildcards, one-label suffixes
   *   (`*.com`), ports or schemes
   */
  constructor(patterns: Iterable<string>) {
    for (const raw of patterns) {
      if (typeof raw !== 'string' || raw.length === 0) {
        throw invalidOption('an allowed host', 'non-empty string', raw)
      }
      const pattern = normaliseHostname(raw)
      if (pattern.startsWith('*.')) {
        const suffix = pattern.slice(1)
        if (suffix.includes('*') || suffix.split('.').filter(Boolean).length < 2 || !isHostnameLike(suffix.slice(1))) {
          throw invalidOption('an allowed host', 'a pattern like *.example.com', raw)
        }
        this.#suffixes.push(suffix)
      } else {
        if (!isHostnameLike(pattern) && isIP(pattern) === 0) {
          throw invalidOption('an allowed host', 'a hostname or IP address', raw)
        }
        this.#exact.add(pattern)
      }
    }
  }

  /**
   * True when `hostname` is allowed.
   * @param hostname - `URL.hostname` of the target (IPv6 in brackets or not)
   */
  matches(hostname: string): boolean {
    return this.isExact(hostname) || this.#suffixes.some((s) => normaliseHostname(hostname).endsWith(s))
  }

  /**
   * True when `hostname` is listed by name, not only through a wildcard. Only such hosts may
   * resolve to private addresses: a wildcard covers names whose DNS the operator may not control.
   * @param hostname - `URL.hostname` of the target
   */
  isExact(hostname: string): boolean {
    return this.#exact.has(normaliseHostname(hostname))
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

function isHostnameLike(name: string): boolean {
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)
}
