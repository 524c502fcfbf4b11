//! File-to-file thumbnails with an atomic write: the output is written to a temporary file in the
//! destination folder and renamed into place, so a reader (nginx `try_files`, a concurrent
//! request) sees either no file or the complete one, never a prefix. The temporary file is
//! removed on every error path.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::pipeline::{run_cancellable, run_many, Options, Output};
use crate::error::{Error, Result};

/// Summary of a written thumbnail.
#[derive(Debug, Clone)]
pub struct FileOutput {
    /// The thumbnail minus its bytes.
    pub output: Output,
    /// Bytes written.
    pub size: u64,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("Cannot {what} {}: {e}", path.display()))
}

/// A temporary name next to `dst`, unique per process and call so concurrent writers of the same
/// destination never share a temporary file.
fn temp_path(dst: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dst.with_file_name(format!(".{name}.{}.{n}.{nanos:x}.tmp", std::process::id()))
}

/// Writes `data` to `dst` atomically (parent folders are created).
pub fn write_atomic(dst: &Path, data: &[u8], fsync: bool) -> Result<()> {
    if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_error("create folder", parent, e))?;
    }
    let tmp = temp_path(dst);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_error("create", &tmp, e))?;
        f.write_all(data).map_err(|e| io_error("write", &tmp, e))?;
        if fsync {
            f.sync_all().map_err(|e| io_error("fsync", &tmp, e))?;
        }
        drop(f);
        fs::rename(&tmp, dst).map_err(|e| io_error("rename into", dst, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if fsync {
        // The rename itself is only durable once the folder entry is flushed. Opening a folder
        // for sync is not possible everywhere (Windows), hence best effort.
        if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(dir) = fs::File::open(parent) {
                let _ = dir.sync_all();
            }
        }
    }
    Ok(())
}

/// Reads `src`, makes the thumbnail and writes it atomically to `dst`.
pub fn thumbnail_file(
    src: &Path,
    dst: &Path,
    opts: &Options,
    fsync: bool,
    cancel: &AtomicBool,
) -> Result<FileOutput> {
    let input = read_source(src, opts)?;
    let output = run_cancellable(&input, opts, cancel)?;
    write_output(dst, output, fsync)
}

/// [`thumbnail_file`] for several outputs of one source: one read, one decode (see
/// [`run_many`]), one atomic write per output. The outer error is shared by every output (the
/// read or the decode failed); each output then succeeds or fails on its own.
pub fn thumbnail_files(
    src: &Path,
    items: &[(PathBuf, Options)],
    fsync: bool,
    cancel: &AtomicBool,
) -> Result<Vec<Result<FileOutput>>> {
    let Some((_, first)) = items.first() else {
        return Ok(Vec::new());
    };
    let input = read_source(src, first)?;
    let opts: Vec<Options> = items.iter().map(|(_, o)| o.clone()).collect();
    let outputs = run_many(&input, &opts, cancel)?;
    Ok(outputs
        .into_iter()
        .zip(items)
        .map(|(out, (dst, _))| write_output(dst, out?, fsync))
        .collect())
}

fn read_source(src: &Path, opts: &Options) -> Result<Vec<u8>> {
    let file = fs::File::open(src).map_err(|e| io_error("read", src, e))?;
    let len = file.metadata().map_err(|e| io_error("read", src, e))?.len();
    // Refuse before reading a huge file into memory, and never read past the limit even if the
    // file grows meanwhile.
    opts.limits.check_bytes(len as usize)?;
    let mut input = Vec::with_capacity(len as usize);
    file.take(opts.limits.max_input_bytes.saturating_add(1))
        .read_to_end(&mut input)
        .map_err(|e| io_error("read", src, e))?;
    opts.limits.check_bytes(input.len())?;
    Ok(input)
}

fn write_output(dst: &Path, mut output: Output, fsync: bool) -> Result<FileOutput> {
    write_atomic(dst, &output.data, fsync)?;
    let size = output.data.len() as u64;
    output.data = Vec::new();
    Ok(FileOutput { output, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("restthumbs-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_and_leaves_no_temp_file() {
        let d = tmp_dir("ok");
        let dst = d.join("a/b/out.bin");
        write_atomic(&dst, b"hello", false).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"hello");
        let names: Vec<_> = fs::read_dir(d.join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_decode_writes_nothing() {
        let d = tmp_dir("bad");
        let src = d.join("in.png");
        fs::write(&src, b"\x89PNG\r\n\x1a\nbroken").unwrap();
        let dst = d.join("out.jpg");
        let opts = Options {
            width: 10,
            height: 10,
            ..Options::default()
        };
        let e = thumbnail_file(&src, &dst, &opts, false, &AtomicBool::new(false)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Decode);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_source_is_an_io_error() {
        let d = tmp_dir("missing");
        let opts = Options {
            width: 10,
            height: 10,
            ..Options::default()
        };
        let e = thumbnail_file(
            &d.join("nope.png"),
            &d.join("out.jpg"),
            &opts,
            false,
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Io);
        fs::remove_dir_all(&d).unwrap();
    }
}
