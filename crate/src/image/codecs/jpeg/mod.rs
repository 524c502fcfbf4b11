//! JPEG: header scan (no pixel allocation) and decoding with shrink-on-load.
//!
//! Decoding runs libjpeg (mozjpeg's build, with SIMD) at the smallest DCT scale that still covers
//! the requested size. Progressive files are where libjpeg is slow (it Huffman-decodes every scan
//! even at 1/8), so they take shortcuts that make their cost follow the output size:
//! - at 1/8, when every component's IDCT is 1×1 (no subsampling, or 4:2:2), `dc` decodes only the
//!   DC scans itself, pixel-identical to libjpeg and without its whole-image coefficient buffer;
//! - otherwise at 1/4 or 1/8, `prune` drops the scans the scaled IDCT would not read and libjpeg
//!   decodes the rest.

mod dc;
mod huffman;
mod libjpeg;
mod markers;
mod prune;

use super::{Codec, Format, Header};
use crate::error::{catch_panic, ErrorCode, Result};
use crate::image::limits::Limits;
use crate::image::work::Work;
use crate::image::Decoded;

/// The JPEG entry points of the decoder dispatch.
pub const CODEC: Codec = Codec {
    header: |data| {
        let j = read_header(data)?;
        Ok(Header {
            format: Format::Jpeg,
            width: j.width,
            height: j.height,
            orientation: j.orientation,
            has_alpha: false,
            frames: 1,
            largest_frame_pixels: 0,
        })
    },
    decode: |data, _, r| decode_with(data, r.min_width, r.min_height, Some((r.limits, r.work))),
};

/// What the JPEG header says, read by scanning markers only.
#[derive(Debug, Clone, Default)]
pub struct JpegHeader {
    /// Stored width in pixels (before EXIF orientation).
    pub width: u32,
    /// Stored height in pixels (before EXIF orientation).
    pub height: u32,
    /// Number of colour components (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK).
    pub components: u8,
    /// Whether the file is progressive (SOF2).
    pub progressive: bool,
    /// EXIF orientation 1..=8 (1 when absent).
    pub orientation: u8,
    /// Embedded ICC profile, reassembled from its APP2 chunks.
    pub icc: Option<Vec<u8>>,
}

/// Reads the header by scanning markers; never allocates pixels.
pub fn read_header(data: &[u8]) -> Result<JpegHeader> {
    let p = markers::parse(data)?;
    Ok(JpegHeader {
        width: p.width,
        height: p.height,
        components: p.components.len() as u8,
        progressive: p.progressive,
        orientation: p.orientation,
        icc: p.icc,
    })
}

/// The DCT scale denominator (1, 2, 4 or 8) for a decode: the largest whose output,
/// `ceil(size / denom)` as libjpeg computes it, is still at least the minimum in both directions.
/// A minimum of 0 × 0 asks for full size.
pub fn scale_denominator(width: u32, height: u32, min_width: u32, min_height: u32) -> u32 {
    if min_width == 0 && min_height == 0 {
        return 1;
    }
    [8, 4, 2]
        .into_iter()
        .find(|&d| width.div_ceil(d) >= min_width && height.div_ceil(d) >= min_height)
        .unwrap_or(1)
}

/// Decodes, shrinking on load: picks the smallest DCT scale (1/1, 1/2, 1/4 or 1/8) whose output
/// is still at least `min_width` × `min_height` in the stored orientation (0 × 0 = full size).
pub fn decode(data: &[u8], min_width: u32, min_height: u32) -> Result<Decoded> {
    decode_with(data, min_width, min_height, None)
}

/// [`decode`] under the render's limits and work guard: the scan count is checked by a marker
/// walk before any decoding, and libjpeg checks the guard from its progress monitor.
pub fn decode_with(
    data: &[u8],
    min_width: u32,
    min_height: u32,
    guard: Option<(&Limits, &Work)>,
) -> Result<Decoded> {
    let parsed = markers::parse(data)?;
    if let Some((limits, _)) = guard {
        if parsed.progressive {
            let cap = limits.max_scans as usize;
            limits.check_scans(markers::count_scans(data, parsed.first_sos, cap + 1))?;
        }
    }
    let work = guard.map(|(_, w)| w);
    let denom = scale_denominator(parsed.width, parsed.height, min_width, min_height);
    // Progressive photos without chroma subsampling at 1/8: only their DC scans are decoded
    let fast = if dc::eligible(&parsed, denom) {
        catch_panic(ErrorCode::Decode, || Ok(dc::decode(data, &parsed)))?
    } else {
        None
    };
    let raw = match fast {
        Some(raw) => raw,
        None => {
            let pruned = prune::prune(data, &parsed, denom);
            let stream = pruned.as_deref().unwrap_or(data);
            let adobe = parsed.adobe_transform.is_some();
            catch_panic(ErrorCode::Decode, || {
                libjpeg::decompress(stream, denom, adobe, work)
            })?
        }
    };
    Ok(Decoded {
        pixels: raw.pixels,
        width: raw.width,
        height: raw.height,
        channels: raw.channels,
        icc: parsed.icc,
        orientation: parsed.orientation,
        source_width: parsed.width,
        source_height: parsed.height,
    })
}

#[cfg(test)]
mod tests;
