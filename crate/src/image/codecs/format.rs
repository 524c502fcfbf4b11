//! Input format detection from magic bytes.
//!
//! The file name is never trusted (a `.jpg` may hold a PNG, or an attack payload); only the first
//! bytes decide which decoder runs.

use super::avif;
use crate::error::{Error, ErrorCode, Result};

/// An image format restthumbs decodes or encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG (and APNG, of which only the default image is used).
    Png,
    /// WebP, lossy, lossless or animated.
    Webp,
    /// GIF87a / GIF89a (first frame only).
    Gif,
    /// AVIF still image or sequence (first frame only).
    Avif,
    /// TIFF or BigTIFF (first page only).
    Tiff,
}

impl Format {
    /// Lower-case name used across the FFI and in HTTP content negotiation (`jpeg`, `png`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Avif => "avif",
            Format::Tiff => "tiff",
        }
    }
}

/// Names the format of `data` from its signature.
pub fn detect(data: &[u8]) -> Result<Format> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Format::Jpeg)
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(Format::Png)
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Ok(Format::Webp)
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Ok(Format::Gif)
    } else if avif::is_avif(data) {
        Ok(Format::Avif)
    } else if avif::is_heif(data) {
        Err(avif::heic_unsupported())
    } else if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|m| data.starts_with(*m))
    {
        Ok(Format::Tiff)
    } else {
        Err(Error::new(
            ErrorCode::UnsupportedFormat,
            "Input is not a JPEG, PNG, WebP, GIF, AVIF or TIFF image (unrecognised signature)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_signature() {
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(), Format::Jpeg);
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n....").unwrap(), Format::Png);
        assert_eq!(detect(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), Format::Webp);
        assert_eq!(detect(b"GIF89a....").unwrap(), Format::Gif);
        assert_eq!(
            detect(b"\0\0\0\x14ftypavif\0\0\0\0mif1").unwrap(),
            Format::Avif
        );
        assert_eq!(detect(b"II*\0\x08\0\0\0").unwrap(), Format::Tiff);
        assert_eq!(detect(b"MM\0*\0\0\0\x08").unwrap(), Format::Tiff);
    }

    #[test]
    fn refuses_heic_by_name() {
        let e = detect(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedFormat);
        assert!(e.message.contains("HEIC"), "{}", e.message);
    }

    #[test]
    fn rejects_unknown_bytes() {
        for data in [&b""[..], b"hello world", b"RIFF\0\0\0\0WAVE", b"\x89PNG"] {
            assert_eq!(detect(data).unwrap_err().code, ErrorCode::UnsupportedFormat);
        }
    }
}
