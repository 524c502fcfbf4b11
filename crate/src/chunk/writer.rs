//! The writing half: compress, seal and cut into chunks as the bytes stream in.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::aead::{Sealer, NONCE_LEN};
use super::*;
use crate::error::Result;

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
