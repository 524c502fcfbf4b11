//! Round trips, chunk boundaries, tampering and limits of the chunk writer and joiner.

use super::aead::NONCE_LEN;
use super::parallel::inflate_segments;
use super::*;
use crate::error::ErrorCode;

const KEY: &[u8] = b"memo:key";

fn opts(level: Option<u32>, secret: Option<&'static [u8]>) -> ChunkOptions<'static> {
    ChunkOptions {
        cache_key: KEY,
        level,
        encryption_key: secret,
    }
}

/// Inflates the concatenated chunks with an independent zlib reader.
fn inflate_with_flate2(chunks: &[Vec<u8>]) -> Vec<u8> {
    let stream = chunks.concat();
    let mut d = flate2::read::ZlibDecoder::new(&stream[..]);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut out).unwrap();
    out
}

/// Deterministic, compressible, JSON-like bytes.
fn sample(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "{{\"id\":{i},\"name\":\"item-{}\",\"ok\":true}},",
                i * 7919 % 1000
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// Bytes zlib cannot shrink, so chunk boundaries are easy to predict.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn round_trip(data: &[u8], o: ChunkOptions<'_>) -> (Vec<Vec<u8>>, Manifest) {
    let (chunks, m) = split(data, o).unwrap();
    assert_eq!(chunks.len(), m.count as usize);
    assert!(chunks.iter().all(|c| c.len() <= CHUNK_SIZE));
    assert_eq!(join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap(), data);
    (chunks, m)
}

#[test]
fn the_chunk_size_is_just_under_one_mebibyte() {
    assert_eq!(CHUNK_SIZE, 1_047_552);
}

#[test]
fn empty_and_small_values_round_trip_in_one_chunk_in_every_mode() {
    for o in [
        opts(None, None),
        opts(Some(1), None),
        opts(None, Some(b"s")),
        opts(Some(6), Some(b"s")),
    ] {
        for data in [&b""[..], b"x", b"hello world"] {
            let (chunks, m) = round_trip(data, o);
            assert_eq!(m.count, 1);
            assert_eq!(chunks.len(), 1);
        }
    }
}

#[test]
fn an_input_of_exactly_one_chunk_stays_one_chunk() {
    let data = noise(CHUNK_SIZE);
    let (chunks, _) = round_trip(&data, opts(None, None));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].len(), CHUNK_SIZE);
}

#[test]
fn one_byte_over_a_chunk_makes_a_second_chunk_of_one_byte() {
    let data = noise(CHUNK_SIZE + 1);
    let (chunks, _) = round_trip(&data, opts(None, None));
    assert_eq!(
        chunks.iter().map(Vec::len).collect::<Vec<_>>(),
        [CHUNK_SIZE, 1]
    );
}

#[test]
fn exactly_two_chunks_of_encrypted_payload_make_two_full_sealed_chunks() {
    let payload = CHUNK_SIZE - SEAL_OVERHEAD;
    let data = noise(2 * payload);
    let (chunks, m) = round_trip(&data, opts(None, Some(b"secret")));
    assert_eq!(m.count, 2);
    assert!(chunks.iter().all(|c| c.len() == CHUNK_SIZE));
}

#[test]
fn large_compressible_data_spans_several_chunks_and_round_trips() {
    let data = sample(9 << 20);
    let (_, m) = round_trip(&data, opts(Some(1), None));
    assert!(m.count >= 1);
    let incompressible = noise(3 * CHUNK_SIZE + 5);
    let (chunks, _) = round_trip(&incompressible, opts(Some(1), Some(b"k")));
    assert_eq!(chunks.len(), 4);
}

#[test]
fn compressed_chunks_are_a_plain_zlib_stream_other_tools_can_read() {
    let data = sample(100_000);
    let (chunks, m) = split(&data, opts(Some(6), None)).unwrap();
    assert!(m.compressed);
    assert_eq!(inflate_with_flate2(&chunks), data);
}

#[test]
fn streaming_pushes_give_the_same_value_as_one_split() {
    let data = sample(3 << 20);
    let o = opts(Some(1), Some(b"k"));
    let mut w = ChunkWriter::new(o, 0).unwrap();
    let mut chunks = Vec::new();
    for piece in data.chunks(7777) {
        chunks.extend(w.push(piece).unwrap());
    }
    let (rest, m) = w.finish().unwrap();
    chunks.extend(rest);
    assert_eq!(join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap(), data);
}

#[test]
fn streaming_hands_out_full_chunks_before_finish() {
    let o = opts(None, None);
    let mut w = ChunkWriter::new(o, 0).unwrap();
    assert!(w.push(&noise(CHUNK_SIZE)).unwrap().is_empty());
    let out = w.push(b"more").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), CHUNK_SIZE);
    let (rest, m) = w.finish().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(m.count, 2);
    assert!(w.push(b"x").is_err());
}

#[test]
fn a_tampered_encrypted_chunk_is_corrupt() {
    let data = noise(CHUNK_SIZE * 2);
    let o = opts(None, Some(b"k"));
    let (mut chunks, m) = split(&data, o).unwrap();
    chunks[1][100] ^= 0x40;
    let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn swapped_truncated_or_foreign_encrypted_chunks_are_corrupt() {
    let data = noise(CHUNK_SIZE * 3);
    let o = opts(Some(1), Some(b"k"));
    let (chunks, m) = split(&data, o).unwrap();
    assert_eq!(m.count, 4);
    let mut swapped = chunks.clone();
    swapped.swap(0, 1);
    assert!(join(&swapped, &m, o, DEFAULT_MAX_OUTPUT).is_err());
    // Dropping the last chunk and lowering the count in the manifest is still detected,
    // because chunk 2 was not sealed as the last one.
    let short = Manifest {
        count: 3,
        ..m.clone()
    };
    let e = join(&chunks[..3], &short, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    // The same chunks under another key, or a chunk from another write, fail too.
    let other = ChunkOptions {
        cache_key: b"memo:other",
        ..o
    };
    assert!(join(&chunks, &m, other, DEFAULT_MAX_OUTPUT).is_err());
    let (second, _) = split(&data, o).unwrap();
    let mut mixed = chunks.clone();
    mixed[2] = second[2].clone();
    assert!(join(&mixed, &m, o, DEFAULT_MAX_OUTPUT).is_err());
}

#[test]
fn a_wrong_key_or_a_downgrade_to_plaintext_is_refused() {
    let (chunks, m) = split(b"value", opts(None, Some(b"k"))).unwrap();
    assert!(join(&chunks, &m, opts(None, Some(b"x")), 1 << 20).is_err());
    let (plain, pm) = split(b"value", opts(None, None)).unwrap();
    let e = join(&plain, &pm, opts(None, Some(b"k")), 1 << 20).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn a_missing_chunk_or_edited_plain_chunk_is_corrupt() {
    let data = sample(2 * CHUNK_SIZE + 1);
    let o = opts(None, None);
    let (mut chunks, m) = split(&data, o).unwrap();
    assert_eq!(m.count, 3);
    assert!(join(&chunks[..2], &m, o, DEFAULT_MAX_OUTPUT).is_err());
    chunks[1][10] ^= 1;
    let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn an_edited_compressed_chunk_is_corrupt() {
    let data = sample(300_000);
    let o = opts(Some(1), None);
    let (mut chunks, m) = split(&data, o).unwrap();
    let mid = chunks[0].len() / 2;
    chunks[0][mid] ^= 0xff;
    let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn a_decompression_bomb_is_stopped_by_the_output_cap() {
    let data = vec![0u8; 4 << 20];
    let o = opts(Some(9), None);
    let (chunks, m) = split(&data, o).unwrap();
    let e = join(&chunks, &m, o, 1 << 20).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
    // A manifest that lies about the length cannot make the inflater run past it.
    let lying = Manifest {
        length: 1000,
        ..m.clone()
    };
    let e = join(&chunks, &lying, o, 1 << 20).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn compressed_values_record_one_segment_per_mebibyte() {
    let (_, m) = round_trip(&sample(9 << 20), opts(Some(1), None));
    assert_eq!(m.segments.len(), 9);
    assert_eq!(m.segments[0], ZLIB_HEADER as u64);
    assert!(m.segments.windows(2).all(|w| w[0] < w[1]));
    let (_, exact) = round_trip(&sample(2 * SEGMENT_SIZE), opts(Some(1), None));
    assert_eq!(exact.segments.len(), 2, "no empty segment after a boundary");
    let (_, empty) = round_trip(b"", opts(Some(1), None));
    assert_eq!(empty.segments.len(), 1);
    let (_, plain) = round_trip(b"abc", opts(None, None));
    assert!(plain.segments.is_empty());
}

#[test]
fn segmented_streams_are_still_one_valid_zlib_stream() {
    let data = sample(3 * SEGMENT_SIZE + 123);
    let (chunks, _) = split(&data, opts(Some(1), None)).unwrap();
    assert_eq!(inflate_with_flate2(&chunks), data);
}

#[test]
fn parallel_and_single_thread_inflation_agree() {
    let data = sample(5 * SEGMENT_SIZE + 7);
    let (chunks, m) = split(&data, opts(Some(1), None)).unwrap();
    let stream = chunks.concat();
    for threads in 1..=4 {
        let (out, crc) = inflate_segments(&stream, &m.segments, data.len(), threads).unwrap();
        assert_eq!(out, data);
        assert_eq!(crc, m.crc32);
    }
}

#[test]
fn a_streamed_value_has_the_same_segments_as_a_split_one() {
    let data = sample(3 * SEGMENT_SIZE + 5);
    let o = opts(Some(1), None);
    let mut w = ChunkWriter::new(o, 0).unwrap();
    let mut chunks = Vec::new();
    for piece in data.chunks(100_000) {
        chunks.extend(w.push(piece).unwrap());
    }
    let (rest, m) = w.finish().unwrap();
    chunks.extend(rest);
    let (_, whole) = split(&data, o).unwrap();
    assert_eq!(m.segments, whole.segments);
    assert_eq!(join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap(), data);
}

#[test]
fn a_wrong_segment_table_or_an_edited_segment_is_corrupt() {
    let data = sample(4 * SEGMENT_SIZE);
    let o = opts(Some(1), None);
    let (mut chunks, m) = split(&data, o).unwrap();
    let mut moved = m.clone();
    moved.segments[2] += 1;
    let e = join(&chunks, &moved, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
    let mut short = m.clone();
    short.segments.pop();
    assert!(join(&chunks, &short, o, DEFAULT_MAX_OUTPUT).is_err());
    let mid = chunks[0].len() / 2;
    chunks[0][mid] ^= 0x55;
    let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn encrypted_segmented_values_open_in_parallel_and_catch_tampering() {
    let mut data = sample(4 * SEGMENT_SIZE);
    data.extend(noise(2 * SEGMENT_SIZE + 99));
    let o = opts(Some(2), Some(b"secret"));
    let (mut chunks, m) = round_trip(&data, o);
    assert!(m.segments.len() > 1 && chunks.len() > 1);
    chunks[1][NONCE_LEN + 3] ^= 0x08;
    let e = join(&chunks, &m, o, DEFAULT_MAX_OUTPUT).unwrap_err();
    assert_eq!(e.code, ErrorCode::ChunkCorrupt);
}

#[test]
fn a_level_over_nine_is_an_invalid_option() {
    let e = split(b"x", opts(Some(10), None)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidOption);
}
