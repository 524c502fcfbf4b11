//! GIF: header scan (frame count without LZW decoding) and first-frame decoding.
//!
//! Only the first frame is used; it is composited onto a transparent canvas the size of the
//! logical screen, because a first frame may legally cover only part of it.

use std::borrow::Cow;
use std::io::Cursor;
use std::num::NonZeroU64;

use super::{Codec, Format, Header};
use crate::error::{Error, Result};
use crate::image::{Channels, Decoded};

/// The GIF entry points of the decoder dispatch; GIF decodes at full size.
pub const CODEC: Codec = Codec {
    header: |data| {
        let g = read_header(data)?;
        Ok(Header {
            format: Format::Gif,
            width: g.width,
            height: g.height,
            orientation: 1,
            has_alpha: g.has_alpha,
            frames: g.frames,
            largest_frame_pixels: g.largest_frame_pixels,
        })
    },
    decode: |data, _, r| decode(data, r.max_bytes),
};

/// What a pass over the GIF blocks says, without decompressing any frame.
#[derive(Debug, Clone)]
pub struct GifHeader {
    /// Logical screen width.
    pub width: u32,
    /// Logical screen height.
    pub height: u32,
    /// Number of frames.
    pub frames: u32,
    /// Pixels of the largest single frame (a frame may claim more than the screen).
    pub largest_frame_pixels: u64,
    /// Whether the first frame has a transparent colour or does not cover the screen.
    pub has_alpha: bool,
}

fn decode_error(e: gif::DecodingError) -> Error {
    Error::decode(format!("Invalid GIF: {e}"))
}

/// A file without a global colour table gets a default one, so frames without a local table
/// decode instead of failing the image (the gif crate refuses them). GIF89a, Appendix F:
/// "the decoder is free to use a system color table or other color table of its own … it is
/// recommended that such a table have black and white as its first two entries"; the rest is a
/// gray ramp.
fn with_default_palette(data: &[u8]) -> Cow<'_, [u8]> {
    const SCREEN_DESCRIPTOR_END: usize = 13;
    if data.len() < SCREEN_DESCRIPTOR_END || data[10] & 0x80 != 0 {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + 768);
    out.extend_from_slice(&data[..SCREEN_DESCRIPTOR_END]);
    // Global table present, 256 entries (size field 7); keep the colour resolution bits.
    out[10] |= 0x80 | 0x07;
    for i in 0..=255u8 {
        let v = match i {
            0 => 0,
            1 => 255,
            i => i,
        };
        out.extend_from_slice(&[v, v, v]);
    }
    out.extend_from_slice(&data[SCREEN_DESCRIPTOR_END..]);
    Cow::Owned(out)
}

/// Counts frames by walking blocks with LZW decoding switched off, so the cost is one pass over
/// the compressed bytes.
pub fn read_header(data: &[u8]) -> Result<GifHeader> {
    let data = &*with_default_palette(data);
    let mut opts = gif::DecodeOptions::new();
    opts.skip_frame_decoding(true);
    let mut d = opts.read_info(Cursor::new(data)).map_err(decode_error)?;
    let (width, height) = (d.width() as u32, d.height() as u32);
    let mut frames = 0u32;
    let mut largest = 0u64;
    let mut has_alpha = false;
    // A walk that breaks after the screen descriptor still reports the screen size, so a bomb
    // with a damaged body is refused by the pixel limit, and a truncated animation (a partial
    // download) still gets its complete frames counted and its first frame decoded.
    while let Ok(Some(f)) = d.read_next_frame() {
        if frames == 0 {
            has_alpha = f.transparent.is_some()
                || f.left != 0
                || f.top != 0
                || f.width as u32 != width
                || f.height as u32 != height;
        }
        frames += 1;
        largest = largest.max(f.width as u64 * f.height as u64);
    }
    Ok(GifHeader {
        width,
        height,
        frames: frames.max(1),
        largest_frame_pixels: largest,
        has_alpha,
    })
}

/// Decodes the first frame onto the logical screen; drops alpha when every pixel is opaque.
/// `max_bytes` caps the decoder's allocations (the pipeline derives it from maxInputPixels).
pub fn decode(data: &[u8], max_bytes: u64) -> Result<Decoded> {
    let data = &*with_default_palette(data);
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    if let Some(limit) = NonZeroU64::new(max_bytes) {
        opts.set_memory_limit(gif::MemoryLimit::Bytes(limit));
    }
    let mut d = opts.read_info(Cursor::new(data)).map_err(decode_error)?;
    let (width, height) = (d.width() as u32, d.height() as u32);
    let frame = d
        .read_next_frame()
        .map_err(decode_error)?
        .ok_or_else(|| Error::decode("Invalid GIF: no image frame"))?;
    let mut canvas = vec![0u8; width as usize * height as usize * 4];
    let (fl, ft, fw, fh) = (
        frame.left as usize,
        frame.top as usize,
        frame.width as usize,
        frame.height as usize,
    );
    for y in 0..fh {
        let cy = ft + y;
        if cy >= height as usize {
            break;
        }
        if fl >= width as usize {
            break;
        }
        let n = fw.min(width as usize - fl);
        let src = &frame.buffer[y * fw * 4..(y * fw + n) * 4];
        let dst = (cy * width as usize + fl) * 4;
        canvas[dst..dst + n * 4].copy_from_slice(src);
    }
    let opaque = canvas.chunks_exact(4).all(|p| p[3] == 255);
    let (pixels, channels) = if opaque {
        (
            canvas
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
            Channels::Rgb,
        )
    } else {
        (canvas, Channels::Rgba)
    };
    Ok(Decoded {
        pixels,
        width,
        height,
        channels,
        icc: None,
        orientation: 1,
        source_width: width,
        source_height: height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_frame_gif() -> Vec<u8> {
        let mut out = Vec::new();
        {
            let palette = [255, 0, 0, 0, 0, 255];
            let mut e = gif::Encoder::new(&mut out, 4, 2, &palette).unwrap();
            for idx in [0u8, 1] {
                let f = gif::Frame {
                    width: 4,
                    height: 2,
                    buffer: vec![idx; 8].into(),
                    ..Default::default()
                };
                e.write_frame(&f).unwrap();
            }
        }
        out
    }

    #[test]
    fn counts_frames_and_decodes_the_first() {
        let g = two_frame_gif();
        let h = read_header(&g).unwrap();
        assert_eq!((h.width, h.height, h.frames, h.has_alpha), (4, 2, 2, false));
        let d = decode(&g, 1 << 20).unwrap();
        assert_eq!(d.channels, Channels::Rgb);
        assert_eq!(&d.pixels[0..3], &[255, 0, 0]);
    }

    #[test]
    fn a_frame_without_any_colour_table_uses_the_default_one() {
        // Drop the 2-entry global table (flag in byte 10, 6 bytes after the descriptor).
        let mut g = two_frame_gif();
        assert_eq!(g[10] & 0x80, 0x80);
        g[10] &= 0x7F;
        g.drain(13..19);
        let h = read_header(&g).unwrap();
        assert_eq!((h.width, h.height, h.frames), (4, 2, 2));
        let d = decode(&g, 1 << 20).unwrap();
        assert_eq!(d.channels, Channels::Rgb);
        // Index 0 is black in the default table.
        assert_eq!(&d.pixels[0..3], &[0, 0, 0]);
    }

    #[test]
    fn truncated_gif_is_a_decode_error() {
        let g = two_frame_gif();
        assert!(decode(&g[..12], 1 << 20).is_err());
    }

    #[test]
    fn a_damaged_body_still_reports_the_screen_size() {
        let mut g = b"GIF89a".to_vec();
        g.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0]);
        g.extend_from_slice(b"garbage");
        let h = read_header(&g).unwrap();
        assert_eq!((h.width, h.height, h.frames), (65535, 65535, 1));
    }
}
