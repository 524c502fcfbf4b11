import test from 'ava'

import { CacheSerializationError, deserialize, serialize } from '../ts/index.js'

test('strings, Buffers and safe integers take the tagged fast path', (t) => {
  t.deepEqual(serialize('hé'), Buffer.from([0x02, 0x68, 0xc3, 0xa9]))
  t.deepEqual(serialize(Buffer.from([0, 255])), Buffer.from([0x01, 0, 255]))
  t.deepEqual(serialize(new Uint8Array([7])), Buffer.from([0x01, 7]))
  t.is(serialize(-42).toString('latin1'), '-42')
  t.is(serialize(0).toString('latin1'), '0')
  t.is(deserialize(Buffer.from('123')), 123)
  t.is(deserialize(Buffer.from('-7')), -7)
})

test('a top-level Buffer is read back without a copy', (t) => {
  const stored = serialize(Buffer.from('payload'))
  const read = deserialize(stored) as Buffer
  t.is(read.buffer, stored.buffer)
  t.is(read.toString(), 'payload')
})

test('Buffers inside structures are stored raw, not base64', (t) => {
  const big = Buffer.alloc(30_000, 0xab)
  const bytes = serialize({ image: big })
  t.true(bytes.length < big.length + 100, `${bytes.length} bytes`)
  t.true((deserialize(bytes) as { image: Buffer }).image.equals(big))
})

test('structured values round-trip with their types', (t) => {
  const value = [
    { nested: { deep: [1, 2.5, 'x'] } },
    new Date(1_700_000_000_123),
    new Date(Number.NaN),
    new Map<unknown, unknown>([[{ k: 1 }, new Set([1n])]]),
    -12345678901234567890n,
    undefined,
    null,
    Number.NaN,
    Number.NEGATIVE_INFINITY,
    -0,
    2 ** 60,
    new Int16Array([-1, 2]),
    new Uint8Array([1, 2, 3]),
  ]
  const back = deserialize(serialize(value)) as unknown[]
  t.deepEqual(back.slice(0, 12), value.slice(0, 12))
  t.is(back.length, value.length)
  t.true(5 in back, 'undefined array slots stay real slots, not holes')
  t.true(Object.is(back[9], -0))
  t.true(Buffer.isBuffer(back[12]), 'a Uint8Array comes back as a Buffer')
  t.deepEqual([...(back[12] as Buffer)], [1, 2, 3])
})

test('objects shaped like tags or carrying __proto__ stay plain data', (t) => {
  const forged = JSON.parse('{"$t":"b","i":0,"__proto__":{"polluted":true}}')
  const back = deserialize(serialize(forged)) as Record<string, unknown>
  t.deepEqual(Object.keys(back).sort(), ['$t', '__proto__', 'i'])
  t.is(back.$t, 'b')
  t.is(Object.getPrototypeOf(back), Object.prototype)
  t.is(({} as Record<string, unknown>).polluted, undefined)
})

test('class instances are stored as their data and never revived as the class', (t) => {
  class Point {
    constructor(
      public x: number,
      public y: number,
    ) {}
    norm() {
      return Math.hypot(this.x, this.y)
    }
  }
  const back = deserialize(serialize(new Point(3, 4)))
  t.deepEqual(back, { x: 3, y: 4 })
  t.is(Object.getPrototypeOf(back), Object.prototype)
  t.is(deserialize(serialize(new URL('https://example.com/a'))), 'https://example.com/a')
})

test('functions, symbols and cycles cannot be serialized', (t) => {
  t.throws(() => serialize(() => 1), { instanceOf: CacheSerializationError, code: 'ERR_CACHE_SERIALIZATION' })
  t.throws(() => serialize({ s: Symbol('x') }), { instanceOf: CacheSerializationError })
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  t.throws(() => serialize(cyclic), { instanceOf: CacheSerializationError, message: /cyclic/ })
  const shared = { a: 1 }
  t.deepEqual(deserialize(serialize([shared, shared])), [{ a: 1 }, { a: 1 }], 'a repeated object is not a cycle')
})

test('stored bytes that are not a serialized value raise CacheSerializationError', (t) => {
  for (const bad of [
    Buffer.alloc(0),
    Buffer.from([0x09, 1, 2]),
    Buffer.from('12a'),
    Buffer.from([0x03, 0, 0, 0, 50, 0x7b]),
    Buffer.concat([Buffer.from([0x03, 0, 0, 0, 11]), Buffer.from('{"$t":"zz"}')]),
    Buffer.concat([Buffer.from([0x03, 0, 0, 0, 14]), Buffer.from('{"$t":"b","i":3}'.slice(0, 14))]),
    Buffer.concat([Buffer.from([0x03, 0, 0, 0, 16]), Buffer.from('{"$t":"b","i":0}'), Buffer.from([0, 0, 0, 9, 1])]),
  ]) {
    t.throws(() => deserialize(bad), { instanceOf: CacheSerializationError }, bad.toString('hex'))
  }
})
