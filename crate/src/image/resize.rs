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
    let is_identity = out_w == width
        && out_h == height
        && left == 0.0
        && top == 0.0
        && cw == width as f64
        && ch == height as f64;
    if is_identity {
        return Ok(pixels.to_vec());
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
