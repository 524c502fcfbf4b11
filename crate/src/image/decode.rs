//! Decoder dispatch: one header type for every format (read without allocating pixels) and one
//! decode entry point that applies shrink-on-load where the codec supports it.

use super::codecs::{avif, tiff};
use super::format::{detect, Format};
use super::{gif, jpeg, png, webp, Decoded};
use crate::error::{catch_panic, ErrorCode, Result};

/// Header facts shared by every format, in STORED orientation.
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
    /// Largest single frame in pixels (GIF frames may claim more than the screen).
    pub largest_frame_pixels: u64,
    webp: Option<webp::WebpHeader>,
}

/// Reads the header of any supported format; never allocates pixel buffers.
pub fn read_header(data: &[u8]) -> Result<Header> {
    let format = detect(data)?;
    catch_panic(ErrorCode::Decode, || {
        let mut h = match format {
            Format::Jpeg => {
                let j = jpeg::read_header(data)?;
                Header {
                    format,
                    width: j.width,
                    height: j.height,
                    orientation: j.orientation,
                    has_alpha: false,
                    frames: 1,
                    largest_frame_pixels: 0,
                    webp: None,
                }
            }
            Format::Png => {
                let p = png::read_header(data)?;
                Header {
                    format,
                    width: p.width,
                    height: p.height,
                    orientation: p.orientation,
                    has_alpha: p.has_alpha,
                    frames: p.frames,
                    largest_frame_pixels: 0,
                    webp: None,
                }
            }
            Format::Webp => {
                let w = webp::read_header(data)?;
                Header {
                    format,
                    width: w.width,
                    height: w.height,
                    orientation: w.orientation,
                    has_alpha: w.has_alpha,
                    frames: w.frames,
                    largest_frame_pixels: 0,
                    webp: Some(w),
                }
            }
            Format::Gif => {
                let g = gif::read_header(data)?;
                Header {
                    format,
                    width: g.width,
                    height: g.height,
                    orientation: 1,
                    has_alpha: g.has_alpha,
                    frames: g.frames,
                    largest_frame_pixels: g.largest_frame_pixels,
                    webp: None,
                }
            }
            Format::Avif => {
                let a = avif::read_header(data)?;
                Header {
                    format,
                    width: a.width,
                    height: a.height,
                    orientation: a.orientation,
                    has_alpha: a.has_alpha,
                    frames: a.frames,
                    // The decoder allocates the coded size, before the clean-aperture crop.
                    largest_frame_pixels: a.coded_width as u64 * a.coded_height as u64,
                    webp: None,
                }
            }
            Format::Tiff => {
                let t = tiff::read_header(data)?;
                Header {
                    format,
                    width: t.width,
                    height: t.height,
                    orientation: t.orientation,
                    has_alpha: t.has_alpha,
                    frames: 1,
                    largest_frame_pixels: 0,
                    webp: None,
                }
            }
        };
        if !(1..=8).contains(&h.orientation) {
            h.orientation = 1;
        }
        h.largest_frame_pixels = h.largest_frame_pixels.max(h.width as u64 * h.height as u64);
        Ok(h)
    })
}

/// Decodes pixels. `min_width` × `min_height` (stored orientation, 0 = full size) lets JPEG and
/// WebP shrink while decoding and PNG box-shrink its rows as they stream out; GIF decodes at
/// full size.
pub fn decode(
    data: &[u8],
    header: &Header,
    min_width: u32,
    min_height: u32,
    max_bytes: u64,
) -> Result<Decoded> {
    let d = catch_panic(ErrorCode::Decode, || match header.format {
        Format::Jpeg => jpeg::decode(data, min_width, min_height),
        Format::Png => png::decode_shrunk(data, min_width, min_height),
        Format::Webp => webp::decode(
            data,
            header.webp.as_ref().expect("webp header"),
            min_width,
            min_height,
        ),
        Format::Gif => gif::decode(data, max_bytes),
        Format::Avif => avif::decode(data, min_width, min_height, max_bytes / 4),
        Format::Tiff => {
            let t = tiff::TiffHeader {
                width: header.width,
                height: header.height,
                orientation: header.orientation,
                has_alpha: header.has_alpha,
            };
            tiff::decode(data, &t, max_bytes.saturating_mul(2))
        }
    })?;
    debug_assert_eq!(
        d.pixels.len(),
        d.width as usize * d.height as usize * d.channels.count()
    );
    if d.pixels.len() < d.width as usize * d.height as usize * d.channels.count() {
        return Err(crate::error::Error::decode(
            "Decoder returned a short pixel buffer",
        ));
    }
    Ok(d)
}
