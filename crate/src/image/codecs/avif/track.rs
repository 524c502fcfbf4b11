//! Image sequences (`avis`): where the first frame of the first track lies, from the MP4 sample
//! tables (ISO/IEC 14496-12 `stsd`, `stsz`, `stco`/`co64`).

use super::boxes::Reader;
use super::heif::Props;
use crate::error::{Error, Result};

/// The first sample of the first track of an image sequence, with its size and frame count.
pub fn first_sample<'a>(file: &'a [u8], moov: Reader<'a>) -> Result<((&'a [u8], Props), u32)> {
    let missing = || Error::decode("Invalid AVIF sequence: the track has no sample table");
    let stbl = moov
        .find(b"trak")?
        .and_then(|t| t.find(b"mdia").ok().flatten())
        .and_then(|m| m.find(b"minf").ok().flatten())
        .and_then(|m| m.find(b"stbl").ok().flatten())
        .ok_or_else(missing)?;
    let mut props = Props::default();
    if let Some(mut stsd) = stbl.find(b"stsd")? {
        stsd.full_header()?;
        stsd.skip(4)?;
        if let Some((b"av01", mut entry)) = stsd.next_box()? {
            // SampleEntry (8 bytes) then VisualSampleEntry up to width and height (16 bytes).
            entry.skip(24)?;
            props.size = Some((entry.u16()? as u32, entry.u16()? as u32));
        }
    }
    let mut stsz = stbl.find(b"stsz")?.ok_or_else(missing)?;
    stsz.full_header()?;
    let fixed = stsz.u32()?;
    let frames = stsz.u32()?;
    let size = if fixed != 0 { fixed } else { stsz.u32()? } as u64;
    let offset = if let Some(mut stco) = stbl.find(b"stco")? {
        stco.full_header()?;
        stco.skip(4)?;
        stco.u32()? as u64
    } else {
        let mut co64 = stbl.find(b"co64")?.ok_or_else(missing)?;
        co64.full_header()?;
        co64.skip(4)?;
        co64.uint(8)?
    };
    let end = offset.checked_add(size).filter(|&e| e <= file.len() as u64);
    let end = end.ok_or_else(|| Error::decode("Invalid AVIF sequence: sample outside the file"))?;
    Ok(((&file[offset as usize..end as usize], props), frames.max(1)))
}
