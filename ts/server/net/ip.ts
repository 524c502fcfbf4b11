/**
 * Classification of IP addresses for SSRF protection. An origin fetch may only connect to a
 * public unicast address unless the operator opts in. IPv6 forms that carry an IPv4 address
 * (mapped, compatible, 6to4, NAT64, Teredo, ISATAP) are unwrapped and judged by the IPv4 inside,
 * the trick imgproxy's `privatenet` check exists for.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net'

type V4Range = readonly [base: number, prefix: number, reason: string]

const V4_RANGES: readonly V4Range[] = [
  [v4('0.0.0.0'), 8, 'the "this network" range 0.0.0.0/8'],
  [v4('10.0.0.0'), 8, 'private (10.0.0.0/8)'],
  [v4('100.64.0.0'), 10, 'carrier-grade NAT (100.64.0.0/10)'],
  [v4('127.0.0.0'), 8, 'loopback (127.0.0.0/8)'],
  [v4('169.254.0.0'), 16, 'link-local (169.254.0.0/16, cloud metadata)'],
  [v4('172.16.0.0'), 12, 'private (172.16.0.0/12)'],
  [v4('192.0.0.0'), 24, 'IETF protocol assignments (192.0.0.0/24)'],
  [v4('192.0.2.0'), 24, 'documentation (192.0.2.0/24)'],
  [v4('192.88.99.0'), 24, '6to4 relay anycast (192.88.99.0/24)'],
  [v4('192.168.0.0'), 16, 'private (192.168.0.0/16)'],
  [v4('198.18.0.0'), 15, 'benchmarking (198.18.0.0/15)'],
  [v4('198.51.100.0'), 24, 'documentation (198.51.100.0/24)'],
  [v4('203.0.113.0'), 24, 'documentation (203.0.113.0/24)'],
  [v4('224.0.0.0'), 4, 'multicast (224.0.0.0/4)'],
  [v4('240.0.0.0'), 4, 'reserved or broadcast (240.0.0.0/4)'],
]

/**
 * Why an address must not be connected to, or `null` when it is a public unicast address.
 * Accepts IPv4, IPv6 (with or without brackets or a zone id). Anything that is not an IP
 * literal is refused too, since a caller checking a hostname here has a bug.
 * @param address - an IP literal
 * @returns a short reason such as `loopback (127.0.0.0/8)`, or `null`
 */
export function forbiddenAddressReason(address: string): string | null {
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  if (isIPv4(ip)) return v4Reason(v4(ip))
  if (isIPv6(ip)) return v6Reason(v6(ip))
  return 'not an IP address'
}

/**
 * True when {@link forbiddenAddressReason} has a reason.
 * @param address - an IP literal
 */
export function isForbiddenAddress(address: string): boolean {
  return forbiddenAddressReason(address) !== null
}

function v4Reason(n: number): string | null {
  for (const [base, prefix, reason] of V4_RANGES) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
    if (((n & mask) >>> 0) === base) return reason
  }
  return null
}

function v6Reason(g: number[]): string | null {
  const allZeroUpTo = (i: number): boolean => g.slice(0, i).every((x) => x === 0)
  const tail32 = ((g[6] << 16) | g[7]) >>> 0
  const embedded = (n: number, form: string): string | null => {
    const r = v4Reason(n)
    return r === null ? null : `${form} of ${fmt4(n)}, ${r}`
  }
  if (allZeroUpTo(8)) return 'unspecified (::)'
  if (allZeroUpTo(7) && g[7] === 1) return 'loopback (::1)'
  if (allZeroUpTo(5) && g[5] === 0xffff) return embedded(tail32, 'IPv4-mapped IPv6')
  // ::a.b.c.d (deprecated IPv4-compatible) and ::ffff:0:a.b.c.d (SIIT translated).
  if (allZeroUpTo(6)) return embedded(tail32, 'IPv4-compatible IPv6') ?? 'IPv4-compatible IPv6 (::/96)'
  if (allZeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return embedded(tail32, 'IPv4-translated IPv6')
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return embedded(tail32, 'NAT64 (64:ff9b::/96)')
  }
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'local-use NAT64 (64:ff9b:1::/48)'
  if (g[0] === 0x2002) return embedded(((g[1] << 16) | g[2]) >>> 0, '6to4 (2002::/16)')
  if (g[0] === 0x2001 && g[1] === 0) {
    // Teredo: server IPv4 in bits 32-63, client IPv4 bit-inverted in the last 32 bits.
    return embedded(((g[2] << 16) | g[3]) >>> 0, 'Teredo server') ?? embedded(~tail32 >>> 0, 'Teredo client (2001::/32)')
  }
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'documentation (2001:db8::/32)'
  if (g[0] === 0x100 && g[1] === 0 && g[2] === 0 && g[3] === 0) return 'discard-only (100::/64)'
  if ((g[0] & 0xfe00) === 0xfc00) return 'unique local (fc00::/7)'
  if ((g[0] & 0xffc0) === 0xfe80) return 'link-local (fe80::/10)'
  if ((g[0] & 0xffc0) === 0xfec0) return 'site-local (fec0::/10)'
  if ((g[0] & 0xff00) === 0xff00) return 'multicast (ff00::/8)'
  // ISATAP interface identifier ::0:5efe:a.b.c.d / ::200:5efe:a.b.c.d carries an IPv4 address.
  if ((g[4] === 0 || g[4] === 0x200) && g[5] === 0x5efe) return embedded(tail32, 'ISATAP')
  return null
}

function v4(ip: string): number {
  return ip.split('.').reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0)
}

function fmt4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.')
}

/** Expands a valid IPv6 literal (already checked by `isIPv6`) into eight 16-bit groups. */
function v6(ip: string): number[] {
  let text = ip.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const n = v4(dotted[1])
    text = `${text.slice(0, -dotted[1].length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const fill = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0')
  return [...left, ...fill, ...right].map((h) => parseInt(h, 16))
}
