//! N-API surface of the thumbnail pipeline: option conversion and `AsyncTask`s on the libuv
//! pool. All image logic lives in `crate::image`.

// napi-derive only registers exports outside `cfg(test)`, so the test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AbortSignal, AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use super::error::to_napi;
use crate::image::color::parse_hex;
use crate::image::encode::{EncodeOptions, OutputFormat};
use crate::image::file::{thumbnail_file as run_file, FileOutput};
use crate::image::geometry::{Anchor, Method};
use crate::image::limits::Limits;
use crate::image::pipeline::{self, Options, Output};
use crate::Error;

/// Version of the native core, to check that the binding loaded.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Options of one thumbnail. Every field is optional at this level; the TypeScript facade fills
/// in the documented defaults and validates before calling.
#[napi(object)]
#[derive(Default)]
pub struct ThumbnailOptions {
    /// Output width in pixels; 0 or absent = derived from `height`.
    pub width: Option<u32>,
    /// Output height in pixels; 0 or absent = derived from `width`.
    pub height: Option<u32>,
    /// `crop` (cover, then crop at gravity / focal point), `scale` (fit inside) or `smart`
    /// (cover, then entropy crop). Default `crop`.
    pub method: Option<String>,
    /// Crop gravity: `center`, `north`, `south`, `east`, `west`, `northeast`, `northwest`,
    /// `southeast`, `southwest`. Default `center`. Ignored when a focal point is given.
    pub gravity: Option<String>,
    /// Focal point x in 0..1 of the upright source (needs `focalY`).
    pub focal_x: Option<f64>,
    /// Focal point y in 0..1 of the upright source (needs `focalX`).
    pub focal_y: Option<f64>,
    /// Output format: `jpeg`, `png`, `webp` or `avif`. Default `jpeg`.
    pub format: Option<String>,
    /// JPEG / lossy WebP / AVIF quality 1..100. Default 80.
    pub quality: Option<u32>,
    /// AVIF encoder speed 0 (slowest, smallest) ..10 (fastest). Default 8.
    pub speed: Option<u32>,
    /// Progressive JPEG. Default false.
    pub progressive: Option<bool>,
    /// Lossless WebP. Default false.
    pub lossless: Option<bool>,
    /// Allow outputs larger than the source. Default false.
    pub upscale: Option<bool>,
    /// Background for transparent pixels when the output has no alpha, `#rrggbb`. Default white.
    pub background: Option<String>,
    /// Largest accepted width × height × frames of the source. Default 50 000 000.
    pub max_input_pixels: Option<f64>,
    /// Largest accepted input in bytes. Default 64 MiB.
    pub max_input_bytes: Option<f64>,
    /// Largest accepted output side in pixels. Default 8192.
    pub max_output_side: Option<u32>,
    /// `thumbnailFile` only: fsync the file before renaming it into place. Default false.
    pub fsync: Option<bool>,
}

/// An encoded thumbnail.
#[napi(object)]
pub struct ThumbnailOutput {
    /// Encoded bytes.
    pub data: Buffer,
    /// `jpeg`, `png` or `webp`.
    pub format: String,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Upright width of the source.
    pub source_width: u32,
    /// Upright height of the source.
    pub source_height: u32,
}

/// A thumbnail written to disk.
#[napi(object)]
pub struct ThumbnailFileOutput {
    /// `jpeg`, `png` or `webp`.
    pub format: String,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Upright width of the source.
    pub source_width: u32,
    /// Upright height of the source.
    pub source_height: u32,
    /// Bytes written.
    pub size: f64,
}

/// Header facts of an image, read without decoding pixels.
#[napi(object)]
pub struct ProbeOutput {
    /// `jpeg`, `png`, `webp` or `gif`.
    pub format: String,
    /// Upright width (after EXIF orientation).
    pub width: u32,
    /// Upright height (after EXIF orientation).
    pub height: u32,
    /// EXIF orientation 1..8.
    pub orientation: u32,
    /// Whether the image has an alpha channel.
    pub has_alpha: bool,
    /// Animation frames (1 for stills).
    pub frames: u32,
}

fn limit_u64(v: Option<f64>, default: u64) -> u64 {
    match v {
        Some(n) if n.is_finite() && n >= 0.0 => n as u64,
        _ => default,
    }
}

fn to_options(o: &ThumbnailOptions) -> crate::Result<Options> {
    let d = Options::default();
    let method = match o.method.as_deref().unwrap_or("crop") {
        "crop" => Method::Crop,
        "scale" => Method::Scale,
        "smart" => Method::Smart,
        other => {
            return Err(Error::invalid_option(format!(
                "Expected one of crop, scale, smart for method but received {other:?}"
            )))
        }
    };
    let anchor = match (o.focal_x, o.focal_y) {
        (Some(x), Some(y)) if (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y) => {
            Anchor::Focal(x, y)
        }
        (None, None) => Anchor::gravity(o.gravity.as_deref().unwrap_or("center"))?,
        _ => {
            return Err(Error::invalid_option(
                "Expected focalX and focalY together, each between 0 and 1",
            ))
        }
    };
    let quality = o.quality.unwrap_or(d.encode.quality as u32);
    if !(1..=100).contains(&quality) {
        return Err(Error::invalid_option(format!(
            "Expected integer between 1 and 100 for quality but received {quality}"
        )));
    }
    let speed = o.speed.unwrap_or(d.encode.speed as u32);
    if speed > 10 {
        return Err(Error::invalid_option(format!(
            "Expected integer between 0 and 10 for speed but received {speed}"
        )));
    }
    let dl = Limits::default();
    Ok(Options {
        width: o.width.unwrap_or(0),
        height: o.height.unwrap_or(0),
        method,
        anchor,
        encode: EncodeOptions {
            format: OutputFormat::parse(o.format.as_deref().unwrap_or("jpeg"))?,
            quality: quality as u8,
            speed: speed as u8,
            progressive: o.progressive.unwrap_or(false),
            lossless: o.lossless.unwrap_or(false),
        },
        upscale: o.upscale.unwrap_or(false),
        background: match &o.background {
            Some(s) => parse_hex(s)?,
            None => d.background,
        },
        limits: Limits {
            max_input_pixels: limit_u64(o.max_input_pixels, dl.max_input_pixels),
            max_input_bytes: limit_u64(o.max_input_bytes, dl.max_input_bytes),
            max_output_side: o.max_output_side.unwrap_or(dl.max_output_side),
        },
    })
}

/// Hooks the signal so an abort during `compute` stops the pipeline at its next stage; napi
/// itself only cancels work that has not started yet.
fn cancel_flag(signal: &Option<AbortSignal>) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    if let Some(s) = signal {
        let f = flag.clone();
        s.on_abort(move || f.store(true, Ordering::Relaxed));
    }
    flag
}

/// Background work of [`thumbnail`].
pub struct ThumbnailTask {
    input: Buffer,
    options: Options,
    cancel: Arc<AtomicBool>,
}

impl Task for ThumbnailTask {
    type Output = Output;
    type JsValue = ThumbnailOutput;

    fn compute(&mut self) -> napi::Result<Output> {
        pipeline::run_cancellable(&self.input, &self.options, &self.cancel).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: Output) -> napi::Result<ThumbnailOutput> {
        Ok(ThumbnailOutput {
            format: out.format.as_str().to_string(),
            width: out.width,
            height: out.height,
            source_width: out.source_width,
            source_height: out.source_height,
            data: out.data.into(),
        })
    }
}

/// Makes a thumbnail of an encoded image (JPEG, PNG, WebP or GIF, detected from its bytes) on
/// the libuv thread pool. Rejects with `ERR_DECODE`, `ERR_UNSUPPORTED_FORMAT`, `ERR_TOO_LARGE`,
/// `ERR_INVALID_OPTION`, `ERR_ENCODE` or `ERR_ABORTED` (prefixed to the message).
#[napi(ts_return_type = "Promise<ThumbnailOutput>")]
pub fn thumbnail(
    input: Buffer,
    options: ThumbnailOptions,
    signal: Option<AbortSignal>,
) -> napi::Result<AsyncTask<ThumbnailTask>> {
    let options = to_options(&options).map_err(to_napi)?;
    let cancel = cancel_flag(&signal);
    Ok(AsyncTask::with_optional_signal(
        ThumbnailTask {
            input,
            options,
            cancel,
        },
        signal,
    ))
}

/// Background work of [`thumbnail_file`].
pub struct ThumbnailFileTask {
    src: PathBuf,
    dst: PathBuf,
    options: Options,
    fsync: bool,
    cancel: Arc<AtomicBool>,
}

impl Task for ThumbnailFileTask {
    type Output = FileOutput;
    type JsValue = ThumbnailFileOutput;

    fn compute(&mut self) -> napi::Result<FileOutput> {
        run_file(
            &self.src,
            &self.dst,
            &self.options,
            self.fsync,
            &self.cancel,
        )
        .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: FileOutput) -> napi::Result<ThumbnailFileOutput> {
        Ok(ThumbnailFileOutput {
            format: out.output.format.as_str().to_string(),
            width: out.output.width,
            height: out.output.height,
            source_width: out.output.source_width,
            source_height: out.output.source_height,
            size: out.size as f64,
        })
    }
}

/// Reads `src`, makes a thumbnail and writes it to `dst` atomically (temporary file in the same
/// folder, optional fsync, rename; parent folders are created; the temporary file is removed on
/// any error). Runs entirely on the libuv thread pool.
#[napi(ts_return_type = "Promise<ThumbnailFileOutput>")]
pub fn thumbnail_file(
    src: String,
    dst: String,
    options: ThumbnailOptions,
    signal: Option<AbortSignal>,
) -> napi::Result<AsyncTask<ThumbnailFileTask>> {
    let fsync = options.fsync.unwrap_or(false);
    let options = to_options(&options).map_err(to_napi)?;
    let cancel = cancel_flag(&signal);
    let task = ThumbnailFileTask {
        src: src.into(),
        dst: dst.into(),
        options,
        fsync,
        cancel,
    };
    Ok(AsyncTask::with_optional_signal(task, signal))
}

fn probe_output(p: pipeline::ProbeInfo) -> ProbeOutput {
    ProbeOutput {
        format: p.format.as_str().to_string(),
        width: p.width,
        height: p.height,
        orientation: p.orientation as u32,
        has_alpha: p.has_alpha,
        frames: p.frames,
    }
}

/// Reads an image's header (format, upright size, orientation, alpha, frames) without decoding
/// pixels. Synchronous: it only parses headers.
#[napi]
pub fn probe(input: Buffer) -> napi::Result<ProbeOutput> {
    crate::error::catch_panic(crate::ErrorCode::Decode, || pipeline::probe(&input))
        .map(probe_output)
        .map_err(to_napi)
}
