//! Maps core errors to N-API errors.
//!
//! napi's `Task::compute` only carries a `Status`, so the stable code travels as a message
//! prefix, `ERR_DECODE: …`, which `ts/native.ts` parses back into a typed error class.

use crate::error::Error;

/// Converts a core error into an N-API error whose message starts with the stable code.
pub fn to_napi(e: Error) -> napi::Error {
    napi::Error::from_reason(e.to_string())
}
