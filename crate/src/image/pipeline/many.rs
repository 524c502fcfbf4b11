//! Several thumbnails of one source from a single decode.
//!
//! A batch warm asks for a few sizes of every source. Decoding is most of the cost of a large
//! source (entropy decoding a 4096² WebP is over 70 % of its render), and each size would decode
//! it again; here the source is decoded once, at the largest size any of the outputs needs, and
//! every output is resized from that buffer. Each output still gets at least one decoded pixel
//! per output pixel, so none is softer than its single render.

use std::sync::atomic::AtomicBool;

use super::{decode_source, finish, plan_for, read_source, shrink_hint, validate, Output};
use super::{Options, Plan};
use crate::error::{catch_panic, Error, ErrorCode, Result};
use crate::image::work::Work;

/// Makes one thumbnail per entry of `opts` from one read of `input`.
///
/// The outer error is a failure every output shares (unreadable or over-limit source, decode
/// error, abort); the inner ones belong to one output (an invalid size, an encoder error). All
/// entries must share the same limits, since one decode serves them all.
pub fn run_many(
    input: &[u8],
    opts: &[Options],
    cancel: &AtomicBool,
) -> Result<Vec<Result<Output>>> {
    catch_panic(ErrorCode::Decode, || run_many_inner(input, opts, cancel))
}

fn run_many_inner(
    input: &[u8],
    opts: &[Options],
    cancel: &AtomicBool,
) -> Result<Vec<Result<Output>>> {
    let Some(first) = opts.first() else {
        return Ok(Vec::new());
    };
    if opts.iter().any(|o| o.limits != first.limits) {
        return Err(Error::invalid_option(
            "Expected the same limits for every thumbnail of one source",
        ));
    }
    let limits = &first.limits;
    let source = read_source(input, limits)?;
    let plans: Vec<Result<Plan>> = opts
        .iter()
        .map(|o| validate(o).and_then(|_| plan_for(&source, o)))
        .collect();
    let o = source.header.orientation;
    let mut need = None::<(u32, u32)>;
    let mut out_pixels = 0u64;
    for plan in plans.iter().flatten() {
        out_pixels = out_pixels.saturating_add(plan.width as u64 * plan.height as u64);
        need = Some(widest(need, shrink_hint(plan, source.uw, source.uh, o)));
    }
    let Some(need) = need else {
        // Every entry is invalid: report each without decoding anything.
        return Ok(plans.into_iter().filter_map(Result::err).map(Err).collect());
    };
    let mut work = Work::new(cancel);
    let decoded = decode_source(input, &source, limits, need, &mut work, out_pixels)?;
    Ok(plans
        .into_iter()
        .zip(opts)
        .map(|(plan, o)| {
            let plan = plan?;
            work.check_now()?;
            finish(&decoded, &source, &plan, o, &work)
        })
        .collect())
}

/// The decode size that satisfies both needs; (0, 0) means full size and wins.
fn widest(a: Option<(u32, u32)>, b: (u32, u32)) -> (u32, u32) {
    match a {
        None => b,
        Some((0, 0)) => (0, 0),
        Some(_) if b == (0, 0) => (0, 0),
        Some((w, h)) => (w.max(b.0), h.max(b.1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::codecs::png;
    use crate::image::encode::OutputFormat;
    use crate::image::pipeline::run;

    fn gradient_png(w: u32, h: u32) -> Vec<u8> {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 90]);
            }
        }
        png::tests::encode(w, h, ::png::ColorType::Rgb, ::png::BitDepth::Eight, &data)
    }

    fn opts(w: u32, h: u32) -> Options {
        let mut o = Options {
            width: w,
            height: h,
            ..Options::default()
        };
        o.encode.format = OutputFormat::Png;
        o
    }

    #[test]
    fn each_output_matches_its_single_render() {
        let src = gradient_png(1200, 800);
        let sizes = [opts(100, 100), opts(500, 0), opts(0, 200)];
        let many = run_many(&src, &sizes, &AtomicBool::new(false)).unwrap();
        for (one, o) in many.into_iter().zip(&sizes) {
            let one = one.unwrap();
            let single = run(&src, o).unwrap();
            assert_eq!((one.width, one.height), (single.width, single.height));
            let a = png::decode(&one.data).unwrap().pixels;
            let b = png::decode(&single.data).unwrap().pixels;
            // Resized from a larger decode: the same picture within rounding of the filters.
            let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
            assert!(worst <= 6, "{}x{}: {worst}", one.width, one.height);
        }
    }

    #[test]
    fn a_bad_entry_fails_alone_and_a_bad_source_fails_all() {
        let src = gradient_png(300, 200);
        let out = run_many(&src, &[opts(0, 0), opts(30, 30)], &AtomicBool::new(false)).unwrap();
        assert_eq!(out[0].as_ref().unwrap_err().code, ErrorCode::InvalidOption);
        assert_eq!(out[1].as_ref().unwrap().width, 30);
        let e = run_many(b"not an image", &[opts(30, 30)], &AtomicBool::new(false)).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedFormat);
        let mut strict = opts(30, 30);
        strict.limits.max_input_pixels = 1;
        let e = run_many(&src, &[opts(30, 30), strict], &AtomicBool::new(false)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidOption);
    }

    #[test]
    fn full_size_wins_over_any_shrink() {
        assert_eq!(widest(None, (10, 20)), (10, 20));
        assert_eq!(widest(Some((10, 20)), (30, 5)), (30, 20));
        assert_eq!(widest(Some((10, 20)), (0, 0)), (0, 0));
        assert_eq!(widest(Some((0, 0)), (10, 20)), (0, 0));
    }
}
