//! Entropy-coded bit reading and canonical Huffman decoding (ITU-T T.81 annex C), for the
//! DC-only decoder in [`super::dc`].

/// A canonical Huffman table (T.81 annex C), decoded with an 8-bit lookahead table and
/// libjpeg-style `maxcode` limits for longer codes.
pub(super) struct Huffman {
    /// (code length, value) for every 8-bit prefix; length 0 = longer code.
    fast: [(u8, u8); 256],
    /// Largest code of each length 1..=16, or -1.
    maxcode: [i32; 17],
    /// Index into `values` of the first code of each length, minus that code.
    offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    pub(super) fn new(counts: &[u8], values: &[u8]) -> Option<Huffman> {
        let mut h = Huffman {
            fast: [(0, 0); 256],
            maxcode: [-1; 17],
            offset: [0; 17],
            values: values.to_vec(),
        };
        let mut code = 0i32;
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = counts[len - 1] as usize;
            if n > 0 {
                h.offset[len] = k as i32 - code;
                for _ in 0..n {
                    if code >= 1 << len {
                        // more codes than the length allows: not a valid table
                        return None;
                    }
                    if len <= 8 {
                        let first = (code as usize) << (8 - len);
                        for e in &mut h.fast[first..first + (1 << (8 - len))] {
                            *e = (len as u8, *values.get(k)?);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                h.maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        (k <= values.len()).then_some(h)
    }
}

/// Reads entropy-coded bits, removing byte stuffing. At a marker or past the end of the slice
/// it feeds zero bits (as libjpeg does) and notes when the decoder actually consumed any of them.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
    /// Zero bits at the tail of `acc` that are not in the data.
    fake: u32,
    pub(super) overrun: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            acc: 0,
            n: 0,
            fake: 0,
            overrun: false,
        }
    }

    fn fill(&mut self) {
        while self.n <= 56 {
            let byte = match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                (Some(0xFF), Some(0)) => {
                    self.pos += 2;
                    0xFF
                }
                // never step over a marker: restart() expects to find it
                (Some(0xFF), _) | (None, _) => {
                    self.fake += 8;
                    0
                }
                (Some(&b), _) => {
                    self.pos += 1;
                    b
                }
            };
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    fn peek(&mut self, bits: u32) -> u32 {
        if self.n < bits {
            self.fill();
        }
        (self.acc >> (64 - bits)) as u32
    }

    fn skip(&mut self, bits: u32) {
        self.acc <<= bits;
        self.n -= bits;
        if self.n < self.fake {
            self.overrun = true;
            self.fake = self.n;
        }
    }

    pub(super) fn get(&mut self, bits: u32) -> u32 {
        if bits == 0 {
            return 0;
        }
        let v = self.peek(bits);
        self.skip(bits);
        v
    }

    pub(super) fn symbol(&mut self, h: &Huffman) -> Option<u8> {
        let (len, value) = h.fast[self.peek(8) as usize];
        if len > 0 {
            self.skip(u32::from(len));
            return Some(value);
        }
        for len in 9..=16u32 {
            let code = self.peek(len) as i32;
            if code <= h.maxcode[len as usize] {
                self.skip(len);
                return h
                    .values
                    .get((h.offset[len as usize] + code) as usize)
                    .copied();
            }
        }
        None
    }

    /// At a restart interval: drop the padding bits and step over the RSTn marker. Every data
    /// byte before the marker is already in the accumulator, because `fill` stops at markers.
    pub(super) fn restart(&mut self) -> Option<()> {
        self.acc = 0;
        self.n = 0;
        self.fake = 0;
        while self.data.get(self.pos) == Some(&0xFF) && self.data.get(self.pos + 1) == Some(&0xFF) {
            self.pos += 1;
        }
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xFF), Some(0xD0..=0xD7)) => {
                self.pos += 2;
                Some(())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_codes_decode_and_overfull_tables_are_rejected() {
        // lengths: one 2-bit code, two 3-bit codes (00 → 5, 010 → 6, 011 → 7)
        let mut counts = [0u8; 16];
        counts[1] = 1;
        counts[2] = 2;
        let h = Huffman::new(&counts, &[5, 6, 7]).unwrap();
        let data = [0b0001_0011, 0b1000_0000];
        let mut bits = Bits::new(&data);
        assert_eq!(bits.symbol(&h), Some(5));
        assert_eq!(bits.symbol(&h), Some(6));
        assert_eq!(bits.symbol(&h), Some(7));
        assert!(!bits.overrun);
        // five 2-bit codes cannot exist
        let mut counts = [0u8; 16];
        counts[1] = 5;
        assert!(Huffman::new(&counts, &[0, 1, 2, 3, 4]).is_none());
    }

    #[test]
    fn reading_past_the_data_is_reported() {
        let mut bits = Bits::new(&[0xAB]);
        assert_eq!(bits.get(8), 0xAB);
        assert!(!bits.overrun);
        assert_eq!(bits.get(1), 0);
        assert!(bits.overrun);
    }
}
