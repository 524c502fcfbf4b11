//! Arithmetic coding and the scan-count cap on progressive files.

use super::*;

/// Encodes like [`rgb_jpeg`] (same profile and quality, so the same quantised coefficients) but
/// with arithmetic instead of Huffman coding, through the raw API: the `mozjpeg` wrapper has no
/// switch for it.
fn arithmetic_jpeg(px: &[u8], w: usize, h: usize) -> Vec<u8> {
    use mozjpeg_sys as ffi;
    extern "C" {
        fn free(p: *mut std::ffi::c_void);
    }
    unsafe {
        let mut err: ffi::jpeg_error_mgr = std::mem::zeroed();
        let mut cinfo: ffi::jpeg_compress_struct = std::mem::zeroed();
        cinfo.common.err = ffi::jpeg_std_error(&mut err);
        ffi::jpeg_CreateCompress(
            &mut cinfo,
            ffi::JPEG_LIB_VERSION,
            std::mem::size_of::<ffi::jpeg_compress_struct>(),
        );
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut size: std::os::raw::c_ulong = 0;
        ffi::jpeg_mem_dest(&mut cinfo, &mut buf, &mut size);
        cinfo.image_width = w as u32;
        cinfo.image_height = h as u32;
        cinfo.input_components = 3;
        cinfo.in_color_space = ColorSpace::JCS_RGB;
        ffi::jpeg_set_defaults(&mut cinfo);
        ffi::jpeg_c_set_int_param(
            &mut cinfo,
            ffi::J_INT_PARAM::JINT_COMPRESS_PROFILE,
            ffi::JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as std::os::raw::c_int,
        );
        ffi::jpeg_set_defaults(&mut cinfo);
        ffi::jpeg_set_quality(&mut cinfo, 90, 0);
        cinfo.arith_code = 1;
        ffi::jpeg_start_compress(&mut cinfo, 1);
        for row in px.chunks_exact(w * 3) {
            let rows = [row.as_ptr()];
            ffi::jpeg_write_scanlines(&mut cinfo, rows.as_ptr() as _, 1);
        }
        ffi::jpeg_finish_compress(&mut cinfo);
        let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
        ffi::jpeg_destroy_compress(&mut cinfo);
        free(buf.cast());
        out
    }
}

#[test]
fn arithmetic_coded_jpeg_decodes_like_its_huffman_twin() {
    let (w, h) = (64, 48);
    let px = gradient(w, h);
    let arith = arithmetic_jpeg(&px, w, h);
    // SOF9: sequential DCT, arithmetic coding.
    assert!(arith.windows(2).any(|m| m == [0xFF, 0xC9]));
    let huffman = rgb_jpeg(w, h, false);
    let a = decode(&arith, 0, 0).unwrap();
    let b = decode(&huffman, 0, 0).unwrap();
    assert_eq!((a.width, a.height, a.channels), (64, 48, Channels::Rgb));
    assert_eq!(a.pixels, b.pixels);
    let small = decode(&arith, 8, 6).unwrap();
    assert_eq!(small.pixels, decode(&huffman, 8, 6).unwrap().pixels);
}

/// A progressive JPEG whose last scan is repeated `extra` more times: the scan bomb.
fn scan_bomb(w: usize, h: usize, extra: usize) -> Vec<u8> {
    let jpeg = rgb_jpeg(w, h, true);
    let last_sos = jpeg.windows(2).rposition(|m| m == [0xFF, 0xDA]).unwrap();
    let eoi = jpeg.len() - 2;
    assert_eq!(&jpeg[eoi..], &[0xFF, 0xD9]);
    let mut out = jpeg[..eoi].to_vec();
    for _ in 0..extra {
        out.extend_from_slice(&jpeg[last_sos..eoi]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[test]
fn the_scan_count_is_walked_from_the_markers_and_stops_at_the_cap() {
    let jpeg = rgb_jpeg(64, 48, true);
    let p = markers::parse(&jpeg).unwrap();
    let scans = markers::count_scans(&jpeg, p.first_sos, usize::MAX);
    assert!((2..=20).contains(&scans), "{scans}");
    let bomb = scan_bomb(64, 48, 5000);
    assert_eq!(
        markers::count_scans(&bomb, p.first_sos, usize::MAX),
        scans + 5000
    );
    assert_eq!(markers::count_scans(&bomb, p.first_sos, 101), 101);
}

#[test]
fn a_scan_bomb_is_refused_before_decoding_and_a_normal_file_passes() {
    use crate::image::limits::Limits;
    use crate::image::work::Work;
    let flag = std::sync::atomic::AtomicBool::new(false);
    let work = Work::new(&flag);
    let limits = Limits::default();
    let bomb = scan_bomb(256, 256, 3000);
    let start = std::time::Instant::now();
    let e = decode_with(&bomb, 0, 0, Some((&limits, &work))).unwrap_err();
    assert_eq!(e.code, crate::ErrorCode::TooLarge);
    assert!(e.message.contains("maxScans"), "{}", e.message);
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    let ok = decode_with(&rgb_jpeg(256, 256, true), 0, 0, Some((&limits, &work))).unwrap();
    assert_eq!((ok.width, ok.height), (256, 256));
}

#[test]
fn an_abort_stops_libjpeg_from_its_progress_monitor() {
    use crate::image::limits::Limits;
    use crate::image::work::Work;
    let flag = std::sync::atomic::AtomicBool::new(true);
    let work = Work::new(&flag);
    let limits = Limits {
        max_scans: 100_000,
        ..Limits::default()
    };
    let bomb = scan_bomb(256, 256, 200);
    let e = catch_panic(crate::ErrorCode::Decode, || {
        decode_with(&bomb, 0, 0, Some((&limits, &work)))
    })
    .unwrap_err();
    assert_eq!(e.code, crate::ErrorCode::Aborted);
}
