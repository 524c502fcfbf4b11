//! Geometry: from the source size and the requested size to an output size and the source
//! rectangle to resample, following easy-thumbnails' `scale_and_crop` processor
//! (<https://github.com/SmileyChris/easy-thumbnails/blob/master/easy_thumbnails/processors.py>),
//! which restthumbnails uses: cover-scale for `crop` and `smart`, fit for `scale`, a 0 target side is derived from
//! the other, and no upscaling unless asked.

use super::orient::Rect;
use crate::error::{Error, Result};

/// How the source is fitted to the requested box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Scale to cover the box, then crop at the gravity or focal point.
    Crop,
    /// Scale to fit inside the box; the output may be smaller on one side.
    Scale,
    /// Scale to cover, then crop away the lowest-entropy strips.
    Smart,
}

/// Where a `crop` keeps the image: a fraction of the excess removed from the left / top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    /// `x`, `y` in 0..=1: 0 keeps the left / top edge, 0.5 centres, 1 keeps the right / bottom.
    Gravity(f64, f64),
    /// A point in 0..=1 of the source that should end up as central as the bounds allow.
    Focal(f64, f64),
}

impl Anchor {
    /// Parses `center`, `north`, `south`, `east`, `west`, `northeast`… (also `centre`).
    pub fn gravity(name: &str) -> Result<Anchor> {
        let (x, y) = match name {
            "center" | "centre" => (0.5, 0.5),
            "north" => (0.5, 0.0),
            "south" => (0.5, 1.0),
            "east" => (1.0, 0.5),
            "west" => (0.0, 0.5),
            "northeast" => (1.0, 0.0),
            "northwest" => (0.0, 0.0),
            "southeast" => (1.0, 1.0),
            "southwest" => (0.0, 1.0),
            _ => {
                return Err(Error::invalid_option(format!(
                    "Expected one of center, north, south, east, west, northeast, northwest, southeast, southwest for gravity but received {name:?}"
                )))
            }
        };
        Ok(Anchor::Gravity(x, y))
    }
}

/// The planned geometry, in upright source coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Scaled (cover or fit) size of the whole source, before cropping.
    pub scaled_width: u32,
    /// Scaled height of the whole source.
    pub scaled_height: u32,
    /// Source rectangle that becomes the output.
    pub crop: Rect,
}

impl Plan {
    /// Maps a crop offset in scaled coordinates to the source rectangle of the output.
    pub fn with_offset(mut self, src_w: u32, src_h: u32, left: f64, top: f64) -> Plan {
        let fx = src_w as f64 / self.scaled_width as f64;
        let fy = src_h as f64 / self.scaled_height as f64;
        self.crop = Rect {
            left: left * fx,
            top: top * fy,
            width: self.width as f64 * fx,
            height: self.height as f64 * fy,
        };
        self
    }
}

/// Plans the output of `src_w` × `src_h` for a requested `target_w` × `target_h` (0 = auto).
pub fn plan(
    src_w: u32,
    src_h: u32,
    target_w: u32,
    target_h: u32,
    method: Method,
    anchor: Anchor,
    upscale: bool,
) -> Result<Plan> {
    if target_w == 0 && target_h == 0 {
        return Err(Error::invalid_option(
            "Expected width or height to be a positive integer but both are 0",
        ));
    }
    let (sw, sh) = (src_w as f64, src_h as f64);
    let rx = target_w as f64 / sw;
    let ry = target_h as f64 / sh;
    let mut scale = if target_w == 0 {
        ry
    } else if target_h == 0 {
        rx
    } else if method == Method::Scale {
        rx.min(ry)
    } else {
        rx.max(ry)
    };
    if scale > 1.0 && !upscale {
        scale = 1.0;
    }
    let scaled_w = ((sw * scale).round() as u32).max(1);
    let scaled_h = ((sh * scale).round() as u32).max(1);
    let tw = if target_w == 0 { scaled_w } else { target_w };
    let th = if target_h == 0 { scaled_h } else { target_h };
    let (width, height) = if method == Method::Scale {
        (scaled_w, scaled_h)
    } else {
        (tw.min(scaled_w), th.min(scaled_h))
    };
    let p = Plan {
        width,
        height,
        scaled_width: scaled_w,
        scaled_height: scaled_h,
        crop: Rect {
            left: 0.0,
            top: 0.0,
            width: sw,
            height: sh,
        },
    };
    let (dx, dy) = ((scaled_w - width) as f64, (scaled_h - height) as f64);
    let (left, top) = match anchor {
        Anchor::Gravity(gx, gy) => ((dx * gx).round(), (dy * gy).round()),
        Anchor::Focal(fx, fy) => (
            (fx * scaled_w as f64 - width as f64 / 2.0)
                .round()
                .clamp(0.0, dx),
            (fy * scaled_h as f64 - height as f64 / 2.0)
                .round()
                .clamp(0.0, dy),
        ),
    };
    Ok(p.with_offset(src_w, src_h, left, top))
}

#[cfg(test)]
mod tests {
    use super::*;
    const C: Anchor = Anchor::Gravity(0.5, 0.5);

    #[test]
    fn crop_covers_then_centres() {
        let p = plan(400, 200, 100, 100, Method::Crop, C, false).unwrap();
        assert_eq!(
            (p.width, p.height, p.scaled_width, p.scaled_height),
            (100, 100, 200, 100)
        );
        assert_eq!(
            p.crop,
            Rect {
                left: 100.0,
                top: 0.0,
                width: 200.0,
                height: 200.0
            }
        );
    }

    #[test]
    fn scale_fits_inside() {
        let p = plan(400, 300, 100, 100, Method::Scale, C, false).unwrap();
        assert_eq!((p.width, p.height), (100, 75));
        assert_eq!(
            p.crop,
            Rect {
                left: 0.0,
                top: 0.0,
                width: 400.0,
                height: 300.0
            }
        );
    }

    #[test]
    fn zero_side_is_derived() {
        let p = plan(400, 300, 200, 0, Method::Crop, C, false).unwrap();
        assert_eq!((p.width, p.height), (200, 150));
        let p = plan(400, 300, 0, 60, Method::Scale, C, false).unwrap();
        assert_eq!((p.width, p.height), (80, 60));
    }

    #[test]
    fn never_upscales_unless_asked() {
        let p = plan(50, 40, 100, 100, Method::Crop, C, false).unwrap();
        assert_eq!((p.width, p.height), (50, 40));
        let p = plan(50, 40, 100, 100, Method::Crop, C, true).unwrap();
        assert_eq!((p.width, p.height, p.scaled_width), (100, 100, 125));
    }

    #[test]
    fn gravity_and_focal_point_move_the_window() {
        // The 100×100 crop is a 200×200 window of the 400×200 source, free to slide 200 px.
        let left = |anchor| {
            plan(400, 200, 100, 100, Method::Crop, anchor, false)
                .unwrap()
                .crop
                .left
        };
        assert_eq!(left(Anchor::gravity("east").unwrap()), 200.0);
        assert_eq!(left(Anchor::Focal(0.1, 0.5)), 0.0);
        assert_eq!(left(Anchor::Focal(0.6, 0.5)), 140.0);
    }
}
