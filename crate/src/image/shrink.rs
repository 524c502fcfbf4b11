//! Streaming integer box shrink: rows go in one at a time and only one band of accumulators
//! (one output row) is kept, so a decoder that produces rows never has to hold the full frame.
//!
//! This is the cheap first stage of a two-stage downscale; the pipeline's Lanczos resize still
//! does the final step, so the factor is chosen to leave it at least 2× to shrink (a box filter
//! alone would alias). Alpha is premultiplied while averaging, for the same reason the resizer
//! premultiplies: fully transparent pixels carry arbitrary colour that must not bleed.

/// Largest factor: keeps premultiplied sums (255 · 255 · factor²) inside `u32`. Anything larger
/// is left to the Lanczos stage.
pub const MAX_FACTOR: u32 = 64;

/// The box factor for a `width` × `height` source when the pipeline needs at least
/// `min_w` × `min_h` pixels (0 = no need in that axis, both 0 = full size).
pub fn factor(width: u32, height: u32, min_w: u32, min_h: u32) -> u32 {
    if min_w == 0 && min_h == 0 {
        return 1;
    }
    let axis = |src: u32, need: u32| {
        if need == 0 {
            u32::MAX
        } else {
            src / need.saturating_mul(2)
        }
    };
    axis(width, min_w)
        .min(axis(height, min_h))
        .clamp(1, MAX_FACTOR)
}

/// Accumulates 8-bit rows of `width` pixels and emits `ceil(width / f)`-wide rows every `f`
/// input rows; the last box of a row or column averages only the pixels it has.
pub struct BoxShrink {
    width: usize,
    channels: usize,
    alpha: bool,
    f: usize,
    acc: Vec<u32>,
    rows: usize,
    out: Vec<u8>,
}

impl BoxShrink {
    /// A shrinker for `height` rows of `width` pixels with `channels` samples each; the last
    /// sample is straight alpha when `alpha` is set.
    pub fn new(width: u32, height: u32, channels: usize, alpha: bool, f: u32) -> BoxShrink {
        let f = f.max(1) as usize;
        let out_w = (width as usize).div_ceil(f);
        let out_h = (height as usize).div_ceil(f);
        BoxShrink {
            width: width as usize,
            channels,
            alpha,
            f,
            acc: if f > 1 {
                vec![0; out_w * channels]
            } else {
                Vec::new()
            },
            rows: 0,
            out: Vec::with_capacity(out_w * out_h * channels),
        }
    }

    /// Output size `(width, height)` for a source of `width` × `height` and factor `f`.
    pub fn output_size(width: u32, height: u32, f: u32) -> (u32, u32) {
        let f = f.max(1);
        (width.div_ceil(f), height.div_ceil(f))
    }

    /// Adds one source row (`width · channels` bytes).
    pub fn push(&mut self, row: &[u8]) {
        let row = &row[..self.width * self.channels];
        if self.f == 1 {
            self.out.extend_from_slice(row);
            return;
        }
        match (self.channels, self.alpha) {
            (1, _) => self.add::<1>(row),
            (2, true) => self.add_alpha::<2>(row),
            (2, false) => self.add::<2>(row),
            (3, _) => self.add::<3>(row),
            (4, true) => self.add_alpha::<4>(row),
            _ => self.add::<4>(row),
        }
        self.rows += 1;
        if self.rows == self.f {
            self.emit();
        }
    }

    fn add<const C: usize>(&mut self, row: &[u8]) {
        for (acc, src) in self.acc.chunks_exact_mut(C).zip(row.chunks(self.f * C)) {
            for px in src.chunks_exact(C) {
                for c in 0..C {
                    acc[c] += px[c] as u32;
                }
            }
        }
    }

    fn add_alpha<const C: usize>(&mut self, row: &[u8]) {
        for (acc, src) in self.acc.chunks_exact_mut(C).zip(row.chunks(self.f * C)) {
            for px in src.chunks_exact(C) {
                let a = px[C - 1] as u32;
                for c in 0..C - 1 {
                    acc[c] += px[c] as u32 * a;
                }
                acc[C - 1] += a;
            }
        }
    }

    fn emit(&mut self) {
        let (f, c, rows) = (self.f, self.channels, self.rows as u32);
        for (ox, acc) in self.acc.chunks_exact_mut(c).enumerate() {
            let cols = (self.width - ox * f).min(f) as u32;
            let n = cols * rows;
            if self.alpha {
                let a = acc[c - 1];
                for &s in &acc[..c - 1] {
                    let v = (s + a / 2).checked_div(a).unwrap_or(0);
                    self.out.push(v as u8);
                }
                self.out.push(((a + n / 2) / n) as u8);
            } else {
                for &s in acc.iter() {
                    self.out.push(((s + n / 2) / n) as u8);
                }
            }
            acc.fill(0);
        }
        self.rows = 0;
    }

    /// Flushes a partial last band and returns the shrunk pixels.
    pub fn finish(mut self) -> Vec<u8> {
        if self.rows > 0 {
            self.emit();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_leaves_the_resizer_at_least_two_times() {
        assert_eq!(factor(4096, 4096, 256, 256), 8);
        assert_eq!(factor(4096, 2048, 256, 256), 4);
        assert_eq!(factor(1000, 1000, 300, 300), 1);
        assert_eq!(factor(1000, 1000, 0, 0), 1);
        assert_eq!(factor(100_000, 100_000, 1, 1), MAX_FACTOR);
    }

    #[test]
    fn averages_boxes_with_partial_edges() {
        // 3 × 3 gray by 2: boxes of 4, 2, 2 and 1 pixels.
        let mut s = BoxShrink::new(3, 3, 1, false, 2);
        s.push(&[0, 10, 100]);
        s.push(&[20, 30, 200]);
        s.push(&[7, 9, 50]);
        assert_eq!(s.finish(), vec![15, 150, 8, 50]);
    }

    #[test]
    fn transparent_pixels_do_not_bleed_colour() {
        // Opaque red next to transparent green: the colour stays red, alpha halves.
        let mut s = BoxShrink::new(2, 1, 4, true, 2);
        s.push(&[255, 0, 0, 255, 0, 255, 0, 0]);
        assert_eq!(s.finish(), vec![255, 0, 0, 128]);
    }

    #[test]
    fn factor_one_copies_rows() {
        let mut s = BoxShrink::new(2, 2, 3, false, 1);
        s.push(&[1, 2, 3, 4, 5, 6]);
        s.push(&[7, 8, 9, 10, 11, 12]);
        assert_eq!(s.finish(), (1..=12).collect::<Vec<u8>>());
    }
}
