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
use super::options::{
    input_format_name, output_format_name, to_options, InputFormat, ThumbnailFormat,
    ThumbnailOptions,
};
use crate::image::file::{thumbnail_file as run_file, FileOutput};
use crate::image::pipeline::{self, Options, Output};

/// Version of the native core, to check that the binding loaded.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// An encoded thumbnail.
#[napi(object)]
pub struct ThumbnailOutput {
    /// Encoded bytes.
    pub data: Buffer,
    /// Container of `data` (or of the written file).
    pub format: ThumbnailFormat,
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
    /// Container of `data` (or of the written file).
    pub format: ThumbnailFormat,
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
    /// Format detected from the magic bytes.
    pub format: InputFormat,
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
            format: output_format_name(out.format),
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
            format: output_format_name(out.output.format),
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
        format: input_format_name(p.format),
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
