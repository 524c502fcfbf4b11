//! PNG: header read (up to the first IDAT, no pixels) and decoding to 8-bit samples.
//!
//! Palette, low-bit gray and tRNS are expanded by the `png` crate; 16-bit samples are reduced
//! here with rounding (the crate's `STRIP_16` truncates, which darkens every value by up to one
//! step).

use std::io::Cursor;

use super::exif::orientation_from_tiff;
use super::{Codec, Format, Header};
use crate::error::{Error, Result};
use crate::image::shrink::{self, BoxShrink};
use crate::image::{Channels, Decoded};

/// The PNG entry points of the decoder dispatch.
pub const CODEC: Codec = Codec {
    header: |data| {
        let p = read_header(data)?;
        Ok(Header {
            format: Format::Png,
            width: p.width,
            height: p.height,
            orientation: p.orientation,
            has_alpha: p.has_alpha,
            frames: p.frames,
            largest_frame_pixels: 0,
        })
    },
    decode: |data, _, r| decode_shrunk(data, r.min_width, r.min_height),
};

/// What the PNG header (chunks before IDAT) says.
#[derive(Debug, Clone)]
pub struct PngHeader {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether the decoded image has an alpha channel (colour type or tRNS).
    pub has_alpha: bool,
    /// APNG frame count (1 for plain PNG).
    pub frames: u32,
    /// EXIF orientation from an `eXIf` chunk, 1 when absent.
    pub orientation: u8,
}

fn decode_error(e: png::DecodingError) -> Error {
    Error::decode(format!("Invalid PNG: {e}"))
}

/// Allocation cap while reading chunks before IDAT: bounds a zlib bomb hidden in iCCP or eXIf.
const HEADER_BYTES: usize = 64 << 20;

fn decoder(data: &[u8], max_bytes: usize) -> png::Decoder<Cursor<&[u8]>> {
    let mut d = png::Decoder::new_with_limits(Cursor::new(data), png::Limits { bytes: max_bytes });
    d.set_ignore_text_chunk(true);
    d
}

/// Allocation cap for a full decode: the pixel limit was checked from IHDR before this runs, so
/// the cap follows the image (16-bit RGBA plus slack) instead of the crate's fixed 64 MiB, which
/// would refuse legitimate 50 MP photos.
fn decode_bytes(data: &[u8]) -> usize {
    let dim = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()) as usize)
            .unwrap_or(0)
    };
    (dim(16).saturating_mul(dim(20)).saturating_mul(8)).saturating_add(HEADER_BYTES)
}

/// Reads the header without decoding pixels. IHDR alone is enough to enforce limits, so when
/// the chunks before IDAT are broken or missing (a header-only bomb) the IHDR facts are returned
/// and decoding reports the damage later.
pub fn read_header(data: &[u8]) -> Result<PngHeader> {
    match read_full_header(data) {
        Ok(h) => Ok(h),
        Err(e) => {
            let mut d = decoder(data, HEADER_BYTES);
            let Ok(info) = d.read_header_info() else {
                return Err(e);
            };
            Ok(PngHeader {
                width: info.width,
                height: info.height,
                has_alpha: info.trns.is_some() || info.color_type.samples() % 2 == 0,
                frames: 1,
                orientation: 1,
            })
        }
    }
}

fn read_full_header(data: &[u8]) -> Result<PngHeader> {
    let mut d = decoder(data, HEADER_BYTES);
    d.set_transformations(png::Transformations::EXPAND);
    let reader = d.read_info().map_err(decode_error)?;
    let info = reader.info();
    let (color, _) = reader.output_color_type();
    Ok(PngHeader {
        width: info.width,
        height: info.height,
        has_alpha: matches!(color, png::ColorType::Rgba | png::ColorType::GrayscaleAlpha),
        frames: info
            .animation_control
            .map(|a| a.num_frames.max(1))
            .unwrap_or(1),
        orientation: info
            .exif_metadata
            .as_deref()
            .map(orientation_from_tiff)
            .unwrap_or(1),
    })
}

/// Decodes the (first / default) image at full size to 8-bit gray, gray+alpha, RGB or RGBA.
pub fn decode(data: &[u8]) -> Result<Decoded> {
    decode_shrunk(data, 0, 0)
}

/// Decodes the (first / default) image, box-shrinking rows as they come out of the decoder
/// when the pipeline needs no more than `min_width` × `min_height` (0 × 0 = full size; see
/// [`shrink::factor`]). Progressive (Adam7) files are decoded whole and then shrunk, since
/// their first passes do not carry full rows.
pub fn decode_shrunk(data: &[u8], min_width: u32, min_height: u32) -> Result<Decoded> {
    let mut d = decoder(data, decode_bytes(data));
    d.set_transformations(png::Transformations::EXPAND);
    let mut reader = d.read_info().map_err(decode_error)?;
    let (color, depth) = reader.output_color_type();
    let channels = match color {
        png::ColorType::Grayscale => Channels::Gray,
        png::ColorType::GrayscaleAlpha => Channels::GrayAlpha,
        png::ColorType::Rgb => Channels::Rgb,
        png::ColorType::Rgba => Channels::Rgba,
        png::ColorType::Indexed => return Err(Error::decode("PNG palette was not expanded")),
    };
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    let interlaced = info.interlaced;
    let f = shrink::factor(width, height, min_width, min_height);
    let alpha = matches!(channels, Channels::Rgba | Channels::GrayAlpha);
    let mut boxes = BoxShrink::new(width, height, channels.count(), alpha, f);
    let sixteen = depth == png::BitDepth::Sixteen;
    let row_samples = width as usize * channels.count();
    let mut narrow = Vec::with_capacity(if sixteen { row_samples } else { 0 });
    let mut push = |row: &[u8], boxes: &mut BoxShrink| {
        if sixteen {
            narrow.clear();
            narrow.extend(row.chunks_exact(2).take(row_samples).map(|s| {
                let v = u16::from_be_bytes([s[0], s[1]]) as u32;
                ((v * 255 + 32767) / 65535) as u8
            }));
            boxes.push(&narrow);
        } else {
            boxes.push(row);
        }
    };
    if interlaced {
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| Error::too_large("PNG output buffer size overflows"))?;
        let mut buf = vec![0u8; size];
        let frame = reader.next_frame(&mut buf).map_err(decode_error)?;
        for row in buf.chunks_exact(frame.line_size).take(height as usize) {
            push(row, &mut boxes);
        }
    } else {
        for _ in 0..height {
            let row = reader
                .next_row()
                .map_err(decode_error)?
                .ok_or_else(|| Error::decode("Invalid PNG: image data ends early"))?;
            push(row.data(), &mut boxes);
        }
    }
    let info = reader.info();
    let icc = info.icc_profile.as_ref().map(|c| c.to_vec());
    let orientation = info
        .exif_metadata
        .as_deref()
        .map(orientation_from_tiff)
        .unwrap_or(1);
    let (out_w, out_h) = BoxShrink::output_size(width, height, f);
    Ok(Decoded {
        pixels: boxes.finish(),
        width: out_w,
        height: out_h,
        channels,
        icc,
        orientation,
        source_width: width,
        source_height: height,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes a small PNG for tests.
    pub(crate) fn encode(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = png::Encoder::new(&mut out, w, h);
            e.set_color(color);
            e.set_depth(depth);
            let mut wr = e.write_header().unwrap();
            wr.write_image_data(data).unwrap();
        }
        out
    }

    #[test]
    fn sixteen_bit_rounds_to_nearest() {
        // 0x8080 = 32896 → 127.996 → 128; truncation would give 128 too, so also test 0x01FF.
        let data = [0x80, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0x00, 0x00];
        let png = encode(
            4,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &data,
        );
        let d = decode(&png).unwrap();
        assert_eq!(d.channels, Channels::Gray);
        assert_eq!(d.pixels, vec![128, 2, 255, 0]);
    }

    #[test]
    fn header_reads_dimensions_without_pixels() {
        let png = encode(3, 2, png::ColorType::Rgba, png::BitDepth::Eight, &[7; 24]);
        let h = read_header(&png).unwrap();
        assert_eq!(
            (h.width, h.height, h.has_alpha, h.frames, h.orientation),
            (3, 2, true, 1, 1)
        );
    }

    #[test]
    fn truncated_png_is_a_decode_error() {
        let png = encode(
            64,
            64,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[9; 64 * 64 * 3],
        );
        let e = decode(&png[..png.len() / 2]).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::Decode);
    }

    #[test]
    fn palette_with_trns_is_expanded_then_shrunk_with_alpha() {
        // 8 × 4, index 0 = opaque blue, index 1 = transparent red; columns alternate 0/1, so
        // every 2 × 2 box holds two of each and averages to half-transparent pure blue.
        let idx: Vec<u8> = (0..4).flat_map(|_| [0x11u8, 0x11]).collect();
        let mut out = Vec::new();
        {
            let mut e = png::Encoder::new(&mut out, 8, 4);
            e.set_color(png::ColorType::Indexed);
            e.set_depth(png::BitDepth::Two);
            e.set_palette(vec![0, 0, 255, 255, 0, 0]);
            e.set_trns(vec![255, 0]);
            e.write_header().unwrap().write_image_data(&idx).unwrap();
        }
        let d = decode_shrunk(&out, 2, 1).unwrap();
        assert_eq!((d.width, d.height, d.channels), (4, 2, Channels::Rgba));
        assert_eq!((d.source_width, d.source_height), (8, 4));
        assert!(
            d.pixels.chunks_exact(4).all(|p| p == [0, 0, 255, 128]),
            "{:?}",
            d.pixels
        );
    }
}
