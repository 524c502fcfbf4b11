//! AVIF: header read (HEIF boxes only, no AV1 decoding), decoding through rav1d and encoding
//! through rav1e.
//!
//! The HEIF transformations are honoured: the clean aperture (`clap`) crops the decoded
//! picture, and rotation (`irot`) plus mirroring (`imir`) become the equivalent EXIF
//! orientation, so the pipeline's one orientation step applies them to the thumbnail-sized
//! buffer. Sequences give their first frame; every frame counts against the pixel limit.

mod av1;
mod boxes;
mod encode;
mod heif;
mod track;
mod yuv;

pub use encode::{encode, AvifOptions};
use heif::{Container, Crop, Nclx};

use super::{Codec, Format, Header};
use crate::error::{Error, ErrorCode, Result};
use crate::image::{Channels, Decoded};

/// The AVIF entry points of the decoder dispatch.
pub const CODEC: Codec = Codec {
    header: |data| {
        let a = read_header(data)?;
        Ok(Header {
            format: Format::Avif,
            width: a.width,
            height: a.height,
            orientation: a.orientation,
            has_alpha: a.has_alpha,
            frames: a.frames,
            // The decoder allocates the coded size, before the clean-aperture crop.
            largest_frame_pixels: a.coded_width as u64 * a.coded_height as u64,
        })
    },
    // `max_bytes` is four bytes per allowed pixel; rav1d counts pixels.
    decode: |data, _, r| decode(data, r.min_width, r.min_height, r.max_bytes / 4),
};

/// What the container says, in stored orientation.
#[derive(Debug, Clone)]
pub struct AvifHeader {
    /// Width after the clean aperture.
    pub width: u32,
    /// Height after the clean aperture.
    pub height: u32,
    /// Size of the coded picture (`ispe`), what the decoder allocates.
    pub coded_width: u32,
    /// See `coded_width`.
    pub coded_height: u32,
    /// `irot` + `imir` as an EXIF orientation 1..=8.
    pub orientation: u8,
    /// Whether an alpha plane is attached.
    pub has_alpha: bool,
    /// Frames of a sequence, 1 for a still image.
    pub frames: u32,
    crop: Option<Crop>,
}

/// Whether `data` is an AVIF file: an `ftyp` whose brands name `avif` or `avis`.
pub fn is_avif(data: &[u8]) -> bool {
    boxes::brands(data).is_some_and(|b| b.iter().any(|b| b == b"avif" || b == b"avis"))
}

/// Whether `data` is a HEIF file of another codec (HEIC and friends).
pub fn is_heif(data: &[u8]) -> bool {
    const HEIF: [&[u8; 4]; 8] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
    ];
    boxes::starts_with_ftyp(data)
        && boxes::brands(data).is_some_and(|b| b.iter().any(|b| HEIF.contains(&b)))
}

/// The error for a HEIC/HEIF input.
pub fn heic_unsupported() -> Error {
    Error::new(
        ErrorCode::UnsupportedFormat,
        "Input is a HEIC/HEIF image, which is not supported (HEVC decoding is not bundled); convert it to AVIF, JPEG or PNG first",
    )
}

/// `irot` quarter turns anti-clockwise then `imir` axis, as the EXIF orientation that shows the
/// stored pixels the same way.
fn orientation(rotation: u8, mirror: Option<u8>) -> u8 {
    const TABLE: [[u8; 3]; 4] = [[1, 2, 4], [8, 7, 5], [3, 4, 2], [6, 5, 7]];
    TABLE[(rotation & 3) as usize][mirror.map_or(0, |m| 1 + (m & 1) as usize)]
}

/// The `clap` box as a whole-pixel crop of a `w` × `h` picture, or `None` when it is invalid
/// or covers the whole picture.
fn clap_crop(clap: [i64; 8], w: u32, h: u32) -> Option<Crop> {
    let [wn, wd, hn, hd, xn, xd, yn, yd] = clap.map(|v| v as f64);
    if wd <= 0.0 || hd <= 0.0 || xd <= 0.0 || yd <= 0.0 {
        return None;
    }
    let (cw, ch) = ((wn / wd).round(), (hn / hd).round());
    let left = (xn / xd + (w as f64 - 1.0) / 2.0 - (cw - 1.0) / 2.0).round();
    let top = (yn / yd + (h as f64 - 1.0) / 2.0 - (ch - 1.0) / 2.0).round();
    let fits = cw >= 1.0 && ch >= 1.0 && left >= 0.0 && top >= 0.0;
    if !fits || left + cw > w as f64 || top + ch > h as f64 || (cw as u32, ch as u32) == (w, h) {
        return None;
    }
    Some(Crop {
        left: left as u32,
        top: top as u32,
        width: cw as u32,
        height: ch as u32,
    })
}

fn header_of(c: &Container<'_>) -> Result<AvifHeader> {
    let (coded_width, coded_height) = c
        .props
        .size
        .ok_or_else(|| Error::decode("Invalid AVIF: the image has no size (ispe)"))?;
    let crop = c
        .props
        .clap
        .and_then(|clap| clap_crop(clap, coded_width, coded_height));
    let (width, height) = crop.map_or((coded_width, coded_height), |c| (c.width, c.height));
    Ok(AvifHeader {
        width,
        height,
        coded_width,
        coded_height,
        orientation: orientation(c.props.rotation, c.props.mirror),
        has_alpha: c.alpha.is_some(),
        frames: c.frames,
        crop,
    })
}

/// Reads size, orientation, alpha and frame count from the boxes; no pixel is decoded.
pub fn read_header(data: &[u8]) -> Result<AvifHeader> {
    header_of(&heif::parse(data)?)
}

/// Decodes the primary image (or a sequence's first frame) to 8-bit RGB or RGBA. When
/// `min_width` × `min_height` is at most half the picture and it is 4:2:0, the conversion
/// halves it (see `yuv`). Frames over `max_pixels` or over the header's size are refused by the
/// decoder itself, before it allocates them.
pub fn decode(data: &[u8], min_width: u32, min_height: u32, max_pixels: u64) -> Result<Decoded> {
    let c = heif::parse(data)?;
    let h = header_of(&c)?;
    // The AV1 sequence header may claim more than `ispe`; capping the decoder at the size the
    // header was checked with refuses such a stream before rav1d allocates its frame.
    let max_pixels = max_pixels.min(h.coded_width as u64 * h.coded_height as u64);
    let mut frame = av1::decode(c.color, max_pixels)?;
    // libavif's rule: the container's nclx wins over the AV1 sequence header.
    if let Some(n) = c.props.nclx {
        (frame.matrix, frame.full_range) = (n.matrix, n.full_range);
    }
    if (frame.width, frame.height) != (h.coded_width, h.coded_height) {
        return Err(Error::decode(format!(
            "Invalid AVIF: the header says {}x{} but the AV1 frame is {}x{}",
            h.coded_width, h.coded_height, frame.width, frame.height
        )));
    }
    let alpha = match c.alpha {
        Some(a) => Some(av1::decode(a, max_pixels)?),
        None => None,
    };
    let alpha = alpha.filter(|a| (a.width, a.height) == (frame.width, frame.height));
    let crop_even = h.crop.is_none_or(|c| c.left % 2 == 0 && c.top % 2 == 0);
    let halve = yuv::can_halve(&frame)
        && crop_even
        && min_width > 0
        && min_height > 0
        && min_width as u64 * 2 <= h.width as u64
        && min_height as u64 * 2 <= h.height as u64;
    let div = if halve { 2 } else { 1 };
    let (fw, fh) = (
        (frame.width as usize).div_ceil(div),
        (frame.height as usize).div_ceil(div),
    );
    let (channels, bpp) = if alpha.is_some() {
        (Channels::Rgba, 4)
    } else {
        (Channels::Rgb, 3)
    };
    let mut pixels = vec![0u8; fw * fh * bpp];
    yuv::to_rgb(&frame, halve, &mut pixels, bpp);
    drop(frame);
    if let Some(a) = &alpha {
        yuv::alpha_into(a, halve, &mut pixels);
        if c.premultiplied {
            unpremultiply(&mut pixels);
        }
    }
    let (pixels, width, height) = match h.crop {
        Some(k) => {
            let d = div as u32;
            let k = Crop {
                left: k.left / d,
                top: k.top / d,
                width: k.width.div_ceil(d),
                height: k.height.div_ceil(d),
            };
            (crop(&pixels, fw, bpp, k), k.width, k.height)
        }
        None => (pixels, fw as u32, fh as u32),
    };
    Ok(Decoded {
        pixels,
        width,
        height,
        channels,
        icc: c
            .props
            .icc
            .clone()
            .or_else(|| c.props.nclx.and_then(nclx_icc)),
        orientation: h.orientation,
        source_width: h.width,
        source_height: h.height,
    })
}

/// An RGB profile for wide-gamut nclx primaries (Display P3, BT.2020) with an SDR transfer, so
/// the pipeline converts them to sRGB like any tagged image. BT.709/sRGB needs nothing, and HDR
/// transfers (PQ, HLG) would need tone mapping, which is out of scope: they pass unconverted.
fn nclx_icc(n: Nclx) -> Option<Vec<u8>> {
    use lcms2::{CIExyY, CIExyYTRIPLE, Profile, ToneCurve};
    let xy = |x: f64, y: f64| CIExyY { x, y, Y: 1.0 };
    let primaries = match n.primaries {
        9 => CIExyYTRIPLE {
            Red: xy(0.708, 0.292),
            Green: xy(0.170, 0.797),
            Blue: xy(0.131, 0.046),
        },
        12 => CIExyYTRIPLE {
            Red: xy(0.680, 0.320),
            Green: xy(0.265, 0.690),
            Blue: xy(0.150, 0.060),
        },
        _ => return None,
    };
    if !matches!(n.transfer, 1 | 2 | 6 | 13 | 14 | 15) {
        return None;
    }
    // The sRGB curve (IEC 61966-2-1), what browsers use for these SDR transfers.
    let curve =
        ToneCurve::new_parametric(4, &[2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045])
            .ok()?;
    let d65 = xy(0.3127, 0.3290);
    Profile::new_rgb(&d65, &primaries, &[&curve, &curve, &curve])
        .ok()?
        .icc()
        .ok()
}

fn crop(pixels: &[u8], width: usize, bpp: usize, k: Crop) -> Vec<u8> {
    let (l, t, w) = (k.left as usize, k.top as usize, k.width as usize);
    let mut out = Vec::with_capacity(w * k.height as usize * bpp);
    for y in t..t + k.height as usize {
        out.extend_from_slice(&pixels[(y * width + l) * bpp..(y * width + l + w) * bpp]);
    }
    out
}

fn unpremultiply(pixels: &mut [u8]) {
    for p in pixels.chunks_exact_mut(4) {
        let a = p[3] as u32;
        if a != 0 && a != 255 {
            for c in &mut p[..3] {
                *c = ((*c as u32 * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests;
