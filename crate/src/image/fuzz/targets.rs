//! Fuzz targets for the PNG row streamer, the GIF header walk and decoder, and the whole
//! pipeline over every input format.

use std::sync::atomic::AtomicBool;

use super::{run, Kind};
use crate::error::ErrorCode;
use crate::image::codecs::{gif, png};
use crate::image::encode::{encode, EncodeOptions, OutputFormat};
use crate::image::geometry::Method;
use crate::image::limits::Limits;
use crate::image::pipeline::{run_cancellable, Options};
use crate::image::{Channels, Decoded};

/// Pixel cap of the targets: small enough that every input decodes in milliseconds.
const MAX_PIXELS: u64 = 1 << 20;

fn pattern(w: u32, h: u32, bpp: usize) -> Vec<u8> {
    (0..w as usize * h as usize * bpp)
        .map(|i| ((i * 7) ^ (i >> 5)) as u8)
        .collect()
}

fn png_seed(
    w: u32,
    h: u32,
    color: ::png::ColorType,
    depth: ::png::BitDepth,
    interlaced: bool,
) -> Vec<u8> {
    let bpp = color.samples()
        * if depth == ::png::BitDepth::Sixteen {
            2
        } else {
            1
        };
    let mut out = Vec::new();
    {
        let mut e = ::png::Encoder::new(&mut out, w, h);
        e.set_color(color);
        e.set_depth(depth);
        if color == ::png::ColorType::Indexed {
            e.set_palette((0..48u8).collect::<Vec<u8>>());
            e.set_trns(vec![0, 128]);
        }
        let data = if color == ::png::ColorType::Indexed {
            pattern(w, h, 1).into_iter().map(|v| v % 16).collect()
        } else {
            pattern(w, h, bpp)
        };
        e.write_header().unwrap().write_image_data(&data).unwrap();
    }
    if interlaced {
        out = adam7(&out, w, h, bpp);
    }
    out
}

/// Re-encodes a non-interlaced 8-bit PNG as Adam7 (the `png` encoder only writes progressive
/// rows): the seven passes of the raw pixels, filter type 0, in one IDAT.
fn adam7(png: &[u8], w: u32, h: u32, bpp: usize) -> Vec<u8> {
    use std::io::Write;
    let d = png::decode(png).unwrap();
    assert_eq!(d.channels.count(), bpp, "8-bit seeds only");
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ] {
        for y in (y0..h as usize).step_by(dy) {
            if x0 >= w as usize {
                continue;
            }
            raw.push(0);
            for x in (x0..w as usize).step_by(dx) {
                let at = (y * w as usize + x) * bpp;
                raw.extend_from_slice(&d.pixels[at..at + bpp]);
            }
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let chunk = |out: &mut Vec<u8>, name: &[u8], body: &[u8]| {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(body);
        out.extend_from_slice(&[0; 4]);
    };
    let mut ihdr = png[16..29].to_vec();
    ihdr[12] = 1;
    let mut out = png[..8].to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    super::mutate::fix_png_crcs(&mut out);
    out
}

fn png_seeds() -> Vec<Vec<u8>> {
    use ::png::{BitDepth as D, ColorType as C};
    vec![
        png_seed(40, 30, C::Rgb, D::Eight, false),
        png_seed(33, 17, C::Rgba, D::Eight, true),
        png_seed(24, 24, C::Grayscale, D::Sixteen, false),
        png_seed(19, 23, C::GrayscaleAlpha, D::Eight, true),
        png_seed(32, 8, C::Indexed, D::Eight, false),
    ]
}

fn gif_seeds() -> Vec<Vec<u8>> {
    let palette: Vec<u8> = (0..48u8).collect();
    let mut out = Vec::new();
    for (interlaced, offset) in [(false, 0u16), (true, 3)] {
        let mut g = Vec::new();
        {
            let mut e = ::gif::Encoder::new(&mut g, 30, 20, &palette).unwrap();
            for k in 0..2u8 {
                let f = ::gif::Frame {
                    width: 30 - offset,
                    height: 20 - offset,
                    left: offset,
                    top: offset,
                    interlaced,
                    transparent: (k == 1).then_some(3),
                    buffer: pattern(30 - u32::from(offset), 20 - u32::from(offset), 1)
                        .into_iter()
                        .map(|v| v.wrapping_add(k) % 16)
                        .collect::<Vec<u8>>()
                        .into(),
                    ..Default::default()
                };
                e.write_frame(&f).unwrap();
            }
        }
        out.push(g);
    }
    out
}

/// A decoded buffer must hold exactly its pixels.
fn whole(d: &Decoded) -> Result<(), String> {
    let want = d.width as usize * d.height as usize * d.channels.count();
    if d.pixels.len() != want {
        return Err(format!(
            "{}x{} {:?} with {} bytes",
            d.width,
            d.height,
            d.channels,
            d.pixels.len()
        ));
    }
    Ok(())
}

fn typed(e: &crate::error::Error) -> Result<(), String> {
    match e.code {
        ErrorCode::Decode | ErrorCode::TooLarge | ErrorCode::UnsupportedFormat => Ok(()),
        other => Err(format!("unexpected error {other:?}: {}", e.message)),
    }
}

#[test]
fn fuzz_png_rows() {
    let limits = Limits {
        max_input_pixels: MAX_PIXELS,
        ..Limits::default()
    };
    run("png_rows", &png_seeds(), Kind::Png, &|data| {
        let h = match png::read_header(data) {
            Ok(h) => h,
            Err(e) => return typed(&e),
        };
        if limits.check_pixels(h.width, h.height, h.frames).is_err() {
            return Ok(());
        }
        let min = (data.len() % 5) as u32 * h.width / 8;
        match png::decode_shrunk(data, min, 0) {
            Ok(d) if (d.source_width, d.source_height) != (h.width, h.height) => Err(format!(
                "decoded source {}x{} but the header said {}x{}",
                d.source_width, d.source_height, h.width, h.height
            )),
            Ok(d) => whole(&d),
            Err(e) => typed(&e),
        }
    });
}

#[test]
fn fuzz_gif_header() {
    let limits = Limits {
        max_input_pixels: MAX_PIXELS,
        ..Limits::default()
    };
    run("gif_header", &gif_seeds(), Kind::Raw, &|data| {
        let h = match gif::read_header(data) {
            Ok(h) => h,
            Err(e) => return typed(&e),
        };
        if h.frames == 0 {
            return Err("a GIF with 0 frames".into());
        }
        if limits.check_pixels(h.width, h.height, 1).is_err() || h.largest_frame_pixels > MAX_PIXELS
        {
            return Ok(());
        }
        match gif::decode(data, MAX_PIXELS * 4) {
            Ok(d) if (d.width, d.height) != (h.width, h.height) => Err(format!(
                "decoded {}x{} but the header said {}x{}",
                d.width, d.height, h.width, h.height
            )),
            Ok(d) => whole(&d),
            Err(e) => typed(&e),
        }
    });
}

#[test]
fn fuzz_pipeline() {
    let mut seeds = png_seeds();
    seeds.extend(gif_seeds());
    let rgb = pattern(36, 28, 3);
    for format in [OutputFormat::Jpeg, OutputFormat::Webp] {
        for progressive in [false, true] {
            let opts = EncodeOptions {
                format,
                quality: 80,
                progressive,
                lossless: progressive && format == OutputFormat::Webp,
                speed: 8,
            };
            seeds.push(encode(&rgb, 36, 28, Channels::Rgb, &opts).unwrap());
        }
    }
    run("pipeline", &seeds, Kind::Raw, &|data| {
        let methods = [Method::Crop, Method::Scale, Method::Smart];
        let mut opts = Options {
            width: 24,
            height: 16,
            method: methods[data.len() % 3],
            ..Options::default()
        };
        opts.limits.max_input_pixels = MAX_PIXELS;
        opts.encode.format =
            [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp][data.len() / 3 % 3];
        match run_cancellable(data, &opts, &AtomicBool::new(false)) {
            Ok(out) => {
                let h = crate::image::codecs::read_header(&out.data).map_err(|e| e.message)?;
                if (h.width, h.height) != (out.width, out.height)
                    || out.width > 24
                    || out.height > 16
                {
                    return Err(format!(
                        "output {}x{} encoded as {}x{}",
                        out.width, out.height, h.width, h.height
                    ));
                }
                Ok(())
            }
            Err(e) => typed(&e),
        }
    });
}
