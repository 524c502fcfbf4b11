use super::*;
use crate::image::encode::encode;

fn png_rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&f(x, y));
        }
    }
    crate::image::codecs::png::tests::encode(
        w,
        h,
        ::png::ColorType::Rgb,
        ::png::BitDepth::Eight,
        &data,
    )
}

fn opts(w: u32, h: u32, format: OutputFormat) -> Options {
    let mut o = Options {
        width: w,
        height: h,
        ..Options::default()
    };
    o.encode.format = format;
    o
}

#[test]
fn png_to_png_crop_keeps_the_centre() {
    // Left third red, middle green, right third blue: a centred square crop is all green.
    let src = png_rgb(300, 100, |x, _| {
        if x < 100 {
            [255, 0, 0]
        } else if x < 200 {
            [0, 255, 0]
        } else {
            [0, 0, 255]
        }
    });
    let out = run(&src, &opts(50, 50, OutputFormat::Png)).unwrap();
    assert_eq!(
        (out.width, out.height, out.source_width, out.source_height),
        (50, 50, 300, 100)
    );
    let d = crate::image::codecs::png::decode(&out.data).unwrap();
    assert_eq!(
        &d.pixels[(25 * 50 + 25) * 3..(25 * 50 + 25) * 3 + 3],
        &[0, 255, 0]
    );
}

#[test]
fn header_bomb_fails_before_decoding() {
    // IHDR claiming 100000 × 100000, followed by nothing useful.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let crc = crc32(&ihdr);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc.to_be_bytes());
    let e = run(&png, &opts(100, 100, OutputFormat::Jpeg)).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e}");
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn cancel_flag_aborts() {
    let src = png_rgb(10, 10, |_, _| [1, 2, 3]);
    let e =
        run_cancellable(&src, &opts(5, 5, OutputFormat::Png), &AtomicBool::new(true)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Aborted);
}

#[test]
fn smart_crop_keeps_a_noisy_corner() {
    let src = png_rgb(400, 200, |x, y| {
        if x >= 300 && y >= 100 {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
            [v, v.wrapping_mul(3), v.wrapping_mul(7)]
        } else {
            [128, 128, 128]
        }
    });
    let mut o = opts(100, 100, OutputFormat::Png);
    o.method = Method::Smart;
    let out = run(&src, &o).unwrap();
    let d = crate::image::codecs::png::decode(&out.data).unwrap();
    // The bottom-right output pixel must come from the noisy patch, not the flat gray.
    let p = &d.pixels[(99 * 100 + 99) * 3..(99 * 100 + 99) * 3 + 3];
    assert_ne!(p, &[128, 128, 128]);
}

#[test]
fn mutated_inputs_fail_cleanly() {
    let src = png_rgb(48, 32, |x, y| [(x * 5) as u8, (y * 7) as u8, (x ^ y) as u8]);
    let decoded = crate::image::codecs::png::decode(&src).unwrap();
    let mut inputs = vec![src];
    for format in [OutputFormat::Webp, OutputFormat::Jpeg] {
        let enc = EncodeOptions {
            format,
            quality: 70,
            speed: 10,
            progressive: false,
            lossless: false,
        };
        inputs.push(encode(&decoded.pixels, 48, 32, Channels::Rgb, &enc).unwrap());
    }
    let mut gif = Vec::new();
    {
        let mut e = ::gif::Encoder::new(&mut gif, 4, 4, &[0, 0, 0, 255, 255, 255]).unwrap();
        let f = ::gif::Frame {
            width: 4,
            height: 4,
            buffer: vec![1; 16].into(),
            ..Default::default()
        };
        e.write_frame(&f).unwrap();
    }
    inputs.push(gif);
    let mut seed = 0x9E37_79B9_u32;
    for input in inputs {
        for _ in 0..150 {
            let mut m = input.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = 8 + seed as usize % (m.len() - 8);
                m[at] = (seed >> 24) as u8;
            }
            if let Ok(out) = run(&m, &opts(16, 16, OutputFormat::Png)) {
                assert!(out.width <= 16 && out.height <= 16 && !out.data.is_empty());
            }
        }
    }
}
