use super::*;
use crate::image::pipeline::{run, Options};

fn gradient(w: u32, h: u32, alpha: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128]);
            if alpha {
                v.push(if x < w / 2 { 255 } else { 64 });
            }
        }
    }
    v
}

fn avif(w: u32, h: u32, alpha: bool) -> Vec<u8> {
    let ch = if alpha { Channels::Rgba } else { Channels::Rgb };
    let opts = AvifOptions {
        quality: 90,
        speed: 10,
    };
    encode(&gradient(w, h, alpha), w, h, ch, &opts).unwrap()
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn round_trip_keeps_pixels_and_alpha() {
    let data = avif(64, 48, true);
    assert!(is_avif(&data));
    let h = read_header(&data).unwrap();
    assert_eq!(
        (h.width, h.height, h.has_alpha, h.orientation),
        (64, 48, true, 1)
    );
    let d = decode(&data, 0, 0, u64::MAX).unwrap();
    assert_eq!((d.width, d.height, d.channels), (64, 48, Channels::Rgba));
    let diff = mean_abs_diff(&d.pixels, &gradient(64, 48, true));
    assert!(diff < 3.0, "mean difference {diff}");
    assert_eq!(d.pixels[3], 255);
    assert!((60..=68).contains(&d.pixels[(10 * 64 + 60) * 4 + 3]));
}

#[test]
fn opaque_rgba_is_written_without_alpha() {
    let px: Vec<u8> = gradient(16, 16, false)
        .chunks(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let opts = AvifOptions {
        quality: 80,
        speed: 10,
    };
    let data = encode(&px, 16, 16, Channels::Rgba, &opts).unwrap();
    assert!(!read_header(&data).unwrap().has_alpha);
}

#[test]
fn a_small_target_halves_while_converting() {
    let data = avif(64, 48, false);
    let d = decode(&data, 20, 15, u64::MAX).unwrap();
    assert_eq!((d.width, d.height), (32, 24));
    let full = decode(&data, 0, 0, u64::MAX).unwrap();
    // The halved pixel (5, 5) averages full-size pixels (10..12, 10..12).
    let half = &d.pixels[(5 * 32 + 5) * 3..][..3];
    let src = &full.pixels[(10 * 64 + 10) * 3..][..3];
    for c in 0..3 {
        assert!(
            (half[c] as i32 - src[c] as i32).abs() <= 6,
            "{half:?} {src:?}"
        );
    }
}

#[test]
fn rotation_and_mirror_map_to_exif_orientations() {
    assert_eq!(orientation(0, None), 1);
    assert_eq!(orientation(0, Some(0)), 2);
    assert_eq!(orientation(0, Some(1)), 4);
    assert_eq!(orientation(1, None), 8);
    assert_eq!(orientation(2, None), 3);
    assert_eq!(orientation(3, None), 6);
    assert_eq!(orientation(1, Some(0)), 7);
    assert_eq!(orientation(1, Some(1)), 5);
    assert_eq!(orientation(3, Some(0)), 5);
    assert_eq!(orientation(3, Some(1)), 7);
}

#[test]
fn clean_aperture_is_centred_and_validated() {
    let k = clap_crop([40, 1, 20, 1, 0, 1, 0, 1], 64, 48).unwrap();
    assert_eq!((k.left, k.top, k.width, k.height), (12, 14, 40, 20));
    let k = clap_crop([40, 1, 20, 1, -12, 1, -14, 1], 64, 48).unwrap();
    assert_eq!((k.left, k.top), (0, 0));
    assert!(clap_crop([80, 1, 20, 1, 0, 1, 0, 1], 64, 48).is_none());
    assert!(clap_crop([40, 0, 20, 1, 0, 1, 0, 1], 64, 48).is_none());
}

#[test]
fn a_huge_declared_size_is_refused_before_decoding() {
    let mut data = avif(16, 16, false);
    let at = data.windows(4).position(|w| w == b"ispe").unwrap() + 8;
    data[at..at + 8].copy_from_slice(&[0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0]);
    let opts = Options {
        width: 8,
        ..Options::default()
    };
    let e = run(&data, &opts).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e}");
}

#[test]
fn an_av1_frame_larger_than_the_header_is_refused_by_the_decoder() {
    // ispe says 16 × 16 (and passes the limits), the AV1 sequence header says 64 × 64: rav1d is
    // capped at the header's size, so it refuses the stream instead of allocating the frame.
    let mut data = avif(64, 64, false);
    let at = data.windows(4).position(|w| w == b"ispe").unwrap() + 8;
    data[at..at + 8].copy_from_slice(&[0, 0, 0, 16, 0, 0, 0, 16]);
    let e = decode(&data, 0, 0, 1 << 24).unwrap_err();
    assert_eq!(e.code, ErrorCode::Decode, "{e}");
    assert!(e.message.contains("AV1"), "{e}");
}

#[test]
fn truncated_files_fail_cleanly() {
    let data = avif(32, 32, true);
    for len in [20, data.len() / 2, data.len() - 10] {
        let e = decode(&data[..len], 0, 0, u64::MAX).unwrap_err();
        assert_eq!(e.code, ErrorCode::Decode, "{len}: {e}");
    }
}

fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(payload);
    v
}

/// An image sequence with no primary item: ftyp `avis`, one track of two samples (both the
/// colour data of a still AVIF), and the mdat.
fn sequence(w: u16, h: u16, av1: &[u8]) -> Vec<u8> {
    let ftyp = boxed(b"ftyp", b"avis\0\0\0\0avismsf1miaf");
    let moov = |offset: u32| {
        let mut entry = vec![0u8; 6];
        entry.extend_from_slice(&[0, 1]);
        entry.extend_from_slice(&[0; 16]);
        entry.extend_from_slice(&w.to_be_bytes());
        entry.extend_from_slice(&h.to_be_bytes());
        entry.extend_from_slice(&[0; 50]);
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(boxed(b"av01", &entry));
        let mut stsz = vec![0u8; 8];
        stsz.extend_from_slice(&2u32.to_be_bytes());
        for _ in 0..2 {
            stsz.extend_from_slice(&(av1.len() as u32).to_be_bytes());
        }
        let mut stco = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stco.extend_from_slice(&offset.to_be_bytes());
        let stbl = [
            boxed(b"stsd", &stsd),
            boxed(b"stsz", &stsz),
            boxed(b"stco", &stco),
        ]
        .concat();
        let minf = boxed(b"minf", &boxed(b"stbl", &stbl));
        boxed(b"moov", &boxed(b"trak", &boxed(b"mdia", &minf)))
    };
    let offset = (ftyp.len() + moov(0).len() + 8) as u32;
    let mut mdat = av1.to_vec();
    mdat.extend_from_slice(av1);
    [ftyp, moov(offset), boxed(b"mdat", &mdat)].concat()
}

#[test]
fn a_sequence_without_primary_item_gives_its_first_frame() {
    let still = avif(32, 16, false);
    let color = heif::parse(&still).unwrap().color.to_vec();
    let seq = sequence(32, 16, &color);
    assert!(is_avif(&seq));
    let h = read_header(&seq).unwrap();
    assert_eq!((h.width, h.height, h.frames), (32, 16, 2));
    let d = decode(&seq, 0, 0, u64::MAX).unwrap();
    assert_eq!((d.width, d.height), (32, 16));
    // The same AV1 data as the still image, so exactly the same pixels.
    assert_eq!(d.pixels, decode(&still, 0, 0, u64::MAX).unwrap().pixels);
}

#[test]
fn wide_gamut_nclx_becomes_a_profile() {
    let nclx = |primaries, transfer| heif::Nclx {
        primaries,
        transfer,
        matrix: 1,
        full_range: true,
    };
    assert!(nclx_icc(nclx(1, 13)).is_none());
    assert!(nclx_icc(nclx(9, 16)).is_none(), "PQ is HDR: left alone");
    let p3 = nclx_icc(nclx(12, 13)).unwrap();
    // Display P3 (200, 100, 50) is sRGB (215, 92, 31) by the P3 → sRGB matrix.
    let (rgb, _) =
        crate::image::color::to_srgb(vec![200, 100, 50], Channels::Rgb, Some(&p3)).unwrap();
    let ok =
        (208..=222).contains(&rgb[0]) && (85..=99).contains(&rgb[1]) && (22..=40).contains(&rgb[2]);
    assert!(ok, "{rgb:?}");
}
