//! The whole thumbnail in one call: limits → header → plan → decode (shrink-on-load) → resize the
//! planned source box → sRGB → upright → flatten → encode.
//!
//! Geometry is planned in upright coordinates and mapped back to the stored buffer, so the only
//! full-size work is the decode; colour conversion and rotation touch thumbnail-sized buffers.

use std::sync::atomic::AtomicBool;

use super::codecs::{decode, read_header, Header, Request};
use super::color::{flatten, to_srgb};
use super::encode::{encode, EncodeOptions, OutputFormat};
use super::geometry::{plan, Anchor, Method, Plan};
use super::limits::Limits;
use super::orient::{self, Rect};
use super::resize::resize;
use super::smartcrop;
use super::work::Work;
use super::{Channels, Decoded};
use crate::error::{catch_panic, Error, ErrorCode, Result};

/// Longest side of the copy the entropy smart crop analyses. B3 runs on the cover-scaled image;
/// for thumbnails up to this size that is exactly what happens, larger ones are analysed on a
/// proportional copy so the cost stays flat.
const SMART_ANALYSIS_SIDE: f64 = 256.0;

/// Everything a thumbnail needs. TypeScript validates first; [`run`] checks again.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Requested width, 0 = derived from the height.
    pub width: u32,
    /// Requested height, 0 = derived from the width.
    pub height: u32,
    /// Fitting method.
    pub method: Method,
    /// Crop position for [`Method::Crop`].
    pub anchor: Anchor,
    /// Encoder settings.
    pub encode: EncodeOptions,
    /// Allow outputs larger than the source.
    pub upscale: bool,
    /// Colour transparent pixels are composited onto when the output has no alpha.
    pub background: [u8; 3],
    /// Resource limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: 0,
            height: 0,
            method: Method::Crop,
            anchor: Anchor::Gravity(0.5, 0.5),
            encode: EncodeOptions {
                format: OutputFormat::Jpeg,
                quality: 80,
                progressive: false,
                lossless: false,
            },
            upscale: false,
            background: [255, 255, 255],
            limits: Limits::default(),
        }
    }
}

/// An encoded thumbnail.
#[derive(Debug, Clone)]
pub struct Output {
    /// Encoded bytes.
    pub data: Vec<u8>,
    /// Container of `data`.
    pub format: OutputFormat,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Upright width of the source.
    pub source_width: u32,
    /// Upright height of the source.
    pub source_height: u32,
}

fn upright(h: &Header) -> (u32, u32) {
    if orient::swaps_axes(h.orientation) {
        (h.height, h.width)
    } else {
        (h.width, h.height)
    }
}

/// Reads an input's [`Header`] without decoding pixels, turned upright: `width` and `height` are
/// after EXIF orientation, the other fields as stored.
pub fn probe(input: &[u8]) -> Result<Header> {
    let h = read_header(input)?;
    let (width, height) = upright(&h);
    Ok(Header { width, height, ..h })
}

/// Makes a thumbnail.
pub fn run(input: &[u8], opts: &Options) -> Result<Output> {
    run_cancellable(input, opts, &AtomicBool::new(false))
}

fn validate(opts: &Options) -> Result<()> {
    if opts.width == 0 && opts.height == 0 {
        return Err(Error::invalid_option(
            "Expected width or height to be a positive integer but both are 0",
        ));
    }
    if !(1..=100).contains(&opts.encode.quality) {
        return Err(Error::invalid_option(format!(
            "Expected integer between 1 and 100 for quality but received {}",
            opts.encode.quality
        )));
    }
    opts.limits.check_output_side("width", opts.width)?;
    opts.limits.check_output_side("height", opts.height)
}

/// Makes a thumbnail, returning `ERR_ABORTED` at the next stage boundary once `cancel` is set.
///
/// A panic anywhere in the pipeline (a bug, or a codec failing in an unforeseen way) becomes an
/// `ERR_DECODE` error: it runs on a libuv worker, where an unwinding panic would abort Node.
pub fn run_cancellable(input: &[u8], opts: &Options, cancel: &AtomicBool) -> Result<Output> {
    catch_panic(ErrorCode::Decode, || run_inner(input, opts, cancel))
}

fn run_inner(input: &[u8], opts: &Options, cancel: &AtomicBool) -> Result<Output> {
    let mut work = Work::new(cancel);
    validate(opts)?;
    let source = read_source(input, &opts.limits)?;
    let plan = plan_for(&source, opts)?;
    let need = shrink_hint(&plan, source.uw, source.uh, source.header.orientation);
    let pixels = plan.width as u64 * plan.height as u64;
    let decoded = decode_source(input, &source, &opts.limits, need, &mut work, pixels)?;
    finish(&decoded, &source, &plan, opts, &work)
}

/// The header of an input that passed the byte and pixel limits, with its upright size.
struct Source {
    header: Header,
    uw: u32,
    uh: u32,
}

fn read_source(input: &[u8], limits: &Limits) -> Result<Source> {
    limits.check_bytes(input.len())?;
    let header = read_header(input)?;
    limits.check_pixels(header.width, header.height, header.frames)?;
    if header.largest_frame_pixels > limits.max_input_pixels {
        return Err(Error::too_large(format!(
            "A frame of {} pixels is over the maxInputPixels limit of {}; raise maxInputPixels to accept it",
            header.largest_frame_pixels, limits.max_input_pixels
        )));
    }
    let (uw, uh) = upright(&header);
    Ok(Source { header, uw, uh })
}

fn plan_for(source: &Source, opts: &Options) -> Result<Plan> {
    let plan = plan(
        source.uw,
        source.uh,
        opts.width,
        opts.height,
        opts.method,
        opts.anchor,
        opts.upscale,
    )?;
    opts.limits.check_output_side("width", plan.width)?;
    opts.limits.check_output_side("height", plan.height)?;
    Ok(plan)
}

/// Decodes at least `min` (stored orientation, (0, 0) = full size), with a CPU budget for the
/// source plus `output_pixels`.
fn decode_source(
    input: &[u8],
    source: &Source,
    limits: &Limits,
    (min_width, min_height): (u32, u32),
    work: &mut Work,
    output_pixels: u64,
) -> Result<Decoded> {
    let h = &source.header;
    work.set_budget(
        h.width as u64 * h.height as u64 * h.frames.max(1) as u64,
        output_pixels,
    );
    work.check_now()?;
    let max_bytes = limits.max_input_pixels.saturating_mul(4).max(1 << 20);
    let request = Request {
        min_width,
        min_height,
        max_bytes,
        limits,
        work,
    };
    let decoded = decode(input, h, &request)?;
    work.check_now()?;
    Ok(decoded)
}

/// Everything after the decode for one output: resize (or smart crop), sRGB, upright, flatten,
/// encode. `decoded` may be larger than this plan needs; the resize takes it from there.
fn finish(
    decoded: &Decoded,
    source: &Source,
    plan: &Plan,
    opts: &Options,
    work: &Work,
) -> Result<Output> {
    let (header, uw, uh) = (&source.header, source.uw, source.uh);
    let o = header.orientation;
    let smart = opts.method == Method::Smart
        && (plan.width < plan.scaled_width || plan.height < plan.scaled_height);
    let (mut pixels, channels, w, h) = if smart {
        smart_thumbnail(decoded, header, plan, uw, uh, work)?
    } else {
        let (pixels, w, h) = resize_planned(decoded, header, plan, plan.width, plan.height)?;
        work.check_now()?;
        let (pixels, channels) = to_srgb(pixels, decoded.channels, decoded.icc.as_deref())?;
        let (pixels, w, h) = orient::apply(pixels, w, h, channels.count(), o);
        (pixels, channels, w, h)
    };
    let mut channels = channels;
    if channels == Channels::Rgba && !opts.encode.format.supports_alpha() {
        pixels = flatten(&pixels, opts.background);
        channels = Channels::Rgb;
    }
    work.check_now()?;
    let data = encode(&pixels, w, h, channels, &opts.encode)?;
    Ok(Output {
        data,
        format: opts.encode.format,
        width: w,
        height: h,
        source_width: uw,
        source_height: uh,
    })
}

/// The smallest stored-orientation decode that still gives at least one source pixel per output
/// pixel in the planned box; (0, 0) = full size.
fn shrink_hint(plan: &Plan, uw: u32, uh: u32, o: u8) -> (u32, u32) {
    let sx = plan.width as f64 / plan.crop.width;
    let sy = plan.height as f64 / plan.crop.height;
    if sx >= 1.0 && sy >= 1.0 {
        return (0, 0);
    }
    let need_w = ((uw as f64 * sx.min(1.0)).ceil() as u32).clamp(1, uw);
    let need_h = ((uh as f64 * sy.min(1.0)).ceil() as u32).clamp(1, uh);
    if orient::swaps_axes(o) {
        (need_h, need_w)
    } else {
        (need_w, need_h)
    }
}

/// Resizes the planned upright box of the source to `out_w` × `out_h` (upright), reading the
/// stored, possibly shrunk-on-load buffer. Returns stored-orientation pixels.
fn resize_planned(
    d: &Decoded,
    header: &Header,
    plan: &Plan,
    out_w: u32,
    out_h: u32,
) -> Result<(Vec<u8>, u32, u32)> {
    let o = header.orientation;
    let stored = orient::rect_to_stored(plan.crop, header.width as f64, header.height as f64, o);
    let fx = d.width as f64 / header.width as f64;
    let fy = d.height as f64 / header.height as f64;
    let crop = Rect {
        left: stored.left * fx,
        top: stored.top * fy,
        width: stored.width * fx,
        height: stored.height * fy,
    };
    let (sw, sh) = if orient::swaps_axes(o) {
        (out_h, out_w)
    } else {
        (out_w, out_h)
    };
    let pixels = resize(&d.pixels, d.width, d.height, d.channels, crop, sw, sh)?;
    Ok((pixels, sw, sh))
}

/// Smart crop, B3 style: resize the whole source to the cover size once, run the entropy crop on
/// it (or on a copy shrunk to [`SMART_ANALYSIS_SIDE`] when it is larger, offsets mapped back),
/// then cut the window out of the cover image. Returns upright sRGB pixels.
fn smart_thumbnail(
    d: &Decoded,
    header: &Header,
    plan: &Plan,
    uw: u32,
    uh: u32,
    work: &Work,
) -> Result<(Vec<u8>, Channels, u32, u32)> {
    let (sw, sh) = (plan.scaled_width, plan.scaled_height);
    let whole = Plan {
        crop: Rect {
            left: 0.0,
            top: 0.0,
            width: uw as f64,
            height: uh as f64,
        },
        ..*plan
    };
    let (cover, w, h) = resize_planned(d, header, &whole, sw, sh)?;
    work.check_now()?;
    let (cover, channels) = to_srgb(cover, d.channels, d.icc.as_deref())?;
    let (cover, w, h) = orient::apply(cover, w, h, channels.count(), header.orientation);
    debug_assert_eq!((w, h), (sw, sh));
    let bpp = channels.count();
    let k = (SMART_ANALYSIS_SIDE / sw.max(sh) as f64).min(1.0);
    let (left, top) = if k < 1.0 {
        let aw = ((sw as f64 * k).round() as u32).max(1);
        let ah = ((sh as f64 * k).round() as u32).max(1);
        let full = Rect {
            left: 0.0,
            top: 0.0,
            width: sw as f64,
            height: sh as f64,
        };
        let small = resize(&cover, sw, sh, channels, full, aw, ah)?;
        let tw = ((plan.width as f64 * k).round() as usize).clamp(1, aw as usize);
        let th = ((plan.height as f64 * k).round() as usize).clamp(1, ah as usize);
        let (l, t) = smartcrop::find(&small, aw as usize, ah as usize, bpp, tw, th);
        ((l as f64 / k).round() as u32, (t as f64 / k).round() as u32)
    } else {
        let (l, t) = smartcrop::find(
            &cover,
            sw as usize,
            sh as usize,
            bpp,
            plan.width as usize,
            plan.height as usize,
        );
        (l as u32, t as u32)
    };
    let left = left.min(sw - plan.width) as usize;
    let top = top.min(sh - plan.height) as usize;
    let (ow, oh) = (plan.width as usize, plan.height as usize);
    let mut out = Vec::with_capacity(ow * oh * bpp);
    for y in top..top + oh {
        let row = (y * sw as usize + left) * bpp;
        out.extend_from_slice(&cover[row..row + ow * bpp]);
    }
    Ok((out, channels, plan.width, plan.height))
}

mod many;
pub use many::run_many;

#[cfg(test)]
mod tests;
