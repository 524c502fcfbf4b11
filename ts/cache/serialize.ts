/**
 * The data-only value format shared by every cache backend.
 *
 * Django and python-thumbnails pickle cached values, which turns write access to a shared cache
 * into code execution on every reader. This format can only ever produce data: a read runs
 * `JSON.parse` plus a fixed set of constructors (Buffer, typed arrays, Date, Map, Set, BigInt),
 * never a constructor or function named by the stored bytes. `v8.serialize` was rejected because
 * it revives host objects chosen by the writer and its wire format changes between Node releases.
 *
 * Layout (first byte decides):
 * - `-`/`0`–`9`: a safe integer written as its decimal text, so Redis `INCRBY` works on it in place;
 * - `0x01` + raw bytes: a Buffer/Uint8Array (no base64 blow-up, no copy on read);
 * - `0x02` + UTF-8: a string;
 * - `0x04` + UTF-8 JSON: plain JSON data (objects, arrays, strings, finite numbers other than -0,
 *   booleans, null; no `undefined`, no holes, no `$t` key), which is the common case: one
 *   `JSON.stringify` / `JSON.parse` with no tagging walk and no reviver. Parsing can only build
 *   plain data (an own `__proto__` key stays an own property), so no escaping is needed;
 * - `0x03` + u32 JSON length + tagged JSON + (u32 length + raw bytes)*: anything else. Values JSON
 *   cannot hold become `{"$t": tag, …}` objects; a user object that itself has a `$t` key is
 *   escaped as `{"$t":"o","v":[[key, value], …]}` so stored data can never forge a tag.
 * @module
 */
import { CacheSerializationError } from './errors.js'

const TAG_BUFFER = 0x01
const TAG_STRING = 0x02
const TAG_ENVELOPE = 0x03
const TAG_JSON = 0x04

// Deeper values take the envelope path, whose walk reports cycles (the pre-scan has no seen-set
// and would otherwise recurse around a cycle until the limit).
const MAX_PLAIN_DEPTH = 512

const TYPED_ARRAYS: Record<string, { new (length: number): ArrayBufferView; BYTES_PER_ELEMENT: number }> = {
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
}

/**
 * Encodes a value into bytes. Safe integers, Buffers and strings take a fast path.
 * @param value - JSON data plus Buffer, typed arrays, Date, Map, Set, BigInt and `undefined`
 * @throws {@link CacheSerializationError} for functions, symbols and cyclic structures
 */
export function serialize(value: unknown): Buffer {
  if (typeof value === 'string') {
    const len = Buffer.byteLength(value)
    const out = Buffer.allocUnsafe(len + 1)
    out[0] = TAG_STRING
    out.write(value, 1, len, 'utf8')
    return out
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) {
    return Buffer.from(String(value), 'latin1')
  }
  if (value instanceof Uint8Array) {
    const out = Buffer.allocUnsafe(value.byteLength + 1)
    out[0] = TAG_BUFFER
    out.set(value, 1)
    return out
  }
  if (isPlainJson(value, 0)) {
    const text = JSON.stringify(value)
    const len = Buffer.byteLength(text)
    const out = Buffer.allocUnsafe(len + 1)
    out[0] = TAG_JSON
    out.write(text, 1, len, 'utf8')
    return out
  }
  const segments: Uint8Array[] = []
  const json = Buffer.from(JSON.stringify(encode(value, segments, new Set())), 'utf8')
  let total = 5 + json.length
  for (const s of segments) total += 4 + s.byteLength
  const out = Buffer.allocUnsafe(total)
  out[0] = TAG_ENVELOPE
  out.writeUInt32BE(json.length, 1)
  json.copy(out, 5)
  let at = 5 + json.length
  for (const s of segments) {
    out.writeUInt32BE(s.byteLength, at)
    out.set(s, at + 4)
    at += 4 + s.byteLength
  }
  return out
}

/**
 * {@link serialize} for clients that take string arguments: strings, safe integers and plain JSON
 * data come back as a string whose UTF-8 encoding is exactly `serialize(value)`, the rest as that
 * Buffer. ioredis writes a string argument straight into its socket buffer, where a Buffer
 * argument costs a copy into a fresh Buffer first plus a slower write path.
 * @param value - as for {@link serialize}
 * @throws {@link CacheSerializationError} as {@link serialize}
 */
export function serializeWire(value: unknown): string | Buffer {
  // Both sides encode lone surrogates the same way (U+FFFD), so the bytes match serialize's.
  if (typeof value === 'string') return STRING_PREFIX + value
  if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) return String(value)
  if (!(value instanceof Uint8Array) && isPlainJson(value, 0)) return JSON_PREFIX + JSON.stringify(value)
  return serialize(value)
}

const STRING_PREFIX = String.fromCharCode(TAG_STRING)
const JSON_PREFIX = String.fromCharCode(TAG_JSON)

/**
 * Decodes bytes written by {@link serialize}. A top-level Buffer is returned as a view of `buf`
 * (no copy); Buffers nested in structures are copies.
 * @param buf - the stored bytes
 * @throws {@link CacheSerializationError} when the bytes are not a serialized value
 */
export function deserialize(buf: Uint8Array): unknown {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length === 0) throw new CacheSerializationError('Cannot deserialize an empty buffer')
  const tag = b[0]
  if (tag === TAG_BUFFER) return b.subarray(1)
  if (tag === TAG_STRING) return b.toString('utf8', 1)
  if (tag === TAG_JSON) {
    try {
      return JSON.parse(b.toString('utf8', 1))
    } catch (err) {
      throw new CacheSerializationError('Corrupt cache value', { cause: err })
    }
  }
  if (tag === 0x2d || (tag >= 0x30 && tag <= 0x39)) {
    const text = b.toString('latin1')
    if (!/^-?\d{1,20}$/.test(text)) throw new CacheSerializationError('Corrupt integer value in cache')
    return Number(text)
  }
  if (tag !== TAG_ENVELOPE || b.length < 5) {
    throw new CacheSerializationError(`Unknown cache value tag 0x${tag.toString(16).padStart(2, '0')}`)
  }
  const jsonEnd = 5 + b.readUInt32BE(1)
  if (jsonEnd > b.length) throw new CacheSerializationError('Truncated cache value')
  const segments: Buffer[] = []
  for (let at = jsonEnd; at < b.length; ) {
    if (at + 4 > b.length) throw new CacheSerializationError('Truncated cache value')
    const end = at + 4 + b.readUInt32BE(at)
    if (end > b.length) throw new CacheSerializationError('Truncated cache value')
    segments.push(b.subarray(at + 4, end))
    at = end
  }
  try {
    return revive(JSON.parse(b.toString('utf8', 5, jsonEnd)), segments)
  } catch (err) {
    if (err instanceof CacheSerializationError) throw err
    throw new CacheSerializationError('Corrupt cache value', { cause: err })
  }
}

/** Whether a value can be stored as-is without copying (immutable, and served by the fast path). */
export function isImmutable(value: unknown): boolean {
  const t = typeof value
  return value === null || t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint' || t === 'undefined'
}

/**
 * Whether `JSON.stringify` / `JSON.parse` alone round-trips a value exactly: plain objects and
 * arrays of JSON scalars, with nothing JSON would drop or change and no `$t` key.
 */
function isPlainJson(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(v) && (v !== 0 || 1 / v > 0)
    case 'object':
      break
    default:
      return false
  }
  if (v === null) return true
  if (depth > MAX_PLAIN_DEPTH) return false
  if (Array.isArray(v)) {
    // Holes read as undefined, which the envelope keeps as real slots.
    for (let i = 0; i < v.length; i++) if (!isPlainJson(v[i], depth + 1)) return false
    return true
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return false
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]
    if (k === '$t' || !isPlainJson(o[k], depth + 1)) return false
  }
  return true
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

function encode(value: unknown, segments: Uint8Array[], seen: Set<object>): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value
      return { $t: 'f', v: Object.is(value, -0) ? '-0' : String(value) }
    case 'bigint':
      return { $t: 'n', v: value.toString() }
    case 'undefined':
      return { $t: 'u' }
    case 'function':
    case 'symbol':
      throw new CacheSerializationError(`Cannot cache a value of type ${typeof value}: only data can be cached`)
  }
  if (value === null) return null
  const obj = value as object
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
    const bytes =
      obj instanceof ArrayBuffer ? new Uint8Array(obj) : new Uint8Array(obj.buffer, obj.byteOffset, obj.byteLength)
    segments.push(bytes)
    const kind = obj instanceof Uint8Array && !(obj instanceof Uint8ClampedArray) ? undefined : obj.constructor.name
    return kind === undefined ? { $t: 'b', i: segments.length - 1 } : { $t: 'b', i: segments.length - 1, k: kind }
  }
  if (obj instanceof Date) {
    const time = obj.getTime()
    return { $t: 'd', v: Number.isNaN(time) ? null : time }
  }
  if (seen.has(obj)) throw new CacheSerializationError('Cannot cache a cyclic structure')
  seen.add(obj)
  try {
    if (Array.isArray(obj)) {
      const out: Json[] = new Array(obj.length)
      for (let i = 0; i < obj.length; i++) out[i] = encode(obj[i], segments, seen)
      return out
    }
    if (obj instanceof Map) {
      const out: Json[] = []
      for (const [k, v] of obj) out.push([encode(k, segments, seen), encode(v, segments, seen)])
      return { $t: 'm', v: out }
    }
    if (obj instanceof Set) {
      const out: Json[] = []
      for (const v of obj) out.push(encode(v, segments, seen))
      return { $t: 's', v: out }
    }
    const toJSON = (obj as { toJSON?: unknown }).toJSON
    if (typeof toJSON === 'function') return encode(toJSON.call(obj), segments, seen)
    const keys = Object.keys(obj)
    if (Object.hasOwn(obj, '$t')) {
      return { $t: 'o', v: keys.map((k) => [k, encode((obj as Record<string, unknown>)[k], segments, seen)]) }
    }
    // A null-prototype target so an own `__proto__` key stays a plain property.
    const out: { [k: string]: Json } = Object.create(null)
    for (const k of keys) out[k] = encode((obj as Record<string, unknown>)[k], segments, seen)
    return out
  } finally {
    seen.delete(obj)
  }
}

// A walk rather than a JSON.parse reviver: a reviver returning `undefined` deletes the slot,
// which would turn `[1, undefined]` into a sparse array.
function revive(v: unknown, segments: Buffer[]): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i], segments)
    return v
  }
  const o = v as Record<string, unknown>
  if (!Object.hasOwn(o, '$t')) {
    for (const k of Object.keys(o)) {
      const r = revive(o[k], segments)
      // defineProperty, not assignment: an own `__proto__` key must not reach the prototype setter.
      if (r !== o[k]) Object.defineProperty(o, k, { value: r, writable: true, enumerable: true, configurable: true })
    }
    return o
  }
  for (const k of ['v', 'i', 'k']) if (Object.hasOwn(o, k)) o[k] = revive(o[k], segments)
  const t = v as { $t: unknown; v?: unknown; i?: unknown; k?: unknown }
  switch (t.$t) {
    case 'u':
      return undefined
    case 'f':
      if (t.v === '-0') return -0
      if (t.v === 'NaN' || t.v === 'Infinity' || t.v === '-Infinity') return Number(t.v)
      break
    case 'n':
      if (typeof t.v === 'string' && /^-?\d+$/.test(t.v)) return BigInt(t.v)
      break
    case 'd':
      if (t.v === null) return new Date(Number.NaN)
      if (typeof t.v === 'number') return new Date(t.v)
      break
    case 'm':
      if (Array.isArray(t.v) && t.v.every((e) => Array.isArray(e))) return new Map(t.v as [unknown, unknown][])
      break
    case 's':
      if (Array.isArray(t.v)) return new Set(t.v)
      break
    case 'o':
      if (Array.isArray(t.v) && t.v.every((e) => Array.isArray(e) && typeof e[0] === 'string')) {
        return Object.fromEntries(t.v as [string, unknown][])
      }
      break
    case 'b': {
      const seg = typeof t.i === 'number' ? segments[t.i] : undefined
      if (!seg) break
      if (t.k === undefined) return Buffer.from(seg)
      if (t.k === 'ArrayBuffer') return new Uint8Array(seg).buffer
      if (t.k === 'DataView') return new DataView(new Uint8Array(seg).buffer)
      const Ctor = typeof t.k === 'string' && Object.hasOwn(TYPED_ARRAYS, t.k) ? TYPED_ARRAYS[t.k] : undefined
      if (!Ctor || seg.length % Ctor.BYTES_PER_ELEMENT !== 0) break
      const out = new Ctor(seg.length / Ctor.BYTES_PER_ELEMENT)
      new Uint8Array(out.buffer).set(seg)
      return out
    }
  }
  throw new CacheSerializationError(`Corrupt cache value: bad tag ${JSON.stringify(t.$t)}`)
}
