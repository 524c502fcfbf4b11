import test from 'ava'

import { CacheSerializationError, deserialize, serialize } from '../ts/index.js'
import { serializeWire } from '../ts/cache/serialize.js'

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

test('plain JSON data is stored as one tagged JSON text', (t) => {
  const value = { a: [1, 2.5, 'x', true, null], b: { c: 'é' } }
  const bytes = serialize(value)
  t.is(bytes[0], 0x04)
  t.is(bytes.toString('utf8', 1), JSON.stringify(value))
  t.deepEqual(deserialize(bytes), value)
  t.is(serialize(true)[0], 0x04)
  t.is(deserialize(serialize(2 ** 60)), 2 ** 60)
})

test('values JSON would change take the tagged envelope even when nested in plain data', (t) => {
  const sparse: unknown[] = [1]
  sparse[2] = 3
  for (const value of [
    { a: undefined },
    [Number.NaN],
    { n: -0 },
    sparse,
    { d: new Date(5) },
    { $t: 'x' },
    [{ deep: [{ big: 1n }] }],
  ]) {
    const bytes = serialize(value)
    t.is(bytes[0], 0x03, JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? String(v) : v)))
    t.deepEqual(deserialize(bytes), value)
  }
  const back = deserialize(serialize(sparse)) as unknown[]
  t.true(1 in back, 'a hole comes back as a real undefined slot')
})

test('a __proto__ key in plain JSON data stays an own data property', (t) => {
  const value = JSON.parse('{"__proto__":{"polluted":true},"x":1}')
  const bytes = serialize(value)
  t.is(bytes[0], 0x04)
  const back = deserialize(bytes) as Record<string, unknown>
  t.deepEqual(Object.keys(back).sort(), ['__proto__', 'x'])
  t.is(Object.getPrototypeOf(back), Object.prototype)
  t.is(({} as Record<string, unknown>).polluted, undefined)
  const nullProto = Object.assign(Object.create(null), { k: 'v' })
  t.deepEqual({ ...(deserialize(serialize(nullProto)) as object) }, { k: 'v' })
})

test('corrupt plain JSON bytes raise CacheSerializationError', (t) => {
  t.throws(() => deserialize(Buffer.from('\x04{"a":')), { instanceOf: CacheSerializationError, code: 'ERR_CACHE_SERIALIZATION' })
})

test('serializeWire strings encode to exactly the bytes serialize writes', (t) => {
  for (const value of ['hé', 'lone \ud800 surrogate', '', 42, -7, { a: [1, 'ü'] }, [true, null], 'x'.repeat(1000)]) {
    const wire = serializeWire(value)
    t.is(typeof wire, 'string')
    t.deepEqual(Buffer.from(wire as string, 'utf8'), serialize(value), JSON.stringify(value))
  }
  for (const value of [Buffer.from([1, 2]), { d: new Date(1) }, undefined, 1.5e300 * 1e10]) {
    const wire = serializeWire(value)
    t.true(Buffer.isBuffer(wire))
    t.deepEqual(wire, serialize(value))
  }
})
