//! One AV1 frame through rav1d (the Rust port of dav1d), exposed as borrowed planes.
//!
//! rav1d keeps dav1d's C API; this file is the only place that touches it. The decoder runs on
//! one thread: thumbnails already run one per libuv worker, and a second decoder thread per job
//! would only contend with them.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dSettings};
use rav1d::include::dav1d::headers::{
    DAV1D_PIXEL_LAYOUT_I400, DAV1D_PIXEL_LAYOUT_I420, DAV1D_PIXEL_LAYOUT_I422,
};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib as dav1d;

use crate::error::{Error, Result};

/// Chroma layout of a decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Luma only.
    Mono,
    /// Chroma halved both ways.
    I420,
    /// Chroma halved horizontally.
    I422,
    /// Full-resolution chroma.
    I444,
}

/// A decoded frame; the planes stay owned by rav1d until it is dropped.
pub struct Frame {
    pic: Dav1dPicture,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bits per sample: 8, 10 or 12.
    pub depth: u8,
    /// Chroma layout.
    pub layout: Layout,
    /// Matrix coefficients from the sequence header (H.273); a `colr` box overrides it.
    pub matrix: u16,
    /// Full range flag from the sequence header; a `colr` box overrides it.
    pub full_range: bool,
}

impl Frame {
    /// Width and height of plane `p` (0 = Y, 1 = U, 2 = V).
    pub fn plane_size(&self, p: usize) -> (usize, usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        match (p, self.layout) {
            (0, _) | (_, Layout::I444) => (w, h),
            (_, Layout::I422) => (w.div_ceil(2), h),
            _ => (w.div_ceil(2), h.div_ceil(2)),
        }
    }

    /// Row `y` of plane `p` as samples of type `T` (`u8` for 8-bit, `u16` otherwise).
    #[inline(always)]
    pub fn row<T: Copy>(&self, p: usize, y: usize) -> &[T] {
        let (w, h) = self.plane_size(p);
        assert!(y < h && std::mem::size_of::<T>() == if self.depth > 8 { 2 } else { 1 });
        let stride = self.pic.stride[(p > 0) as usize];
        let base = self.pic.data[p].expect("plane present").as_ptr() as *const u8;
        // SAFETY: rav1d allocates `h` rows of `stride` bytes per plane, each holding `w`
        // samples of the frame's depth, aligned for u16.
        unsafe { std::slice::from_raw_parts(base.offset(stride * y as isize) as *const T, w) }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: `pic` came from dav1d_get_picture and is released exactly once.
        unsafe { dav1d::dav1d_picture_unref(Some(NonNull::from(&mut self.pic))) };
    }
}

struct Decoder(Option<Dav1dContext>);

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the context came from dav1d_open and is closed once.
        unsafe { dav1d::dav1d_close(Some(NonNull::from(&mut self.0))) };
    }
}

/// Decodes the first frame of an AV1 bitstream, refusing frames over `max_pixels`.
pub fn decode(obus: &[u8], max_pixels: u64) -> Result<Frame> {
    let fail = |what: &str, code: i32| Error::decode(format!("Invalid AVIF: AV1 {what} ({code})"));
    // SAFETY: the calls follow dav1d's documented protocol (settings → open → send data → get
    // picture → close); every out-pointer is a valid local.
    unsafe {
        let mut s = MaybeUninit::<Dav1dSettings>::uninit();
        dav1d::dav1d_default_settings(NonNull::new_unchecked(s.as_mut_ptr()));
        let mut s = s.assume_init();
        s.n_threads = 1;
        s.max_frame_delay = 1;
        // Film grain is noise that a thumbnail averages away; skipping it saves a full pass.
        s.apply_grain = 0;
        s.frame_size_limit = max_pixels.min(u32::MAX as u64) as u32;
        let mut dec = Decoder(None);
        let r = dav1d::dav1d_open(Some(NonNull::from(&mut dec.0)), Some(NonNull::from(&mut s)));
        if r.0 != 0 || dec.0.is_none() {
            return Err(fail("decoder did not start", r.0));
        }
        let mut data = Dav1dData::default();
        let buf = dav1d::dav1d_data_create(Some(NonNull::from(&mut data)), obus.len());
        if buf.is_null() {
            return Err(fail("buffer allocation failed", 0));
        }
        std::ptr::copy_nonoverlapping(obus.as_ptr(), buf, obus.len());
        let mut pic = Dav1dPicture::default();
        let eagain = -libc::EAGAIN;
        loop {
            if data.sz > 0 {
                let sent = dav1d::dav1d_send_data(dec.0, Some(NonNull::from(&mut data)));
                if sent.0 != 0 && sent.0 != eagain {
                    dav1d::dav1d_data_unref(Some(NonNull::from(&mut data)));
                    return Err(fail("data is corrupt", sent.0));
                }
            }
            let got = dav1d::dav1d_get_picture(dec.0, Some(NonNull::from(&mut pic)));
            if got.0 == 0 {
                break;
            }
            if got.0 != eagain || data.sz == 0 {
                dav1d::dav1d_data_unref(Some(NonNull::from(&mut data)));
                return Err(fail("data is corrupt or truncated", got.0));
            }
        }
        dav1d::dav1d_data_unref(Some(NonNull::from(&mut data)));
        let layout = match pic.p.layout {
            DAV1D_PIXEL_LAYOUT_I400 => Layout::Mono,
            DAV1D_PIXEL_LAYOUT_I420 => Layout::I420,
            DAV1D_PIXEL_LAYOUT_I422 => Layout::I422,
            _ => Layout::I444,
        };
        let (matrix, full_range) = match pic.seq_hdr {
            Some(h) => (h.as_ref().mtrx as u16, h.as_ref().color_range != 0),
            None => (2, false),
        };
        Ok(Frame {
            width: pic.p.w as u32,
            height: pic.p.h as u32,
            depth: pic.p.bpc as u8,
            layout,
            matrix,
            full_range,
            pic,
        })
    }
}
