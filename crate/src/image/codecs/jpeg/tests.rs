//! Fixtures are encoded in the test with mozjpeg from synthetic images, so every expectation is
//! derived from known pixels rather than stored files.

use mozjpeg::{ColorSpace, Compress};

use super::*;
use crate::image::Channels;

/// A smooth colour field with some texture, so AC scans carry real data.
fn gradient(w: usize, h: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let t = ((x * 7 + y * 13) % 17) as u8;
            px.push((x * 255 / w) as u8 ^ t);
            px.push((y * 255 / h) as u8);
            px.push(((x + y) * 255 / (w + h)) as u8 ^ (t << 2));
        }
    }
    px
}

fn encode(
    px: &[u8],
    w: usize,
    h: usize,
    input: ColorSpace,
    stored: Option<ColorSpace>,
    progressive: bool,
) -> Vec<u8> {
    let mut c = Compress::new(input);
    // libjpeg-turbo defaults (no trellis): progressive and baseline then carry identical
    // quantised coefficients, so their 1/8 decodes must match exactly
    c.set_fastest_defaults();
    if let Some(cs) = stored {
        c.set_color_space(cs);
    }
    c.set_size(w, h);
    c.set_quality(90.0);
    if progressive {
        c.set_progressive_mode();
    }
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(px).unwrap();
    s.finish().unwrap()
}

fn rgb_jpeg(w: usize, h: usize, progressive: bool) -> Vec<u8> {
    encode(
        &gradient(w, h),
        w,
        h,
        ColorSpace::JCS_RGB,
        None,
        progressive,
    )
}

/// Inserts a marker segment right after SOI.
fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn full_decode(jpeg: &[u8], denom: u32) -> Vec<u8> {
    catch_panic(ErrorCode::Decode, || {
        libjpeg::decompress(jpeg, denom, false, None)
    })
    .unwrap()
    .pixels
}

fn diff(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    let mean = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64;
    (max, mean)
}

#[test]
fn the_largest_scale_that_still_covers_the_minimum_is_chosen() {
    assert_eq!(scale_denominator(4000, 3000, 256, 256), 8);
    assert_eq!(scale_denominator(4000, 3000, 0, 0), 1);
    assert_eq!(scale_denominator(4000, 3000, 600, 0), 4);
    assert_eq!(scale_denominator(4000, 3000, 0, 376), 4);
    assert_eq!(scale_denominator(4000, 3000, 0, 375), 8);
    assert_eq!(scale_denominator(4000, 3000, 1001, 10), 2);
    assert_eq!(scale_denominator(4000, 3000, 2001, 10), 1);
    assert_eq!(scale_denominator(4000, 3000, 9000, 9000), 1);
    // ceil, as libjpeg rounds: 1001 / 8 → 126
    assert_eq!(scale_denominator(1001, 1001, 126, 126), 8);
}

#[test]
fn decode_shrinks_on_load_to_the_scaled_size() {
    let jpeg = rgb_jpeg(301, 203, false);
    for (min, (w, h)) in [
        (0, (301, 203)),
        (200, (301, 203)),
        (100, (151, 102)),
        (103, (301, 203)),
        (51, (76, 51)),
        (26, (38, 26)),
        (1, (38, 26)),
    ] {
        let d = decode(&jpeg, min, min).unwrap();
        assert_eq!((d.width, d.height), (w, h), "min {min}");
        assert_eq!(d.channels, Channels::Rgb);
        assert_eq!(d.pixels.len(), (w * h * 3) as usize);
        assert_eq!((d.source_width, d.source_height), (301, 203));
        assert_eq!(d.orientation, 1);
        assert!(d.icc.is_none());
    }
}

#[test]
fn decoded_pixels_follow_the_source() {
    let (w, h) = (128, 96);
    let px: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % w * 2) as u8, (i / w * 2) as u8, 90])
        .collect();
    let jpeg = encode(&px, w, h, ColorSpace::JCS_RGB, None, false);
    let d = decode(&jpeg, 0, 0).unwrap();
    let (max, mean) = diff(&d.pixels, &px);
    assert!(mean < 1.5 && max < 12, "mean error {mean}, max {max}");
}

#[test]
fn header_reports_size_components_and_progression() {
    let jpeg = rgb_jpeg(640, 480, true);
    let h = read_header(&jpeg).unwrap();
    assert_eq!(
        (h.width, h.height, h.components, h.progressive),
        (640, 480, 3, true)
    );
    assert_eq!(h.orientation, 1);
    let h = read_header(&rgb_jpeg(33, 17, false)).unwrap();
    assert_eq!(
        (h.width, h.height, h.components, h.progressive),
        (33, 17, 3, false)
    );
}

#[test]
fn header_reads_exif_orientation_and_reassembles_icc_chunks() {
    let jpeg = rgb_jpeg(40, 30, false);
    let mut exif = b"Exif\0\0MM\0*\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let chunk = |seq: u8, data: &[u8]| {
        let mut p = b"ICC_PROFILE\0".to_vec();
        p.extend_from_slice(&[seq, 2]);
        p.extend_from_slice(data);
        p
    };
    // chunks out of order in the file: the sequence number decides
    let jpeg = with_segment(&jpeg, 0xE2, &chunk(2, b"world"));
    let jpeg = with_segment(&jpeg, 0xE2, &chunk(1, b"hello "));
    let jpeg = with_segment(&jpeg, 0xE1, &exif);
    let h = read_header(&jpeg).unwrap();
    assert_eq!(h.orientation, 6);
    assert_eq!(h.icc.as_deref(), Some(&b"hello world"[..]));
    let d = decode(&jpeg, 10, 10).unwrap();
    assert_eq!(d.orientation, 6);
    assert_eq!(d.icc.as_deref(), Some(&b"hello world"[..]));
    assert_eq!((d.width, d.height), (20, 15));
}

#[test]
fn progressive_at_one_eighth_matches_baseline_exactly_and_skips_ac_scans() {
    let (w, h) = (800, 600);
    let px = gradient(w, h);
    let base = encode(&px, w, h, ColorSpace::JCS_RGB, None, false);
    let prog = encode(&px, w, h, ColorSpace::JCS_RGB, None, true);
    let parsed = markers::parse(&prog).unwrap();
    let pruned = prune::prune(&prog, &parsed, 8).unwrap();
    assert!(
        pruned.len() < prog.len() / 2,
        "pruned {} of {} bytes",
        pruned.len(),
        prog.len()
    );

    let d = decode(&prog, 100, 75).unwrap();
    assert_eq!((d.width, d.height), (100, 75));
    assert_eq!(d.pixels, full_decode(&base, 8));
    assert_eq!(d.pixels, full_decode(&prog, 8));
}

#[test]
fn progressive_at_one_eighth_is_exact_for_gray_too() {
    let (w, h) = (320, 240);
    let px: Vec<u8> = gradient(w, h).chunks(3).map(|p| p[0]).collect();
    let prog = encode(&px, w, h, ColorSpace::JCS_GRAYSCALE, None, true);
    let d = decode(&prog, 40, 30).unwrap();
    assert_eq!(d.channels, Channels::Gray);
    assert_eq!(d.pixels, full_decode(&prog, 8));
}

#[test]
fn progressive_at_one_quarter_stays_close_to_a_full_decode() {
    let (w, h) = (800, 600);
    let prog = rgb_jpeg(w, h, true);
    let parsed = markers::parse(&prog).unwrap();
    let pruned = prune::prune(&prog, &parsed, 4).unwrap();
    assert!(
        pruned.len() < prog.len(),
        "pruned {} of {} bytes",
        pruned.len(),
        prog.len()
    );
    let d = decode(&prog, 200, 150).unwrap();
    assert_eq!((d.width, d.height), (200, 150));
    let (max, mean) = diff(&d.pixels, &full_decode(&prog, 4));
    assert!(mean < 3.0 && max < 64, "mean {mean} max {max}");
}

#[test]
fn adobe_cmyk_is_uninverted_so_255_is_full_ink() {
    let (w, h) = (64, 48);
    // what Photoshop stores: 255 - ink
    let ink: Vec<u8> = (0..w * h)
        .flat_map(|i| [200u8, 10, (i / w * 4) as u8, 128])
        .collect();
    let stored: Vec<u8> = ink.iter().map(|v| 255 - v).collect();
    for cs in [ColorSpace::JCS_CMYK, ColorSpace::JCS_YCCK] {
        let jpeg = encode(&stored, w, h, ColorSpace::JCS_CMYK, Some(cs), false);
        let d = decode(&jpeg, 0, 0).unwrap();
        assert_eq!(d.channels, Channels::Cmyk);
        assert_eq!(read_header(&jpeg).unwrap().components, 4);
        let (_, mean) = diff(&d.pixels, &ink);
        assert!(mean < 4.0, "{cs:?}: mean error {mean}");
        assert!(
            d.pixels[0] > 180 && d.pixels[1] < 30,
            "{cs:?}: {:?}",
            &d.pixels[..4]
        );
    }
}

#[test]
fn garbage_and_truncated_headers_are_decode_errors() {
    let jpeg = rgb_jpeg(64, 64, false);
    for bad in [
        &b""[..],
        b"\xFF\xD8",
        b"GIF89a......",
        &jpeg[..20],
        &jpeg[..jpeg.len().min(150)],
    ] {
        let e = read_header(bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::Decode, "{bad:?}");
        assert_eq!(
            decode(bad, 8, 8).map(|d| d.width).unwrap_err().code,
            ErrorCode::Decode
        );
    }
}

#[test]
fn truncated_scan_data_is_a_decode_error() {
    for progressive in [false, true] {
        let jpeg = rgb_jpeg(400, 300, progressive);
        let parsed = markers::parse(&jpeg).unwrap();
        // cut inside the first scan, which every scale needs
        let cut = &jpeg[..parsed.first_sos + 200];
        for min in [0, 50] {
            let e = decode(cut, min, min).map(|d| d.width).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::Decode,
                "progressive {progressive} min {min}"
            );
            assert!(e.message.contains("Corrupt JPEG"), "{}", e.message);
        }
    }
}

#[test]
fn corrupt_entropy_data_is_a_decode_error() {
    let jpeg = rgb_jpeg(400, 300, false);
    let parsed = markers::parse(&jpeg).unwrap();
    let mut bad = jpeg.clone();
    let start = parsed.first_sos + 20;
    for (i, b) in bad[start..jpeg.len() - 2].iter_mut().enumerate() {
        // stuffed 0xFF00 pairs: a run of 1 bits, which no Huffman table may use as a code
        *b = if i % 2 == 0 { 0xFF } else { 0x00 };
    }
    let e = decode(&bad, 0, 0).map(|d| d.width).unwrap_err();
    assert_eq!(e.code, ErrorCode::Decode);
    assert!(e.message.contains("Huffman"), "{}", e.message);
}

#[test]
fn mutated_files_never_crash_the_decoder() {
    let files = [
        rgb_jpeg(96, 64, false),
        rgb_jpeg(96, 64, true),
        // eligible for the DC-only path at 1/8
        sampled_jpeg(96, 64, true, (1, 1)),
        sampled_jpeg(96, 64, true, (2, 1)),
    ];
    for jpeg in files {
        let mut seed = 0x2545_f491_u32;
        for _ in 0..300 {
            let mut m = jpeg.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % m.len();
                m[at] = (seed >> 24) as u8;
            }
            for min in [0, 8] {
                if let Err(e) = decode(&m, min, min) {
                    assert!(
                        matches!(
                            e.code,
                            ErrorCode::Decode | ErrorCode::UnsupportedFormat | ErrorCode::TooLarge
                        ),
                        "{e}"
                    );
                }
            }
        }
    }
}

fn rgb_444_jpeg(w: usize, h: usize, progressive: bool) -> Vec<u8> {
    sampled_jpeg(w, h, progressive, (1, 1))
}

/// `chroma` is the chroma sample size in pixels: (1, 1) = 4:4:4, (2, 1) = 4:2:2.
fn sampled_jpeg(w: usize, h: usize, progressive: bool, chroma: (u8, u8)) -> Vec<u8> {
    let mut c = Compress::new(ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(w, h);
    c.set_quality(90.0);
    c.set_chroma_sampling_pixel_sizes(chroma, chroma);
    if progressive {
        c.set_progressive_mode();
    }
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&gradient(w, h)).unwrap();
    s.finish().unwrap()
}

mod dc_only;
mod scans;
