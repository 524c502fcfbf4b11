//! Chunked storage of large cache values: zlib, split into memcached-sized chunks, optional
//! AES-256-GCM per chunk, and the reverse with a hard cap on the output size.
//!
//! The layout follows djblets' `cache_memoize_iter`
//! (<https://github.com/djblets/djblets/blob/master/djblets/cache/backend.py>) (compress, then encrypt, then cut into
//! `2**20 - 1024`-byte chunks stored under `key-0 … key-N`), with two changes forced by its
//! weaknesses (a cache writer could otherwise swap, truncate or edit a stored value):
//! * every write gets a random id, and a [`Manifest`] stored under the main key records the chunk
//!   count, plaintext length, CRC-32 and id, so a missing, stale or mixed-up chunk is detected
//!   even without encryption;
//! * encryption is authenticated. Chunks are sealed as they are produced, before the count is
//!   known, so instead of the count the associated data carries a "final" flag (the STREAM
//!   construction): a chunk that claims to be last at index `n - 1` proves the count `n`, and a
//!   truncated or extended sequence fails to open.

//!
//! Files: `writer` (streaming compress + seal + cut), `join` (verify + open + inflate), `parallel`
//! (segment-parallel inflate and open), `aead` (the sealing itself).

mod aead;
mod join;
mod parallel;
mod writer;

pub use aead::{derive_key, OVERHEAD as SEAL_OVERHEAD};
pub use join::join;
pub use writer::{split, ChunkWriter};

use crate::error::{Error, ErrorCode};

/// Largest stored chunk: "almost 1M (memcached's slab limit)", as djblets chose.
pub const CHUNK_SIZE: usize = (1 << 20) - 1024;

/// Default zlib level: cache values are written on the request path, so speed matters more than
/// the last percent of size; level 2 keeps lazy matching that level 1 (static Huffman only)
/// lacks, whose much bigger output is no faster to inflate. `bench/cache.mjs` measures the choice.
pub const DEFAULT_LEVEL: u32 = 2;

/// Default cap on the size of a joined value, against decompression bombs planted in a store.
pub const DEFAULT_MAX_OUTPUT: usize = 512 << 20;

/// Plaintext bytes per independently decodable segment of a compressed value. The writer ends
/// each segment with a zlib full flush (which resets the window, costing little size)
/// and records where the next one starts, so `join` can inflate segments on several threads:
/// a single inflate stream is bound to one core and is barely faster than node:zlib.
pub const SEGMENT_SIZE: usize = 1 << 20;

/// Most threads one `join` uses; the libuv pool runs other work beside it.
const MAX_JOIN_THREADS: usize = 4;

/// Bytes of a zlib header without a preset dictionary.
const ZLIB_HEADER: usize = 2;
/// Bytes of the Adler-32 trailer of a zlib stream.
const ZLIB_TRAILER: usize = 4;

/// Bytes of the random id that ties the chunks of one write together.
pub const ID_LEN: usize = 16;

/// Smallest chunk buffer allocated up front; grown by doubling so small values stay small.
const MIN_BUFFER: usize = 16 << 10;

/// Version tag at the start of the associated data of every sealed chunk.
const AAD_MAGIC: &[u8] = b"restthumbs-chunk-v1\0";

/// What a reader needs besides the chunks; stored under the main cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Number of chunks, at least 1 (an empty value is one empty chunk).
    pub count: u32,
    /// Length of the value before compression.
    pub length: u64,
    /// CRC-32 (IEEE) of the value before compression.
    pub crc32: u32,
    /// Random id of the write, bound into every sealed chunk.
    pub id: [u8; ID_LEN],
    /// Whether the chunks hold a zlib stream.
    pub compressed: bool,
    /// Whether the chunks are sealed with AES-256-GCM.
    pub encrypted: bool,
    /// Offsets in the compressed stream where each [`SEGMENT_SIZE`] segment starts; empty when
    /// the value is not compressed.
    pub segments: Vec<u64>,
}

/// How to write or read chunks.
#[derive(Debug, Clone, Copy)]
pub struct ChunkOptions<'a> {
    /// The cache key the value lives under; bound into every sealed chunk.
    pub cache_key: &'a [u8],
    /// zlib level 0–9, or `None` to store the bytes as they are.
    pub level: Option<u32>,
    /// Secret for AES-256-GCM, or `None` for no encryption.
    pub encryption_key: Option<&'a [u8]>,
}

/// The associated data of chunk `index`: magic ‖ id ‖ flags ‖ index ‖ final ‖ cache key.
pub(crate) fn aad(
    id: &[u8; ID_LEN],
    compressed: bool,
    index: u32,
    last: bool,
    cache_key: &[u8],
) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_MAGIC.len() + ID_LEN + 6 + cache_key.len());
    a.extend_from_slice(AAD_MAGIC);
    a.extend_from_slice(id);
    a.push(u8::from(compressed));
    a.extend_from_slice(&index.to_be_bytes());
    a.push(u8::from(last));
    a.extend_from_slice(cache_key);
    a
}

impl Manifest {
    /// The associated data a reader expects on chunk `index` of this write (see [`aad`]).
    pub(crate) fn aad(&self, index: usize, last: bool, cache_key: &[u8]) -> Vec<u8> {
        aad(&self.id, self.compressed, index as u32, last, cache_key)
    }
}

pub(crate) fn corrupt(message: impl Into<String>) -> Error {
    Error::chunk_corrupt(message)
}

/// Whether `e` means "recompute" to a memoizer (as opposed to a programming error).
pub fn is_recoverable(e: &Error) -> bool {
    matches!(e.code, ErrorCode::ChunkCorrupt | ErrorCode::TooLarge)
}

#[cfg(test)]
mod tests;
