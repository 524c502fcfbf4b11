import test from 'ava'

import { OriginError, OriginForbiddenError } from '../ts/server/errors.js'
import { HostAllowlist } from '../ts/server/net/host-allowlist.js'
import { forbiddenAddressReason } from '../ts/server/net/ip.js'
import { fakeDns, IMAGE, image, origin, type Route, storage } from './helpers/origin.js'

test('a loopback origin is refused by default, before any request reaches it', async (t) => {
  const o = await origin(t, { '/a.png': image })
  const s = storage(t, { baseUrl: o.url })
  const err = await t.throwsAsync(s.read('a.png'), { instanceOf: OriginForbiddenError })
  t.is(err.code, 'ERR_ORIGIN_FORBIDDEN')
  t.is(err.status, 403)
  t.regex(err.message, /127\.0\.0\.1.*loopback/)
  t.deepEqual(o.seen, [])
})

test('a loopback origin is fetched when allowPrivate is set', async (t) => {
  const o = await origin(t, { '/dir/a%20b.png': image })
  const s = storage(t, { baseUrl: `${o.url}dir`, allowPrivate: true })
  t.deepEqual(await s.read('a b.png'), IMAGE)
  t.deepEqual(o.seen, ['/dir/a%20b.png'])
})

test('a loopback origin is fetched when its host and port are allowlisted by exact name', async (t) => {
  const o = await origin(t, { '/a.png': image })
  const s = storage(t, { baseUrl: o.url, allowedHosts: [`127.0.0.1:${o.port}`] })
  t.deepEqual(await s.read('a.png'), IMAGE)
  // The host alone names its default port only: this origin's port is not trusted by it.
  const hostOnly = storage(t, { baseUrl: o.url, allowedHosts: ['127.0.0.1'] })
  await t.throwsAsync(hostOnly.read('a.png'), { instanceOf: OriginForbiddenError, message: /loopback/ })
  t.deepEqual(o.seen, ['/a.png'])
})

test('a wildcard allowlist entry does not let a name resolve to a private address', async (t) => {
  const o = await origin(t, { '/a.png': image })
  const s = storage(t, {
    baseUrl: `http://img.example.test:${o.port}/`,
    allowedHosts: ['*.example.test'],
    lookup: fakeDns([{ address: '127.0.0.1', family: 4 }]),
  })
  const err = await t.throwsAsync(s.read('a.png'), { instanceOf: OriginForbiddenError })
  t.regex(err.message, /img\.example\.test resolved to it/)
  t.deepEqual(o.seen, [])
})

test('a name with one private answer among public ones is refused', async (t) => {
  const s = storage(t, {
    baseUrl: 'http://mixed.example.test:9/',
    lookup: fakeDns([
      { address: '93.184.216.34', family: 4 },
      { address: '::ffff:169.254.169.254', family: 6 },
    ]),
  })
  const err = await t.throwsAsync(s.read('a.png'), { instanceOf: OriginForbiddenError })
  t.regex(err.message, /169\.254\.169\.254/)
})

test('a redirect to a name resolving to a private address is refused at that hop', async (t) => {
  let port = 0
  const o = await origin(t, {
    '/a.png': (_req, res) => res.writeHead(302, { location: `http://evil.example.test:${port}/secret.png` }).end(),
    '/secret.png': image,
  })
  port = o.port
  const s = storage(t, {
    baseUrl: o.url,
    allowedHosts: [`127.0.0.1:${port}`, `*.example.test:${port}`],
    lookup: fakeDns([{ address: '127.0.0.1', family: 4 }]),
  })
  await t.throwsAsync(s.read('a.png'), { instanceOf: OriginForbiddenError, message: /evil\.example\.test resolved to it/ })
  t.deepEqual(o.seen, ['/a.png'], 'the first hop was served, the second never connected')
})

test('redirects to hosts outside the allowlist, other schemes or URLs with credentials are refused', async (t) => {
  const o = await origin(t, {
    '/other.png': (_req, res) => res.writeHead(301, { location: 'http://[::1]:1/x.png' }).end(),
    '/file.png': (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
    '/creds.png': (_req, res) => res.writeHead(307, { location: 'http://user:pw@127.0.0.1/x.png' }).end(),
    '/prefix.png': (_req, res) => res.writeHead(308, { location: 'http://127.0.0.1.evil.example/x.png' }).end(),
  })
  const s = storage(t, { baseUrl: o.url, allowedHosts: ['127.0.0.1'] })
  for (const name of ['other.png', 'file.png', 'creds.png', 'prefix.png']) {
    await t.throwsAsync(s.read(name), { instanceOf: OriginForbiddenError }, name)
  }
})

test('allowed redirects are followed up to maxRedirects', async (t) => {
  const o = await origin(t, {
    '/one.png': (_req, res) => res.writeHead(302, { location: '/two.png' }).end(),
    '/two.png': (_req, res) => res.writeHead(301, { location: '/a.png' }).end(),
    '/a.png': image,
    '/loop.png': (_req, res) => res.writeHead(302, { location: '/loop.png' }).end(),
  })
  const s = storage(t, { baseUrl: o.url, allowPrivate: true, maxRedirects: 2 })
  t.deepEqual(await s.read('one.png'), IMAGE)
  const err = await t.throwsAsync(s.read('loop.png'), { instanceOf: OriginError, message: /more than 2 times/ })
  t.is(err.status, 502)
  t.is(err.originStatus, 302)
  t.is(o.seen.filter((p) => p === '/loop.png').length, 3)
})

test('host patterns match parsed hostnames exactly or as subdomains, never as prefixes', (t) => {
  const list = new HostAllowlist(['images.example.com', '*.cdn.example.net', '[::1]'])
  t.true(list.matches('images.example.com'))
  t.true(list.matches('IMAGES.example.com.'))
  t.false(list.matches('images.example.com.evil.org'))
  t.false(list.matches('evilimages.example.com'))
  t.true(list.matches('a.cdn.example.net'))
  t.true(list.matches('a.b.cdn.example.net'))
  t.false(list.matches('cdn.example.net'))
  t.false(list.matches('xcdn.example.net'))
  t.true(list.matches('[::1]'))
  t.true(list.isExact('images.example.com'))
  t.false(list.isExact('a.cdn.example.net'))
})

test('non-public addresses are classified, including IPv4 embedded in IPv6', (t) => {
  const blocked = [
    '127.0.0.1',
    '127.255.255.254',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.255',
    '0.0.0.0',
    '224.0.0.251',
    '255.255.255.255',
    '::',
    '::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1%lo',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe',
    '::127.0.0.1',
    '64:ff9b::10.0.0.1',
    '64:ff9b:1::1',
    '2002:7f00:1::',
    '2001:0:808:808::f5ff:fffe',
    '2001:0:a00:1::1',
    '[::1]',
  ]
  for (const ip of blocked) t.not(forbiddenAddressReason(ip), null, ip)
  const allowed = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8', '2002:808:808::1']
  for (const ip of allowed) t.is(forbiddenAddressReason(ip), null, ip)
  t.is(forbiddenAddressReason('localhost'), 'not an IP address')
})

/** A second origin on another port (the redirect target an attacker would probe). */
async function target(t: { teardown(fn: () => unknown): void }) {
  return origin(t, { '/x.png': image })
}

// Every way to write 127.0.0.1:<port> that WHATWG URL parsing (and so undici) reads as that address.
const spellings = (port: number) => [
  `http://127.0.0.1:${port}/x.png`,
  `http://127.1:${port}/x.png`,
  `http://0x7f000001:${port}/x.png`,
  `http://2130706433:${port}/x.png`,
  `http://0177.0.0.1:${port}/x.png`,
  `http://0x7f.0.0.1:${port}/x.png`,
  `http://127.0.0.1.:${port}/x.png`,
  `//127.0.0.1:${port}/x.png`,
  `/\\127.0.0.1:${port}/x.png`,
  `http://127.0.\t0.1:${port}/x.png`,
  `http://[::ffff:127.0.0.1]:${port}/x.png`,
  `http://localhost:${port}/x.png`,
  `HTTP://127.0.0.1:${port}/x.png`,
]

test('a redirect to another port of an allowlisted host is refused in every spelling of the address', async (t) => {
  const b = await target(t)
  const routes: Record<string, Route> = {}
  const list = spellings(b.port)
  list.forEach((location, i) => {
    routes[`/r${i}.png`] = (_req, res) => res.writeHead(302, { location }).end()
  })
  const a = await origin(t, routes)
  for (const allowedHosts of [['127.0.0.1'], ['localhost'], [`127.0.0.1:${a.port}`]]) {
    const s = storage(t, { baseUrl: a.url, allowedHosts, allowPrivate: true })
    for (let i = 0; i < list.length; i++) {
      const err = await t.throwsAsync(s.read(`r${i}.png`), { instanceOf: OriginForbiddenError }, `${allowedHosts[0]} ${JSON.stringify(list[i])}`)
      t.regex(err.message, /not the base URL's origin and not in allowedHosts/)
    }
  }
  t.deepEqual(b.seen, [], 'the other port was never contacted')
  t.is(a.seen.length, list.length * 3)
})

test('with allowPrivate (the CLI route) a redirect may not leave the base origin', async (t) => {
  const b = await target(t)
  let port = 0
  const a = await origin(t, {
    '/away.png': (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${b.port}/x.png` }).end(),
    '/same.png': (_req, res) => res.writeHead(302, { location: `http://0x7f000001:${port}/a.png` }).end(),
    '/a.png': image,
  })
  port = a.port
  const s = storage(t, { baseUrl: a.url, allowPrivate: true })
  await t.throwsAsync(s.read('away.png'), { instanceOf: OriginForbiddenError })
  // The same origin, spelled differently, is the same origin: parsing decides, not the text.
  t.deepEqual(await s.read('same.png'), IMAGE)
  t.deepEqual(b.seen, [])
})

test('allowlist entries match scheme, host and port', async (t) => {
  const b = await target(t)
  const a = await origin(t, {
    '/go.png': (_req, res) => res.writeHead(302, { location: `http://127.1:${b.port}/x.png` }).end(),
  })
  const https = storage(t, { baseUrl: a.url, allowedHosts: [`https://127.0.0.1:${b.port}`] })
  await t.throwsAsync(https.read('go.png'), { instanceOf: OriginForbiddenError }, 'an https entry does not allow http')
  t.deepEqual(b.seen, [])
  const exact = storage(t, { baseUrl: a.url, allowedHosts: [`127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`] })
  t.deepEqual(await exact.read('go.png'), IMAGE, 'listed with its port, the target is fetched (and may be private)')
  t.deepEqual(b.seen, ['/x.png'])
  const list = new HostAllowlist(['images.example.com', 'https://cdn.example.com', 'api.example.com:8443', '*.img.example.com:8080'])
  t.true(list.matches(new URL('http://images.example.com/')))
  t.true(list.matches(new URL('https://images.example.com/')))
  t.false(list.matches(new URL('http://images.example.com:8080/')))
  t.true(list.matches(new URL('https://cdn.example.com:443/')))
  t.false(list.matches(new URL('http://cdn.example.com/')))
  t.true(list.matches(new URL('https://api.example.com:8443/')))
  t.false(list.matches(new URL('https://api.example.com/')))
  t.true(list.matches(new URL('http://a.img.example.com:8080/')))
  t.false(list.matches(new URL('http://a.img.example.com/')))
  t.false(list.isExact(new URL('http://a.img.example.com:8080/')))
})

test('the lookup option resolves allowlisted hosts too', async (t) => {
  const o = await origin(t, { '/a.png': image })
  const asked: string[] = []
  const dns = fakeDns([{ address: '127.0.0.1', family: 4 }])
  const s = storage(t, {
    baseUrl: `http://media.example.test:${o.port}/`,
    allowedHosts: [`media.example.test:${o.port}`],
    lookup: (hostname, options, callback) => {
      asked.push(hostname)
      dns(hostname, options, callback)
    },
  })
  t.deepEqual(await s.read('a.png'), IMAGE)
  t.deepEqual(asked, ['media.example.test'])
})
