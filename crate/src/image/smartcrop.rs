//! Entropy smart crop, exactly as easy-thumbnails' `scale_and_crop(crop="smart")` and its
//! `_compare_entropy` helper
//! (<https://github.com/SmileyChris/easy-thumbnails/blob/master/easy_thumbnails/processors.py>):
//! strips are peeled from the side with less histogram entropy, X finished before Y, slice =
//! `min(diff, max(diff // 5, 10))`, and a tie within 1% peels both sides.
//!
//! The pipeline runs it on a small copy of the cover-scaled image and maps the offsets back, so
//! its cost does not grow with the output size.

/// Shannon entropy of the concatenated per-channel histograms of a box
/// (`x0..x1` × `y0..y1`) of an interleaved image with `bpp` samples per pixel.
fn entropy(
    pixels: &[u8],
    width: usize,
    bpp: usize,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
) -> f64 {
    let mut hist = vec![0u32; 256 * bpp];
    for y in y0..y1 {
        let row = &pixels[(y * width + x0) * bpp..(y * width + x1) * bpp];
        for px in row.chunks_exact(bpp) {
            for (c, &v) in px.iter().enumerate() {
                hist[c * 256 + v as usize] += 1;
            }
        }
    }
    let total: u64 = hist.iter().map(|&n| n as u64).sum();
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    hist.iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = n as f64 / total;
            -p * p.log2()
        })
        .sum()
}

/// How much to remove from the start and the end side for one step.
fn compare(start: f64, end: f64, slice: usize, diff: usize) -> (usize, usize) {
    if end != 0.0 && (start / end - 1.0).abs() < 0.01 {
        if diff >= slice * 2 {
            return (slice, slice);
        }
        let half = slice / 2;
        return (half, slice - half);
    }
    if start > end {
        (0, slice)
    } else {
        (slice, 0)
    }
}

/// Finds the `(left, top)` of the `target_w` × `target_h` window to keep in a `width` × `height`
/// image (`bpp` samples per pixel). A target larger than the image keeps that whole side.
pub fn find(
    pixels: &[u8],
    width: usize,
    height: usize,
    bpp: usize,
    target_w: usize,
    target_h: usize,
) -> (usize, usize) {
    let (mut left, mut right) = (0usize, width);
    let mut diff = width - width.min(target_w);
    while diff > 0 {
        let slice = diff.min((diff / 5).max(10));
        let start = entropy(pixels, width, bpp, left, 0, left + slice, height);
        let end = entropy(pixels, width, bpp, right - slice, 0, right, height);
        let (add, remove) = compare(start, end, slice, diff);
        left += add;
        right -= remove;
        diff -= add + remove;
    }
    // As in easy-thumbnails, the vertical strips span the full width, not the X-cropped one.
    let (mut top, mut bottom) = (0usize, height);
    let mut diff = height - height.min(target_h);
    while diff > 0 {
        let slice = diff.min((diff / 5).max(10));
        let start = entropy(pixels, width, bpp, 0, top, width, top + slice);
        let end = entropy(pixels, width, bpp, 0, bottom - slice, width, bottom);
        let (add, remove) = compare(start, end, slice, diff);
        top += add;
        bottom -= remove;
        diff -= add + remove;
    }
    (left, top)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat gray image with a noisy patch in one corner.
    fn flat_with_patch(w: usize, h: usize, px: usize, py: usize, size: usize) -> Vec<u8> {
        let mut img = vec![128u8; w * h * 3];
        let mut seed = 12345u32;
        for y in py..py + size {
            for x in px..px + size {
                for c in 0..3 {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    img[(y * w + x) * 3 + c] = (seed >> 16) as u8;
                }
            }
        }
        img
    }

    #[test]
    fn keeps_the_high_entropy_corner() {
        let img = flat_with_patch(200, 100, 150, 60, 40);
        let (l, t) = find(&img, 200, 100, 3, 60, 50);
        assert!(l + 60 >= 190 && l <= 150, "left {l}");
        assert!(t + 50 >= 100 && t <= 60, "top {t}");
    }

    #[test]
    fn zero_entropy_on_both_sides_is_not_a_tie() {
        // easy-thumbnails tests `end_entropy` for truthiness first, so a flat gray image loses
        // its left strips only.
        let img = vec![50u8; 100 * 10];
        assert_eq!(find(&img, 100, 10, 1, 40, 10), (60, 0));
        // A flat RGB image has log2(3) bits (three channels share one normalised histogram),
        // so it ties and is trimmed evenly.
        let img = vec![50u8; 100 * 10 * 3];
        assert_eq!(find(&img, 100, 10, 3, 40, 10), (30, 0));
    }

    #[test]
    fn equal_entropy_peels_both_sides() {
        // Every column is the same 0/255 stripe pattern, so both sides always tie.
        let img: Vec<u8> = (0..100 * 4)
            .map(|i| if (i / 100) % 2 == 0 { 0 } else { 255 })
            .collect();
        // slices: 12+12, 10+10, 5+5, 3+3 → left 30.
        assert_eq!(find(&img, 100, 4, 1, 40, 4), (30, 0));
    }

    #[test]
    fn entropy_of_two_equal_values_is_one_bit_per_channel_set() {
        let img = [0u8, 255];
        assert!((entropy(&img, 2, 1, 0, 0, 2, 1) - 1.0).abs() < 1e-9);
    }

    /// Golden value from a direct Python transcription of easy-thumbnails' `smart_crop`
    /// (768-bin `histogram()` entropy) run on the same generated image.
    #[test]
    fn matches_the_python_reference() {
        let (w, h) = (120usize, 90usize);
        let image = |noisy: &dyn Fn(usize, usize) -> bool| {
            let mut img = Vec::with_capacity(w * h * 3);
            let mut seed = 7u32;
            for y in 0..h {
                for x in 0..w {
                    for c in 0..3 {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        let base = ((x * 2 + y + c * 40) % 256) / 8 * 8;
                        img.push(if noisy(x, y) {
                            (seed >> 24) as u8
                        } else {
                            base as u8
                        });
                    }
                }
            }
            img
        };
        let corner = image(&|x, y| x > 70 && y < 40);
        assert_eq!(find(&corner, w, h, 3, 50, 40), (70, 0));
        let middle = image(&|x, y| 40 < x && x < 95 && 20 < y && y < 70);
        assert_eq!(find(&middle, w, h, 3, 50, 40), (44, 25));
    }
}
