//! The first directory of a TIFF, read by hand: size, orientation and the layout tags, straight
//! from the entries. The header step needs nothing more, and the `tiff` crate, which validates
//! the strips and reads their tables when it opens a file, only sees the file once the pipeline
//! has checked the declared size against its limits.

use crate::error::{Error, Result};

/// What the first directory says.
#[derive(Debug, Clone, Copy)]
pub struct Ifd {
    /// `ImageWidth`.
    pub width: u32,
    /// `ImageLength`.
    pub height: u32,
    /// `Orientation`, 1 when absent or out of range.
    pub orientation: u8,
    /// `PhotometricInterpretation` (0 WhiteIsZero, 1 BlackIsZero, 2 RGB, 3 palette, 5 CMYK…).
    pub photometric: u16,
    /// `SamplesPerPixel`, 1 when absent.
    pub samples: u16,
    /// Number of `ExtraSamples` and the first one (1 associated, 2 unassociated alpha).
    pub extra: (u32, u16),
    /// Byte offset of the `PhotometricInterpretation` value, for [`with_photometric`].
    photometric_at: Option<usize>,
    big_endian: bool,
}

impl Ifd {
    /// Whether the page carries alpha, by the same rules the `tiff` crate applies.
    pub fn has_alpha(&self) -> bool {
        let colour_samples = (self.samples as u32).saturating_sub(self.extra.0);
        match self.photometric {
            2 => colour_samples == 4 || (colour_samples == 3 && matches!(self.extra.1, 1 | 2)),
            0 | 1 => self.samples == 2,
            _ => false,
        }
    }
}

fn invalid(what: &str) -> Error {
    Error::decode(format!("Invalid TIFF: {what}"))
}

/// Reads the first directory of a classic or Big TIFF.
pub fn read(data: &[u8]) -> Result<Ifd> {
    let big_endian = data.starts_with(b"MM");
    let uint = |at: usize, n: usize| -> Result<u64> {
        let b = data
            .get(at..at + n)
            .ok_or_else(|| invalid("the first directory is truncated"))?;
        Ok(if big_endian {
            b.iter().fold(0, |v, &x| v << 8 | x as u64)
        } else {
            b.iter().rev().fold(0, |v, &x| v << 8 | x as u64)
        })
    };
    let big = uint(2, 2)? == 43;
    let (count_size, entry_size, value_size) = if big { (8, 20, 8) } else { (2, 12, 4) };
    let first = if big { uint(8, 8)? } else { uint(4, 4)? } as usize;
    let entries = uint(first, count_size)?;
    if entries > 4096 {
        return Err(invalid("the first directory has too many entries"));
    }
    let mut ifd = Ifd {
        width: 0,
        height: 0,
        orientation: 1,
        photometric: 1,
        samples: 1,
        extra: (0, 0),
        photometric_at: None,
        big_endian,
    };
    for i in 0..entries as usize {
        let at = first + count_size + i * entry_size;
        let (tag, kind) = (uint(at, 2)?, uint(at + 2, 2)?);
        let count = uint(at + 4, value_size)?;
        let value_at = at + 4 + value_size;
        let size = match kind {
            3 => 2,
            4 => 4,
            16 => 8,
            _ => continue,
        };
        // A value that does not fit in the entry is stored at the offset the entry holds.
        let first_value = if count as usize * size <= value_size {
            value_at
        } else {
            uint(value_at, value_size)? as usize
        };
        let value = uint(first_value, size)?;
        match tag {
            256 => ifd.width = u32::try_from(value).unwrap_or(u32::MAX),
            257 => ifd.height = u32::try_from(value).unwrap_or(u32::MAX),
            262 => {
                ifd.photometric = value as u16;
                ifd.photometric_at = (kind == 3).then_some(first_value);
            }
            274 if (1..=8).contains(&value) => ifd.orientation = value as u8,
            277 => ifd.samples = value as u16,
            338 => ifd.extra = (count.min(u32::MAX as u64) as u32, value as u16),
            _ => {}
        }
    }
    if ifd.width == 0 || ifd.height == 0 {
        return Err(invalid("the first directory has no image size"));
    }
    Ok(ifd)
}

/// A copy of the file whose first page claims another `PhotometricInterpretation`, or `None`
/// when the tag is not a SHORT stored in the entry.
pub fn with_photometric(data: &[u8], ifd: &Ifd, photometric: u16) -> Option<Vec<u8>> {
    let at = ifd.photometric_at?;
    let mut copy = data.to_vec();
    let bytes = if ifd.big_endian {
        photometric.to_be_bytes()
    } else {
        photometric.to_le_bytes()
    };
    copy.get_mut(at..at + 2)?.copy_from_slice(&bytes);
    Some(copy)
}
