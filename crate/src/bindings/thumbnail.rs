//! N-API bindings for `crate::thumbnail` (placeholder until implemented).

use napi_derive::napi;

/// Version of the native core, to check that the binding loaded.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
