//! Y′CbCr ↔ 8-bit R′G′B′ for AVIF, in fixed point (ITU-T H.273 matrices, full or studio range,
//! 8 to 12 bits).
//!
//! Decoding can halve the picture while converting: for 4:2:0 the chroma planes already have
//! half the resolution, so a thumbnail that needs at most half the pixels gets each 2×2 block of
//! luma averaged against its one chroma sample. That quarters the conversion and resize work,
//! the way JPEG's scaled IDCT does for shrink-on-load.

use super::av1::{Frame, Layout};

/// Fraction bits of the fixed-point coefficients.
const FRAC: u32 = 16;

/// `(Kr, Kb)` of an H.273 matrix; 0 is identity (GBR), unknown values fall back to BT.601 as
/// libavif does.
fn kr_kb(matrix: u16) -> Option<(f64, f64)> {
    match matrix {
        0 => None,
        1 => Some((0.2126, 0.0722)),
        4 => Some((0.30, 0.11)),
        7 => Some((0.212, 0.087)),
        9 | 10 => Some((0.2627, 0.0593)),
        _ => Some((0.299, 0.114)),
    }
}

/// Per-frame conversion constants.
struct Coeffs {
    y_off: i32,
    c_off: i32,
    y_mul: i32,
    r_v: i32,
    g_u: i32,
    g_v: i32,
    b_u: i32,
    identity: bool,
}

impl Coeffs {
    fn new(depth: u8, matrix: u16, full_range: bool) -> Coeffs {
        let max = ((1u32 << depth) - 1) as f64;
        let shift = (depth - 8) as i32;
        let (y_off, y_range, c_range) = if full_range {
            (0, max, max)
        } else {
            (16 << shift, (219 << shift) as f64, (224 << shift) as f64)
        };
        let one = (1u32 << FRAC) as f64 * 255.0;
        let fix = |v: f64| v.round() as i32;
        let (kr, kb) = kr_kb(matrix).unwrap_or((0.0, 0.0));
        let kg = 1.0 - kr - kb;
        Coeffs {
            y_off,
            c_off: 1 << (depth - 1),
            y_mul: fix(one / y_range),
            r_v: fix(2.0 * (1.0 - kr) * one / c_range),
            g_u: fix(2.0 * kb * (1.0 - kb) / kg.max(1e-6) * one / c_range),
            g_v: fix(2.0 * kr * (1.0 - kr) / kg.max(1e-6) * one / c_range),
            b_u: fix(2.0 * (1.0 - kb) * one / c_range),
            identity: kr_kb(matrix).is_none(),
        }
    }

    #[inline(always)]
    fn rgb(&self, y: i32, u: i32, v: i32) -> [u8; 3] {
        let clamp = |x: i32| ((x + (1 << (FRAC - 1))) >> FRAC).clamp(0, 255) as u8;
        if self.identity {
            // GBR: Y carries green, U blue, V red.
            let s = |c: i32| clamp((c - self.y_off) * self.y_mul);
            return [s(v), s(y), s(u)];
        }
        let yy = (y - self.y_off) * self.y_mul;
        let (u, v) = (u - self.c_off, v - self.c_off);
        [
            clamp(yy + self.r_v * v),
            clamp(yy - self.g_u * u - self.g_v * v),
            clamp(yy + self.b_u * u),
        ]
    }
}

/// Whether [`to_rgb`] may halve this frame.
pub fn can_halve(frame: &Frame) -> bool {
    frame.layout == Layout::I420 && frame.width >= 2 && frame.height >= 2
}

/// Converts a frame to packed 8-bit RGB (3 bytes per pixel), at full size or halved (rounded
/// up). Gray frames come out as RGB too.
pub fn to_rgb(frame: &Frame, halve: bool, out: &mut [u8], bpp: usize) {
    if frame.depth > 8 {
        convert::<u16>(frame, halve, out, bpp)
    } else {
        convert::<u8>(frame, halve, out, bpp)
    }
}

#[inline(always)]
fn wide<T: Into<i32>>(v: T) -> i32 {
    v.into()
}

fn convert<T: Copy + Into<i32>>(frame: &Frame, halve: bool, out: &mut [u8], bpp: usize) {
    let c = Coeffs::new(frame.depth, frame.matrix, frame.full_range);
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mono = frame.layout == Layout::Mono;
    let (sx, sy) = match frame.layout {
        Layout::I420 => (1, 1),
        Layout::I422 => (1, 0),
        _ => (0, 0),
    };
    let mid = c.c_off;
    if halve {
        let (ow, oh) = (w.div_ceil(2), h.div_ceil(2));
        for oy in 0..oh {
            let (y0, y1) = (2 * oy, (2 * oy + 1).min(h - 1));
            let (r0, r1) = (frame.row::<T>(0, y0), frame.row::<T>(0, y1));
            let (ur, vr) = (frame.row::<T>(1, oy), frame.row::<T>(2, oy));
            let dst = &mut out[oy * ow * bpp..(oy + 1) * ow * bpp];
            for ox in 0..ow {
                let (x0, x1) = (2 * ox, (2 * ox + 1).min(w - 1));
                let sum = wide(r0[x0]) + wide(r0[x1]) + wide(r1[x0]) + wide(r1[x1]);
                let px = c.rgb((sum + 2) >> 2, wide(ur[ox]), wide(vr[ox]));
                dst[ox * bpp..ox * bpp + 3].copy_from_slice(&px);
            }
        }
        return;
    }
    for y in 0..h {
        let yr = frame.row::<T>(0, y);
        let (ur, vr) = if mono {
            (&[][..], &[][..])
        } else {
            (frame.row::<T>(1, y >> sy), frame.row::<T>(2, y >> sy))
        };
        let dst = &mut out[y * w * bpp..(y + 1) * w * bpp];
        for x in 0..w {
            let (u, v) = if mono {
                (mid, mid)
            } else {
                (wide(ur[x >> sx]), wide(vr[x >> sx]))
            };
            let px = c.rgb(wide(yr[x]), u, v);
            dst[x * bpp..x * bpp + 3].copy_from_slice(&px);
        }
    }
}

/// Writes an alpha frame's luma into byte 3 of each 4-byte pixel of `out`, halved like the
/// colour when `halve` is set. Studio-range alpha is expanded to full range.
pub fn alpha_into(frame: &Frame, halve: bool, out: &mut [u8]) {
    if frame.depth > 8 {
        alpha::<u16>(frame, halve, out)
    } else {
        alpha::<u8>(frame, halve, out)
    }
}

fn alpha<T: Copy + Into<i32>>(frame: &Frame, halve: bool, out: &mut [u8]) {
    let c = Coeffs::new(frame.depth, 0, frame.full_range);
    let to8 = |v: i32| c.rgb(v, 0, 0)[1];
    let (w, h) = (frame.width as usize, frame.height as usize);
    if halve {
        let ow = w.div_ceil(2);
        for oy in 0..h.div_ceil(2) {
            let (r0, r1) = (
                frame.row::<T>(0, 2 * oy),
                frame.row::<T>(0, (2 * oy + 1).min(h - 1)),
            );
            for ox in 0..ow {
                let (x0, x1) = (2 * ox, (2 * ox + 1).min(w - 1));
                let sum = wide(r0[x0]) + wide(r0[x1]) + wide(r1[x0]) + wide(r1[x1]);
                out[(oy * ow + ox) * 4 + 3] = to8((sum + 2) >> 2);
            }
        }
        return;
    }
    for y in 0..h {
        let r = frame.row::<T>(0, y);
        for x in 0..w {
            out[(y * w + x) * 4 + 3] = to8(wide(r[x]));
        }
    }
}

/// 8-bit BT.601 full-range planes of packed RGB/RGBA, chroma averaged over 2×2 blocks (4:2:0).
pub struct Planes {
    /// Luma, `width × height`.
    pub y: Vec<u8>,
    /// Cb, `⌈width/2⌉ × ⌈height/2⌉`.
    pub u: Vec<u8>,
    /// Cr, same size as `u`.
    pub v: Vec<u8>,
}

/// Splits packed RGB (`bpp` 3 or 4) into 4:2:0 planes with the BT.601 matrix, full range.
pub fn from_rgb(pixels: &[u8], width: usize, height: usize, bpp: usize) -> Planes {
    const KR: i32 = 19595; // 0.299 << 16
    const KG: i32 = 38470; // 0.587 << 16
    const KB: i32 = 7471; // 0.114 << 16
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let mut y = vec![0u8; width * height];
    let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    let px = |x: usize, yy: usize| {
        let i = (yy * width + x) * bpp;
        (pixels[i] as i32, pixels[i + 1] as i32, pixels[i + 2] as i32)
    };
    for (i, l) in y.iter_mut().enumerate() {
        let (r, g, b) = px(i % width, i / width);
        *l = ((KR * r + KG * g + KB * b + (1 << 15)) >> 16) as u8;
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0, 0, 0, 0);
            for yy in 2 * cy..(2 * cy + 2).min(height) {
                for x in 2 * cx..(2 * cx + 2).min(width) {
                    let p = px(x, yy);
                    (r, g, b, n) = (r + p.0, g + p.1, b + p.2, n + 1);
                }
            }
            let (r, g, b) = (r / n, g / n, b / n);
            let luma = (KR * r + KG * g + KB * b) >> 16;
            // Cb = (B − Y) / 1.772, Cr = (R − Y) / 1.402, centred on 128.
            let cb = ((b - luma) * 36982 + (128 << 16) + (1 << 15)) >> 16;
            let cr = ((r - luma) * 46745 + (128 << 16) + (1 << 15)) >> 16;
            u[cy * cw + cx] = cb.clamp(0, 255) as u8;
            v[cy * cw + cx] = cr.clamp(0, 255) as u8;
        }
    }
    Planes { y, u, v }
}
