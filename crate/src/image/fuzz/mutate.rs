//! Mutations of valid seed images, and the PRNG that picks them (xorshift64*, so a seed
//! reproduces a run on every platform).

/// A small deterministic PRNG.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is mapped to a non-zero state).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Format knowledge the mutator may use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Bytes only.
    Raw,
    /// JPEG: also inserts marker segments and repeats scans.
    Jpeg,
    /// PNG: also fixes chunk CRCs afterwards, so mutations get past the checksum.
    Png,
}

const INTERESTING: [u16; 9] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF];
/// Marker codes worth inserting: SOFn, DHT, DAC, RSTn, SOI, EOI, SOS, DQT, DNL, DRI, APPn, COM.
const MARKERS: [u8; 16] = [
    0xC0, 0xC1, 0xC2, 0xC4, 0xC9, 0xCC, 0xD0, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xE1, 0xFE,
];

/// One to four mutations of a random seed.
pub(crate) fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], kind: Kind) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        step(rng, &mut data, seeds, kind);
    }
    if kind == Kind::Png && rng.below(8) != 0 {
        fix_png_crcs(&mut data);
    }
    data
}

fn step(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], kind: Kind) {
    if data.is_empty() {
        data.push(rng.next() as u8);
        return;
    }
    let len = data.len();
    let at = rng.below(len);
    match rng.below(if kind == Kind::Jpeg { 10 } else { 8 }) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data[at] = rng.next() as u8,
        2 => {
            let v = INTERESTING[rng.below(INTERESTING.len())].to_be_bytes();
            let end = (at + 2).min(len);
            data[at..end].copy_from_slice(&v[..end - at]);
        }
        3 => data.truncate(at),
        4 => {
            let end = (at + 1 + rng.below(64)).min(len);
            data.drain(at..end);
        }
        5 => {
            // repeat a range, as the scan bomb repeats its last scan
            let end = (at + 1 + rng.below(256)).min(len);
            let chunk = data[at..end].to_vec();
            for _ in 0..1 + rng.below(8) {
                data.splice(end..end, chunk.iter().copied());
            }
        }
        6 => {
            // splice: a prefix of this input, a suffix of another seed
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len());
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        7 => {
            let v = (rng.next() as u32).to_be_bytes();
            let end = (at + 4).min(len);
            data[at..end].copy_from_slice(&v[..end - at]);
        }
        8 => {
            let marker = MARKERS[rng.below(MARKERS.len())];
            let body = rng.below(24);
            let mut seg = vec![0xFF, marker];
            seg.extend_from_slice(&((body + 2) as u16).to_be_bytes());
            seg.extend((0..body).map(|_| rng.next() as u8));
            data.splice(at..at, seg);
        }
        _ => {
            // move to just before a random 0xFF, the start of a marker, and repeat from there
            if let Some(p) = data[at..].iter().position(|&b| b == 0xFF) {
                let start = at + p;
                let end = (start + 2 + rng.below(512)).min(len);
                let chunk = data[start..end].to_vec();
                data.splice(start..start, chunk);
            }
        }
    }
}

/// Recomputes every chunk CRC, so a mutated PNG is judged on its content.
pub(super) fn fix_png_crcs(data: &mut [u8]) {
    let mut pos = 8;
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let Some(end) = (pos + 8).checked_add(len).filter(|&e| e + 4 <= data.len()) else {
            return;
        };
        let crc = crc32(&data[pos + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        pos = end + 4;
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB88320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_crc_matches_the_standard_check_value() {
        // CRC-32 of "123456789" (ISO 3309 / PNG annex D check value)
        assert_eq!(crc32(b"123456789"), 0xCBF43926);
    }

    #[test]
    fn a_seed_reproduces_the_same_mutations() {
        let seeds = vec![(0..200u8).collect::<Vec<u8>>()];
        let a: Vec<Vec<u8>> = {
            let mut r = Rng::new(7);
            (0..20)
                .map(|_| mutate(&mut r, &seeds, Kind::Jpeg))
                .collect()
        };
        let mut r = Rng::new(7);
        let b: Vec<Vec<u8>> = (0..20)
            .map(|_| mutate(&mut r, &seeds, Kind::Jpeg))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|m| m != &seeds[0]));
    }
}
