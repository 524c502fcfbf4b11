//! Decoders, one file (or folder) per input format, behind one dispatch: the signature picks the
//! format ([`format::detect`]), the format picks its [`Codec`], and the codec reads the header
//! (without allocating pixels) or decodes.
//!
//! Adding a decoder takes one file here that exports a `CODEC`, a [`Format`] variant with its
//! signature in `format.rs`, and one arm in [`codec`].
//!
//! Pure Rust: nothing here imports `napi`.

pub mod exif;
pub mod format;
pub mod gif;
pub mod jpeg;
pub mod png;
pub mod webp;

pub use format::{detect, Format};

use super::limits::Limits;
use super::work::Work;
use super::Decoded;
use crate::error::{catch_panic, Error, ErrorCode, Result};

/// Header facts shared by every format, in STORED orientation (`pipeline::probe` returns it
/// turned upright).
#[derive(Debug, Clone)]
pub struct Header {
    /// Detected format.
    pub format: Format,
    /// Stored width.
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// EXIF orientation 1..=8.
    pub orientation: u8,
    /// Whether the image has an alpha channel.
    pub has_alpha: bool,
    /// Animation frames (1 for stills).
    pub frames: u32,
    /// Largest single frame in pixels (GIF frames may claim more than the screen); 0 when the
    /// codec only knows the canvas.
    pub largest_frame_pixels: u64,
}

/// What the pipeline asks of a decode.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Smallest useful width in stored orientation (0 with `min_height` 0 = full size); JPEG and
    /// WebP shrink while decoding and PNG box-shrinks its rows down to it.
    pub min_width: u32,
    /// Smallest useful height in stored orientation.
    pub min_height: u32,
    /// Cap on the decoder's own allocations, derived from the pixel limit.
    pub max_bytes: u64,
    /// The limits of the render (e.g. `max_scans`, checked by the JPEG marker walk).
    pub limits: &'a Limits,
    /// Cancellation and CPU budget; decoders with a hook (per scan, per row batch) check it.
    pub work: &'a Work<'a>,
}

/// The two entry points of a decoder.
pub struct Codec {
    /// Reads the header; must not allocate pixel buffers.
    pub header: fn(&[u8]) -> Result<Header>,
    /// Decodes the (first) image as the request asks.
    pub decode: fn(&[u8], &Header, &Request) -> Result<Decoded>,
}

/// The decoder of each format.
fn codec(format: Format) -> &'static Codec {
    match format {
        Format::Jpeg => &jpeg::CODEC,
        Format::Png => &png::CODEC,
        Format::Webp => &webp::CODEC,
        Format::Gif => &gif::CODEC,
    }
}

/// Reads the header of any supported format; never allocates pixel buffers.
pub fn read_header(data: &[u8]) -> Result<Header> {
    let format = detect(data)?;
    catch_panic(ErrorCode::Decode, || {
        let mut h = (codec(format).header)(data)?;
        h.format = format;
        if !(1..=8).contains(&h.orientation) {
            h.orientation = 1;
        }
        h.largest_frame_pixels = h.largest_frame_pixels.max(h.width as u64 * h.height as u64);
        Ok(h)
    })
}

/// Decodes pixels of an input whose header was read by [`read_header`].
pub fn decode(data: &[u8], header: &Header, request: &Request) -> Result<Decoded> {
    let d = catch_panic(ErrorCode::Decode, || {
        (codec(header.format).decode)(data, header, request)
    })?;
    let expected = d.width as usize * d.height as usize * d.channels.count();
    debug_assert_eq!(d.pixels.len(), expected);
    if d.pixels.len() < expected {
        return Err(Error::decode("Decoder returned a short pixel buffer"));
    }
    Ok(d)
}
