//! N-API bindings for `crate::keys`: digests, HMACs and cache keys.
//!
//! These are cheap, so they stay synchronous. Inputs are borrowed straight out of the caller's
//! `Uint8Array`/`Buffer` (no copy), and small digests come back through `napi_create_buffer_copy`
//! rather than an external buffer, whose finaliser would cost more than the hash itself.

// napi-derive only registers exports outside `cfg(test)`, so the test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::*;
use napi::JsString;
use napi_derive::napi;

use crate::keys;

/// SHA-256 of `data` (32 bytes).
#[napi]
pub fn sha256<'env>(env: &'env Env, data: &[u8]) -> Result<BufferSlice<'env>> {
    BufferSlice::copy_from(env, keys::sha256(data))
}

/// SHA-1 of `data` (20 bytes). Only for interoperability with restthumbnails and
/// python-thumbnails names; never as a security boundary on its own.
#[napi]
pub fn sha1<'env>(env: &'env Env, data: &[u8]) -> Result<BufferSlice<'env>> {
    BufferSlice::copy_from(env, keys::sha1(data))
}

/// HMAC-SHA256 of `data` under `key` (32 bytes).
#[napi]
pub fn hmac_sha256<'env>(env: &'env Env, key: &[u8], data: &[u8]) -> Result<BufferSlice<'env>> {
    BufferSlice::copy_from(env, keys::hmac_sha256(key, data))
}

/// HMAC-SHA1 of `data` under `key` (20 bytes), for Django `salted_hmac` compatible signatures.
#[napi]
pub fn hmac_sha1<'env>(env: &'env Env, key: &[u8], data: &[u8]) -> Result<BufferSlice<'env>> {
    BufferSlice::copy_from(env, keys::hmac_sha1(key, data))
}

/// Django's `salted_hmac(keySalt, value, secret)` with SHA-1 (20 bytes): the HMAC key is
/// `sha1(keySalt + secret)`, as restthumbnails signs its URLs.
#[napi]
pub fn salted_hmac_sha1<'env>(
    env: &'env Env,
    key_salt: &[u8],
    secret: &[u8],
    value: &[u8],
) -> Result<BufferSlice<'env>> {
    BufferSlice::copy_from(env, keys::salted_hmac_sha1(key_salt, secret, value))
}

/// djblets `make_cache_key`: joins `parts` (escaping `%` and `:` when there are several) after
/// `sitePrefix`, then returns the hex HMAC-SHA256 of the whole key under `encryptionKey` when one
/// is given, or else the key with control characters escaped and shortened past 240 characters.
#[napi]
pub fn make_cache_key(
    parts: Vec<String>,
    site_prefix: Option<String>,
    encryption_key: Option<&[u8]>,
) -> String {
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    keys::make_cache_key(&refs, site_prefix.as_deref(), encryption_key)
}

/// The single-part fast path of `makeCacheKey`: the same result as `makeCacheKey([key], …)`
/// without building an array on either side of the FFI.
#[napi]
pub fn make_cache_key_one(
    key: String,
    site_prefix: Option<String>,
    encryption_key: Option<&[u8]>,
) -> String {
    keys::make_cache_key(&[&key], site_prefix.as_deref(), encryption_key)
}

/// HMAC-SHA256 cache keys for one secret and site prefix, keyed once. `makeCacheKey` keeps one
/// per encryption key so that each key costs one short native call.
#[napi]
pub struct CacheKeyHmac {
    inner: keys::KeyHmac,
}

#[napi]
impl CacheKeyHmac {
    /// Keys the HMAC with `secret` and absorbs `sitePrefix` (joined with `:`) once.
    #[napi(constructor)]
    pub fn new(secret: &[u8], site_prefix: Option<String>) -> Self {
        CacheKeyHmac {
            inner: keys::KeyHmac::new(secret, site_prefix.as_deref()),
        }
    }

    /// Hex HMAC-SHA256 of `sitePrefix:key`, where `key` is already joined and escaped.
    #[napi]
    pub fn hex<'env>(&self, env: &'env Env, key: String) -> Result<JsString<'env>> {
        env.create_string_latin1(self.inner.hex(key.as_bytes()))
    }
}
