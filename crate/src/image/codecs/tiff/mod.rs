//! TIFF through the pure-Rust `tiff` crate: first page, 1 to 16 bits per sample, gray
//! (MinIsWhite inverted by the crate), palette, RGB, RGBA, gray + alpha, CMYK, YCbCr (JPEG
//! compressed), with the compressions the crate has: none, LZW, Deflate, PackBits, JPEG and
//! CCITT Group 4.
//!
//! The header read parses only the first directory. Decoding is bounded by the crate's own
//! buffer limit, set from the pixel limit, on top of the pipeline's header check.

mod ifd;

use std::io::Cursor;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::ColorType;

use super::{Codec, Format, Header};
use crate::error::{Error, ErrorCode, Result};
use crate::image::{Channels, Decoded};

/// The TIFF entry points of the decoder dispatch.
pub const CODEC: Codec = Codec {
    header: |data| {
        let t = read_header(data)?;
        Ok(Header {
            format: Format::Tiff,
            width: t.width,
            height: t.height,
            orientation: t.orientation,
            has_alpha: t.has_alpha,
            frames: 1,
            largest_frame_pixels: 0,
        })
    },
    decode: |data, h, r| {
        let t = TiffHeader {
            width: h.width,
            height: h.height,
            orientation: h.orientation,
            has_alpha: h.has_alpha,
        };
        // 16-bit samples take twice the bytes of the 8-bit buffer `max_bytes` was sized for.
        decode(data, &t, r.max_bytes.saturating_mul(2))
    },
};

/// What the first directory says.
#[derive(Debug, Clone)]
pub struct TiffHeader {
    /// Width of the first page.
    pub width: u32,
    /// Height of the first page.
    pub height: u32,
    /// `Orientation` tag, 1..=8.
    pub orientation: u8,
    /// Whether the page has an alpha sample.
    pub has_alpha: bool,
}

fn tiff_error(e: tiff::TiffError) -> Error {
    match e {
        tiff::TiffError::UnsupportedError(u) => Error::new(
            ErrorCode::UnsupportedFormat,
            format!("Unsupported TIFF layout: {u}"),
        ),
        tiff::TiffError::LimitsExceeded => {
            Error::too_large("TIFF data is over the maxInputPixels limit; raise it to accept it")
        }
        e => Error::decode(format!("Invalid TIFF: {e}")),
    }
}

fn open(data: &[u8], max_bytes: u64) -> Result<Decoder<Cursor<&[u8]>>> {
    let mut limits = Limits::default();
    limits.decoding_buffer_size = max_bytes.min(usize::MAX as u64) as usize;
    limits.intermediate_buffer_size = limits.decoding_buffer_size;
    Ok(Decoder::new(Cursor::new(data))
        .map_err(tiff_error)?
        .with_limits(limits))
}

/// Reads the first directory: size, orientation, alpha. Nothing else of the file is read.
pub fn read_header(data: &[u8]) -> Result<TiffHeader> {
    let ifd = ifd::read(data)?;
    Ok(TiffHeader {
        width: ifd.width,
        height: ifd.height,
        orientation: ifd.orientation,
        has_alpha: ifd.has_alpha(),
    })
}

/// Samples scaled to 8 bits; sub-byte samples are unpacked from their padded rows.
fn to_8bit(result: DecodingResult, bits: u8, width: usize, samples: usize) -> Result<Vec<u8>> {
    match (result, bits) {
        (DecodingResult::U8(v), 8) => Ok(v),
        (DecodingResult::U8(v), 1 | 2 | 4) => {
            let per_row = width * samples;
            let row_bytes = (per_row * bits as usize).div_ceil(8);
            let max = (1u32 << bits) - 1;
            let mut out = Vec::with_capacity(v.len() / row_bytes.max(1) * per_row);
            for row in v.chunks(row_bytes.max(1)) {
                for i in 0..per_row {
                    let bit = i * bits as usize;
                    let byte = row.get(bit / 8).copied().unwrap_or(0) as u32;
                    let s = (byte >> (8 - bits as usize - bit % 8)) & max;
                    out.push((s * 255 / max) as u8);
                }
            }
            Ok(out)
        }
        (DecodingResult::U16(v), _) => {
            Ok(v.iter().map(|&s| ((s as u32 + 128) / 257) as u8).collect())
        }
        _ => Err(Error::new(
            ErrorCode::UnsupportedFormat,
            format!("TIFF with {bits}-bit or floating-point samples is not supported"),
        )),
    }
}

/// Decodes the first page to 8-bit gray, gray + alpha, RGB, RGBA or CMYK.
pub fn decode(data: &[u8], header: &TiffHeader, max_bytes: u64) -> Result<Decoded> {
    let layout = ifd::read(data)?;
    if layout.photometric != 3 {
        return decode_page(data, header, max_bytes, false);
    }
    // The tiff crate (0.11) refuses palette pages; it reads their indices as gray samples once
    // the page says BlackIsZero, and the colour map is applied here.
    let gray = ifd::with_photometric(data, &layout, 1).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedFormat,
            "Unsupported TIFF layout: a palette page whose PhotometricInterpretation is not a SHORT",
        )
    })?;
    decode_page(&gray, header, max_bytes, true)
}

fn decode_page(data: &[u8], header: &TiffHeader, max_bytes: u64, palette: bool) -> Result<Decoded> {
    let mut d = open(data, max_bytes)?;
    let color = d.colortype().map_err(tiff_error)?;
    let icc = d.get_tag_u8_vec(Tag::IccProfile).ok();
    let associated = matches!(
        d.find_tag_unsigned_vec::<u16>(Tag::ExtraSamples),
        Ok(Some(v)) if v.first() == Some(&1)
    );
    let palette = match palette {
        true => Some(d.get_tag_u16_vec(Tag::ColorMap).map_err(tiff_error)?),
        false => None,
    };
    let (w, h) = (header.width as usize, header.height as usize);
    let (bits, samples, channels) = match color {
        ColorType::Gray(b) | ColorType::Palette(b) => (b, 1, Channels::Gray),
        ColorType::GrayA(b)
        | ColorType::Multiband {
            bit_depth: b,
            num_samples: 2,
        } => (b, 2, Channels::GrayAlpha),
        ColorType::RGB(b) | ColorType::YCbCr(b) => (b, 3, Channels::Rgb),
        ColorType::RGBA(b) => (b, 4, Channels::Rgba),
        ColorType::CMYK(b) => (b, 4, Channels::Cmyk),
        ColorType::CMYKA(b) => (b, 5, Channels::Cmyk),
        other => {
            return Err(Error::new(
                ErrorCode::UnsupportedFormat,
                format!("TIFF colour type {other:?} is not supported"),
            ))
        }
    };
    let raw = d.read_image().map_err(tiff_error)?;
    let mut pixels = to_8bit(raw, bits, w, samples)?;
    if pixels.len() < w * h * samples {
        return Err(Error::decode("Invalid TIFF: the image data is truncated"));
    }
    pixels.truncate(w * h * samples);
    let (pixels, channels) = match (color, palette) {
        (_, Some(map)) => (expand_palette(&pixels, &map, bits)?, Channels::Rgb),
        (ColorType::YCbCr(_), _) => (ycbcr_to_rgb(pixels), channels),
        (ColorType::CMYKA(_), _) => (
            pixels
                .chunks_exact(5)
                .flat_map(|p| [p[0], p[1], p[2], p[3]])
                .collect(),
            channels,
        ),
        _ => (pixels, channels),
    };
    let mut pixels = pixels;
    if associated && matches!(channels, Channels::Rgba | Channels::GrayAlpha) {
        unpremultiply(&mut pixels, channels.count());
    }
    Ok(Decoded {
        pixels,
        width: header.width,
        height: header.height,
        channels,
        icc,
        orientation: header.orientation,
        source_width: header.width,
        source_height: header.height,
    })
}

/// Palette indices were scaled to 8 bits by [`to_8bit`]; undo that and look up the 16-bit
/// `ColorMap` (all reds, then all greens, then all blues).
fn expand_palette(indices: &[u8], map: &[u16], bits: u8) -> Result<Vec<u8>> {
    let n = 1usize << bits;
    if map.len() < 3 * n {
        return Err(Error::decode("Invalid TIFF: the colour map is too short"));
    }
    let max = (n - 1) as u32;
    Ok(indices
        .iter()
        .flat_map(|&v| {
            let i = ((v as u32 * max + 127) / 255) as usize;
            [0, 1, 2].map(|c| (map[c * n + i] >> 8) as u8)
        })
        .collect())
}

/// JFIF (BT.601 full range) Y′CbCr to RGB, what JPEG-compressed TIFF pages hold.
fn ycbcr_to_rgb(mut pixels: Vec<u8>) -> Vec<u8> {
    for p in pixels.chunks_exact_mut(3) {
        let (y, cb, cr) = (p[0] as f32, p[1] as f32 - 128.0, p[2] as f32 - 128.0);
        p[0] = (y + 1.402 * cr).round().clamp(0.0, 255.0) as u8;
        p[1] = (y - 0.344_136 * cb - 0.714_136 * cr)
            .round()
            .clamp(0.0, 255.0) as u8;
        p[2] = (y + 1.772 * cb).round().clamp(0.0, 255.0) as u8;
    }
    pixels
}

fn unpremultiply(pixels: &mut [u8], bpp: usize) {
    for p in pixels.chunks_exact_mut(bpp) {
        let a = p[bpp - 1] as u32;
        if a != 0 && a != 255 {
            for c in &mut p[..bpp - 1] {
                *c = ((*c as u32 * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiff::encoder::{colortype, TiffEncoder};

    fn encode<C: colortype::ColorType>(w: u32, h: u32, data: &[C::Inner]) -> Vec<u8>
    where
        [C::Inner]: tiff::encoder::TiffValue,
    {
        let mut out = Cursor::new(Vec::new());
        TiffEncoder::new(&mut out)
            .unwrap()
            .write_image::<C>(w, h, data)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_rgb_and_16_bit_gray() {
        let rgb: Vec<u8> = (0..4 * 2).flat_map(|i| [i as u8 * 30, 7, 200]).collect();
        let data = encode::<colortype::RGB8>(4, 2, &rgb);
        let h = read_header(&data).unwrap();
        assert_eq!(
            (h.width, h.height, h.has_alpha, h.orientation),
            (4, 2, false, 1)
        );
        let d = decode(&data, &h, 1 << 20).unwrap();
        assert_eq!((d.channels, d.pixels), (Channels::Rgb, rgb));

        let gray: Vec<u16> = vec![0, 65535, 32896, 257];
        let data = encode::<colortype::Gray16>(2, 2, &gray);
        let h = read_header(&data).unwrap();
        let d = decode(&data, &h, 1 << 20).unwrap();
        assert_eq!(
            (d.channels, d.pixels),
            (Channels::Gray, vec![0, 255, 128, 1])
        );
    }

    #[test]
    fn cmyk_and_rgba_keep_their_layout() {
        let cmyk = [255u8, 0, 0, 0, 0, 0, 0, 255];
        let data = encode::<colortype::CMYK8>(2, 1, &cmyk);
        let h = read_header(&data).unwrap();
        assert_eq!(decode(&data, &h, 1 << 20).unwrap().channels, Channels::Cmyk);
        let rgba = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let data = encode::<colortype::RGBA8>(2, 1, &rgba);
        let h = read_header(&data).unwrap();
        assert!(h.has_alpha);
        let d = decode(&data, &h, 1 << 20).unwrap();
        assert_eq!((d.channels, d.pixels), (Channels::Rgba, rgba.to_vec()));
    }

    #[test]
    fn the_buffer_limit_and_garbage_are_typed_errors() {
        let rgb = vec![9u8; 64 * 64 * 3];
        let data = encode::<colortype::RGB8>(64, 64, &rgb);
        let h = read_header(&data).unwrap();
        assert_eq!(
            decode(&data, &h, 1000).unwrap_err().code,
            ErrorCode::TooLarge
        );
        assert!(read_header(b"II*\0\xff\xff\xff\xff").is_err());
        let e = decode(&data[..200], &h, 1 << 20).unwrap_err();
        assert_eq!(e.code, ErrorCode::Decode, "{e}");
    }
}
