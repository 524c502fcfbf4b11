//! JPEG marker walk: the frame header, EXIF orientation, ICC chunks and the Adobe transform, read
//! without touching entropy-coded data or allocating pixels (ITU-T T.81 annex B).

use crate::error::{Error, Result};
use crate::image::codecs::exif::orientation_from_tiff;

/// One frame component as declared by SOFn.
#[derive(Debug, Clone, Copy)]
pub(super) struct Component {
    /// Component identifier used by SOS to refer to it.
    pub id: u8,
    /// Horizontal sampling factor, 1..=4.
    pub h: u8,
    /// Vertical sampling factor, 1..=4.
    pub v: u8,
}

/// Everything the header walk learned, up to the first SOS marker.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    pub width: u32,
    pub height: u32,
    pub progressive: bool,
    /// Arithmetic-coded frames (SOF9..SOF15): our libjpeg build has no arithmetic decoder.
    pub arithmetic: bool,
    pub components: Vec<Component>,
    /// Whether a JFIF APP0 segment is present (libjpeg then assumes YCbCr).
    pub jfif: bool,
    /// The transform byte of an Adobe APP14 segment, when one is present.
    pub adobe_transform: Option<u8>,
    pub orientation: u8,
    pub icc: Option<Vec<u8>>,
    /// Byte offset of the first SOS marker (its 0xFF).
    pub first_sos: usize,
}

/// A marker found in the stream: its code, where its 0xFF is, and where its payload starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Marker {
    pub code: u8,
    pub start: usize,
    pub after: usize,
}

pub(super) const SOI: u8 = 0xD8;
pub(super) const EOI: u8 = 0xD9;
pub(super) const SOS: u8 = 0xDA;

fn truncated() -> Error {
    Error::decode("JPEG is truncated: the header ends before the first scan")
}

/// Whether a marker stands alone (no length field): RSTn and TEM.
pub(super) fn is_standalone(code: u8) -> bool {
    matches!(code, 0x01 | 0xD0..=0xD7)
}

/// Finds the next marker at or after `pos`, skipping stray bytes and 0xFF fill bytes the way
/// libjpeg does (it tolerates "extraneous bytes before marker"). `None` at end of data.
pub(super) fn next_marker(data: &[u8], mut pos: usize) -> Option<Marker> {
    loop {
        while pos < data.len() && data[pos] != 0xFF {
            pos += 1;
        }
        while pos < data.len() && data[pos] == 0xFF {
            pos += 1;
        }
        let code = *data.get(pos)?;
        if code == 0x00 {
            // a stuffed byte outside a scan is garbage, keep looking
            pos += 1;
            continue;
        }
        return Some(Marker {
            code,
            start: pos - 1,
            after: pos + 1,
        });
    }
}

/// Payload bounds of a marker segment with a length field: `(payload_start, segment_end)`.
pub(super) fn segment(data: &[u8], m: Marker) -> Option<(usize, usize)> {
    let len = u16::from_be_bytes([*data.get(m.after)?, *data.get(m.after + 1)?]) as usize;
    if len < 2 || m.after + len > data.len() {
        return None;
    }
    Some((m.after + 2, m.after + len))
}

/// A marker segment with a length field: its code, where its 0xFF is, and its payload bounds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub code: u8,
    pub start: usize,
    pub payload: usize,
    pub end: usize,
}

/// The next segment at or after `pos`, stepping over standalone markers. `Some(None)` at EOI or
/// the end of data; `None` when a segment's length field runs past the data.
pub(super) fn next_segment(data: &[u8], mut pos: usize) -> Option<Option<Segment>> {
    loop {
        let Some(m) = next_marker(data, pos) else {
            return Some(None);
        };
        if m.code == EOI {
            return Some(None);
        }
        if is_standalone(m.code) {
            pos = m.after;
            continue;
        }
        let (payload, end) = segment(data, m)?;
        return Some(Some(Segment {
            code: m.code,
            start: m.start,
            payload,
            end,
        }));
    }
}

/// Finds the end of the entropy-coded data that starts at `pos`: the offset of the 0xFF of the
/// next real marker (not a stuffed 0xFF00 and not RSTn), or `None` when the data runs out first.
pub(super) fn entropy_end(data: &[u8], mut pos: usize) -> Option<usize> {
    const LANES: usize = 32;
    loop {
        // Skip 0xFF-free runs a lane at a time: entropy data is megabytes and 0xFF is rare
        // (stuffing), and a branch-free fold lets the compiler vectorise the test.
        while pos + LANES <= data.len() {
            let hit = data[pos..pos + LANES]
                .iter()
                .fold(0u8, |acc, &b| acc | u8::from(b == 0xFF));
            if hit != 0 {
                break;
            }
            pos += LANES;
        }
        while pos < data.len() && data[pos] != 0xFF {
            pos += 1;
        }
        if pos >= data.len() {
            return None;
        }
        while pos < data.len() && data[pos] == 0xFF {
            pos += 1;
        }
        match data.get(pos)? {
            0x00 | 0xD0..=0xD7 => pos += 1,
            _ => return Some(pos - 1),
        }
    }
}

/// Counts the SOS markers from `first_sos` on, stopping once `stop_at` are found, so a bomb
/// of thousands of scans costs one pass over at most `stop_at` scans. Reads marker segments and
/// skips entropy-coded data with [`entropy_end`]; damage ends the count (the decoder reports it).
pub(super) fn count_scans(data: &[u8], first_sos: usize, stop_at: usize) -> usize {
    let mut scans = 0;
    let mut pos = first_sos;
    while scans < stop_at {
        let Some(Some(seg)) = next_segment(data, pos) else {
            break;
        };
        pos = seg.end;
        if seg.code == SOS {
            scans += 1;
            match entropy_end(data, seg.end) {
                Some(end) => pos = end,
                None => break,
            }
        }
    }
    scans
}

fn is_sof(code: u8) -> bool {
    matches!(code, 0xC0..=0xCF) && !matches!(code, 0xC4 | 0xC8 | 0xCC)
}

/// Walks the markers from SOI to the first SOS. Never reads entropy-coded data.
pub(super) fn parse(data: &[u8]) -> Result<Parsed> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != SOI {
        return Err(Error::decode(
            "Not a JPEG: the data does not start with the SOI marker FF D8",
        ));
    }
    let mut frame: Option<(u32, u32, bool, bool, Vec<Component>)> = None;
    let mut adobe_transform = None;
    let mut jfif = false;
    let mut orientation = None;
    let mut icc_chunks: Vec<(u8, u8, &[u8])> = Vec::new();
    let mut pos = 2;
    loop {
        let m = next_marker(data, pos).ok_or_else(truncated)?;
        if is_standalone(m.code) {
            pos = m.after;
            continue;
        }
        match m.code {
            SOI => {
                return Err(Error::decode(
                    "Corrupt JPEG: a second SOI marker inside the header",
                ))
            }
            EOI => {
                return Err(Error::decode(
                    "Corrupt JPEG: EOI marker before any image data",
                ))
            }
            _ => {}
        }
        let (p, end) = segment(data, m).ok_or_else(truncated)?;
        let payload = &data[p..end];
        match m.code {
            code if is_sof(code) => {
                if frame.is_some() {
                    return Err(Error::decode("Corrupt JPEG: more than one SOF marker"));
                }
                frame = Some(parse_sof(code, payload)?);
            }
            SOS => {
                let (width, height, progressive, arithmetic, components) =
                    frame.ok_or_else(|| {
                        Error::decode("Corrupt JPEG: SOS marker before the SOF marker")
                    })?;
                return Ok(Parsed {
                    width,
                    height,
                    progressive,
                    arithmetic,
                    components,
                    jfif,
                    adobe_transform,
                    orientation: orientation.unwrap_or(1),
                    icc: assemble_icc(&icc_chunks),
                    first_sos: m.start,
                });
            }
            0xE0 if payload.starts_with(b"JFIF\0") => jfif = true,
            0xE1 if orientation.is_none() && payload.starts_with(b"Exif\0\0") => {
                orientation = Some(orientation_from_tiff(&payload[6..]));
            }
            0xE2 if payload.len() >= 14 && payload.starts_with(b"ICC_PROFILE\0") => {
                icc_chunks.push((payload[12], payload[13], &payload[14..]));
            }
            0xEE if payload.len() >= 12 && payload.starts_with(b"Adobe") => {
                adobe_transform = Some(payload[11]);
            }
            _ => {}
        }
        pos = end;
    }
}

fn parse_sof(code: u8, p: &[u8]) -> Result<(u32, u32, bool, bool, Vec<Component>)> {
    if p.len() < 6 {
        return Err(Error::decode("Corrupt JPEG: SOF segment is too short"));
    }
    let height = u32::from(u16::from_be_bytes([p[1], p[2]]));
    let width = u32::from(u16::from_be_bytes([p[3], p[4]]));
    let n = p[5] as usize;
    if width == 0 {
        return Err(Error::decode("Corrupt JPEG: the frame width is 0"));
    }
    if height == 0 {
        // T.81 lets a DNL marker define the height later; libjpeg does not support that
        return Err(Error::decode(
            "Unsupported JPEG: the height is defined by a DNL marker",
        ));
    }
    if n == 0 || n > 4 || p.len() < 6 + 3 * n {
        return Err(Error::decode(format!(
            "Corrupt JPEG: SOF declares {n} components, expected 1 to 4 with a matching segment length"
        )));
    }
    let mut components = Vec::with_capacity(n);
    for c in p[6..6 + 3 * n].chunks_exact(3) {
        let (h, v) = (c[1] >> 4, c[1] & 15);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(Error::decode(
                "Corrupt JPEG: a sampling factor is outside 1..4",
            ));
        }
        components.push(Component { id: c[0], h, v });
    }
    let progressive = matches!(code, 0xC2 | 0xC6 | 0xCA | 0xCE);
    let arithmetic = code >= 0xC9;
    Ok((width, height, progressive, arithmetic, components))
}

/// Reassembles an ICC profile from its APP2 chunks (ICC.1 annex B.4: 1-based sequence numbers
/// and a chunk count). An inconsistent set is ignored, as libjpeg-turbo does, rather than failing
/// the whole image.
fn assemble_icc(chunks: &[(u8, u8, &[u8])]) -> Option<Vec<u8>> {
    let count = chunks.first()?.1;
    if count == 0 || chunks.len() != count as usize || chunks.iter().any(|c| c.1 != count) {
        return None;
    }
    let mut ordered: Vec<Option<&[u8]>> = vec![None; count as usize];
    for &(seq, _, data) in chunks {
        let slot = ordered.get_mut((seq as usize).checked_sub(1)?)?;
        if slot.is_some() {
            return None;
        }
        *slot = Some(data);
    }
    let mut out = Vec::with_capacity(ordered.iter().map(|c| c.map_or(0, <[u8]>::len)).sum());
    for c in ordered {
        out.extend_from_slice(c?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icc_chunks_are_reassembled_in_sequence_order() {
        let chunks: Vec<(u8, u8, &[u8])> = vec![(2, 3, b"bb"), (3, 3, b"c"), (1, 3, b"aaa")];
        assert_eq!(assemble_icc(&chunks).as_deref(), Some(&b"aaabbc"[..]));
        let missing: Vec<(u8, u8, &[u8])> = vec![(1, 2, b"a")];
        assert_eq!(assemble_icc(&missing), None);
        let dup: Vec<(u8, u8, &[u8])> = vec![(1, 2, b"a"), (1, 2, b"a")];
        assert_eq!(assemble_icc(&dup), None);
    }

    #[test]
    fn entropy_end_skips_stuffing_and_restart_markers() {
        let mut d = vec![0x12u8; 100];
        d[10] = 0xFF;
        d[11] = 0x00;
        d[40] = 0xFF;
        d[41] = 0xD3;
        d[70] = 0xFF;
        d[71] = 0xFF;
        d[72] = 0xC4;
        assert_eq!(entropy_end(&d, 0), Some(71));
        assert_eq!(entropy_end(&d[..60], 0), None);
    }
}
