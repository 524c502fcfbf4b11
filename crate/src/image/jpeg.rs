//! JPEG: header scan (no pixel allocation) and decoding with shrink-on-load.
//!
//! Placeholder signatures: the implementation lands with the JPEG decoder work.

use super::Decoded;
use crate::error::{Error, ErrorCode, Result};

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
pub fn read_header(_data: &[u8]) -> Result<JpegHeader> {
    Err(Error::new(ErrorCode::UnsupportedFormat, "JPEG decoding is not built yet"))
}

/// Decodes, shrinking on load: picks the smallest DCT scale (1/1, 1/2, 1/4 or 1/8) whose output
/// is still at least `min_width` × `min_height` in the stored orientation (0 × 0 = full size).
pub fn decode(_data: &[u8], _min_width: u32, _min_height: u32) -> Result<Decoded> {
    Err(Error::new(ErrorCode::UnsupportedFormat, "JPEG decoding is not built yet"))
}
