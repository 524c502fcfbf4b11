//! WebP decoding in steps, so the render's work guard is checked while libwebp works.
//!
//! `WebPDecode` runs to the end with no callback. libwebp's incremental decoder
//! (`WebPIDecode` + `WebPIUpdate`, decode.h) decodes as far as the bytes it was shown allow, so
//! showing it the file a slice at a time gives a check between slices. Slices are sized by
//! pixels, not bytes: a flat image packs millions of pixels into a few kilobytes.

use libwebp_sys as sys;

use crate::error::{Error, Result};
use crate::image::work::Work;

/// Source pixels one slice should cover on average (a few milliseconds of decoding).
const PIXELS_PER_STEP: u64 = 1 << 20;
/// Smallest slice: below this the calls cost more than they bound.
const MIN_STEP_BYTES: usize = 1024;

/// Decodes `data` into `config.output` like `WebPDecode`, checking `work` between slices.
/// The caller frees `config.output` with `WebPFreeDecBuffer` on success and on error.
pub(super) fn decode(
    data: &[u8],
    config: &mut sys::WebPDecoderConfig,
    pixels: u64,
    work: Option<&Work>,
) -> Result<()> {
    let Some(work) = work else {
        let status = unsafe { sys::WebPDecode(data.as_ptr(), data.len(), config) };
        return check(status);
    };
    let steps = pixels.div_ceil(PIXELS_PER_STEP).max(1) as usize;
    let step = (data.len() / steps).max(MIN_STEP_BYTES);
    // SAFETY: `config` outlives `idec` (deleted below); libwebp reads `data` only during calls.
    let idec = unsafe { sys::WebPIDecode(std::ptr::null(), 0, config) };
    if idec.is_null() {
        return Err(Error::decode(
            "Invalid WebP data (incremental decoder refused the options)",
        ));
    }
    let mut shown = 0;
    let result = loop {
        if let Err(e) = work.check() {
            break Err(e);
        }
        shown = (shown + step).min(data.len());
        let status = unsafe { sys::WebPIUpdate(idec, data.as_ptr(), shown) };
        match status {
            sys::VP8StatusCode::VP8_STATUS_SUSPENDED if shown < data.len() => continue,
            sys::VP8StatusCode::VP8_STATUS_SUSPENDED => {
                break check(sys::VP8StatusCode::VP8_STATUS_NOT_ENOUGH_DATA)
            }
            status => break check(status),
        }
    };
    unsafe { sys::WebPIDelete(idec) };
    result
}

fn check(status: sys::VP8StatusCode) -> Result<()> {
    if status == sys::VP8StatusCode::VP8_STATUS_OK {
        return Ok(());
    }
    Err(Error::decode(format!("Invalid WebP data ({status:?})")))
}
