//! WebP: header read (RIFF chunk walk + `WebPGetFeatures`) and decoding through libwebp's
//! advanced API, which can scale while decoding so a small thumbnail of a large WebP never
//! materialises the full-size buffer.
//!
//! Animated files: only the first frame is decoded (through `WebPAnimDecoder`, since
//! `WebPDecode` refuses animations), but every frame counts against the pixel limit.

use libwebp_sys as sys;

use super::exif::orientation_from_tiff;
use super::webp_steps;
use super::{Codec, Format, Header};
use crate::error::{Error, Result};
use crate::image::work::Work;
use crate::image::{Channels, Decoded};

/// The WebP entry points of the decoder dispatch. `decode` reads the header again (a chunk walk,
/// no pixels) for the ICC profile and animation flag the shared [`Header`] does not carry.
pub const CODEC: Codec = Codec {
    header: |data| {
        let w = read_header(data)?;
        Ok(Header {
            format: Format::Webp,
            width: w.width,
            height: w.height,
            orientation: w.orientation,
            has_alpha: w.has_alpha,
            frames: w.frames,
            largest_frame_pixels: 0,
        })
    },
    decode: |data, _, r| {
        let h = read_header(data)?;
        decode_guarded(data, &h, (r.min_width, r.min_height), Some(r.work))
    },
};

/// What the WebP container and bitstream headers say.
#[derive(Debug, Clone, Default)]
pub struct WebpHeader {
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
    /// Whether the image carries alpha.
    pub has_alpha: bool,
    /// Number of animation frames (1 for still images).
    pub frames: u32,
    /// EXIF orientation from the `EXIF` chunk, 1 when absent.
    pub orientation: u8,
    /// Embedded ICC profile from the `ICCP` chunk.
    pub icc: Option<Vec<u8>>,
    /// Whether the file is animated.
    pub animated: bool,
    /// Whether the bitstream is lossy (VP8) rather than lossless (VP8L).
    pub lossy: bool,
}

/// Walks the RIFF chunks after `RIFF....WEBP`, calling `f(fourcc, payload)` for each.
fn walk_chunks<'a>(data: &'a [u8], mut f: impl FnMut(&[u8; 4], &'a [u8])) {
    let mut pos = 12usize;
    while pos + 8 <= data.len() {
        let fourcc: [u8; 4] = data[pos..pos + 4].try_into().unwrap();
        let size = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let start = pos + 8;
        let end = start.saturating_add(size).min(data.len());
        f(&fourcc, &data[start..end]);
        // Chunks are padded to an even size.
        pos = start.saturating_add(size).saturating_add(size & 1);
    }
}

/// Reads canvas size, alpha, frame count, EXIF orientation and ICC without decoding pixels.
pub fn read_header(data: &[u8]) -> Result<WebpHeader> {
    let mut features: sys::WebPBitstreamFeatures = unsafe { std::mem::zeroed() };
    let status = unsafe { sys::WebPGetFeatures(data.as_ptr(), data.len(), &mut features) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK {
        return Err(Error::decode(format!("Invalid WebP header ({status:?})")));
    }
    let mut h = WebpHeader {
        width: features.width as u32,
        height: features.height as u32,
        has_alpha: features.has_alpha != 0,
        animated: features.has_animation != 0,
        lossy: features.format == 1,
        frames: 0,
        orientation: 1,
        icc: None,
    };
    walk_chunks(data, |fourcc, payload| match fourcc {
        b"ANMF" => h.frames += 1,
        b"EXIF" => h.orientation = orientation_from_tiff(payload),
        b"ICCP" => h.icc = Some(payload.to_vec()),
        _ => {}
    });
    h.frames = h.frames.max(1);
    Ok(h)
}

/// Decodes to RGB or RGBA. When `min_width`/`min_height` are smaller than the image, libwebp
/// scales while decoding to that size (see `scaled_size`).
pub fn decode(
    data: &[u8],
    header: &WebpHeader,
    min_width: u32,
    min_height: u32,
) -> Result<Decoded> {
    decode_guarded(data, header, (min_width, min_height), None)
}

/// [`decode`] with the render's work guard checked while a still image decodes.
fn decode_guarded(
    data: &[u8],
    header: &WebpHeader,
    (min_width, min_height): (u32, u32),
    work: Option<&Work>,
) -> Result<Decoded> {
    let (pixels, width, height, channels) = if header.animated {
        decode_first_frame(data)?
    } else {
        decode_still(data, header, min_width, min_height, work)?
    };
    Ok(Decoded {
        pixels,
        width,
        height,
        channels,
        icc: header.icc.clone(),
        orientation: header.orientation,
        source_width: header.width,
        source_height: header.height,
    })
}

/// The decoded size: the minimum the pipeline needs (rounded up, source aspect ratio), never
/// larger than the source. libwebp's rescaler averages areas, so going straight to the target
/// costs little quality and leaves the Lanczos step a near 1:1 resample; a 2× margin made the
/// rescaler write four times the pixels for no visible gain.
fn scaled_size(w: u32, h: u32, min_w: u32, min_h: u32) -> Option<(u32, u32)> {
    if min_w == 0 && min_h == 0 {
        return None;
    }
    let f = (min_w as f64 / w as f64).max(min_h as f64 / h as f64);
    if f >= 0.75 {
        return None;
    }
    Some((
        ((w as f64 * f).ceil() as u32).clamp(1, w),
        ((h as f64 * f).ceil() as u32).clamp(1, h),
    ))
}

/// Below this scale the loop filter and fancy chroma upsampling cannot be seen in the
/// thumbnail (their effect is a few source pixels wide), so libwebp may skip them.
const FAST_DECODE_SCALE: f64 = 0.25;

fn decode_still(
    data: &[u8],
    header: &WebpHeader,
    min_w: u32,
    min_h: u32,
    work: Option<&Work>,
) -> Result<(Vec<u8>, u32, u32, Channels)> {
    let mut config = sys::WebPDecoderConfig::new()
        .map_err(|_| Error::decode("libwebp decoder version mismatch"))?;
    let (mode, channels) = if header.has_alpha {
        (sys::WEBP_CSP_MODE::MODE_RGBA, Channels::Rgba)
    } else {
        (sys::WEBP_CSP_MODE::MODE_RGB, Channels::Rgb)
    };
    config.output.colorspace = mode;
    // libwebp rescales a lossy picture's Y, U and V planes before it applies alpha, so the
    // colour hidden under transparent pixels bleeds into the edges (straight-alpha averaging).
    // Lossy with alpha is therefore decoded at full size and left to the pipeline's resizer,
    // which works in premultiplied space. Fancy upsampling would still pull a quarter of the
    // hidden chroma into the last visible column at the edge (it interpolates U and V across
    // 2×2 blocks regardless of alpha), so each block keeps its own chroma.
    let scaled = if header.has_alpha && header.lossy {
        config.options.no_fancy_upsampling = 1;
        None
    } else {
        scaled_size(header.width, header.height, min_w, min_h)
    };
    if let Some((sw, sh)) = scaled {
        config.options.use_scaling = 1;
        config.options.scaled_width = sw as i32;
        config.options.scaled_height = sh as i32;
        if (sw as f64) <= header.width as f64 * FAST_DECODE_SCALE {
            config.options.bypass_filtering = 1;
            config.options.no_fancy_upsampling = 1;
        }
    }
    // libwebp filters rows on a second thread while the first one decodes the next macroblocks.
    config.options.use_threads = 1;
    let pixels = u64::from(header.width) * u64::from(header.height);
    if let Err(e) = webp_steps::decode(data, &mut config, pixels, work) {
        unsafe { sys::WebPFreeDecBuffer(&mut config.output) };
        return Err(e);
    }
    let (w, h) = (config.output.width as usize, config.output.height as usize);
    let bpp = channels.count();
    let mut pixels = Vec::with_capacity(w * h * bpp);
    unsafe {
        let rgba = config.output.u.RGBA;
        for y in 0..h {
            let row = std::slice::from_raw_parts(rgba.rgba.add(y * rgba.stride as usize), w * bpp);
            pixels.extend_from_slice(row);
        }
        sys::WebPFreeDecBuffer(&mut config.output);
    }
    Ok((pixels, w as u32, h as u32, channels))
}

fn decode_first_frame(data: &[u8]) -> Result<(Vec<u8>, u32, u32, Channels)> {
    unsafe {
        let mut opts: sys::WebPAnimDecoderOptions = std::mem::zeroed();
        if sys::WebPAnimDecoderOptionsInit(&mut opts) == 0 {
            return Err(Error::decode("libwebp demux version mismatch"));
        }
        opts.color_mode = sys::WEBP_CSP_MODE::MODE_RGBA;
        opts.use_threads = 0;
        let webp_data = sys::WebPData {
            bytes: data.as_ptr(),
            size: data.len(),
        };
        let dec = sys::WebPAnimDecoderNew(&webp_data, &opts);
        if dec.is_null() {
            return Err(Error::decode("Invalid animated WebP"));
        }
        let mut info = sys::WebPAnimInfo::default();
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut ts = 0;
        let ok = sys::WebPAnimDecoderGetInfo(dec, &mut info) != 0
            && sys::WebPAnimDecoderGetNext(dec, &mut buf, &mut ts) != 0;
        if !ok || buf.is_null() {
            sys::WebPAnimDecoderDelete(dec);
            return Err(Error::decode("Invalid animated WebP frame"));
        }
        let (w, h) = (info.canvas_width, info.canvas_height);
        let pixels = std::slice::from_raw_parts(buf, w as usize * h as usize * 4).to_vec();
        sys::WebPAnimDecoderDelete(dec);
        Ok((pixels, w, h, Channels::Rgba))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_size_only_when_much_larger() {
        assert_eq!(scaled_size(1000, 500, 0, 0), None);
        assert_eq!(scaled_size(1000, 500, 800, 400), None);
        assert_eq!(scaled_size(1000, 500, 100, 50), Some((100, 50)));
        assert_eq!(scaled_size(1000, 500, 100, 100), Some((200, 100)));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let e = read_header(b"RIFF\x10\0\0\0WEBPVP8 \x04\0\0\0abcd").unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::Decode);
    }
}
