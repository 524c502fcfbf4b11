//! The thumbnail pipeline: decode → orient → resize/crop/smart → encode, all in one call.
//!
//! Pure Rust: nothing here imports `napi`.
//!
//! `codecs/` holds the decoders (one per input format, plus format sniffing and EXIF); the files
//! beside it are the pipeline stages, in the order `pipeline.rs` runs them:
//! `limits` → `codecs` (header, then decode with shrink-on-load) → `geometry` (plan) → `resize`
//! (with `shrink` and `smartcrop`) → `color` (to sRGB, flatten) → `orient` → `encode`;
//! `file` wraps the pipeline with an atomic file write.

/// Pixel layout of a decoded buffer, 8 bits per sample, rows tightly packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// 1 byte per pixel.
    Gray,
    /// 2 bytes per pixel: gray, alpha (straight, not premultiplied).
    GrayAlpha,
    /// 3 bytes per pixel.
    Rgb,
    /// 4 bytes per pixel: red, green, blue, alpha (straight, not premultiplied).
    Rgba,
    /// 4 bytes per pixel, 255 = full ink (Adobe-inverted files are already un-inverted).
    Cmyk,
}

impl Channels {
    /// Bytes per pixel.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::GrayAlpha => 2,
            Channels::Rgb => 3,
            Channels::Rgba | Channels::Cmyk => 4,
        }
    }
}

/// A decoded image, before orientation and colour conversion.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Pixel data, `width * height * channels.count()` bytes.
    pub pixels: Vec<u8>,
    /// Width of `pixels` (may be smaller than the source when shrunk on load).
    pub width: u32,
    /// Height of `pixels`.
    pub height: u32,
    /// Layout of `pixels`.
    pub channels: Channels,
    /// Embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
    /// EXIF orientation, 1..=8 (1 when absent).
    pub orientation: u8,
    /// Width of the full-size source as stored (before orientation).
    pub source_width: u32,
    /// Height of the full-size source as stored (before orientation).
    pub source_height: u32,
}

pub mod codecs;
pub mod color;
pub mod encode;
pub mod file;
pub mod geometry;
pub mod limits;
pub mod orient;
pub mod pipeline;
pub mod resize;
pub mod shrink;
pub mod smartcrop;
pub mod work;
