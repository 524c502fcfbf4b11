import test from 'ava'

import * as root from '../ts/index.js'
import { AbortError, DecodeError } from '../ts/index.js'
import { binding as native, mapNativeError } from '../ts/native.js'

test('the native binding loads and reports the crate version', (t) => {
  t.regex(native.nativeVersion(), /^\d+\.\d+\.\d+$/)
})

test('native error messages with a code prefix map to typed errors', (t) => {
  const mapped = mapNativeError(new Error('ERR_DECODE: truncated JPEG'))
  t.true(mapped instanceof DecodeError)
  t.is((mapped as DecodeError).code, 'ERR_DECODE')
  t.is((mapped as DecodeError).message, 'truncated JPEG')
})

test('native errors map by their stable code only, never by words in the message', (t) => {
  const plain = new Error('GenericFailure: the upload was aborted by the origin')
  t.is(mapNativeError(plain), plain)
  const unknownCode = new Error('ERR_SOMETHING_NEW: later code')
  t.is(mapNativeError(unknownCode), unknownCode)
  const proto = new Error('ERR_CONSTRUCTOR: not a code')
  t.is(mapNativeError(proto), proto)
  const cancelled = Object.assign(new Error('AbortError'), { code: 'Cancelled' })
  const mapped = mapNativeError(cancelled)
  t.true(mapped instanceof AbortError)
  t.is((mapped as AbortError).code, 'ERR_ABORTED')
  t.is((mapped as AbortError).cause, cancelled)
})

test('the raw binding is not exported from the package root', (t) => {
  t.false('native' in root)
  t.false('binding' in root)
})
