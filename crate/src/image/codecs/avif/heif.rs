//! The HEIF side of AVIF: which item is the picture, where its AV1 data lies, which item is its
//! alpha plane, and the properties that say how to show it (`ispe`, `colr`,
//! `clap`, `irot`, `imir`). Image sequences (`avis`) without a primary item fall back to the
//! first sample of their first track.
//!
//! Property semantics follow ISO/IEC 23008-12:2022 (HEIF) and the AVIF specification (AOM,
//! v1.1.0): transformations apply in the order clean aperture, rotation, mirror.

use super::boxes::Reader;
use super::track::first_sample;
use crate::error::{Error, Result};

const ALPHA_URNS: [&[u8]; 2] = [
    b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
    b"urn:mpeg:hevc:2015:auxid:1",
];

/// Colour description from an `nclx` `colr` box (ITU-T H.273 code points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nclx {
    /// Colour primaries.
    pub primaries: u16,
    /// Transfer characteristics.
    pub transfer: u16,
    /// Matrix coefficients.
    pub matrix: u16,
    /// Full (true) or studio (false) range.
    pub full_range: bool,
}

/// A clean aperture as a whole-pixel crop of the decoded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// Left edge.
    pub left: u32,
    /// Top edge.
    pub top: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Properties of one coded image item.
#[derive(Debug, Clone, Default)]
pub struct Props {
    /// `ispe` width and height.
    pub size: Option<(u32, u32)>,
    /// `colr` nclx.
    pub nclx: Option<Nclx>,
    /// `colr` ICC profile.
    pub icc: Option<Vec<u8>>,
    /// `clap`, as read (numerators and denominators).
    pub clap: Option<[i64; 8]>,
    /// `irot` angle in quarter turns anti-clockwise.
    pub rotation: u8,
    /// `imir` axis: 0 = vertical axis (left and right swap), 1 = horizontal axis.
    pub mirror: Option<u8>,
    /// Whether `auxC` names an alpha plane.
    pub is_alpha: bool,
}

/// The parts of a file the decoder needs.
#[derive(Debug, Clone, Default)]
pub struct Container<'a> {
    /// AV1 data of the colour image.
    pub color: &'a [u8],
    /// AV1 data of the alpha plane.
    pub alpha: Option<&'a [u8]>,
    /// Whether colour is premultiplied by alpha (`prem` reference).
    pub premultiplied: bool,
    /// Properties of the colour image.
    pub props: Props,
    /// Frames of a sequence (1 for a still image).
    pub frames: u32,
}

#[derive(Debug, Clone, Default)]
struct Item {
    id: u32,
    kind: [u8; 4],
    method: u8,
    base: u64,
    extents: Vec<(u64, u64)>,
    props: Vec<u16>,
}

/// Parses the whole file.
pub fn parse(data: &[u8]) -> Result<Container<'_>> {
    let top = Reader::new(data);
    if let Some(meta) = top.find(b"meta")? {
        if let Some(c) = parse_meta(data, meta)? {
            let frames = match top.find(b"moov")? {
                Some(moov) => first_sample(data, moov).map(|s| s.1).unwrap_or(1),
                None => 1,
            };
            return Ok(Container { frames, ..c });
        }
    }
    let moov = top
        .find(b"moov")?
        .ok_or_else(|| Error::decode("Invalid AVIF: no primary image and no image sequence"))?;
    let ((color, props), frames) = first_sample(data, moov)?;
    Ok(Container {
        color,
        props,
        frames,
        ..Container::default()
    })
}

fn parse_meta<'a>(data: &'a [u8], mut meta: Reader<'a>) -> Result<Option<Container<'a>>> {
    meta.full_header()?;
    let mut primary = None;
    let mut items: Vec<Item> = Vec::new();
    let mut props: Vec<Props> = Vec::new();
    let mut refs: Vec<([u8; 4], u32, Vec<u32>)> = Vec::new();
    let mut idat: &[u8] = &[];
    while let Some((kind, mut b)) = meta.next_box()? {
        match kind {
            b"pitm" => {
                let (v, _) = b.full_header()?;
                primary = Some(if v == 0 { b.u16()? as u32 } else { b.u32()? });
            }
            b"iloc" => parse_iloc(&mut b, &mut items)?,
            b"iinf" => parse_iinf(&mut b, &mut items)?,
            b"iref" => {
                let (v, _) = b.full_header()?;
                let id_size = if v == 0 { 2 } else { 4 };
                while let Some((k, mut r)) = b.next_box()? {
                    let from = r.uint(id_size)? as u32;
                    let n = r.u16()?;
                    let to = (0..n)
                        .map(|_| r.uint(id_size).map(|v| v as u32))
                        .collect::<Result<Vec<_>>>()?;
                    refs.push((*k, from, to));
                }
            }
            b"iprp" => {
                if let Some(mut ipco) = b.find(b"ipco")? {
                    while let Some((k, r)) = ipco.next_box()? {
                        props.push(parse_property(k, r)?);
                    }
                }
                let mut iprp = b.clone();
                while let Some((k, mut r)) = iprp.next_box()? {
                    if k == b"ipma" {
                        parse_ipma(&mut r, &mut items)?;
                    }
                }
            }
            b"idat" => idat = b.rest(),
            _ => {}
        }
    }
    let Some(primary) = primary else {
        return Ok(None);
    };
    let item = items
        .iter()
        .find(|i| i.id == primary)
        .ok_or_else(|| Error::decode("Invalid AVIF: the primary item is not described"))?;
    match &item.kind {
        b"av01" => {}
        b"grid" => {
            return Err(Error::new(
                crate::error::ErrorCode::UnsupportedFormat,
                "AVIF grid (tiled) images are not supported; re-encode the file without --grid",
            ))
        }
        other => {
            return Err(Error::new(
                crate::error::ErrorCode::UnsupportedFormat,
                format!(
                    "The primary image of this HEIF file is {:?}, not AV1; only AVIF is supported (HEIC is not)",
                    String::from_utf8_lossy(other)
                ),
            ))
        }
    }
    let collect = |it: &Item| -> Props {
        let mut p = Props::default();
        for &i in &it.props {
            if let Some(q) = props.get(i as usize - 1) {
                merge(&mut p, q);
            }
        }
        p
    };
    let color_props = collect(item);
    let color = item_data(data, idat, item)?;
    let alpha_item = refs
        .iter()
        .filter(|(k, _, to)| k == b"auxl" && to.contains(&primary))
        .filter_map(|(_, from, _)| items.iter().find(|i| i.id == *from))
        .find(|i| i.kind == *b"av01" && collect(i).is_alpha);
    let (alpha, premultiplied) = match alpha_item {
        Some(a) => (
            Some(item_data(data, idat, a)?),
            refs.iter()
                .any(|(k, from, to)| k == b"prem" && *from == primary && to.contains(&a.id)),
        ),
        None => (None, false),
    };
    Ok(Some(Container {
        color,
        alpha,
        premultiplied,
        props: color_props,
        frames: 1,
    }))
}

fn merge(p: &mut Props, q: &Props) {
    p.size = p.size.or(q.size);
    p.nclx = p.nclx.or(q.nclx);
    if p.icc.is_none() {
        p.icc.clone_from(&q.icc);
    }
    p.clap = p.clap.or(q.clap);
    p.rotation = p.rotation.max(q.rotation);
    p.mirror = p.mirror.or(q.mirror);
    p.is_alpha |= q.is_alpha;
}

fn parse_property(kind: &[u8; 4], mut r: Reader<'_>) -> Result<Props> {
    let mut p = Props::default();
    match kind {
        b"ispe" => {
            r.full_header()?;
            p.size = Some((r.u32()?, r.u32()?));
        }
        b"colr" => match r.bytes(4)? {
            b"nclx" => {
                p.nclx = Some(Nclx {
                    primaries: r.u16()?,
                    transfer: r.u16()?,
                    matrix: r.u16()?,
                    full_range: r.u8()? & 0x80 != 0,
                })
            }
            b"prof" | b"rICC" => p.icc = Some(r.rest().to_vec()),
            _ => {}
        },
        b"clap" => {
            let mut v = [0i64; 8];
            for (i, x) in v.iter_mut().enumerate() {
                let raw = r.u32()?;
                // Offsets (fields 4 and 6) are signed; sizes and denominators are unsigned.
                *x = if i == 4 || i == 6 {
                    raw as i32 as i64
                } else {
                    raw as i64
                };
            }
            p.clap = Some(v);
        }
        b"irot" => p.rotation = r.u8()? & 3,
        b"imir" => p.mirror = Some(r.u8()? & 1),
        b"auxC" => {
            r.full_header()?;
            let urn = r.skip_cstr()?;
            p.is_alpha = ALPHA_URNS.contains(&urn);
        }
        _ => {}
    }
    Ok(p)
}

fn item_mut(items: &mut Vec<Item>, id: u32) -> &mut Item {
    if let Some(i) = items.iter().position(|i| i.id == id) {
        return &mut items[i];
    }
    items.push(Item {
        id,
        ..Item::default()
    });
    items.last_mut().expect("just pushed")
}

fn parse_iloc(r: &mut Reader<'_>, items: &mut Vec<Item>) -> Result<()> {
    let (v, _) = r.full_header()?;
    let sizes = r.u16()?;
    let (off_size, len_size) = ((sizes >> 12) as usize, ((sizes >> 8) & 15) as usize);
    let base_size = ((sizes >> 4) & 15) as usize;
    let index_size = if v >= 1 { (sizes & 15) as usize } else { 0 };
    let count = if v < 2 { r.u16()? as u32 } else { r.u32()? };
    for _ in 0..count {
        let id = if v < 2 { r.u16()? as u32 } else { r.u32()? };
        let method = if v >= 1 { (r.u16()? & 15) as u8 } else { 0 };
        r.skip(2)?;
        let base = r.uint(base_size)?;
        let n = r.u16()?;
        let mut extents = Vec::new();
        for _ in 0..n {
            r.uint(index_size)?;
            extents.push((r.uint(off_size)?, r.uint(len_size)?));
        }
        let it = item_mut(items, id);
        (it.method, it.base, it.extents) = (method, base, extents);
    }
    Ok(())
}

fn parse_iinf(r: &mut Reader<'_>, items: &mut Vec<Item>) -> Result<()> {
    let (v, _) = r.full_header()?;
    r.skip(if v == 0 { 2 } else { 4 })?;
    while let Some((kind, mut e)) = r.next_box()? {
        if kind != b"infe" {
            continue;
        }
        let (v, _) = e.full_header()?;
        if v < 2 {
            continue;
        }
        let id = if v == 2 { e.u16()? as u32 } else { e.u32()? };
        e.skip(2)?;
        let k: [u8; 4] = e.bytes(4)?.try_into().expect("4 bytes");
        item_mut(items, id).kind = k;
    }
    Ok(())
}

fn parse_ipma(r: &mut Reader<'_>, items: &mut Vec<Item>) -> Result<()> {
    let (v, flags) = r.full_header()?;
    let count = r.u32()?;
    for _ in 0..count {
        let id = if v < 1 { r.u16()? as u32 } else { r.u32()? };
        let n = r.u8()?;
        let mut indices = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let idx = if flags & 1 != 0 {
                r.u16()? & 0x7FFF
            } else {
                (r.u8()? & 0x7F) as u16
            };
            if idx > 0 {
                indices.push(idx);
            }
        }
        item_mut(items, id).props.extend(indices);
    }
    Ok(())
}

/// The item's bytes; one extent is borrowed as is (what every encoder writes).
fn item_data<'a>(file: &'a [u8], idat: &'a [u8], item: &Item) -> Result<&'a [u8]> {
    let source = match item.method {
        0 => file,
        1 => idat,
        _ => {
            return Err(Error::decode(
                "Invalid AVIF: unsupported item construction method",
            ))
        }
    };
    let out_of_range =
        || Error::decode("Invalid AVIF: item data lies outside the file (truncated?)");
    match item.extents.as_slice() {
        [(offset, len)] => {
            let start = item.base.checked_add(*offset).ok_or_else(out_of_range)?;
            let end = if *len == 0 {
                source.len() as u64
            } else {
                start.checked_add(*len).ok_or_else(out_of_range)?
            };
            if end > source.len() as u64 || start > end {
                return Err(out_of_range());
            }
            Ok(&source[start as usize..end as usize])
        }
        _ => Err(Error::decode(
            "Invalid AVIF: image data split into several extents is not supported",
        )),
    }
}
