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
use super::work::Work;
use super::Channels;
use crate::error::{catch_panic, Error, ErrorCode, Result};

/// Rows handed to the JPEG and PNG encoders between two checks of the work guard.
const ROWS_PER_CHECK: usize = 16;

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
    encode_guarded(pixels, (width, height), channels, opts, None)
}

/// [`encode`] under the render's work guard, checked every [`ROWS_PER_CHECK`] rows (JPEG, PNG)
/// or from libwebp's progress hook, so an abort stops a large encode mid-way.
pub fn encode_guarded(
    pixels: &[u8],
    (width, height): (u32, u32),
    channels: Channels,
    opts: &EncodeOptions,
    work: Option<&Work>,
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
        OutputFormat::Jpeg => encode_jpeg(&frame, opts, work),
        OutputFormat::Png => encode_png(&frame, work),
        OutputFormat::Webp => encode_webp(&frame, opts, work),
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

fn encode_jpeg(f: &Frame, opts: &EncodeOptions, work: Option<&Work>) -> Result<Vec<u8>> {
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
    for rows in f.pixels.chunks(f.width as usize * 3 * ROWS_PER_CHECK) {
        Work::poll(work)?;
        started.write_scanlines(rows).map_err(io)?;
    }
    started.finish().map_err(io)
}

fn encode_png(f: &Frame, work: Option<&Work>) -> Result<Vec<u8>> {
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
        // IDAT chunks of 256 KiB, not the stream writer's default 4 KiB (12 bytes of framing each)
        let mut stream = w.stream_writer_with_size(256 << 10).map_err(err)?;
        let row = f.width as usize * f.channels.count();
        for rows in f.pixels.chunks(row * ROWS_PER_CHECK) {
            Work::poll(work)?;
            std::io::Write::write_all(&mut stream, rows)
                .map_err(|e| Error::encode(format!("PNG encoding failed: {e}")))?;
        }
        stream.finish().map_err(err)?;
    }
    Ok(out)
}

/// libwebp's progress hook: 0 stops the encode (`VP8_ENC_ERROR_USER_ABORT`). It runs about once
/// per percent of the work; `user_data` points at the render's guard.
extern "C" fn webp_progress(_percent: std::os::raw::c_int, pic: *const webp::WebPPicture) -> i32 {
    // SAFETY: `encode_webp` sets `user_data` to a `&Work` that outlives `WebPEncode`.
    let work = unsafe { &*((*pic).user_data as *const Work) };
    i32::from(work.check().is_ok())
}

/// The advanced API with the settings of `WebPEncodeRGB(A)` / `WebPEncodeLosslessRGB(A)`
/// (libwebp's `Encode()` in picture_enc.c: default preset, lossless quality 70, ARGB input for
/// lossless), plus a progress hook for the work guard.
fn encode_webp(f: &Frame, opts: &EncodeOptions, work: Option<&Work>) -> Result<Vec<u8>> {
    let stride = (f.width as usize * f.channels.count()) as i32;
    let q = if opts.lossless {
        70.0
    } else {
        opts.quality as f32
    };
    unsafe {
        let mut config: webp::WebPConfig = std::mem::zeroed();
        let mut pic: webp::WebPPicture = std::mem::zeroed();
        let mut wrt: webp::WebPMemoryWriter = std::mem::zeroed();
        if webp::WebPConfigInitInternal(
            &mut config,
            webp::WebPPreset::WEBP_PRESET_DEFAULT,
            q,
            webp::WEBP_ENCODER_ABI_VERSION as i32,
        ) == 0
            || webp::WebPPictureInitInternal(&mut pic, webp::WEBP_ENCODER_ABI_VERSION as i32) == 0
        {
            return Err(Error::encode("libwebp encoder version mismatch"));
        }
        config.lossless = i32::from(opts.lossless);
        pic.use_argb = i32::from(opts.lossless);
        pic.width = f.width as i32;
        pic.height = f.height as i32;
        pic.writer = Some(webp::WebPMemoryWrite);
        webp::WebPMemoryWriterInit(&mut wrt);
        pic.custom_ptr = &mut wrt as *mut _ as *mut _;
        if let Some(w) = work {
            pic.user_data = w as *const Work as *mut _;
            pic.progress_hook = Some(webp_progress);
        }
        let imported = if f.channels == Channels::Rgba {
            webp::WebPPictureImportRGBA(&mut pic, f.pixels.as_ptr(), stride)
        } else {
            webp::WebPPictureImportRGB(&mut pic, f.pixels.as_ptr(), stride)
        };
        let ok = imported != 0 && webp::WebPEncode(&config, &mut pic) != 0;
        let aborted = pic.error_code == webp::WebPEncodingError::VP8_ENC_ERROR_USER_ABORT;
        webp::WebPPictureFree(&mut pic);
        if !ok {
            webp::WebPMemoryWriterClear(&mut wrt);
            if let (true, Some(w)) = (aborted, work) {
                w.check_now()?;
            }
            return Err(Error::encode("WebP encoding failed"));
        }
        let data = std::slice::from_raw_parts(wrt.mem, wrt.size).to_vec();
        webp::WebPMemoryWriterClear(&mut wrt);
        Ok(data)
    }
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
    fn webp_through_the_progress_hook_is_byte_identical_to_the_simple_api() {
        let (w, h) = (67usize, 45usize);
        let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 % 251) as u8).collect();
        let flag = std::sync::atomic::AtomicBool::new(false);
        let work = Work::new(&flag);
        for lossless in [false, true] {
            let o = EncodeOptions {
                lossless,
                ..opts(OutputFormat::Webp)
            };
            let ours = encode_guarded(&rgba, (w as u32, h as u32), Channels::Rgba, &o, Some(&work))
                .unwrap();
            let mut out: *mut u8 = std::ptr::null_mut();
            let stride = w as i32 * 4;
            let size = unsafe {
                if lossless {
                    webp::WebPEncodeLosslessRGBA(
                        rgba.as_ptr(),
                        w as i32,
                        h as i32,
                        stride,
                        &mut out,
                    )
                } else {
                    webp::WebPEncodeRGBA(rgba.as_ptr(), w as i32, h as i32, stride, 80.0, &mut out)
                }
            };
            let simple = unsafe { std::slice::from_raw_parts(out, size).to_vec() };
            unsafe { webp::WebPFree(out as *mut _) };
            assert_eq!(ours, simple, "lossless {lossless}");
        }
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        let big = vec![90u8; 256 * 256 * 4];
        let o = opts(OutputFormat::Webp);
        let e = encode_guarded(&big, (256, 256), Channels::Rgba, &o, Some(&work));
        assert_eq!(e.unwrap_err().code, ErrorCode::Aborted);
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
