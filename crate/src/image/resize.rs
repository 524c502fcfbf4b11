//! Resampling with fast_image_resize (SIMD convolution, Lanczos3 by default).
//!
//! The source crop box is passed to the resizer instead of cropping after a full resize, so only
//! the pixels that end up in the thumbnail are convolved. Alpha is premultiplied during the
//! convolution (the resizer's `mul_div_alpha`) so transparent pixels do not bleed dark fringes;
//! CMYK is resized as four plain channels.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::orient::Rect;
use super::Channels;
use crate::error::{Error, Result};

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
    let pt = pixel_type(channels);
    let src = ImageRef::new(width, height, pixels, pt)
        .map_err(|e| Error::decode(format!("Bad pixel buffer: {e}")))?;
    let mut dst = Image::new(out_w, out_h, pt);
    let has_alpha = matches!(channels, Channels::Rgba | Channels::GrayAlpha);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(left, top, cw, ch)
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
