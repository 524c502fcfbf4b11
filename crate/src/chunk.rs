//! Chunked storage of large cache values: zlib, split into memcached-sized chunks, optional
//! AES-256-GCM per chunk, and the reverse with a hard cap on the output size.
//!
//! The layout follows djblets' `cache_memoize_iter` (compress, then encrypt, then cut into
//! `2**20 - 1024`-byte chunks stored under `key-0 … key-N`), with two changes forced by its
//! weaknesses (REFERENCE B6, "Content / deserialisation"):
//! * every write gets a random id, and a [`Manifest`] stored under the main key records the chunk
//!   count, plaintext length, CRC-32 and id, so a missing, stale or mixed-up chunk is detected
//!   even without encryption;
//! * encryption is authenticated. Chunks are sealed as they are produced, before the count is
//!   known, so instead of the count the associated data carries a "final" flag (the STREAM
//!   construction): a chunk that claims to be last at index `n - 1` proves the count `n`, and a
//!   truncated or extended sequence fails to open.

mod aead;

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

pub use aead::{derive_key, OVERHEAD as SEAL_OVERHEAD};

use crate::error::{Error, ErrorCode, Result};
use aead::{Sealer, NONCE_LEN};

/// Largest stored chunk: "almost 1M (memcached's slab limit)", as djblets chose.
pub const CHUNK_SIZE: usize = (1 << 20) - 1024;

/// Default zlib level, measured on 8 MB of JSON-like records (`bench/cache.mjs`): level 2 keeps
/// the output within ~20% of node:zlib level 6 while compressing ~2.5× faster. Level 1 (static
/// Huffman only) is faster again but ~50% bigger and no faster to inflate.
pub const DEFAULT_LEVEL: u32 = 2;

/// Default cap on the size of a joined value, against decompression bombs planted in a store.
pub const DEFAULT_MAX_OUTPUT: usize = 512 << 20;

/// Plaintext bytes per independently decodable segment of a compressed value. The writer ends
/// each segment with a zlib full flush (which resets the window, costing well under 1% of size)
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
fn aad(id: &[u8; ID_LEN], compressed: bool, index: u32, last: bool, cache_key: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_MAGIC.len() + ID_LEN + 6 + cache_key.len());
    a.extend_from_slice(AAD_MAGIC);
    a.extend_from_slice(id);
    a.push(u8::from(compressed));
    a.extend_from_slice(&index.to_be_bytes());
    a.push(u8::from(last));
    a.extend_from_slice(cache_key);
    a
}

fn corrupt(message: impl Into<String>) -> Error {
    Error::chunk_corrupt(message)
}

/// Streams bytes in and hands out finished chunks as soon as they are full, so a producer of
/// many items never holds the whole value (djblets' `cache_memoize_iter`).
///
/// A full chunk is held back until at least one more byte exists, because only then is it known
/// not to be the last one, which sealing must say.
pub struct ChunkWriter {
    cache_key: Vec<u8>,
    compressor: Option<Compress>,
    sealer: Option<Sealer>,
    id: [u8; ID_LEN],
    crc: Crc,
    length: u64,
    /// Chunk being filled; `buf.len()` is its allocated size, `filled` what is used.
    buf: Vec<u8>,
    filled: usize,
    /// A full chunk waiting to learn whether it is the last.
    held: Option<Vec<u8>>,
    /// Sealed chunks not yet taken by the caller.
    ready: Vec<Vec<u8>>,
    /// Index of the next chunk to seal.
    index: u32,
    finished: bool,
    /// Plaintext bytes in the current compressed segment.
    segment_fill: usize,
    /// Start offsets of the compressed segments so far.
    segments: Vec<u64>,
}

impl ChunkWriter {
    /// Starts a write. `size_hint` (bytes of input expected) sizes the first buffer.
    pub fn new(options: ChunkOptions<'_>, size_hint: usize) -> Result<Self> {
        let compressor = match options.level {
            Some(level) if level > 9 => {
                return Err(Error::invalid_option(format!(
                    "Expected integer between 0 and 9 for level but received {level}"
                )))
            }
            Some(level) => Some(Compress::new(Compression::new(level), true)),
            None => None,
        };
        let sealer = options.encryption_key.map(Sealer::new);
        let mut id = [0u8; ID_LEN];
        aead::random_bytes(&mut id);
        let (header, limit) = match sealer {
            Some(_) => (NONCE_LEN, CHUNK_SIZE - aead::TAG_LEN),
            None => (0, CHUNK_SIZE),
        };
        let first = (size_hint + SEAL_OVERHEAD).clamp(MIN_BUFFER, limit);
        Ok(ChunkWriter {
            cache_key: options.cache_key.to_vec(),
            compressor,
            sealer,
            id,
            crc: Crc::new(),
            length: 0,
            buf: vec![0; first],
            filled: header,
            held: None,
            ready: Vec::new(),
            index: 0,
            finished: false,
            segment_fill: 0,
            segments: if options.level.is_some() {
                vec![ZLIB_HEADER as u64]
            } else {
                Vec::new()
            },
        })
    }

    /// Bytes of payload a chunk can hold, leaving room for the tag.
    fn limit(&self) -> usize {
        if self.sealer.is_some() {
            CHUNK_SIZE - aead::TAG_LEN
        } else {
            CHUNK_SIZE
        }
    }

    fn header(&self) -> usize {
        if self.sealer.is_some() {
            NONCE_LEN
        } else {
            0
        }
    }

    /// Makes room in the current chunk: grows its buffer, or retires it to `held` when full.
    fn make_room(&mut self) -> Result<()> {
        if self.filled < self.buf.len() {
            return Ok(());
        }
        if self.buf.len() < self.limit() {
            let grown = (self.buf.len() * 2).min(self.limit());
            self.buf.resize(grown, 0);
            return Ok(());
        }
        let limit = self.limit();
        let full = std::mem::replace(&mut self.buf, vec![0; limit]);
        self.filled = self.header();
        debug_assert!(self.held.is_none());
        self.held = Some(full);
        Ok(())
    }

    /// Called when bytes land in a new chunk: the held one is now known not to be the last.
    fn release_held(&mut self) -> Result<()> {
        if let Some(full) = self.held.take() {
            let len = full.len();
            self.seal(full, len, false)?;
        }
        Ok(())
    }

    fn seal(&mut self, mut chunk: Vec<u8>, filled: usize, last: bool) -> Result<()> {
        chunk.truncate(filled);
        if let Some(sealer) = &self.sealer {
            let a = aad(
                &self.id,
                self.compressor.is_some(),
                self.index,
                last,
                &self.cache_key,
            );
            sealer.seal_in_place(&mut chunk, &a)?;
        }
        // A small last chunk would otherwise pin a buffer of up to 1 MB inside a JS Buffer.
        if chunk.capacity() > chunk.len() * 2 {
            chunk.shrink_to_fit();
        }
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| Error::too_large("A chunked value cannot have 2^32 chunks"))?;
        self.ready.push(chunk);
        Ok(())
    }

    /// Runs the compressor (or a plain copy) over `input`, filling chunks.
    fn write(&mut self, mut input: &[u8], flush: FlushCompress) -> Result<()> {
        loop {
            self.make_room()?;
            let (consumed, produced, done) = match self.compressor.as_mut() {
                Some(c) => {
                    let (in0, out0) = (c.total_in(), c.total_out());
                    let status = c
                        .compress(input, &mut self.buf[self.filled..], flush)
                        .map_err(|e| Error::encode(format!("zlib failed: {e}")))?;
                    let consumed = (c.total_in() - in0) as usize;
                    let produced = (c.total_out() - out0) as usize;
                    let space_left = self.filled + produced < self.buf.len();
                    let done = match flush {
                        FlushCompress::Finish => status == Status::StreamEnd,
                        // With input left or the output full, zlib may hold more to write.
                        _ => consumed == input.len() && space_left,
                    };
                    (consumed, produced, done)
                }
                None => {
                    let n = input.len().min(self.buf.len() - self.filled);
                    self.buf[self.filled..self.filled + n].copy_from_slice(&input[..n]);
                    (n, n, n == input.len())
                }
            };
            if produced > 0 {
                self.release_held()?;
            }
            self.filled += produced;
            input = &input[consumed..];
            if done {
                return Ok(());
            }
        }
    }

    /// Adds bytes to the value. Returns the chunks completed so far (possibly none), in order.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        if self.finished {
            return Err(Error::invalid_option(
                "push() after finish() on a ChunkWriter",
            ));
        }
        self.crc.update(data);
        self.length += data.len() as u64;
        if self.compressor.is_none() {
            self.write(data, FlushCompress::None)?;
            return Ok(std::mem::take(&mut self.ready));
        }
        let mut rest = data;
        while !rest.is_empty() {
            // The flush waits for the next byte so that a value ending on a segment boundary
            // has no empty last segment.
            if self.segment_fill == SEGMENT_SIZE {
                self.write(&[], FlushCompress::Full)?;
                let at = self.compressor.as_ref().map_or(0, Compress::total_out);
                self.segments.push(at);
                self.segment_fill = 0;
            }
            let take = rest.len().min(SEGMENT_SIZE - self.segment_fill);
            self.write(&rest[..take], FlushCompress::None)?;
            self.segment_fill += take;
            rest = &rest[take..];
        }
        Ok(std::mem::take(&mut self.ready))
    }

    /// Ends the value. Returns the remaining chunks (at least the last one) and the manifest.
    pub fn finish(&mut self) -> Result<(Vec<Vec<u8>>, Manifest)> {
        if self.finished {
            return Err(Error::invalid_option(
                "finish() called twice on a ChunkWriter",
            ));
        }
        self.finished = true;
        if self.compressor.is_some() {
            self.write(&[], FlushCompress::Finish)?;
        }
        let header = self.header();
        let current = std::mem::take(&mut self.buf);
        match self.held.take() {
            // Nothing followed the held chunk: it is the last one.
            Some(full) if self.filled == header => {
                let len = full.len();
                self.seal(full, len, true)?;
            }
            Some(_) => unreachable!("bytes in a new chunk always release the held one"),
            None => {
                let filled = self.filled;
                self.seal(current, filled, true)?;
            }
        }
        let manifest = Manifest {
            count: self.index,
            length: self.length,
            crc32: self.crc.sum(),
            id: self.id,
            compressed: self.compressor.is_some(),
            encrypted: self.sealer.is_some(),
            segments: std::mem::take(&mut self.segments),
        };
        Ok((std::mem::take(&mut self.ready), manifest))
    }
}

/// Compresses, optionally encrypts and splits `data` in one call.
pub fn split(data: &[u8], options: ChunkOptions<'_>) -> Result<(Vec<Vec<u8>>, Manifest)> {
    let mut w = ChunkWriter::new(options, data.len())?;
    let mut chunks = w.push(data)?;
    let (rest, manifest) = w.finish()?;
    chunks.extend(rest);
    Ok((chunks, manifest))
}

/// Verifies, decrypts, joins and decompresses chunks written by [`ChunkWriter`] or [`split`].
///
/// The reader's expectations win over the manifest: with an `encryption_key` an unencrypted
/// manifest is refused (no downgrade by whoever can write to the store). Any mismatch is
/// [`ErrorCode::ChunkCorrupt`]; a value over `max_output` bytes is [`ErrorCode::TooLarge`].
pub fn join<C: AsRef<[u8]> + Sync>(
    chunks: &[C],
    manifest: &Manifest,
    options: ChunkOptions<'_>,
    max_output: usize,
) -> Result<Vec<u8>> {
    if manifest.count == 0 || chunks.len() != manifest.count as usize {
        return Err(corrupt(format!(
            "Expected {} chunks but received {}",
            manifest.count,
            chunks.len()
        )));
    }
    if manifest.encrypted != options.encryption_key.is_some() {
        return Err(corrupt(if manifest.encrypted {
            "The value is encrypted but no encryption key was given"
        } else {
            "An encryption key was given but the stored value is not encrypted"
        }));
    }
    let length = usize::try_from(manifest.length).unwrap_or(usize::MAX);
    if length > max_output {
        return Err(Error::too_large(format!(
            "Stored value of {length} bytes is over the {max_output}-byte limit"
        )));
    }
    let sealer = options.encryption_key.map(Sealer::new);
    let expected_segments = match (manifest.compressed, length) {
        (false, _) => 0,
        (true, 0) => 1,
        (true, n) => n.div_ceil(SEGMENT_SIZE),
    };
    if manifest.segments.len() != expected_segments {
        return Err(corrupt(format!(
            "Manifest lists {} segments for {length} bytes, expected {expected_segments}",
            manifest.segments.len()
        )));
    }
    let threads = join_threads().min(manifest.segments.len());
    if manifest.compressed && threads > 1 {
        let stream = gather(chunks, manifest, options, sealer.as_ref(), threads)?;
        let (out, crc) = inflate_segments(&stream, &manifest.segments, length, threads)?;
        if crc != manifest.crc32 {
            return Err(corrupt(
                "CRC-32 of the joined value does not match the manifest",
            ));
        }
        return Ok(out);
    }
    // One spare byte so an overlong stream shows up as a length mismatch, not as a stall.
    let mut out: Vec<u8> = Vec::with_capacity(length + 1);
    let mut inflater = manifest.compressed.then(|| Decompress::new(true));
    let mut ended = false;
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate() {
        let opened;
        let payload: &[u8] = match &sealer {
            Some(s) => {
                let a = aad(
                    &manifest.id,
                    manifest.compressed,
                    i as u32,
                    i == last,
                    options.cache_key,
                );
                opened = s.open(chunk.as_ref(), &a)?;
                &opened
            }
            None => chunk.as_ref(),
        };
        match inflater.as_mut() {
            None => {
                if out.len() + payload.len() > length {
                    return Err(corrupt("Chunks hold more bytes than the manifest says"));
                }
                out.extend_from_slice(payload);
            }
            Some(d) => {
                let mut input = payload;
                while !input.is_empty() {
                    if ended {
                        return Err(corrupt("Bytes follow the end of the zlib stream"));
                    }
                    let before = d.total_in();
                    let status = d
                        .decompress_vec(input, &mut out, FlushDecompress::None)
                        .map_err(|e| corrupt(format!("zlib stream is corrupt: {e}")))?;
                    let consumed = (d.total_in() - before) as usize;
                    input = &input[consumed..];
                    if status == Status::StreamEnd {
                        ended = true;
                    } else if out.len() == out.capacity() {
                        return Err(corrupt("Chunks inflate past the length in the manifest"));
                    } else if consumed == 0 {
                        return Err(corrupt("zlib stream made no progress"));
                    }
                }
            }
        }
    }
    if inflater.is_some() && !ended {
        return Err(corrupt("The zlib stream is truncated"));
    }
    if out.len() != length {
        return Err(corrupt(format!(
            "Joined value has {} bytes but the manifest says {length}",
            out.len()
        )));
    }
    let mut crc = Crc::new();
    crc.update(&out);
    if crc.sum() != manifest.crc32 {
        return Err(corrupt(
            "CRC-32 of the joined value does not match the manifest",
        ));
    }
    Ok(out)
}

/// Threads `join` may use: the machine's parallelism, capped.
fn join_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_JOIN_THREADS)
    })
}

/// Inflates one segment (raw deflate) into exactly `out`, returning the CRC-32 of `out`.
/// Every segment but the last ends with a full flush; the last ends the stream.
fn inflate_segment(input: &[u8], out: &mut [u8], last: bool) -> Result<Crc> {
    let mut d = Decompress::new(false);
    let bad = |e: flate2::DecompressError| corrupt(format!("zlib stream is corrupt: {e}"));
    let mut status = d
        .decompress(input, out, FlushDecompress::None)
        .map_err(bad)?;
    if d.total_out() as usize != out.len() {
        return Err(corrupt("A segment inflates to fewer bytes than it should"));
    }
    // With the output full, the flush marker or end-of-block code may still be unread; a
    // one-byte scratch buffer lets it through and catches any extra output.
    let mut scratch = [0u8; 1];
    while (d.total_in() as usize) < input.len() && status != Status::StreamEnd {
        let before = d.total_in();
        status = d
            .decompress(
                &input[before as usize..],
                &mut scratch,
                FlushDecompress::None,
            )
            .map_err(bad)?;
        if d.total_out() as usize != out.len() {
            return Err(corrupt("A segment inflates past its size"));
        }
        if d.total_in() == before {
            return Err(corrupt("A segment made no progress"));
        }
    }
    if d.total_in() as usize != input.len() || (status == Status::StreamEnd) != last {
        return Err(corrupt("A segment does not end where the manifest says"));
    }
    let mut crc = Crc::new();
    crc.update(out);
    Ok(crc)
}

/// Inflates a zlib stream written with segment flushes on up to `threads` threads, checking
/// the segment table against the stream. Returns the value and the CRC-32 of the whole.
/// The Adler-32 trailer is not checked here; the CRC-32 in the manifest covers the same bytes.
fn inflate_segments(
    stream: &[u8],
    segments: &[u64],
    length: usize,
    threads: usize,
) -> Result<(Vec<u8>, u32)> {
    if stream.len() < ZLIB_HEADER + ZLIB_TRAILER
        || segments.first() != Some(&(ZLIB_HEADER as u64))
        || stream[0] & 0x0f != 8
        || stream[1] & 0x20 != 0
        || (u16::from(stream[0]) << 8 | u16::from(stream[1])) % 31 != 0
    {
        return Err(corrupt("The compressed stream has no valid zlib header"));
    }
    let body_end = (stream.len() - ZLIB_TRAILER) as u64;
    let mut ranges = Vec::with_capacity(segments.len());
    for (i, &start) in segments.iter().enumerate() {
        let end = segments.get(i + 1).copied().unwrap_or(body_end);
        if start >= end || end > body_end {
            return Err(corrupt(
                "The segment table does not fit the compressed stream",
            ));
        }
        ranges.push(&stream[start as usize..end as usize]);
    }
    let mut out = vec![0u8; length];
    let n = ranges.len();
    let jobs: Vec<_> = ranges
        .into_iter()
        .zip(out.chunks_mut(SEGMENT_SIZE))
        .enumerate()
        .collect();
    let crcs = run_parallel(threads, jobs, |(i, (input, piece))| {
        inflate_segment(input, piece, i == n - 1)
    })?;
    let mut whole = Crc::new();
    for c in &crcs {
        whole.combine(c);
    }
    Ok((out, whole.sum()))
}

/// Runs `work` over `jobs` on up to `threads` threads (this one included), each taking a
/// contiguous run of jobs; returns the results in job order, or the first error.
fn run_parallel<J: Send, R: Send>(
    threads: usize,
    jobs: Vec<J>,
    work: impl Fn(J) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let n = jobs.len();
    let threads = threads.clamp(1, n.max(1));
    let mut groups: Vec<Vec<J>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        groups[i * threads / n.max(1)].push(job);
    }
    let work = &work;
    let run = move |group: Vec<J>| -> Result<Vec<R>> { group.into_iter().map(work).collect() };
    std::thread::scope(|scope| {
        let mut groups = groups.into_iter();
        let mine = groups.next().unwrap_or_default();
        let handles: Vec<_> = groups.map(|g| scope.spawn(move || run(g))).collect();
        let mut results = run(mine)?;
        for h in handles {
            let part = h
                .join()
                .map_err(|_| corrupt("A worker thread panicked while joining chunks"))??;
            results.extend(part);
        }
        Ok(results)
    })
}

/// Puts the stored payloads back into one contiguous stream, opening sealed chunks in parallel
/// straight into their place in it.
fn gather<C: AsRef<[u8]> + Sync>(
    chunks: &[C],
    manifest: &Manifest,
    options: ChunkOptions<'_>,
    sealer: Option<&Sealer>,
    threads: usize,
) -> Result<Vec<u8>> {
    let Some(sealer) = sealer else {
        let mut stream = Vec::with_capacity(chunks.iter().map(|c| c.as_ref().len()).sum());
        for c in chunks {
            stream.extend_from_slice(c.as_ref());
        }
        return Ok(stream);
    };
    let mut sizes = Vec::with_capacity(chunks.len());
    for c in chunks {
        let len = c.as_ref().len();
        if len < SEAL_OVERHEAD {
            return Err(corrupt(format!(
                "Encrypted chunk of {len} bytes is shorter than its {SEAL_OVERHEAD}-byte nonce and tag"
            )));
        }
        sizes.push(len - SEAL_OVERHEAD);
    }
    let mut stream = vec![0u8; sizes.iter().sum()];
    let mut rest = &mut stream[..];
    let mut jobs = Vec::with_capacity(chunks.len());
    for (i, (chunk, &size)) in chunks.iter().zip(&sizes).enumerate() {
        let (dest, tail) = rest.split_at_mut(size);
        rest = tail;
        jobs.push((i, chunk.as_ref(), dest));
    }
    let last = chunks.len() - 1;
    run_parallel(threads, jobs, |(i, chunk, dest)| {
        let a = aad(
            &manifest.id,
            manifest.compressed,
            i as u32,
            i == last,
            options.cache_key,
        );
        sealer.open_into(chunk, &a, dest)
    })?;
    Ok(stream)
}

/// Whether `e` means "recompute" to a memoizer (as opposed to a programming error).
pub fn is_recoverable(e: &Error) -> bool {
    matches!(e.code, ErrorCode::ChunkCorrupt | ErrorCode::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"memo:key";

    fn opts(level: Option<u32>, secret: Option<&'static [u8]>) -> ChunkOptions<'static> {
        ChunkOptions {
            cache_key: KEY,
            level,
            encryption_key: secret,
        }
    }

    /// Deterministic, compressible, JSON-like bytes.
    /// Inflates the concatenated chunks with an independent zlib reader.
    fn inflate_with_flate2(chunks: &[Vec<u8>]) -> Vec<u8> {
        let stream = chunks.concat();
        let mut d = flate2::read::ZlibDecoder::new(&stream[..]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 64);
        let mut i = 0u64;
        while out.len() < len {
            out.extend_from_slice(
                format!(
                    "{{\"id\":{i},\"name\":\"item-{}\",\"ok\":true}},",
                    i * 7919 % 1000
                )
                .as_bytes(),
            );
            i += 1;
        }
        out.truncate(len);
        out
    }

    /// Bytes zlib cannot shrink, so chunk boundaries are easy to predict.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn round_trip(data: &[u8], o: ChunkOptions<'_>) -> (Vec<Vec<u8>>, Manifest) {
        let (chunks, m) = split(data, o).unwrap();
        assert_eq!(chunks.len(), m.count as usize);
        assert!(chunks.iter().all(|c| c.len() <= CHUNK_SIZE));
        assert_eq!(join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap(), data);
        (chunks, m)
    }

    #[test]
    fn the_chunk_size_is_just_under_one_mebibyte() {
        assert_eq!(CHUNK_SIZE, 1_047_552);
    }

    #[test]
    fn empty_and_small_values_round_trip_in_one_chunk_in_every_mode() {
        for o in [
            opts(None, None),
            opts(Some(1), None),
            opts(None, Some(b"s")),
            opts(Some(6), Some(b"s")),
        ] {
            for data in [&b""[..], b"x", b"hello world"] {
                let (chunks, m) = round_trip(data, o);
                assert_eq!(m.count, 1);
                assert_eq!(chunks.len(), 1);
            }
        }
    }

    #[test]
    fn an_input_of_exactly_one_chunk_stays_one_chunk() {
        let data = noise(CHUNK_SIZE);
        let (chunks, _) = round_trip(&data, opts(None, None));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), CHUNK_SIZE);
    }

    #[test]
    fn one_byte_over_a_chunk_makes_a_second_chunk_of_one_byte() {
        let data = noise(CHUNK_SIZE + 1);
        let (chunks, _) = round_trip(&data, opts(None, None));
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [CHUNK_SIZE, 1]
        );
    }

    #[test]
    fn exactly_two_chunks_of_encrypted_payload_make_two_full_sealed_chunks() {
        let payload = CHUNK_SIZE - SEAL_OVERHEAD;
        let data = noise(2 * payload);
        let (chunks, m) = round_trip(&data, opts(None, Some(b"secret")));
        assert_eq!(m.count, 2);
        assert!(chunks.iter().all(|c| c.len() == CHUNK_SIZE));
    }

    #[test]
    fn large_compressible_data_spans_several_chunks_and_round_trips() {
        let data = sample(9 << 20);
        let (_, m) = round_trip(&data, opts(Some(1), None));
        assert!(m.count >= 1);
        let incompressible = noise(3 * CHUNK_SIZE + 5);
        let (chunks, _) = round_trip(&incompressible, opts(Some(1), Some(b"k")));
        assert_eq!(chunks.len(), 4);
    }

    #[test]
    fn compressed_chunks_are_a_plain_zlib_stream_other_tools_can_read() {
        let data = sample(100_000);
        let (chunks, m) = split(&data, opts(Some(6), None)).unwrap();
        assert!(m.compressed);
        assert_eq!(inflate_with_flate2(&chunks), data);
    }

    #[test]
    fn streaming_pushes_give_the_same_value_as_one_split() {
        let data = sample(3 << 20);
        let o = opts(Some(1), Some(b"k"));
        let mut w = ChunkWriter::new(o, 0).unwrap();
        let mut chunks = Vec::new();
        for piece in data.chunks(7777) {
            chunks.extend(w.push(piece).unwrap());
        }
        let (rest, m) = w.finish().unwrap();
        chunks.extend(rest);
        assert_eq!(join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap(), data);
    }

    #[test]
    fn streaming_hands_out_full_chunks_before_finish() {
        let o = opts(None, None);
        let mut w = ChunkWriter::new(o, 0).unwrap();
        assert!(w.push(&noise(CHUNK_SIZE)).unwrap().is_empty());
        let out = w.push(b"more").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), CHUNK_SIZE);
        let (rest, m) = w.finish().unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(m.count, 2);
        assert!(w.push(b"x").is_err());
    }

    #[test]
    fn a_tampered_encrypted_chunk_is_corrupt() {
        let data = noise(CHUNK_SIZE * 2);
        let o = opts(None, Some(b"k"));
        let (mut chunks, m) = split(&data, o).unwrap();
        chunks[1][100] ^= 0x40;
        let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn swapped_truncated_or_foreign_encrypted_chunks_are_corrupt() {
        let data = noise(CHUNK_SIZE * 3);
        let o = opts(Some(1), Some(b"k"));
        let (chunks, m) = split(&data, o).unwrap();
        assert_eq!(m.count, 4);
        let mut swapped = chunks.clone();
        swapped.swap(0, 1);
        assert!(join(&swapped, &m, o, DEFAULT_MAX_OUTPUT).is_err());
        // Dropping the last chunk and lowering the count in the manifest is still detected,
        // because chunk 2 was not sealed as the last one.
        let short = Manifest {
            count: 3,
            ..m.clone()
        };
        let e = join(&chunks[..3], &short, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
        // The same chunks under another key, or a chunk from another write, fail too.
        let other = ChunkOptions {
            cache_key: b"memo:other",
            ..o
        };
        assert!(join(&chunks, &m, other, DEFAULT_MAX_OUTPUT).is_err());
        let (second, _) = split(&data, o).unwrap();
        let mut mixed = chunks.clone();
        mixed[2] = second[2].clone();
        assert!(join(&mixed, &m, o, DEFAULT_MAX_OUTPUT).is_err());
    }

    #[test]
    fn a_wrong_key_or_a_downgrade_to_plaintext_is_refused() {
        let (chunks, m) = split(b"value", opts(None, Some(b"k"))).unwrap();
        assert!(join(&chunks, &m, opts(None, Some(b"x")), 1 << 20).is_err());
        let (plain, pm) = split(b"value", opts(None, None)).unwrap();
        let e = join(&plain, &pm, opts(None, Some(b"k")), 1 << 20).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn a_missing_chunk_or_edited_plain_chunk_is_corrupt() {
        let data = sample(2 * CHUNK_SIZE + 1);
        let o = opts(None, None);
        let (mut chunks, m) = split(&data, o).unwrap();
        assert_eq!(m.count, 3);
        assert!(join(&chunks[..2], &m, o, DEFAULT_MAX_OUTPUT).is_err());
        chunks[1][10] ^= 1;
        let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn an_edited_compressed_chunk_is_corrupt() {
        let data = sample(300_000);
        let o = opts(Some(1), None);
        let (mut chunks, m) = split(&data, o).unwrap();
        let mid = chunks[0].len() / 2;
        chunks[0][mid] ^= 0xff;
        let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn a_decompression_bomb_is_stopped_by_the_output_cap() {
        let data = vec![0u8; 4 << 20];
        let o = opts(Some(9), None);
        let (chunks, m) = split(&data, o).unwrap();
        let e = join(&chunks, &m, o, 1 << 20).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        // A manifest that lies about the length cannot make the inflater run past it.
        let lying = Manifest {
            length: 1000,
            ..m.clone()
        };
        let e = join(&chunks, &lying, o, 1 << 20).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn compressed_values_record_one_segment_per_mebibyte() {
        let (_, m) = round_trip(&sample(9 << 20), opts(Some(1), None));
        assert_eq!(m.segments.len(), 9);
        assert_eq!(m.segments[0], ZLIB_HEADER as u64);
        assert!(m.segments.windows(2).all(|w| w[0] < w[1]));
        let (_, exact) = round_trip(&sample(2 * SEGMENT_SIZE), opts(Some(1), None));
        assert_eq!(exact.segments.len(), 2, "no empty segment after a boundary");
        let (_, empty) = round_trip(b"", opts(Some(1), None));
        assert_eq!(empty.segments.len(), 1);
        let (_, plain) = round_trip(b"abc", opts(None, None));
        assert!(plain.segments.is_empty());
    }

    #[test]
    fn segmented_streams_are_still_one_valid_zlib_stream() {
        let data = sample(3 * SEGMENT_SIZE + 123);
        let (chunks, _) = split(&data, opts(Some(1), None)).unwrap();
        assert_eq!(inflate_with_flate2(&chunks), data);
    }

    #[test]
    fn parallel_and_single_thread_inflation_agree() {
        let data = sample(5 * SEGMENT_SIZE + 7);
        let (chunks, m) = split(&data, opts(Some(1), None)).unwrap();
        let stream = chunks.concat();
        for threads in 1..=4 {
            let (out, crc) = inflate_segments(&stream, &m.segments, data.len(), threads).unwrap();
            assert_eq!(out, data);
            assert_eq!(crc, m.crc32);
        }
    }

    #[test]
    fn a_streamed_value_has_the_same_segments_as_a_split_one() {
        let data = sample(3 * SEGMENT_SIZE + 5);
        let o = opts(Some(1), None);
        let mut w = ChunkWriter::new(o, 0).unwrap();
        let mut chunks = Vec::new();
        for piece in data.chunks(100_000) {
            chunks.extend(w.push(piece).unwrap());
        }
        let (rest, m) = w.finish().unwrap();
        chunks.extend(rest);
        let (_, whole) = split(&data, o).unwrap();
        assert_eq!(m.segments, whole.segments);
        assert_eq!(join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap(), data);
    }

    #[test]
    fn a_wrong_segment_table_or_an_edited_segment_is_corrupt() {
        let data = sample(4 * SEGMENT_SIZE);
        let o = opts(Some(1), None);
        let (mut chunks, m) = split(&data, o).unwrap();
        let mut moved = m.clone();
        moved.segments[2] += 1;
        let e = join(&chunks, &moved, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
        let mut short = m.clone();
        short.segments.pop();
        assert!(join(&chunks, &short, o, DEFAULT_MAX_OUTPUT).is_err());
        let mid = chunks[0].len() / 2;
        chunks[0][mid] ^= 0x55;
        let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn encrypted_segmented_values_open_in_parallel_and_catch_tampering() {
        let mut data = sample(4 * SEGMENT_SIZE);
        data.extend(noise(2 * SEGMENT_SIZE + 99));
        let o = opts(Some(2), Some(b"secret"));
        let (mut chunks, m) = round_trip(&data, o);
        assert!(m.segments.len() > 1 && chunks.len() > 1);
        chunks[1][NONCE_LEN + 3] ^= 0x08;
        let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
        assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    }

    #[test]
    fn a_level_over_nine_is_an_invalid_option() {
        let e = split(b"x", opts(Some(10), None)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOption);
    }
}
