import test from 'ava'

import { DecodeError, native } from '../ts/index.js'
import { mapNativeError } from '../ts/native.js'

test('the native binding loads and reports the crate version', (t) => {
  t.regex(native.nativeVersion(), /^\d+\.\d+\.\d+$/)
})

test('native error messages with a code prefix map to typed errors', (t) => {
  const mapped = mapNativeError(new Error('ERR_DECODE: truncated JPEG'))
  t.true(mapped instanceof DecodeError)
  t.is((mapped as DecodeError).code, 'ERR_DECODE')
  t.is((mapped as DecodeError).message, 'truncated JPEG')
})
