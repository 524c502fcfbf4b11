//! Resampling with fast_image_resize (SIMD convolution, Lanczos3 by default).
//!
//! The source crop box is passed to the resizer instead of cropping after a full resize, so only
//! the pixels that end up in the thumbnail are convolved. Alpha is premultiplied during the
//! convolution (the resizer's `mul_div_alpha`) so transparent pixels do not bleed dark fringes;
//! CMYK is resized as four plain channels.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::orient::Rect;
use super::work::Work;
use super::Channels;
use crate::error::{Error, Result};

/// Source plus output pixels one band of a large resize may cover (about 10 ms of Lanczos3):
/// the work guard is checked between bands, so an abort stops an 8192-pixel resize mid-way.
const BAND_WORK: f64 = (4 << 20) as f64;
/// Lanczos3 reads 3 source pixels either side of the centre at 1:1, scaled with the reduction
/// (`adaptive_kernel_size`); a band's source rows carry that much margin plus rounding slack.
const LANCZOS_SUPPORT: f64 = 3.0;

fn pixel_type(channels: Channels) -> PixelType {
    match channels.count() {
        1 => PixelType::U8,
        2 => PixelType::U8x2,
        3 => PixelType::U8x3,
        _ => PixelType::U8x4,
    }
}

/// Copies the whole-pixel box `(left, top, w, h)` out of a `width` × `height` buffer.
fn copy_box(
    pixels: &[u8],
    width: u32,
    height: u32,
    bpp: usize,
    (left, top, w, h): (u32, u32, u32, u32),
) -> Vec<u8> {
    let left = left.min(width - w) as usize;
    let top = top.min(height - h) as usize;
    let (width, w) = (width as usize, w as usize);
    let mut out = Vec::with_capacity(w * h as usize * bpp);
    for y in top..top + h as usize {
        out.extend_from_slice(&pixels[(y * width + left) * bpp..(y * width + left + w) * bpp]);
    }
    out
}

/// Resamples the `crop` box of a `width` × `height` buffer to `out_w` × `out_h`.
pub fn resize(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: Channels,
    crop: Rect,
    out_w: u32,
    out_h: u32,
) -> Result<Vec<u8>> {
    resize_guarded(
        pixels,
        (width, height),
        channels,
        crop,
        (out_w, out_h),
        None,
    )
}

/// [`resize`] under the render's work guard: a large resize runs in bands of output rows, each
/// reading only the source rows its filter window covers, with the guard checked between them.
pub fn resize_guarded(
    pixels: &[u8],
    (width, height): (u32, u32),
    channels: Channels,
    crop: Rect,
    (out_w, out_h): (u32, u32),
    work: Option<&Work>,
) -> Result<Vec<u8>> {
    let left = crop.left.clamp(0.0, width as f64 - 1.0);
    let top = crop.top.clamp(0.0, height as f64 - 1.0);
    let cw = crop.width.min(width as f64 - left).max(1.0);
    let ch = crop.height.min(height as f64 - top).max(1.0);
    // Shrink-on-load often leaves a box that already has the output size; resampling it 1:1
    // would only blur it, so the box is copied instead (offsets rounded to whole pixels).
    if (cw - out_w as f64).abs() < 0.5 && (ch - out_h as f64).abs() < 0.5 {
        return Ok(copy_box(
            pixels,
            width,
            height,
            channels.count(),
            (left.round() as u32, top.round() as u32, out_w, out_h),
        ));
    }
    let crop = Rect {
        left,
        top,
        width: cw,
        height: ch,
    };
    let total = cw * ch + out_w as f64 * out_h as f64;
    let bands = ((total / BAND_WORK).ceil() as u32).clamp(1, out_h);
    if bands == 1 {
        return resize_band(pixels, (width, height), channels, crop, (out_w, out_h));
    }
    let bpp = channels.count();
    let stride = width as usize * bpp;
    let scale = ch / out_h as f64;
    let margin = LANCZOS_SUPPORT * scale.max(1.0) + 2.0;
    let rows_per_band = out_h.div_ceil(bands);
    let mut out = Vec::with_capacity(out_w as usize * out_h as usize * bpp);
    let mut y0 = 0;
    while y0 < out_h {
        Work::poll(work)?;
        let y1 = (y0 + rows_per_band).min(out_h);
        let band_top = top + y0 as f64 * scale;
        let band_height = (y1 - y0) as f64 * scale;
        // only the source rows this band's filter windows reach, so premultiplying alpha and
        // the vertical pass cost the band, not the whole source
        let first = (band_top - margin).floor().max(0.0) as u32;
        let last = ((band_top + band_height + margin).ceil() as u32).min(height);
        let rows = &pixels[first as usize * stride..last as usize * stride];
        let band_top = (band_top - first as f64).max(0.0);
        // rounding must not push the last band's box past the rows it was given
        let band = Rect {
            left,
            top: band_top,
            width: cw,
            height: band_height.min((last - first) as f64 - band_top),
        };
        out.extend(resize_band(
            rows,
            (width, last - first),
            channels,
            band,
            (out_w, y1 - y0),
        )?);
        y0 = y1;
    }
    Ok(out)
}

fn resize_band(
    pixels: &[u8],
    (width, height): (u32, u32),
    channels: Channels,
    crop: Rect,
    (out_w, out_h): (u32, u32),
) -> Result<Vec<u8>> {
    let pt = pixel_type(channels);
    let src = ImageRef::new(width, height, pixels, pt)
        .map_err(|e| Error::decode(format!("Bad pixel buffer: {e}")))?;
    let mut dst = Image::new(out_w, out_h, pt);
    let has_alpha = matches!(channels, Channels::Rgba | Channels::GrayAlpha);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(crop.left, crop.top, crop.width, crop.height)
        .use_alpha(has_alpha);
    Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(|e| Error::decode(format!("Resize failed: {e}")))?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_box_selects_the_region() {
        // Left half black, right half white. The filter reads 3 px around the box at 1:1, so a
        // box 4 px into the white half comes out pure white.
        let mut img = vec![0u8; 32 * 4 * 3];
        for y in 0..4 {
            for x in 16..32 {
                img[(y * 32 + x) * 3..(y * 32 + x) * 3 + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        let crop = Rect {
            left: 20.0,
            top: 0.0,
            width: 4.0,
            height: 2.0,
        };
        let out = resize(&img, 32, 4, Channels::Rgb, crop, 4, 2).unwrap();
        assert!(out.iter().all(|&v| v == 255), "{out:?}");
    }

    #[test]
    fn a_box_of_the_output_size_is_copied() {
        let img: Vec<u8> = (0..16).collect();
        let crop = Rect {
            left: 1.2,
            top: 2.0,
            width: 2.0,
            height: 2.0,
        };
        assert_eq!(
            resize(&img, 4, 4, Channels::Gray, crop, 2, 2).unwrap(),
            vec![9, 10, 13, 14]
        );
    }

    #[test]
    fn a_large_resize_in_bands_matches_one_pass_and_stops_on_abort() {
        let (w, h) = (3000u32, 1500u32);
        let img: Vec<u8> = (0..w * h * 4)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let crop = Rect {
            left: 10.5,
            top: 7.25,
            width: 2900.0,
            height: 1480.0,
        };
        let banded = resize(&img, w, h, Channels::Rgba, crop, 2000, 1000).unwrap();
        let whole = resize_band(&img, (w, h), Channels::Rgba, crop, (2000, 1000)).unwrap();
        assert_eq!(banded.len(), whole.len());
        let worst = banded
            .iter()
            .zip(&whole)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap();
        assert!(worst <= 1, "bands differ from one pass by {worst}");
        // a box that ends at the last row: 102 rows in two bands of 51 from 2000 overshoot the
        // bottom by a rounding error when the band height is not clamped
        let gray = vec![128u8; 3000 * 2000];
        let full = Rect {
            left: 0.0,
            top: 0.0,
            width: 3000.0,
            height: 2000.0,
        };
        let out = resize(&gray, 3000, 2000, Channels::Gray, full, 1000, 102).unwrap();
        assert!(out.iter().all(|&v| v == 128));
        let flag = std::sync::atomic::AtomicBool::new(true);
        let work = Work::new(&flag);
        let e = resize_guarded(
            &img,
            (w, h),
            Channels::Rgba,
            crop,
            (2000, 1000),
            Some(&work),
        );
        assert_eq!(e.unwrap_err().code, crate::error::ErrorCode::Aborted);
    }

    #[test]
    fn identity_is_a_copy() {
        let img = vec![1u8, 2, 3, 4];
        let full = Rect {
            left: 0.0,
            top: 0.0,
            width: 2.0,
            height: 2.0,
        };
        assert_eq!(resize(&img, 2, 2, Channels::Gray, full, 2, 2).unwrap(), img);
    }
}
