//! A bounds-checked ISOBMFF box reader: the few boxes of HEIF (ISO/IEC 23008-12) and MP4
//! (ISO/IEC 14496-12) that locate an AVIF's coded image and describe how to show it.
//!
//! Every read is checked against the end of its box, so a hostile size field ends in an error,
//! never an out-of-range slice or an allocation sized by the file.

use crate::error::{Error, Result};

/// A cursor over one box's payload.
#[derive(Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

fn truncated() -> Error {
    Error::decode("Invalid AVIF: a box is truncated")
}

impl<'a> Reader<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(truncated());
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.data[self.pos..];
        self.pos = self.data.len();
        s
    }

    /// A big-endian unsigned integer of `n` (0, 1, 2, 4 or 8) bytes.
    pub fn uint(&mut self, n: usize) -> Result<u64> {
        if n > 8 {
            return Err(Error::decode(
                "Invalid AVIF: integer field wider than 8 bytes",
            ));
        }
        Ok(self
            .bytes(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    /// Big-endian u16.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(self.uint(2)? as u16)
    }

    /// Big-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(self.uint(4)? as u32)
    }

    /// A full box's version and flags.
    pub fn full_header(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00FF_FFFF))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    /// Skips a NUL-terminated string.
    pub fn skip_cstr(&mut self) -> Result<&'a [u8]> {
        let rest = &self.data[self.pos..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        self.pos += (end + 1).min(rest.len());
        Ok(&rest[..end])
    }

    /// The next child box: `(type, payload, offset of the payload in the outer slice)`.
    pub fn next_box(&mut self) -> Result<Option<(&'a [u8; 4], Reader<'a>)>> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let start = self.pos;
        let size = self.u32()? as u64;
        let kind: &[u8; 4] = self.bytes(4)?.try_into().expect("4 bytes");
        let header = (self.pos - start) as u64;
        let (size, header) = match size {
            0 => ((self.data.len() - start) as u64, header),
            1 => (self.uint(8)?, header + 8),
            n => (n, header),
        };
        if size < header || size - header > self.remaining() as u64 {
            return Err(truncated());
        }
        let payload = self.bytes((size - header) as usize)?;
        Ok(Some((kind, Reader::new(payload))))
    }

    /// Finds the first child of type `kind`.
    pub fn find(&self, kind: &[u8; 4]) -> Result<Option<Reader<'a>>> {
        let mut r = self.clone();
        while let Some((k, b)) = r.next_box()? {
            if k == kind {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }
}

/// The brands of an `ftyp` box at the start of `data` (major brand first), or `None` when the
/// file does not start with one.
pub fn brands(data: &[u8]) -> Option<Vec<[u8; 4]>> {
    let mut r = Reader::new(data);
    let (kind, mut ftyp) = r.next_box().ok()??;
    if kind != b"ftyp" {
        return None;
    }
    let major: [u8; 4] = ftyp.bytes(4).ok()?.try_into().ok()?;
    ftyp.skip(4).ok()?;
    let mut out = vec![major];
    while let Ok(b) = ftyp.bytes(4) {
        out.push(b.try_into().ok()?);
    }
    Some(out)
}

/// Whether the first bytes are an ISOBMFF `ftyp` box, even when it is cut short (a sniffed
/// prefix): size, then `ftyp`.
pub fn starts_with_ftyp(data: &[u8]) -> bool {
    data.len() >= 12 && &data[4..8] == b"ftyp"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn walks_children_and_refuses_oversized_boxes() {
        let mut data = boxed(b"abcd", &[1, 2, 3]);
        data.extend(boxed(b"wxyz", &[9]));
        let r = Reader::new(&data);
        let mut w = r.find(b"wxyz").unwrap().unwrap();
        assert_eq!(w.u8().unwrap(), 9);
        assert!(r.find(b"none").unwrap().is_none());
        let mut bad = boxed(b"abcd", &[1]);
        bad[3] = 200;
        assert!(Reader::new(&bad).next_box().is_err());
    }

    #[test]
    fn reads_brands() {
        let data = boxed(b"ftyp", b"avif\0\0\0\0mif1miaf");
        assert_eq!(brands(&data).unwrap(), vec![*b"avif", *b"mif1", *b"miaf"]);
        assert!(brands(b"\0\0\0\x08free").is_none());
    }
}
