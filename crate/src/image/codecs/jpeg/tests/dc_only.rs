//! The DC-only decoder at 1/8 against libjpeg, and when it must step aside.

use super::*;

#[test]
fn dc_only_decoding_matches_libjpeg_at_one_eighth() {
    // odd sizes: partial blocks at the right and bottom edges
    let (w, h) = (803, 597);
    let prog = rgb_444_jpeg(w, h, true);
    let base = rgb_444_jpeg(w, h, false);
    let parsed = markers::parse(&prog).unwrap();
    assert!(dc::eligible(&parsed, 8));
    let raw = dc::decode(&prog, &parsed).expect("the DC-only path handles this file");
    assert_eq!((raw.width, raw.height), (101, 75));
    assert_eq!(raw.channels, Channels::Rgb);
    assert_eq!(raw.pixels, full_decode(&base, 8));
    assert_eq!(raw.pixels, full_decode(&prog, 8));
    assert_eq!(decode(&prog, 101, 75).unwrap().pixels, raw.pixels);
}

#[test]
fn dc_only_decoding_of_4_2_2_replicates_chroma_like_libjpeg() {
    let (w, h) = (810, 601);
    let prog = sampled_jpeg(w, h, true, (2, 1));
    let parsed = markers::parse(&prog).unwrap();
    assert_eq!((parsed.components[0].h, parsed.components[1].h), (2, 1));
    assert!(dc::eligible(&parsed, 8));
    let raw = dc::decode(&prog, &parsed).expect("the DC-only path handles 4:2:2");
    assert_eq!((raw.width, raw.height), (102, 76));
    assert_eq!(
        raw.pixels,
        full_decode(&sampled_jpeg(w, h, false, (2, 1)), 8)
    );
}

#[test]
fn dc_only_decoding_is_not_used_for_4_2_0_or_baseline_files() {
    let prog_420 = rgb_jpeg(320, 240, true);
    assert!(!dc::eligible(&markers::parse(&prog_420).unwrap(), 8));
    let base = rgb_444_jpeg(320, 240, false);
    assert!(!dc::eligible(&markers::parse(&base).unwrap(), 8));
    let prog = rgb_444_jpeg(320, 240, true);
    assert!(!dc::eligible(&markers::parse(&prog).unwrap(), 4));
}

#[test]
fn truncated_dc_scans_fall_back_to_libjpeg_and_fail() {
    let prog = rgb_444_jpeg(400, 300, true);
    let parsed = markers::parse(&prog).unwrap();
    let cut = &prog[..parsed.first_sos + 300];
    assert!(dc::decode(cut, &parsed).is_none());
    let e = decode(cut, 50, 38).map(|d| d.width).unwrap_err();
    assert_eq!(e.code, ErrorCode::Decode);
}
