//! Fuzz targets for the hand-written JPEG paths: the marker walk, the scan pruner, the DC-only
//! decoder with its Huffman reader, and the whole JPEG decode under a work guard. The engine
//! and its settings are in `crate::image::fuzz`.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::image::fuzz::{self, Kind};
use crate::image::work::Work;

/// Valid files covering the decoder's branches: baseline and progressive, 4:2:0, 4:2:2 and 4:4:4
/// (the DC-only path), grayscale, odd sizes, an EXIF orientation and a repeated-scan tail.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (w, h) in [(64, 48), (37, 29)] {
        let px = gradient(w, h);
        for progressive in [false, true] {
            out.push(encode(&px, w, h, ColorSpace::JCS_RGB, None, progressive));
        }
        for sampling in [(1, 1), (2, 1)] {
            let mut c = Compress::new(ColorSpace::JCS_RGB);
            c.set_fastest_defaults();
            c.set_size(w, h);
            c.set_quality(85.0);
            c.set_chroma_sampling_pixel_sizes(sampling, sampling);
            c.set_progressive_mode();
            let mut s = c.start_compress(Vec::new()).unwrap();
            s.write_scanlines(&px).unwrap();
            out.push(s.finish().unwrap());
        }
        let gray: Vec<u8> = px.chunks_exact(3).map(|p| p[1]).collect();
        out.push(encode(&gray, w, h, ColorSpace::JCS_GRAYSCALE, None, true));
    }
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0".to_vec();
    exif.extend_from_slice(&[0; 4]);
    out.push(with_segment(&out[1], 0xE1, &exif));
    // a short scan bomb: the last scan repeated
    let prog = &out[1];
    let last = prog.windows(2).rposition(|m| m == [0xFF, 0xDA]).unwrap();
    let mut bomb = prog[..prog.len() - 2].to_vec();
    for _ in 0..20 {
        bomb.extend_from_slice(&prog[last..prog.len() - 2]);
    }
    bomb.extend_from_slice(&[0xFF, 0xD9]);
    out.push(bomb);
    out
}

fn decode_error_only(e: &crate::error::Error) -> std::result::Result<(), String> {
    match e.code {
        ErrorCode::Decode => Ok(()),
        other => Err(format!("unexpected error {other:?}: {}", e.message)),
    }
}

#[test]
fn fuzz_jpeg_markers() {
    fuzz::run("jpeg_markers", &seeds(), Kind::Jpeg, &|data| {
        let p = match markers::parse(data) {
            Ok(p) => p,
            Err(e) => return decode_error_only(&e),
        };
        if p.width == 0 || p.height == 0 || !(1..=4).contains(&p.components.len()) {
            return Err(format!(
                "parse accepted {}x{} with {} components",
                p.width,
                p.height,
                p.components.len()
            ));
        }
        if p.first_sos >= data.len() {
            return Err(format!("first SOS at {} past the end", p.first_sos));
        }
        let n = markers::count_scans(data, p.first_sos, 101);
        if n > 101 {
            return Err(format!("count_scans went past its stop: {n}"));
        }
        Ok(())
    });
}

#[test]
fn fuzz_jpeg_prune() {
    fuzz::run("jpeg_prune", &seeds(), Kind::Jpeg, &|data| {
        let Ok(p) = markers::parse(data) else {
            return Ok(());
        };
        for denom in [4, 8] {
            let Some(out) = prune::prune(data, &p, denom) else {
                continue;
            };
            if !out.starts_with(&[0xFF, 0xD8]) || out.len() > data.len() + 2 {
                return Err(format!(
                    "pruned stream of {} bytes from {}",
                    out.len(),
                    data.len()
                ));
            }
            // libjpeg must take the pruned stream like any input: pixels or a decode error
            let raw = catch_panic(ErrorCode::Decode, || {
                libjpeg::decompress(&out, denom, false, None)
            });
            match raw {
                Ok(r) if r.pixels.len() != (r.width * r.height) as usize * r.channels.count() => {
                    return Err("libjpeg returned a short buffer".into())
                }
                Ok(_) => {}
                Err(e) if e.code == ErrorCode::Decode || e.code == ErrorCode::UnsupportedFormat => {
                }
                Err(e) => return Err(format!("unexpected error {:?}", e.code)),
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_jpeg_dc() {
    fuzz::run("jpeg_dc", &seeds(), Kind::Jpeg, &|data| {
        let Ok(p) = markers::parse(data) else {
            return Ok(());
        };
        if !dc::eligible(&p, 8) || p.width as u64 * p.height as u64 > 1 << 22 {
            return Ok(());
        }
        if let Some(raw) = dc::decode(data, &p) {
            let (w, h) = (p.width.div_ceil(8), p.height.div_ceil(8));
            let len = (w * h) as usize * raw.channels.count();
            if (raw.width, raw.height) != (w, h) || raw.pixels.len() != len {
                return Err(format!(
                    "DC decode gave {}x{} with {} bytes for a {}x{} source",
                    raw.width,
                    raw.height,
                    raw.pixels.len(),
                    p.width,
                    p.height
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_jpeg_huffman() {
    // T.81 table K.3 (luminance DC) followed by entropy bytes
    let mut table = vec![0u8, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    table.extend(0..12u8);
    let seeds: Vec<Vec<u8>> = (0..4u8)
        .map(|k| {
            table
                .iter()
                .copied()
                .chain((0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(k)))
                .collect()
        })
        .collect();
    fuzz::run("jpeg_huffman", &seeds, Kind::Raw, &|data| {
        let Some(counts) = data.get(..16) else {
            return Ok(());
        };
        let n: usize = counts.iter().map(|&c| c as usize).sum();
        let Some(values) = data.get(16..16 + n) else {
            return Ok(());
        };
        let Some(h) = huffman::Huffman::new(counts, values) else {
            return Ok(());
        };
        let stream = &data[16 + n..];
        let mut bits = huffman::Bits::new(stream);
        // every symbol takes at least one bit: past the data plus a full lookahead it must stop
        for _ in 0..stream.len() * 8 + 64 {
            if bits.symbol(&h).is_none() || bits.overrun {
                return Ok(());
            }
            let extra = bits.get(4);
            let _ = bits.get(extra);
        }
        Err("the bit reader kept producing symbols past the end of the data".into())
    });
}

#[test]
fn fuzz_jpeg_decode() {
    let limits = Limits {
        max_input_pixels: 1 << 22,
        ..Limits::default()
    };
    fuzz::run("jpeg_decode", &seeds(), Kind::Jpeg, &|data| {
        let Ok(h) = read_header(data) else {
            return Ok(());
        };
        if limits.check_pixels(h.width, h.height, 1).is_err() {
            return Ok(());
        }
        let flag = AtomicBool::new(false);
        let mut work = Work::new(&flag);
        work.set_budget(u64::from(h.width) * u64::from(h.height), 0);
        for min in [(0, 0), (h.width / 8, h.height / 8), (h.width / 3, 1)] {
            match decode_with(data, min.0, min.1, Some((&limits, &work))) {
                Ok(d) if d.pixels.len() != (d.width * d.height) as usize * d.channels.count() => {
                    return Err("decode returned a short buffer".into())
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.code,
                        ErrorCode::Decode | ErrorCode::UnsupportedFormat | ErrorCode::TooLarge
                    ) => {}
                Err(e) => return Err(format!("unexpected error {:?}: {}", e.code, e.message)),
            }
        }
        Ok(())
    });
}
