//! The reading half: verify the manifest, open the chunks and inflate, with a cap on the size.

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::aead::Sealer;
use super::parallel::{gather, inflate_segments, join_threads};
use super::*;
use crate::error::Result;

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
                let a = manifest.aad(i, i == last, options.cache_key);
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
