//! Encoders: JPEG (mozjpeg), PNG (`png` crate), WebP (libwebp) and AVIF (rav1e, see
//! `codecs::avif`).
//!
//! Thumbnails carry no metadata at all: pixels are already upright and sRGB, so neither EXIF nor
//! an ICC profile is needed, and stripping them also drops GPS data from user uploads.
//!
//! JPEG uses mozjpeg's "fastest" (libjpeg-turbo compatible) profile with Huffman optimisation
//! kept: its default profile (trellis quantisation, scan optimisation) saves a few percent of
//! size for many times the encode cost, which an on-the-fly server pays on every miss, while
//! optimised Huffman tables cost little at thumbnail sizes.

use libwebp_sys as webp;

use super::codecs::avif;
use super::Channels;
use crate::error::{catch_panic, Error, ErrorCode, Result};

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Baseline or progressive JPEG (alpha is flattened first).
    Jpeg,
    /// 8-bit PNG, RGB or RGBA.
    Png,
    /// Lossy or lossless WebP, RGB or RGBA.
    Webp,
    /// AVIF (AV1, 8-bit 4:2:0), RGB or RGBA.
    Avif,
}

impl OutputFormat {
    /// Parses `jpeg` (or `jpg`), `png`, `webp`, `avif`.
    pub fn parse(name: &str) -> Result<OutputFormat> {
        match name {
            "jpeg" | "jpg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            "webp" => Ok(OutputFormat::Webp),
            "avif" => Ok(OutputFormat::Avif),
            _ => Err(Error::invalid_option(format!(
                "Expected one of jpeg, png, webp, avif for format but received {name:?}"
            ))),
        }
    }

    /// Lower-case name (`jpeg`, `png`, `webp`, `avif`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
            OutputFormat::Avif => "avif",
        }
    }

    /// Whether the container can carry alpha.
    pub fn supports_alpha(self) -> bool {
        !matches!(self, OutputFormat::Jpeg)
    }
}

/// Default AVIF speed: see the encode figures in `bench/formats.mjs`.
pub const DEFAULT_AVIF_SPEED: u8 = 8;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Container.
    pub format: OutputFormat,
    /// 1..=100 for JPEG, lossy WebP and AVIF.
    pub quality: u8,
    /// AVIF encoder speed 0 (slowest, smallest) ..= 10 (fastest).
    pub speed: u8,
    /// Progressive JPEG.
    pub progressive: bool,
    /// Lossless WebP.
    pub lossless: bool,
}

/// Encodes tightly packed RGB or RGBA pixels.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: Channels,
    opts: &EncodeOptions,
) -> Result<Vec<u8>> {
    if !matches!(channels, Channels::Rgb | Channels::Rgba) {
        return Err(Error::encode("Encoder expects RGB or RGBA pixels"));
    }
    let frame = Frame {
        pixels,
        width,
        height,
        channels,
    };
    catch_panic(ErrorCode::Encode, || match opts.format {
        OutputFormat::Jpeg => encode_jpeg(&frame, opts),
        OutputFormat::Png => encode_png(&frame),
        OutputFormat::Webp => encode_webp(&frame, opts),
        OutputFormat::Avif => avif::encode(
            pixels,
            width,
            height,
            channels,
            &avif::AvifOptions {
                quality: opts.quality,
                speed: opts.speed,
            },
        ),
    })
}

/// The pixels [`encode`] hands to one format's encoder.
struct Frame<'a> {
    pixels: &'a [u8],
    width: u32,
    height: u32,
    channels: Channels,
}

fn encode_jpeg(f: &Frame, opts: &EncodeOptions) -> Result<Vec<u8>> {
    if f.channels != Channels::Rgb {
        return Err(Error::encode("JPEG needs RGB pixels; flatten alpha first"));
    }
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(f.width as usize, f.height as usize);
    c.set_quality(opts.quality as f32);
    c.set_optimize_coding(true);
    if opts.progressive {
        c.set_progressive_mode();
    }
    let io = |e: std::io::Error| Error::encode(format!("JPEG encoding failed: {e}"));
    let mut started = c
        .start_compress(Vec::with_capacity(f.pixels.len() / 8))
        .map_err(io)?;
    started.write_scanlines(f.pixels).map_err(io)?;
    started.finish().map_err(io)
}

fn encode_png(f: &Frame) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(f.pixels.len() / 2);
    let err = |e: png::EncodingError| Error::encode(format!("PNG encoding failed: {e}"));
    {
        let mut e = png::Encoder::new(&mut out, f.width, f.height);
        e.set_color(if f.channels == Channels::Rgba {
            png::ColorType::Rgba
        } else {
            png::ColorType::Rgb
        });
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Fast);
        let mut w = e.write_header().map_err(err)?;
        w.write_image_data(f.pixels).map_err(err)?;
        w.finish().map_err(err)?;
    }
    Ok(out)
}

fn encode_webp(f: &Frame, opts: &EncodeOptions) -> Result<Vec<u8>> {
    let (pixels, channels) = (f.pixels, f.channels);
    let stride = (f.width as usize * channels.count()) as i32;
    let (w, h) = (f.width as i32, f.height as i32);
    let q = opts.quality as f32;
    let mut out: *mut u8 = std::ptr::null_mut();
    let size = unsafe {
        match (channels, opts.lossless) {
            (Channels::Rgba, true) => {
                webp::WebPEncodeLosslessRGBA(pixels.as_ptr(), w, h, stride, &mut out)
            }
            (Channels::Rgba, false) => {
                webp::WebPEncodeRGBA(pixels.as_ptr(), w, h, stride, q, &mut out)
            }
            (_, true) => webp::WebPEncodeLosslessRGB(pixels.as_ptr(), w, h, stride, &mut out),
            (_, false) => webp::WebPEncodeRGB(pixels.as_ptr(), w, h, stride, q, &mut out),
        }
    };
    if size == 0 || out.is_null() {
        return Err(Error::encode("WebP encoding failed"));
    }
    let data = unsafe { std::slice::from_raw_parts(out, size).to_vec() };
    unsafe { webp::WebPFree(out as *mut _) };
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(format: OutputFormat) -> EncodeOptions {
        EncodeOptions {
            format,
            quality: 80,
            speed: DEFAULT_AVIF_SPEED,
            progressive: false,
            lossless: false,
        }
    }

    #[test]
    fn each_encoder_writes_its_signature() {
        let rgb = vec![200u8; 16 * 8 * 3];
        let j = encode(&rgb, 16, 8, Channels::Rgb, &opts(OutputFormat::Jpeg)).unwrap();
        assert_eq!(&j[..3], &[0xFF, 0xD8, 0xFF]);
        let p = encode(&rgb, 16, 8, Channels::Rgb, &opts(OutputFormat::Png)).unwrap();
        assert_eq!(&p[..4], b"\x89PNG");
        let w = encode(&rgb, 16, 8, Channels::Rgb, &opts(OutputFormat::Webp)).unwrap();
        assert_eq!(&w[8..12], b"WEBP");
    }

    #[test]
    fn jpeg_refuses_alpha() {
        let rgba = vec![0u8; 4 * 4 * 4];
        assert_eq!(
            encode(&rgba, 4, 4, Channels::Rgba, &opts(OutputFormat::Jpeg))
                .unwrap_err()
                .code,
            ErrorCode::Encode
        );
    }
}
