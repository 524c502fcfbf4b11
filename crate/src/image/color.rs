//! Colour: every output is sRGB, so no ICC profile is ever embedded in a thumbnail.
//!
//! Embedded RGB, gray and CMYK profiles are converted with lcms2. Profiles that already describe
//! sRGB are skipped because building a transform costs more than resizing a thumbnail. CMYK
//! without a (usable) profile is converted through a bundled profile of standard offset print
//! on coated paper (FOGRA39, `crate/assets/`), as sharp and libvips assume a standard CMYK
//! profile: the naive `R = (1 − C)(1 − K)` formula turns print cyan into screen cyan
//! (0, 255, 255) where the printed colour is about (0, 160, 228).
//!
//! The conversion runs on the already resized buffer: resampling gamma-encoded samples in the
//! source space and converting afterwards gives the same result within rounding, at a fraction of
//! the cost.

use std::cell::RefCell;

use lcms2::{Flags, Intent, PixelFormat, Profile, Transform};

use super::Channels;
use crate::error::{Error, Result};

/// Parses `#rgb` or `#rrggbb` (the leading `#` optional) into RGB.
pub fn parse_hex(s: &str) -> Result<[u8; 3]> {
    let hex = s.strip_prefix('#').unwrap_or(s);
    let bad = || {
        Error::invalid_option(format!(
            "Expected hex colour like #ffffff for background but received {s:?}"
        ))
    };
    let digits: Vec<u8> = hex
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8).ok_or_else(bad))
        .collect::<Result<_>>()?;
    match digits.len() {
        3 => Ok([digits[0] * 17, digits[1] * 17, digits[2] * 17]),
        6 => Ok([
            digits[0] * 16 + digits[1],
            digits[2] * 16 + digits[3],
            digits[4] * 16 + digits[5],
        ]),
        _ => Err(bad()),
    }
}

/// The profile assumed for CMYK pixels without one: FOGRA39 (ISO 12647-2 offset on coated
/// paper), built from Fogra's zlib-licensed measurements by `scripts/make-cmyk-profile.mjs`.
const DEFAULT_CMYK: &[u8] = include_bytes!("../../assets/cmyk-fogra39.icc");

/// Whether a profile is sRGB already, judged by its description (what every sRGB variant in
/// the wild carries: "sRGB IEC61966-2.1", "sRGB built-in", "sRGB v4 ICC preference"…).
fn is_srgb_like(profile: &Profile) -> bool {
    profile
        .info(lcms2::InfoType::Description, lcms2::Locale::none())
        .map(|d| d.to_ascii_lowercase().contains("srgb"))
        .unwrap_or(false)
}

/// Converts `pixels` to sRGB RGB or RGBA (alpha is kept as is).
pub fn to_srgb(
    pixels: Vec<u8>,
    channels: Channels,
    icc: Option<&[u8]>,
) -> Result<(Vec<u8>, Channels)> {
    if let Some(icc) = icc {
        if let Some(converted) = convert_with_profile(&pixels, channels, icc) {
            return Ok(converted);
        }
    }
    if channels == Channels::Cmyk {
        if let Some(converted) = convert_with_profile(&pixels, channels, DEFAULT_CMYK) {
            return Ok(converted);
        }
    }
    Ok(convert_naive(pixels, channels))
}

/// How many transforms each worker thread keeps: building one costs about as much as converting
/// a whole thumbnail (1.7 ms for Display P3, measured), and real traffic repeats a handful of
/// profiles (every iPhone photo carries the same Display P3 one). Thread-local, so no locking.
const CACHED_TRANSFORMS: usize = 8;

struct CachedTransform {
    channels: Channels,
    icc: Vec<u8>,
    /// `None` records "convert naively" (sRGB-like, mismatched or unusable profile).
    transform: Option<Transform<u8, u8>>,
}

thread_local! {
    static TRANSFORMS: RefCell<Vec<CachedTransform>> = const { RefCell::new(Vec::new()) };
}

fn build_transform(channels: Channels, icc: &[u8]) -> Option<Transform<u8, u8>> {
    // A broken or mismatched profile is ignored rather than failing the image: browsers do the same.
    let profile = Profile::new_icc(icc).ok()?;
    use lcms2::ColorSpaceSignature as Cs;
    let (in_fmt, out_fmt, expected) = match channels {
        Channels::Rgb => (PixelFormat::RGB_8, PixelFormat::RGB_8, Cs::RgbData),
        Channels::Rgba => (PixelFormat::RGBA_8, PixelFormat::RGBA_8, Cs::RgbData),
        Channels::Gray => (PixelFormat::GRAY_8, PixelFormat::RGB_8, Cs::GrayData),
        Channels::GrayAlpha => (PixelFormat::GRAYA_8, PixelFormat::RGBA_8, Cs::GrayData),
        Channels::Cmyk => (PixelFormat::CMYK_8, PixelFormat::RGB_8, Cs::CmykData),
    };
    if profile.color_space() != expected || (expected == Cs::RgbData && is_srgb_like(&profile)) {
        return None;
    }
    let srgb = Profile::new_srgb();
    Transform::new_flags(
        &profile,
        in_fmt,
        &srgb,
        out_fmt,
        Intent::Perceptual,
        Flags::COPY_ALPHA,
    )
    .ok()
}

fn convert_with_profile(
    pixels: &[u8],
    channels: Channels,
    icc: &[u8],
) -> Option<(Vec<u8>, Channels)> {
    let out_channels = match channels {
        Channels::Rgba | Channels::GrayAlpha => Channels::Rgba,
        _ => Channels::Rgb,
    };
    TRANSFORMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let entry = match cache
            .iter()
            .position(|c| c.channels == channels && c.icc == icc)
        {
            Some(i) => cache.remove(i),
            None => CachedTransform {
                channels,
                icc: icc.to_vec(),
                transform: build_transform(channels, icc),
            },
        };
        let converted = entry.transform.as_ref().map(|t| {
            let n = pixels.len() / channels.count();
            let mut out = vec![0u8; n * out_channels.count()];
            t.transform_pixels(pixels, &mut out);
            (out, out_channels)
        });
        cache.insert(0, entry);
        cache.truncate(CACHED_TRANSFORMS);
        converted
    })
}

fn convert_naive(pixels: Vec<u8>, channels: Channels) -> (Vec<u8>, Channels) {
    match channels {
        Channels::Rgb | Channels::Rgba => (pixels, channels),
        Channels::Gray => (
            pixels.iter().flat_map(|&g| [g, g, g]).collect(),
            Channels::Rgb,
        ),
        Channels::GrayAlpha => (
            pixels
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
            Channels::Rgba,
        ),
        Channels::Cmyk => (
            pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - p[3] as u32;
                    let f = |c: u8| (((255 - c as u32) * k + 127) / 255) as u8;
                    [f(p[0]), f(p[1]), f(p[2])]
                })
                .collect(),
            Channels::Rgb,
        ),
    }
}

/// Composites RGBA over an opaque background, for outputs without alpha (JPEG).
pub fn flatten(pixels: &[u8], background: [u8; 3]) -> Vec<u8> {
    pixels
        .chunks_exact(4)
        .flat_map(|p| {
            let a = p[3] as u32;
            let mix = |c: u8, bg: u8| ((c as u32 * a + bg as u32 * (255 - a) + 127) / 255) as u8;
            [
                mix(p[0], background[0]),
                mix(p[1], background[1]),
                mix(p[2], background[2]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_long_hex() {
        assert_eq!(parse_hex("#fff").unwrap(), [255, 255, 255]);
        assert_eq!(parse_hex("#102030").unwrap(), [16, 32, 48]);
        assert!(parse_hex("#12").is_err());
        assert!(parse_hex("zzzzzz").is_err());
    }

    #[test]
    fn cmyk_without_a_profile_looks_like_print() {
        let (rgb, ch) = to_srgb(
            vec![0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 255, 0],
            Channels::Cmyk,
            None,
        )
        .unwrap();
        assert_eq!(ch, Channels::Rgb);
        // Paper is white, K 100 % a dark neutral, print cyan and yellow as printed.
        assert_eq!(&rgb[0..3], &[255, 255, 255]);
        assert!(
            rgb[3] < 60 && rgb[3].abs_diff(rgb[4]) < 4 && rgb[4].abs_diff(rgb[5]) < 4,
            "{rgb:?}"
        );
        assert!(
            rgb[6] < 30 && (140..180).contains(&rgb[7]) && rgb[8] > 210,
            "{rgb:?}"
        );
        assert!(rgb[9] > 240 && rgb[10] > 220 && rgb[11] < 40, "{rgb:?}");
    }

    #[test]
    fn the_naive_formula_stays_for_gray_and_as_last_resort() {
        let (rgb, _) = convert_naive(vec![0, 0, 0, 255, 255, 0, 0, 0], Channels::Cmyk);
        assert_eq!(rgb, vec![0, 0, 0, 0, 255, 255]);
    }

    #[test]
    fn srgb_profile_is_skipped_and_gray_expands() {
        let icc = Profile::new_srgb().icc().unwrap();
        let (rgb, _) = to_srgb(vec![1, 2, 3], Channels::Rgb, Some(&icc)).unwrap();
        assert_eq!(rgb, vec![1, 2, 3]);
        let (rgb, ch) = to_srgb(vec![9, 200], Channels::GrayAlpha, None).unwrap();
        assert_eq!((rgb, ch), (vec![9, 9, 9, 200], Channels::Rgba));
    }

    #[test]
    fn gray_profile_is_applied_and_expands_to_rgb() {
        // A linear (gamma 1.0) gray profile: 50% linear light is about 188 in sRGB.
        let d65 = lcms2::white_point_from_temp(6504.0).unwrap();
        let linear = Profile::new_gray(&d65, &lcms2::ToneCurve::new(1.0)).unwrap();
        let icc = linear.icc().unwrap();
        let (rgb, ch) = to_srgb(vec![128, 255, 128, 128], Channels::GrayAlpha, Some(&icc)).unwrap();
        assert_eq!(ch, Channels::Rgba);
        assert!((185..=191).contains(&rgb[0]), "{rgb:?}");
        assert_eq!((rgb[0], rgb[1], rgb[3]), (rgb[2], rgb[0], 255));
        assert!((185..=191).contains(&rgb[4]) && rgb[7] == 128, "{rgb:?}");
    }

    #[test]
    fn a_profile_of_another_colour_space_is_ignored() {
        let icc = Profile::new_srgb().icc().unwrap();
        let (rgb, _) = to_srgb(vec![128], Channels::Gray, Some(&icc)).unwrap();
        assert_eq!(rgb, vec![128, 128, 128]);
        let (rgb, _) = to_srgb(vec![1, 2, 3], Channels::Rgb, Some(b"not a profile")).unwrap();
        assert_eq!(rgb, vec![1, 2, 3]);
    }

    #[test]
    fn flatten_blends_onto_background() {
        assert_eq!(
            flatten(
                &[0, 0, 0, 0, 0, 0, 0, 255, 200, 100, 0, 128],
                [255, 255, 255]
            ),
            vec![255, 255, 255, 0, 0, 0, 227, 177, 127]
        );
    }
}
