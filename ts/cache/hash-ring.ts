/**
 * A ketama consistent-hash ring (libketama's layout, as libmemcached and pylibmc use it): each
 * server gets 160 points from MD5 digests of `"host:port-N"`, and a key goes to the first point
 * at or after the first four bytes of its own MD5. Adding or removing one of n servers moves only
 * about 1/n of the keys.
 * @module
 */
import { createHash } from 'node:crypto'

function md5(text: string): Buffer {
  return createHash('md5').update(text).digest()
}

/** Maps keys to one of a fixed list of servers. */
export class HashRing {
  private readonly points: Uint32Array
  private readonly owners: Uint16Array

  /**
   * @param servers - server names (`host:port`); their order does not matter
   * @param digestsPerServer - MD5 digests per server, four points each (libketama: 40)
   */
  constructor(
    readonly servers: readonly string[],
    digestsPerServer = 40,
  ) {
    const ring: Array<[number, number]> = []
    servers.forEach((server, owner) => {
      for (let i = 0; i < digestsPerServer; i++) {
        const d = md5(`${server}-${i}`)
        for (let j = 0; j < 4; j++) ring.push([d.readUInt32LE(j * 4), owner])
      }
    })
    ring.sort((a, b) => a[0] - b[0] || a[1] - b[1])
    this.points = Uint32Array.from(ring, (p) => p[0])
    this.owners = Uint16Array.from(ring, (p) => p[1])
  }

  /** Index in `servers` of the server that owns `key`. */
  lookup(key: string): number {
    if (this.servers.length === 1) return 0
    const h = md5(key).readUInt32LE(0)
    let lo = 0
    let hi = this.points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.points[mid] < h) lo = mid + 1
      else hi = mid
    }
    return this.owners[lo === this.points.length ? 0 : lo]
  }
}
