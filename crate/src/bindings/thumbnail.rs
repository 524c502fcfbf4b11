//! N-API surface of the thumbnail pipeline: option conversion and `AsyncTask`s on the libuv
//! pool. All image logic lives in `crate::image`.

// napi-derive only registers exports outside `cfg(test)`, so the test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AbortSignal, AsyncTask, Buffer, ToNapiValue, TypeName};
use napi::{Env, Task};
use napi_derive::napi;

use super::error::to_napi;
use super::options::{
    input_format_name, output_format_name, to_options, InputFormat, ThumbnailFormat,
    ThumbnailOptions,
};
use crate::image::codecs::Header;
use crate::image::file::{thumbnail_file as run_file, thumbnail_files as run_files, FileOutput};
use crate::image::pipeline::{self, Output};

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

/// A pipeline run that checks the cancel flag between stages.
type Run<O> = Box<dyn FnMut(&AtomicBool) -> crate::error::Result<O> + Send>;

/// Background work of [`thumbnail`] and [`thumbnail_file`]: a pipeline run on the libuv pool,
/// the flag its abort signal sets, and the conversion of its result for JS.
pub struct PipelineTask<O, J> {
    run: Run<O>,
    to_js: fn(O) -> J,
    cancel: Arc<AtomicBool>,
}

impl<O: Send + 'static, J: ToNapiValue + TypeName> Task for PipelineTask<O, J> {
    type Output = O;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<O> {
        (self.run)(&self.cancel).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: O) -> napi::Result<J> {
        Ok((self.to_js)(out))
    }
}

/// Queues `run` on the libuv pool; `signal` cancels it before it starts (napi) or at its next
/// stage (the cancel flag).
fn spawn<O, J>(
    run: impl FnMut(&AtomicBool) -> crate::error::Result<O> + Send + 'static,
    to_js: fn(O) -> J,
    signal: Option<AbortSignal>,
) -> AsyncTask<PipelineTask<O, J>>
where
    PipelineTask<O, J>: Task,
{
    let cancel = cancel_flag(&signal);
    let task = PipelineTask {
        run: Box::new(run),
        to_js,
        cancel,
    };
    AsyncTask::with_optional_signal(task, signal)
}

fn thumbnail_output(out: Output) -> ThumbnailOutput {
    ThumbnailOutput {
        data: out.data.into(),
        format: output_format_name(out.format),
        width: out.width,
        height: out.height,
        source_width: out.source_width,
        source_height: out.source_height,
    }
}

fn thumbnail_file_output(out: FileOutput) -> ThumbnailFileOutput {
    let o = out.output;
    ThumbnailFileOutput {
        size: out.size as f64,
        format: output_format_name(o.format),
        width: o.width,
        height: o.height,
        source_width: o.source_width,
        source_height: o.source_height,
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
) -> napi::Result<AsyncTask<PipelineTask<Output, ThumbnailOutput>>> {
    let options = to_options(&options).map_err(to_napi)?;
    let run = move |cancel: &AtomicBool| pipeline::run_cancellable(&input, &options, cancel);
    Ok(spawn(run, thumbnail_output, signal))
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
) -> napi::Result<AsyncTask<PipelineTask<FileOutput, ThumbnailFileOutput>>> {
    let fsync = options.fsync.unwrap_or(false);
    let options = to_options(&options).map_err(to_napi)?;
    let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
    let run = move |cancel: &AtomicBool| run_file(&src, &dst, &options, fsync, cancel);
    Ok(spawn(run, thumbnail_file_output, signal))
}

/// One output of `thumbnailFiles`.
#[napi(object)]
pub struct ThumbnailFilesItem {
    /// Path of the thumbnail to write.
    pub dst: String,
    /// Its options (`fsync` is taken from the first item).
    pub options: ThumbnailOptions,
}

/// The outcome of one `thumbnailFiles` item: `info`, or `error` as `ERR_CODE: message`.
#[napi(object)]
pub struct ThumbnailFilesResult {
    /// The written thumbnail, when it succeeded.
    pub info: Option<ThumbnailFileOutput>,
    /// `ERR_CODE: message`, when it failed.
    pub error: Option<String>,
}

/// What `thumbnail_files` computes: one result per output.
type FilesOutput = Vec<crate::Result<FileOutput>>;

fn thumbnail_files_output(out: FilesOutput) -> Vec<ThumbnailFilesResult> {
    out.into_iter()
        .map(|r| match r {
            Ok(out) => ThumbnailFilesResult {
                info: Some(thumbnail_file_output(out)),
                error: None,
            },
            Err(e) => ThumbnailFilesResult {
                info: None,
                error: Some(e.to_string()),
            },
        })
        .collect()
}

/// Several thumbnails of one source file from one decode. Rejects when the source cannot be
/// read or decoded; otherwise resolves one result per item, in order.
#[napi(ts_return_type = "Promise<Array<ThumbnailFilesResult>>")]
pub fn thumbnail_files(
    src: String,
    items: Vec<ThumbnailFilesItem>,
    signal: Option<AbortSignal>,
) -> napi::Result<AsyncTask<PipelineTask<FilesOutput, Vec<ThumbnailFilesResult>>>> {
    let fsync = items.first().and_then(|i| i.options.fsync).unwrap_or(false);
    let items = items
        .iter()
        .map(|i| Ok((PathBuf::from(&i.dst), to_options(&i.options)?)))
        .collect::<crate::Result<Vec<_>>>()
        .map_err(to_napi)?;
    let src = PathBuf::from(src);
    let run = move |cancel: &AtomicBool| run_files(&src, &items, fsync, cancel);
    Ok(spawn(run, thumbnail_files_output, signal))
}

fn probe_output(p: Header) -> ProbeOutput {
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
