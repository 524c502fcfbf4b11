//! Thumbnail options across the FFI: the `#[napi(object)]` and `#[napi(string_enum)]` types that
//! `binding.d.cts` exposes to TypeScript, the defaults, and their conversion to the pure-Rust
//! [`Options`], which refuses out-of-range values instead of falling back to a default.

// napi-derive only registers exports outside `cfg(test)`, so the test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

use napi_derive::napi;

use crate::image::codecs::Format;
use crate::image::color::parse_hex;
use crate::image::encode::{EncodeOptions, OutputFormat};
use crate::image::geometry::{Anchor, Method};
use crate::image::limits::Limits;
use crate::image::pipeline::Options;
use crate::Error;

/// How the source is fitted to the requested box.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailMethod {
    /// Scale to cover the box, then crop at the gravity or focal point.
    Crop,
    /// Scale to fit inside the box; one side may come out smaller.
    Scale,
    /// Scale to cover, then remove the lowest-entropy strips (easy-thumbnails' smart crop).
    Smart,
}

/// Which part of the image `crop` keeps.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gravity {
    /// The middle.
    Center,
    /// The top edge, centred horizontally.
    North,
    /// The bottom edge.
    South,
    /// The right edge.
    East,
    /// The left edge.
    West,
    /// The top-right corner.
    Northeast,
    /// The top-left corner.
    Northwest,
    /// The bottom-right corner.
    Southeast,
    /// The bottom-left corner.
    Southwest,
}

/// Output container of a thumbnail.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailFormat {
    /// Baseline or progressive JPEG (alpha is flattened onto the background).
    Jpeg,
    /// 8-bit PNG.
    Png,
    /// Lossy or lossless WebP.
    Webp,
}

/// Format of an input image, detected from its first bytes.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG or APNG.
    Png,
    /// WebP.
    Webp,
    /// GIF.
    Gif,
}

/// Options of one thumbnail. Absent fields take the values of `thumbnailDefaults()`; the
/// TypeScript facade validates before calling, and out-of-range values are refused here too.
#[napi(object)]
#[derive(Default)]
pub struct ThumbnailOptions {
    /// Output width in pixels; `0` (or absent) derives it from `height`. At least one side must
    /// be > 0. @default 0
    pub width: Option<u32>,
    /// Output height in pixels; `0` (or absent) derives it from `width`. @default 0
    pub height: Option<u32>,
    /// `crop`: scale to cover the box, then crop at `gravity` / the focal point.
    /// `scale`: fit inside the box (one side may come out smaller).
    /// `smart`: scale to cover, then remove the lowest-entropy strips (easy-thumbnails algorithm).
    /// @default 'crop'
    pub method: Option<ThumbnailMethod>,
    /// Which part `crop` keeps. Ignored when a focal point is given. @default 'center'
    pub gravity: Option<Gravity>,
    /// Focal point x in 0..1 of the upright source (needs `focalY`).
    pub focal_x: Option<f64>,
    /// Focal point y in 0..1 of the upright source (needs `focalX`).
    pub focal_y: Option<f64>,
    /// Output format. @default 'jpeg'
    pub format: Option<ThumbnailFormat>,
    /// JPEG and lossy WebP quality, 1..100. @default 80
    pub quality: Option<u32>,
    /// Progressive JPEG. @default false
    pub progressive: Option<bool>,
    /// Lossless WebP. @default false
    pub lossless: Option<bool>,
    /// Allow an output larger than the source. @default false
    pub upscale: Option<bool>,
    /// Colour transparent pixels are composited onto for formats without alpha (JPEG), `#rgb` or
    /// `#rrggbb`. @default '#ffffff'
    pub background: Option<String>,
    /// Largest accepted `width × height × frames` of the source (a positive integer); checked
    /// from the header before decoding. @default 50_000_000
    pub max_input_pixels: Option<f64>,
    /// Largest accepted input, in bytes (a positive integer). @default 67_108_864 (64 MiB)
    pub max_input_bytes: Option<f64>,
    /// Largest accepted output side, in pixels (at least 1). @default 8192
    pub max_output_side: Option<u32>,
    /// Most scans a progressive JPEG may have, counted from its markers before decoding; more is
    /// refused with `ERR_TOO_LARGE` (each scan is another pass over the image, so thousands of
    /// tiny repeated scans are a CPU denial of service). Real encoders write about 10.
    /// @default 100
    pub max_scans: Option<u32>,
    /// `thumbnailFile` only: fsync the written file before it is renamed into place.
    /// @default false
    pub fsync: Option<bool>,
}

/// The defaults of every thumbnail option, from the Rust core (the one place they are set).
#[napi(object)]
pub struct ThumbnailDefaults {
    /// Requested width (0 = derived).
    pub width: u32,
    /// Requested height (0 = derived).
    pub height: u32,
    /// Fitting method.
    pub method: ThumbnailMethod,
    /// Crop gravity.
    pub gravity: Gravity,
    /// Output format.
    pub format: ThumbnailFormat,
    /// Encoder quality.
    pub quality: u32,
    /// Progressive JPEG.
    pub progressive: bool,
    /// Lossless WebP.
    pub lossless: bool,
    /// Allow upscaling.
    pub upscale: bool,
    /// Background colour.
    pub background: String,
    /// Pixel limit of the source.
    pub max_input_pixels: f64,
    /// Byte limit of the source.
    pub max_input_bytes: f64,
    /// Largest output side.
    pub max_output_side: u32,
    /// Most scans of a progressive JPEG.
    pub max_scans: u32,
    /// fsync before rename.
    pub fsync: bool,
}

/// The defaults every absent option takes; `ts/image/options.ts` builds its frozen defaults
/// from this.
#[napi]
pub fn thumbnail_defaults() -> ThumbnailDefaults {
    let d = Options::default();
    let [r, g, b] = d.background;
    ThumbnailDefaults {
        width: d.width,
        height: d.height,
        method: method_name(d.method),
        gravity: Gravity::Center,
        format: output_format_name(d.encode.format),
        quality: d.encode.quality.into(),
        progressive: d.encode.progressive,
        lossless: d.encode.lossless,
        upscale: d.upscale,
        background: format!("#{r:02x}{g:02x}{b:02x}"),
        max_input_pixels: d.limits.max_input_pixels as f64,
        max_input_bytes: d.limits.max_input_bytes as f64,
        max_output_side: d.limits.max_output_side,
        max_scans: d.limits.max_scans,
        fsync: false,
    }
}

fn method_name(m: Method) -> ThumbnailMethod {
    match m {
        Method::Crop => ThumbnailMethod::Crop,
        Method::Scale => ThumbnailMethod::Scale,
        Method::Smart => ThumbnailMethod::Smart,
    }
}

/// The napi enum of an output format.
pub fn output_format_name(f: OutputFormat) -> ThumbnailFormat {
    match f {
        OutputFormat::Jpeg => ThumbnailFormat::Jpeg,
        OutputFormat::Png => ThumbnailFormat::Png,
        OutputFormat::Webp => ThumbnailFormat::Webp,
    }
}

/// The napi enum of an input format.
pub fn input_format_name(f: Format) -> InputFormat {
    match f {
        Format::Jpeg => InputFormat::Jpeg,
        Format::Png => InputFormat::Png,
        Format::Webp => InputFormat::Webp,
        Format::Gif => InputFormat::Gif,
    }
}

fn gravity_anchor(g: Gravity) -> Anchor {
    let (x, y) = match g {
        Gravity::Center => (0.5, 0.5),
        Gravity::North => (0.5, 0.0),
        Gravity::South => (0.5, 1.0),
        Gravity::East => (1.0, 0.5),
        Gravity::West => (0.0, 0.5),
        Gravity::Northeast => (1.0, 0.0),
        Gravity::Northwest => (0.0, 0.0),
        Gravity::Southeast => (1.0, 1.0),
        Gravity::Southwest => (0.0, 1.0),
    };
    Anchor::Gravity(x, y)
}

/// A positive integer limit given as a JS number; absent takes `default`, anything else that is
/// not a positive safe integer is refused rather than replaced.
fn limit(name: &str, v: Option<f64>, default: u64) -> crate::Result<u64> {
    match v {
        None => Ok(default),
        Some(n)
            if n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 =>
        {
            Ok(n as u64)
        }
        Some(n) => Err(Error::invalid_option(format!(
            "Expected positive integer for {name} but received {n}"
        ))),
    }
}

/// Converts and checks the FFI options; the pipeline checks the rest (sizes, quality).
pub fn to_options(o: &ThumbnailOptions) -> crate::Result<Options> {
    let d = Options::default();
    let method = match o.method {
        None => d.method,
        Some(ThumbnailMethod::Crop) => Method::Crop,
        Some(ThumbnailMethod::Scale) => Method::Scale,
        Some(ThumbnailMethod::Smart) => Method::Smart,
    };
    let anchor = match (o.focal_x, o.focal_y) {
        (Some(x), Some(y)) if (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y) => {
            Anchor::Focal(x, y)
        }
        (None, None) => o.gravity.map_or(d.anchor, gravity_anchor),
        _ => {
            return Err(Error::invalid_option(
                "Expected focalX and focalY together, each between 0 and 1",
            ))
        }
    };
    let quality = o.quality.unwrap_or(d.encode.quality.into());
    if !(1..=100).contains(&quality) {
        return Err(Error::invalid_option(format!(
            "Expected integer between 1 and 100 for quality but received {quality}"
        )));
    }
    let max_output_side = o.max_output_side.unwrap_or(d.limits.max_output_side);
    if max_output_side == 0 {
        return Err(Error::invalid_option(
            "Expected positive integer for maxOutputSide but received 0",
        ));
    }
    let max_scans = o.max_scans.unwrap_or(d.limits.max_scans);
    if max_scans == 0 {
        return Err(Error::invalid_option(
            "Expected positive integer for maxScans but received 0",
        ));
    }
    let format = match o.format {
        None => d.encode.format,
        Some(ThumbnailFormat::Jpeg) => OutputFormat::Jpeg,
        Some(ThumbnailFormat::Png) => OutputFormat::Png,
        Some(ThumbnailFormat::Webp) => OutputFormat::Webp,
    };
    Ok(Options {
        width: o.width.unwrap_or(d.width),
        height: o.height.unwrap_or(d.height),
        method,
        anchor,
        encode: EncodeOptions {
            format,
            quality: quality as u8,
            progressive: o.progressive.unwrap_or(d.encode.progressive),
            lossless: o.lossless.unwrap_or(d.encode.lossless),
        },
        upscale: o.upscale.unwrap_or(d.upscale),
        background: match &o.background {
            Some(s) => parse_hex(s)?,
            None => d.background,
        },
        limits: Limits {
            max_input_pixels: limit(
                "maxInputPixels",
                o.max_input_pixels,
                d.limits.max_input_pixels,
            )?,
            max_input_bytes: limit("maxInputBytes", o.max_input_bytes, d.limits.max_input_bytes)?,
            max_output_side,
            max_scans,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn out_of_range_limits_are_refused_not_replaced() {
        for bad in [-1.0, 0.0, 1.5, f64::NAN, f64::INFINITY, 1e300] {
            let o = ThumbnailOptions {
                width: Some(10),
                max_input_pixels: Some(bad),
                ..Default::default()
            };
            let e = to_options(&o).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOption, "{bad}");
            assert!(e.message.contains("maxInputPixels"), "{}", e.message);
        }
        let o = ThumbnailOptions {
            width: Some(10),
            max_output_side: Some(0),
            ..Default::default()
        };
        assert_eq!(to_options(&o).unwrap_err().code, ErrorCode::InvalidOption);
    }

    #[test]
    fn absent_options_take_the_core_defaults() {
        let o = to_options(&ThumbnailOptions::default()).unwrap();
        assert_eq!(o, Options::default());
        let d = thumbnail_defaults();
        assert_eq!(d.background, "#ffffff");
        assert_eq!(
            d.max_input_pixels as u64,
            Limits::default().max_input_pixels
        );
    }
}
