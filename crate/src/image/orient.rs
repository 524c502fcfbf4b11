//! EXIF orientation: mapping rectangles from upright to stored coordinates, and turning a
//! (small, already resized) stored-orientation buffer upright.
//!
//! Geometry is planned in upright coordinates (what the viewer sees) and then mapped back, so the
//! expensive resize reads the stored buffer directly and only the thumbnail is rotated.

/// A rectangle in (possibly fractional) pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// Whether orientation `o` swaps width and height (5–8 transpose the image).
pub fn swaps_axes(o: u8) -> bool {
    (5..=8).contains(&o)
}

/// Maps a rectangle in upright coordinates to the stored image of size `w` × `h`.
pub fn rect_to_stored(r: Rect, w: f64, h: f64, o: u8) -> Rect {
    let Rect {
        left: l,
        top: t,
        width: rw,
        height: rh,
    } = r;
    let (left, top) = match o {
        2 => (w - l - rw, t),
        3 => (w - l - rw, h - t - rh),
        4 => (l, h - t - rh),
        5 => (t, l),
        6 => (t, h - l - rw),
        7 => (w - t - rh, h - l - rw),
        8 => (w - t - rh, l),
        _ => (l, t),
    };
    if swaps_axes(o) {
        Rect {
            left,
            top,
            width: rh,
            height: rw,
        }
    } else {
        Rect {
            left,
            top,
            width: rw,
            height: rh,
        }
    }
}

/// Turns a stored-orientation buffer (`w` × `h`, `bpp` bytes per pixel) upright.
/// Returns the new buffer and its width and height.
pub fn apply(pixels: Vec<u8>, w: u32, h: u32, bpp: usize, o: u8) -> (Vec<u8>, u32, u32) {
    if !(2..=8).contains(&o) {
        return (pixels, w, h);
    }
    let (w, h) = (w as usize, h as usize);
    let (ow, oh) = if swaps_axes(o) { (h, w) } else { (w, h) };
    let mut out = vec![0u8; pixels.len()];
    for yd in 0..oh {
        for xd in 0..ow {
            // Inverse mapping: which stored pixel lands at upright (xd, yd).
            let (xs, ys) = match o {
                2 => (w - 1 - xd, yd),
                3 => (w - 1 - xd, h - 1 - yd),
                4 => (xd, h - 1 - yd),
                5 => (yd, xd),
                6 => (yd, h - 1 - xd),
                7 => (w - 1 - yd, h - 1 - xd),
                _ => (w - 1 - yd, xd),
            };
            let s = (ys * w + xs) * bpp;
            let d = (yd * ow + xd) * bpp;
            out[d..d + bpp].copy_from_slice(&pixels[s..s + bpp]);
        }
    }
    (out, ow as u32, oh as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored 3×2 image numbered 0..6; the upright views per orientation (EXIF spec figures).
    #[test]
    fn every_orientation_matches_the_exif_definition() {
        let stored = vec![0u8, 1, 2, 3, 4, 5];
        let expect: [(u8, Vec<u8>, u32); 8] = [
            (1, vec![0, 1, 2, 3, 4, 5], 3),
            (2, vec![2, 1, 0, 5, 4, 3], 3),
            (3, vec![5, 4, 3, 2, 1, 0], 3),
            (4, vec![3, 4, 5, 0, 1, 2], 3),
            (5, vec![0, 3, 1, 4, 2, 5], 2),
            (6, vec![3, 0, 4, 1, 5, 2], 2),
            (7, vec![5, 2, 4, 1, 3, 0], 2),
            (8, vec![2, 5, 1, 4, 0, 3], 2),
        ];
        for (o, want, ow) in expect {
            let (got, w, _) = apply(stored.clone(), 3, 2, 1, o);
            assert_eq!((got, w), (want, ow), "orientation {o}");
        }
    }

    /// A one-pixel rect in upright space must land on the stored pixel that `apply` moves there.
    #[test]
    fn rect_mapping_agrees_with_apply() {
        let stored: Vec<u8> = (0..12).collect();
        for o in 1..=8u8 {
            let (up, uw, uh) = apply(stored.clone(), 4, 3, 1, o);
            for yd in 0..uh {
                for xd in 0..uw {
                    let r = rect_to_stored(
                        Rect {
                            left: xd as f64,
                            top: yd as f64,
                            width: 1.0,
                            height: 1.0,
                        },
                        4.0,
                        3.0,
                        o,
                    );
                    let s = stored[(r.top as usize) * 4 + r.left as usize];
                    assert_eq!(s, up[(yd * uw + xd) as usize], "o={o} at {xd},{yd}");
                }
            }
        }
    }
}
