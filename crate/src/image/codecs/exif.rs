//! EXIF orientation from a raw TIFF payload (the bytes after `Exif\0\0` in JPEG APP1, or the
//! whole PNG `eXIf` / WebP `EXIF` chunk).
//!
//! Only the orientation tag matters to the pipeline; every other field is dropped because
//! thumbnails are always written without metadata.

/// Reads the orientation tag (1..=8) from a TIFF-structured EXIF payload.
///
/// Returns 1 (upright) when the payload is missing, malformed or the value is out of range: a
/// broken EXIF block must never make an otherwise decodable image fail.
pub fn orientation_from_tiff(tiff: &[u8]) -> u8 {
    // Some writers keep the JPEG-style `Exif\0\0` prefix inside PNG/WebP chunks.
    let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
    if tiff.len() < 8 {
        return 1;
    }
    let Ok(parsed) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return 1;
    };
    parsed
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|v| (1..=8).contains(v))
        .map(|v| v as u8)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal big- or little-endian TIFF with one IFD holding only the orientation tag.
    pub(crate) fn tiff_with_orientation(value: u16, little: bool) -> Vec<u8> {
        let w16 = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let w32 = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut t = Vec::new();
        t.extend_from_slice(if little { b"II" } else { b"MM" });
        t.extend_from_slice(&w16(42));
        t.extend_from_slice(&w32(8));
        t.extend_from_slice(&w16(1));
        t.extend_from_slice(&w16(0x0112));
        t.extend_from_slice(&w16(3));
        t.extend_from_slice(&w32(1));
        t.extend_from_slice(&w16(value));
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&w32(0));
        t
    }

    #[test]
    fn reads_every_orientation_in_both_byte_orders() {
        for o in 1..=8u16 {
            assert_eq!(
                orientation_from_tiff(&tiff_with_orientation(o, true)),
                o as u8
            );
            assert_eq!(
                orientation_from_tiff(&tiff_with_orientation(o, false)),
                o as u8
            );
        }
    }

    #[test]
    fn accepts_the_jpeg_style_prefix() {
        let mut data = b"Exif\0\0".to_vec();
        data.extend(tiff_with_orientation(6, false));
        assert_eq!(orientation_from_tiff(&data), 6);
    }

    #[test]
    fn falls_back_to_upright_on_garbage_or_out_of_range() {
        assert_eq!(orientation_from_tiff(b""), 1);
        assert_eq!(orientation_from_tiff(b"not a tiff at all"), 1);
        assert_eq!(orientation_from_tiff(&tiff_with_orientation(9, true)), 1);
        assert_eq!(orientation_from_tiff(&tiff_with_orientation(0, true)), 1);
    }
}
