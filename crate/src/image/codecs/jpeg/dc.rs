//! DC-only decoding of progressive JPEGs at scale 1/8, without libjpeg.
//!
//! At 1/8 each 8×8 block becomes one pixel, `DC × quant / 8 + 128` (libjpeg's `jpeg_idct_1x1`).
//! Pruning alone ([`super::prune`]) already skips the AC scans, but libjpeg still allocates and
//! clears a coefficient buffer for the whole image (64 coefficients per block, 70 MB for a
//! 5640×3172 photo) and walks it block by block. Here only the DC scans are Huffman-decoded, into
//! one `i16` per block, so a progressive photo costs little more than reading its DC scans.
//!
//! Only used when every component's IDCT is 1×1 at 1/8, as libjpeg picks them: no subsampling,
//! or horizontal-only subsampling such as 4:2:2. For 4:2:0 libjpeg computes chroma with a 2×2 IDCT
//! that reads AC coefficients, and this path must give the same pixels as libjpeg. Anything unexpected returns `None` and the caller falls back to
//! libjpeg, which then reports corruption with its own messages.

use super::markers::{self, Parsed, SOS};
use crate::image::Channels;

use super::huffman::{Bits, Huffman};
use super::libjpeg::Raw;

/// Whether the DC-only path can produce libjpeg's exact 1/8 output for this file.
pub(super) fn eligible(parsed: &Parsed, denom: u32) -> bool {
    let max_h = parsed.components.iter().map(|c| c.h).max().unwrap_or(1);
    let max_v = parsed.components.iter().map(|c| c.v).max().unwrap_or(1);
    denom == 8
        && parsed.progressive
        && !parsed.arithmetic
        && matches!(parsed.components.len(), 1 | 3)
        && parsed
            .components
            .iter()
            .all(|c| max_h % c.h == 0 && max_v % c.v == 0)
        && super::prune::idct_sizes(parsed, denom)
            .iter()
            .all(|&s| s == 1)
}

/// DC-only decode at 1/8. `None` means "let libjpeg do it".
pub(super) fn decode(data: &[u8], parsed: &Parsed) -> Option<Raw> {
    let comps = &parsed.components;
    let grid = Grid::new(parsed);
    let mut coefs: Vec<Vec<i16>> = (0..comps.len())
        .map(|c| vec![0i16; grid.stride[c] * grid.rows[c]])
        .collect();
    let mut precision = vec![-1i8; comps.len()];
    let mut quant: [Option<u16>; 4] = [None; 4];
    let mut comp_quant: Vec<Option<i32>> = vec![None; comps.len()];
    let mut tq = vec![0usize; comps.len()];
    let mut tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart_interval = 0usize;
    let mut sof2 = false;

    let mut pos = 2;
    while let Some(m) = markers::next_segment(data, pos)? {
        let end = m.end;
        let seg = &data[m.payload..end];
        match m.code {
            0xC2 => {
                sof2 = true;
                for (i, c) in seg.get(6..6 + 3 * comps.len())?.chunks_exact(3).enumerate() {
                    tq[i] = usize::from(c[2] & 3);
                }
            }
            0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xDB => {
                let mut s = seg;
                while let Some(&pq_tq) = s.first() {
                    let (wide, id) = (pq_tq >> 4 != 0, usize::from(pq_tq & 3));
                    let size = if wide { 128 } else { 64 };
                    let t = s.get(1..1 + size)?;
                    // element 0 (the DC quantiser) is the same in zigzag and natural order
                    quant[id] = Some(if wide {
                        u16::from_be_bytes([t[0], t[1]])
                    } else {
                        u16::from(t[0])
                    });
                    s = &s[1 + size..];
                }
            }
            0xC4 => {
                let mut s = seg;
                while let Some(&tc_th) = s.first() {
                    let counts = s.get(1..17)?;
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = s.get(17..17 + n)?;
                    if tc_th >> 4 == 0 {
                        tables[usize::from(tc_th & 3)] = Some(Huffman::new(counts, values)?);
                    }
                    s = &s[17 + n..];
                }
            }
            0xDD => {
                restart_interval = usize::from(u16::from_be_bytes([*seg.first()?, *seg.get(1)?]))
            }
            SOS => {
                let scan_end = markers::entropy_end(data, end)?;
                if !sof2 {
                    return None;
                }
                let n = usize::from(*seg.first()?);
                let (ss, se) = (*seg.get(1 + 2 * n)?, *seg.get(2 + 2 * n)?);
                let a = *seg.get(3 + 2 * n)?;
                // parameters libjpeg rejects (T.81 G.1.1.1.1): let it report them
                let valid = n > 0 && ss <= se && se < 64 && (a >> 4) <= 13 && (a & 15) <= 13;
                if !valid || (ss == 0 && se != 0) || (ss > 0 && n != 1) {
                    return None;
                }
                if ss == 0 {
                    let (ah, al) = ((a >> 4) as i8, (a & 15) as i8);
                    let mut members = Vec::with_capacity(n);
                    for s in seg.get(1..1 + 2 * n)?.chunks_exact(2) {
                        let c = comps.iter().position(|c| c.id == s[0])?;
                        // libjpeg latches a component's table when it first appears in a scan
                        if comp_quant[c].is_none() {
                            comp_quant[c] = Some(i32::from(quant[tq[c]]?));
                        }
                        let expected = if ah == 0 { -1 } else { ah };
                        if precision[c] != expected || al > 13 {
                            return None;
                        }
                        members.push((c, usize::from(s[1] >> 4)));
                    }
                    let mut bits = Bits::new(&data[end..scan_end]);
                    let mut pred = vec![0i32; comps.len()];
                    let interleaved = n > 1;
                    let (units_x, units_y) = if interleaved {
                        (grid.mcus_x, grid.mcus_y)
                    } else {
                        let c = members[0].0;
                        (grid.blocks_w[c], grid.blocks_h[c])
                    };
                    let mut unit = 0usize;
                    for uy in 0..units_y {
                        for ux in 0..units_x {
                            if restart_interval > 0
                                && unit > 0
                                && unit.is_multiple_of(restart_interval)
                            {
                                bits.restart()?;
                                pred.iter_mut().for_each(|p| *p = 0);
                            }
                            unit += 1;
                            for &(c, td) in &members {
                                let (bh, bv) = if interleaved {
                                    (grid.h[c], grid.v[c])
                                } else {
                                    (1, 1)
                                };
                                let stride = grid.stride[c];
                                for by in 0..bv {
                                    for bx in 0..bh {
                                        let idx = (uy * bv + by) * stride + ux * bh + bx;
                                        if ah == 0 {
                                            let t = tables[td].as_ref()?;
                                            let s = u32::from(bits.symbol(t)?);
                                            if s > 11 {
                                                return None;
                                            }
                                            let r = bits.get(s) as i32;
                                            let diff = if s > 0 && r < 1 << (s - 1) {
                                                r - (1 << s) + 1
                                            } else {
                                                r
                                            };
                                            pred[c] = pred[c].wrapping_add(diff);
                                            coefs[c][idx] = (pred[c] << al) as i16;
                                        } else if bits.get(1) == 1 {
                                            coefs[c][idx] |= 1 << al;
                                        }
                                    }
                                }
                            }
                        }
                    }
                    if bits.overrun {
                        // truncated or cut short by a marker: libjpeg's warnings decide
                        return None;
                    }
                    for &(c, _) in &members {
                        precision[c] = al;
                    }
                    if precision.iter().all(|&p| p == 0) {
                        break;
                    }
                }
                pos = scan_end;
                continue;
            }
            _ => {}
        }
        pos = end;
    }
    if precision.iter().any(|&p| p < 0) {
        return None;
    }
    Some(render(parsed, &grid, &coefs, &comp_quant))
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// YCbCr → RGB in libjpeg's fixed point (jdcolor.c, 16 fractional bits), so pixels match it.
fn ycc_to_rgb(y: i32, cb: i32, cr: i32) -> [u8; 3] {
    const fn fix(x: f64) -> i32 {
        (x * 65536.0 + 0.5) as i32
    }
    const HALF: i32 = 1 << 15;
    let (cb, cr) = (cb - 128, cr - 128);
    let r = y + ((fix(1.40200) * cr + HALF) >> 16);
    let g = y + ((-fix(0.34414) * cb + HALF - fix(0.71414) * cr) >> 16);
    let b = y + ((fix(1.77200) * cb + HALF) >> 16);
    [clamp(r), clamp(g), clamp(b)]
}

fn render(parsed: &Parsed, grid: &Grid, coefs: &[Vec<i16>], quant: &[Option<i32>]) -> Raw {
    // libjpeg's output size at 1/8
    let width = (parsed.width as usize).div_ceil(8);
    let height = (parsed.height as usize).div_ceil(8);
    // jpeg_idct_1x1: DESCALE(DC × quant, 3) + 128, clamped; then libjpeg upsamples subsampled
    // components by plain replication, because it turns fancy upsampling off at 1/8 (jdsample.c)
    let plane = |c: usize| -> Vec<u8> {
        let (he, ve) = (grid.max_h / grid.h[c], grid.max_v / grid.v[c]);
        let q = quant[c].unwrap_or(1);
        let mut out = Vec::with_capacity(width * height);
        for y in 0..height {
            let row = &coefs[c][(y / ve) * grid.stride[c]..];
            out.extend((0..width).map(|x| clamp(((i32::from(row[x / he]) * q + 4) >> 3) + 128)));
        }
        out
    };
    let (pixels, channels) = if parsed.components.len() == 1 {
        (plane(0), Channels::Gray)
    } else {
        let (p0, p1, p2) = (plane(0), plane(1), plane(2));
        let rgb = is_rgb(parsed);
        let mut px = Vec::with_capacity(width * height * 3);
        for ((&a, &b), &c) in p0.iter().zip(&p1).zip(&p2) {
            if rgb {
                px.extend_from_slice(&[a, b, c]);
            } else {
                px.extend_from_slice(&ycc_to_rgb(a.into(), b.into(), c.into()));
            }
        }
        (px, Channels::Rgb)
    };
    Raw {
        pixels,
        width: width as u32,
        height: height as u32,
        channels,
    }
}

/// Block layout of every component (T.81 A.2): MCUs cover the image in units of
/// `8·max_h × 8·max_v` pixels; interleaved scans fill each component's padded grid, and
/// single-component scans only its `ceil(size / 8)` blocks.
struct Grid {
    max_h: usize,
    max_v: usize,
    h: Vec<usize>,
    v: Vec<usize>,
    mcus_x: usize,
    mcus_y: usize,
    stride: Vec<usize>,
    rows: Vec<usize>,
    blocks_w: Vec<usize>,
    blocks_h: Vec<usize>,
}

impl Grid {
    fn new(parsed: &Parsed) -> Grid {
        let (w, ht) = (parsed.width as usize, parsed.height as usize);
        let h: Vec<usize> = parsed.components.iter().map(|c| usize::from(c.h)).collect();
        let v: Vec<usize> = parsed.components.iter().map(|c| usize::from(c.v)).collect();
        let max_h = h.iter().copied().max().unwrap_or(1);
        let max_v = v.iter().copied().max().unwrap_or(1);
        let mcus_x = w.div_ceil(8 * max_h);
        let mcus_y = ht.div_ceil(8 * max_v);
        Grid {
            stride: h.iter().map(|&h| mcus_x * h).collect(),
            rows: v.iter().map(|&v| mcus_y * v).collect(),
            blocks_w: h
                .iter()
                .map(|&h| (w * h).div_ceil(max_h).div_ceil(8))
                .collect(),
            blocks_h: v
                .iter()
                .map(|&v| (ht * v).div_ceil(max_v).div_ceil(8))
                .collect(),
            max_h,
            max_v,
            h,
            v,
            mcus_x,
            mcus_y,
        }
    }
}

/// libjpeg's colour-space guess for 3 components (`default_decompress_parms` in jdapimin.c).
fn is_rgb(parsed: &Parsed) -> bool {
    if parsed.jfif {
        return false;
    }
    if let Some(t) = parsed.adobe_transform {
        return t == 0;
    }
    let ids: Vec<u8> = parsed.components.iter().map(|c| c.id).collect();
    ids == [b'R', b'G', b'B']
}
