//! Segment-parallel joining: the stored stream is cut into independently inflatable
//! [`SEGMENT_SIZE`] segments, and sealed chunks open straight into their place, on a few threads.

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::aead::Sealer;
use super::*;
use crate::error::Result;

/// Threads `join` may use: the machine's parallelism, capped.
pub(super) fn join_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_JOIN_THREADS)
    })
}

/// Inflates one segment (raw deflate) into exactly `out`, returning the CRC-32 of `out`.
/// Every segment but the last ends with a full flush; the last ends the stream.
pub(super) fn inflate_segment(input: &[u8], out: &mut [u8], last: bool) -> Result<Crc> {
    let mut d = Decompress::new(false);
    let bad = |e: flate2::DecompressError| corrupt(format!("zlib stream is corrupt: {e}"));
    let mut status = d
        .decompress(input, out, FlushDecompress::None)
        .map_err(bad)?;
    if d.total_out() as usize != out.len() {
        return Err(corrupt("A segment inflates to fewer bytes than it should"));
    }
    // With the output full, the flush marker or end-of-block code may still be unread; a
    // one-byte scratch buffer lets it through and catches any extra output.
    let mut scratch = [0u8; 1];
    while (d.total_in() as usize) < input.len() && status != Status::StreamEnd {
        let before = d.total_in();
        status = d
            .decompress(
                &input[before as usize..],
                &mut scratch,
                FlushDecompress::None,
            )
            .map_err(bad)?;
        if d.total_out() as usize != out.len() {
            return Err(corrupt("A segment inflates past its size"));
        }
        if d.total_in() == before {
            return Err(corrupt("A segment made no progress"));
        }
    }
    if d.total_in() as usize != input.len() || (status == Status::StreamEnd) != last {
        return Err(corrupt("A segment does not end where the manifest says"));
    }
    let mut crc = Crc::new();
    crc.update(out);
    Ok(crc)
}

/// Inflates a zlib stream written with segment flushes on up to `threads` threads, checking
/// the segment table against the stream. Returns the value and the CRC-32 of the whole.
/// The Adler-32 trailer is not checked here; the CRC-32 in the manifest covers the same bytes.
pub(super) fn inflate_segments(
    stream: &[u8],
    segments: &[u64],
    length: usize,
    threads: usize,
) -> Result<(Vec<u8>, u32)> {
    if stream.len() < ZLIB_HEADER + ZLIB_TRAILER
        || segments.first() != Some(&(ZLIB_HEADER as u64))
        || stream[0] & 0x0f != 8
        || stream[1] & 0x20 != 0
        || (u16::from(stream[0]) << 8 | u16::from(stream[1])) % 31 != 0
    {
        return Err(corrupt("The compressed stream has no valid zlib header"));
    }
    let body_end = (stream.len() - ZLIB_TRAILER) as u64;
    let mut ranges = Vec::with_capacity(segments.len());
    for (i, &start) in segments.iter().enumerate() {
        let end = segments.get(i + 1).copied().unwrap_or(body_end);
        if start >= end || end > body_end {
            return Err(corrupt(
                "The segment table does not fit the compressed stream",
            ));
        }
        ranges.push(&stream[start as usize..end as usize]);
    }
    let mut out = vec![0u8; length];
    let n = ranges.len();
    let jobs: Vec<_> = ranges
        .into_iter()
        .zip(out.chunks_mut(SEGMENT_SIZE))
        .enumerate()
        .collect();
    let crcs = run_parallel(threads, jobs, |(i, (input, piece))| {
        inflate_segment(input, piece, i == n - 1)
    })?;
    let mut whole = Crc::new();
    for c in &crcs {
        whole.combine(c);
    }
    Ok((out, whole.sum()))
}

/// Runs `work` over `jobs` on up to `threads` threads (this one included), each taking a
/// contiguous run of jobs; returns the results in job order, or the first error.
pub(super) fn run_parallel<J: Send, R: Send>(
    threads: usize,
    jobs: Vec<J>,
    work: impl Fn(J) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let n = jobs.len();
    let threads = threads.clamp(1, n.max(1));
    let mut groups: Vec<Vec<J>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        groups[i * threads / n.max(1)].push(job);
    }
    let work = &work;
    let run = move |group: Vec<J>| -> Result<Vec<R>> { group.into_iter().map(work).collect() };
    std::thread::scope(|scope| {
        let mut groups = groups.into_iter();
        let mine = groups.next().unwrap_or_default();
        let handles: Vec<_> = groups.map(|g| scope.spawn(move || run(g))).collect();
        let mut results = run(mine)?;
        for h in handles {
            let part = h
                .join()
                .map_err(|_| corrupt("A worker thread panicked while joining chunks"))??;
            results.extend(part);
        }
        Ok(results)
    })
}

/// Puts the stored payloads back into one contiguous stream, opening sealed chunks in parallel
/// straight into their place in it.
pub(super) fn gather<C: AsRef<[u8]> + Sync>(
    chunks: &[C],
    manifest: &Manifest,
    options: ChunkOptions<'_>,
    sealer: Option<&Sealer>,
    threads: usize,
) -> Result<Vec<u8>> {
    let Some(sealer) = sealer else {
        let mut stream = Vec::with_capacity(chunks.iter().map(|c| c.as_ref().len()).sum());
        for c in chunks {
            stream.extend_from_slice(c.as_ref());
        }
        return Ok(stream);
    };
    let mut sizes = Vec::with_capacity(chunks.len());
    for c in chunks {
        let len = c.as_ref().len();
        if len < SEAL_OVERHEAD {
            return Err(corrupt(format!(
                "Encrypted chunk of {len} bytes is shorter than its {SEAL_OVERHEAD}-byte nonce and tag"
            )));
        }
        sizes.push(len - SEAL_OVERHEAD);
    }
    let mut stream = vec![0u8; sizes.iter().sum()];
    let mut rest = &mut stream[..];
    let mut jobs = Vec::with_capacity(chunks.len());
    for (i, (chunk, &size)) in chunks.iter().zip(&sizes).enumerate() {
        let (dest, tail) = rest.split_at_mut(size);
        rest = tail;
        jobs.push((i, chunk.as_ref(), dest));
    }
    let last = chunks.len() - 1;
    run_parallel(threads, jobs, |(i, chunk, dest)| {
        let a = manifest.aad(i, i == last, options.cache_key);
        sealer.open_into(chunk, &a, dest)
    })?;
    Ok(stream)
}
