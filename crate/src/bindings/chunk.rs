//! N-API bindings for `crate::chunk`: split and join as `AsyncTask`s on the libuv pool (each may
//! take milliseconds on a large value), and the streaming `ChunkWriter` class for iterators.
//!
//! Input buffers move into the tasks by reference (no copy); output chunks are `Vec<u8>`s handed
//! to JavaScript as external buffers (no copy either).

// napi-derive only registers exports outside `cfg(test)`, so the test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::bindings::error::to_napi;
use crate::chunk::{self, ChunkOptions, Manifest, DEFAULT_MAX_OUTPUT, ID_LEN};
use crate::error::Error as CoreError;

/// What a reader needs besides the chunks. Stored under the main cache key.
#[napi(object)]
#[derive(Clone)]
pub struct ChunkManifest {
    /// Number of chunks (`key-0 … key-(count-1)`), at least 1.
    pub count: u32,
    /// Bytes of the value before compression.
    pub length: f64,
    /// CRC-32 of the value before compression.
    pub crc32: u32,
    /// Hex id of the write, bound into every sealed chunk (32 hex characters).
    pub id: String,
    /// Whether the chunks hold a zlib stream.
    pub compressed: bool,
    /// Whether the chunks are sealed with AES-256-GCM.
    pub encrypted: bool,
    /// Offsets in the compressed stream where each 1 MiB plaintext segment starts, so that
    /// segments inflate in parallel. Empty when not compressed.
    pub segments: Vec<f64>,
}

/// How to write or read chunks.
#[napi(object, js_name = "ChunkOptions")]
pub struct ChunkOptionsJs {
    /// The cache key the value lives under; sealed chunks only open under the same key.
    pub cache_key: String,
    /// zlib level 0–9 when writing; absent or null stores the bytes uncompressed. Ignored when
    /// reading (the manifest says).
    pub level: Option<u32>,
    /// Secret for AES-256-GCM (any length; a key is derived from it). Absent: no encryption.
    pub encryption_key: Option<Buffer>,
}

/// Chunks plus their manifest.
#[napi(object)]
pub struct ChunkedValue {
    /// The chunks, each at most `CHUNK_SIZE` bytes, in order.
    pub chunks: Vec<Buffer>,
    /// The manifest to store under the main key.
    pub manifest: ChunkManifest,
}

/// Largest stored chunk in bytes (`2**20 - 1024`, as djblets).
#[napi]
pub const CHUNK_SIZE: u32 = chunk::CHUNK_SIZE as u32;

/// Default zlib level of chunked values.
#[napi]
pub const DEFAULT_CHUNK_LEVEL: u32 = chunk::DEFAULT_LEVEL;

fn manifest_to_js(m: &Manifest) -> ChunkManifest {
    ChunkManifest {
        count: m.count,
        length: m.length as f64,
        crc32: m.crc32,
        id: hex::encode(m.id),
        compressed: m.compressed,
        encrypted: m.encrypted,
        segments: m.segments.iter().map(|&o| o as f64).collect(),
    }
}

fn manifest_from_js(m: &ChunkManifest) -> std::result::Result<Manifest, CoreError> {
    let mut id = [0u8; ID_LEN];
    hex::decode_to_slice(&m.id, &mut id)
        .map_err(|_| CoreError::chunk_corrupt("Manifest id is not 32 hex characters"))?;
    if !(m.length.is_finite() && m.length >= 0.0 && m.length.fract() == 0.0) {
        return Err(CoreError::chunk_corrupt(format!(
            "Manifest length {} is not a byte count",
            m.length
        )));
    }
    let mut segments = Vec::with_capacity(m.segments.len());
    for &o in &m.segments {
        if !(o.is_finite() && o >= 0.0 && o.fract() == 0.0) {
            return Err(CoreError::chunk_corrupt(format!(
                "Manifest segment offset {o} is not a byte offset"
            )));
        }
        segments.push(o as u64);
    }
    Ok(Manifest {
        segments,
        count: m.count,
        length: m.length as u64,
        crc32: m.crc32,
        id,
        compressed: m.compressed,
        encrypted: m.encrypted,
    })
}

fn to_chunked(chunks: Vec<Vec<u8>>, m: &Manifest) -> ChunkedValue {
    ChunkedValue {
        chunks: chunks.into_iter().map(Buffer::from).collect(),
        manifest: manifest_to_js(m),
    }
}

/// Compresses, optionally encrypts and splits a value on the libuv pool.
pub struct SplitTask {
    data: Buffer,
    options: ChunkOptionsJs,
}

impl Task for SplitTask {
    type Output = (Vec<Vec<u8>>, Manifest);
    type JsValue = ChunkedValue;

    fn compute(&mut self) -> Result<Self::Output> {
        let o = &self.options;
        let options = ChunkOptions {
            cache_key: o.cache_key.as_bytes(),
            level: o.level,
            encryption_key: o.encryption_key.as_deref(),
        };
        chunk::split(&self.data, options).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, (chunks, m): Self::Output) -> Result<Self::JsValue> {
        Ok(to_chunked(chunks, &m))
    }
}

/// Splits `data` into stored chunks (zlib when `options.level` is set, then AES-256-GCM when
/// `options.encryptionKey` is set). Resolves to the chunks and the manifest to store.
#[napi(ts_return_type = "Promise<ChunkedValue>")]
pub fn split_chunks(
    data: Buffer,
    options: ChunkOptionsJs,
    signal: Option<AbortSignal>,
) -> AsyncTask<SplitTask> {
    AsyncTask::with_optional_signal(SplitTask { data, options }, signal)
}

/// Verifies, decrypts, joins and decompresses stored chunks on the libuv pool.
pub struct JoinTask {
    chunks: Vec<Buffer>,
    manifest: ChunkManifest,
    options: ChunkOptionsJs,
    max_output: usize,
}

impl Task for JoinTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        let m = manifest_from_js(&self.manifest).map_err(to_napi)?;
        let o = &self.options;
        let options = ChunkOptions {
            cache_key: o.cache_key.as_bytes(),
            level: None,
            encryption_key: o.encryption_key.as_deref(),
        };
        chunk::join(&self.chunks, &m, options, self.max_output).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(Buffer::from(output))
    }
}

/// Joins chunks written by `splitChunks` or `ChunkWriter` back into the value. Rejects with
/// `ERR_CHUNK_CORRUPT` on any missing, reordered, foreign or edited chunk, and with
/// `ERR_TOO_LARGE` when the value is over `maxOutput` bytes (default 512 MiB).
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn join_chunks(
    chunks: Vec<Buffer>,
    manifest: ChunkManifest,
    options: ChunkOptionsJs,
    max_output: Option<f64>,
    signal: Option<AbortSignal>,
) -> AsyncTask<JoinTask> {
    let max_output = match max_output {
        Some(n) if n.is_finite() && n >= 0.0 => n as usize,
        _ => DEFAULT_MAX_OUTPUT,
    };
    AsyncTask::with_optional_signal(
        JoinTask {
            chunks,
            manifest,
            options,
            max_output,
        },
        signal,
    )
}

/// Streaming writer: push bytes as they are produced, take completed chunks at once, and get
/// the last chunk plus the manifest from `finish()`.
#[napi]
pub struct ChunkWriter {
    inner: chunk::ChunkWriter,
}

#[napi]
impl ChunkWriter {
    /// Starts a chunked write under `options.cacheKey`.
    #[napi(constructor)]
    pub fn new(options: ChunkOptionsJs) -> Result<Self> {
        let inner = chunk::ChunkWriter::new(
            ChunkOptions {
                cache_key: options.cache_key.as_bytes(),
                level: options.level,
                encryption_key: options.encryption_key.as_deref(),
            },
            0,
        )
        .map_err(to_napi)?;
        Ok(ChunkWriter { inner })
    }

    /// Adds bytes; returns the chunks completed by them (often none), in order.
    #[napi]
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Buffer>> {
        let chunks = self.inner.push(data).map_err(to_napi)?;
        Ok(chunks.into_iter().map(Buffer::from).collect())
    }

    /// Ends the value: returns the remaining chunks (at least one) and the manifest.
    #[napi]
    pub fn finish(&mut self) -> Result<ChunkedValue> {
        let (chunks, m) = self.inner.finish().map_err(to_napi)?;
        Ok(to_chunked(chunks, &m))
    }
}
