//! The libjpeg (mozjpeg build, SIMD) decompressor, driven through `mozjpeg-sys` directly so we
//! control the scale, the colour space, block smoothing and which warnings are fatal.
//!
//! libjpeg reports fatal errors through `error_exit`, which must not return: ours unwinds with
//! the formatted message, and the caller turns that into `ERR_DECODE` with `catch_panic`. The C
//! code is built with `-fexceptions` (mozjpeg-sys `unwinding` feature), so unwinding through it
//! is sound; `Decompressor`'s `Drop` then frees libjpeg's memory.

use std::mem;
use std::os::raw::{c_int, c_ulong};

use mozjpeg_sys as ffi;
use mozjpeg_sys::J_COLOR_SPACE as Cs;

use crate::error::{Error, Result};
use crate::image::work::Work;
use crate::image::Channels;

/// Pixels straight out of libjpeg.
pub(super) struct Raw {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub channels: Channels,
}

#[repr(C)]
struct ErrorState {
    // must stay first: libjpeg only knows `jpeg_error_mgr` and we cast back from its pointer
    mgr: ffi::jpeg_error_mgr,
}

struct Decompressor {
    cinfo: Box<ffi::jpeg_decompress_struct>,
    // boxed so the pointer held in `cinfo.common.err` stays valid when `Decompressor` moves
    _err: Box<ErrorState>,
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // safe on a zeroed or half-initialised struct: jpeg_destroy checks its memory manager
        unsafe { ffi::jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

fn message(cinfo: &mut ffi::jpeg_common_struct) -> String {
    let mut buf = [0u8; 80];
    unsafe {
        if let Some(fmt) = (*cinfo.err).format_message {
            // the binding declares the buffer as `&[u8; 80]`, but libjpeg writes into it
            let fmt: unsafe extern "C-unwind" fn(&mut ffi::jpeg_common_struct, *mut u8) =
                mem::transmute(fmt);
            fmt(cinfo, buf.as_mut_ptr());
        }
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

extern "C-unwind" fn error_exit(cinfo: &mut ffi::jpeg_common_struct) {
    let msg = format!("Corrupt JPEG: {}", message(cinfo));
    // resume_unwind skips the panic hook: a bad upload must not print a panic to stderr
    std::panic::resume_unwind(Box::new(msg));
}

extern "C-unwind" fn emit_message(cinfo: &mut ffi::jpeg_common_struct, level: c_int) {
    if level >= 0 {
        return;
    }
    let code = unsafe { (*cinfo.err).msg_code };
    // Most warnings are survivable and common in real photos ("extraneous bytes before
    // marker"). Running out of data or undecodable Huffman codes mean the rest of the image
    // would be grey filler, so they fail like libvips' default `fail_on=warning` does. Hitting
    // a marker (usually EOI) inside a scan is the same shortage: a header that declares far
    // more pixels than the data holds (7000×7000 over data for 960×640) ends that way, and
    // would otherwise come out as a garbage thumbnail.
    if code == ffi::JWRN_JPEG_EOF as c_int
        || code == ffi::JWRN_HUFF_BAD_CODE as c_int
        || code == ffi::JWRN_HIT_MARKER as c_int
    {
        let msg = format!("Corrupt JPEG: {}", message(cinfo));
        std::panic::resume_unwind(Box::new(msg));
    }
}

#[repr(C)]
struct Progress<'a> {
    // must stay first: libjpeg only knows `jpeg_progress_mgr` and we cast back from its pointer
    mgr: ffi::jpeg_progress_mgr,
    work: &'a Work<'a>,
}

/// libjpeg calls this once per iMCU row while it consumes scans (so once per row band of every
/// progressive scan) and once per `jpeg_read_scanlines` call: the hook that lets an abort or
/// the CPU budget stop a decode in the middle.
extern "C-unwind" fn progress_monitor(cinfo: &mut ffi::jpeg_common_struct) {
    // SAFETY: `cinfo.progress` points at the `mgr` field, the first of a live `Progress`.
    let p = unsafe { &*(cinfo.progress as *const Progress) };
    if let Err(e) = p.work.check() {
        std::panic::resume_unwind(Box::new(e));
    }
}

/// Decodes `stream` at scale 1/`denom` (1, 2, 4 or 8). Panics (unwinds) on libjpeg errors: call
/// it inside `catch_panic`.
pub(super) fn decompress(
    stream: &[u8],
    denom: u32,
    adobe_inverted: bool,
    work: Option<&Work>,
) -> Result<Raw> {
    let insize = c_ulong::try_from(stream.len())
        .map_err(|_| Error::too_large("JPEG input is larger than libjpeg can address"))?;
    unsafe {
        let mut err: Box<ErrorState> = Box::new(mem::zeroed());
        ffi::jpeg_std_error(&mut err.mgr);
        err.mgr.error_exit = Some(error_exit);
        err.mgr.emit_message = Some(emit_message);
        let mut d = Decompressor {
            cinfo: Box::new(mem::zeroed()),
            _err: err,
        };
        d.cinfo.common.err = &mut d._err.mgr;
        ffi::jpeg_create_decompress(&mut *d.cinfo);
        // dropped before `d`, which is fine: only the decode calls read it, not jpeg_destroy
        let mut progress = work.map(|work| {
            Box::new(Progress {
                mgr: mem::zeroed(),
                work,
            })
        });
        if let Some(p) = progress.as_mut() {
            p.mgr.progress_monitor = Some(progress_monitor);
            d.cinfo.common.progress = &mut p.mgr;
        }
        let cinfo = &mut *d.cinfo;
        ffi::jpeg_mem_src(cinfo, stream.as_ptr(), insize);
        ffi::jpeg_read_header(cinfo, 1);

        let channels = match cinfo.jpeg_color_space {
            Cs::JCS_GRAYSCALE => {
                cinfo.out_color_space = Cs::JCS_GRAYSCALE;
                Channels::Gray
            }
            Cs::JCS_YCbCr | Cs::JCS_RGB => {
                cinfo.out_color_space = Cs::JCS_RGB;
                Channels::Rgb
            }
            Cs::JCS_CMYK | Cs::JCS_YCCK => {
                cinfo.out_color_space = Cs::JCS_CMYK;
                Channels::Cmyk
            }
            other => {
                return Err(Error::new(
                    crate::error::ErrorCode::UnsupportedFormat,
                    format!(
                        "Unsupported JPEG colour space {other:?} with {} components",
                        cinfo.num_components
                    ),
                ))
            }
        };
        cinfo.scale_num = 1;
        cinfo.scale_denom = denom;
        cinfo.dct_method = ffi::J_DCT_METHOD::JDCT_ISLOW;
        // Smoothing only guesses AC coefficients of unfinished progressive scans; with scan
        // pruning those coefficients are deliberately absent and must stay zero.
        cinfo.do_block_smoothing = 0;
        ffi::jpeg_start_decompress(cinfo);

        let width = cinfo.output_width as usize;
        let height = cinfo.output_height as usize;
        let bpp = cinfo.output_components as usize;
        if bpp != channels.count() {
            return Err(Error::decode(format!(
                "libjpeg produced {bpp} components per pixel, expected {}",
                channels.count()
            )));
        }
        let stride = width * bpp;
        let len = stride
            .checked_mul(height)
            .ok_or_else(|| Error::too_large("decoded JPEG size overflows"))?;
        let mut pixels: Vec<u8> = Vec::new();
        pixels.try_reserve_exact(len).map_err(|_| {
            Error::too_large(format!("cannot allocate {len} bytes for JPEG pixels"))
        })?;
        let base = pixels.as_mut_ptr();
        let mut rows: Vec<*mut u8> = (0..height).map(|y| base.add(y * stride)).collect();
        while (cinfo.output_scanline as usize) < height {
            let at = cinfo.output_scanline as usize;
            let n =
                ffi::jpeg_read_scanlines(cinfo, rows.as_mut_ptr().add(at), (height - at) as u32);
            if n == 0 {
                return Err(Error::decode("Corrupt JPEG: libjpeg returned no scanlines"));
            }
        }
        // every row was written by libjpeg above
        pixels.set_len(len);
        // No jpeg_finish_decompress: it would only read trailing markers; destroy frees all.

        if channels == Channels::Cmyk && adobe_inverted {
            // Photoshop writes CMYK inverted (0 = full ink) and marks it with Adobe APP14; every
            // mainstream decoder follows that convention, and our contract is 255 = full ink.
            for b in pixels.iter_mut() {
                *b = !*b;
            }
        }
        Ok(Raw {
            pixels,
            width: width as u32,
            height: height as u32,
            channels,
        })
    }
}
