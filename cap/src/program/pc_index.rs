//! The map from code offsets to indexes in a program's instruction stream.
//!
//! The stream holds its instructions in increasing pc order, so the index
//! of the instruction at `pc` is the number of stream pcs below it. The map
//! keeps one bit per code offset (is there an instruction here?) and, per
//! 64 offsets, the number of instructions before them: 1.5 bits per code
//! byte instead of a 32-bit index per byte, and a lookup is a popcount.

/// Offsets of the instruction stream, with the rank of each.
#[derive(Clone, Debug, Default)]
pub(crate) struct PcIndex {
    /// Bit `pc % 64` of word `pc / 64`: an instruction starts at `pc`.
    bits: Vec<u64>,
    /// Instructions before word `w`'s first offset.
    before: Vec<u32>,
}

impl PcIndex {
    /// An empty map for offsets `0..=len`.
    #[cfg(test)]
    pub(crate) fn with_len(len: usize) -> PcIndex {
        PcIndex { bits: vec![0; len / 64 + 1], before: Vec::new() }
    }

    /// A map for offsets `0..=len` with the instruction starts of the
    /// bitmask `mask` below `len` marked, a word at a time.
    pub(crate) fn from_starts(mask: &[u8], len: usize) -> PcIndex {
        let words = len / 64 + 1;
        let mut bits = Vec::with_capacity(words);
        bits.extend(mask.chunks(8).take(words).map(super::blob::word));
        bits.resize(words, 0);
        bits[len / 64] &= (1 << (len % 64)) - 1;
        PcIndex { bits, before: Vec::new() }
    }

    /// Records an instruction at `pc`, then [`PcIndex::finish`] is called
    /// once.
    #[inline]
    pub(crate) fn mark(&mut self, pc: usize) {
        self.bits[pc / 64] |= 1 << (pc % 64);
    }

    /// Computes the running counts after the last [`PcIndex::mark`].
    pub(crate) fn finish(&mut self) {
        let mut count = 0u32;
        self.before = self
            .bits
            .iter()
            .map(|&word| {
                let here = count;
                count += word.count_ones();
                here
            })
            .collect();
    }

    /// The stream index of the instruction at `pc`, if one starts there.
    #[inline]
    pub(crate) fn get(&self, pc: usize) -> Option<u32> {
        let word = *self.bits.get(pc / 64)?;
        let bit = 1u64 << (pc % 64);
        (word & bit != 0).then(|| self.before[pc / 64] + (word & (bit - 1)).count_ones())
    }
}

#[cfg(test)]
mod tests {
    use super::PcIndex;

    #[test]
    fn ranks_marked_offsets() {
        let marked = [0usize, 1, 5, 63, 64, 65, 200, 1000];
        let mut index = PcIndex::with_len(1000);
        for &pc in &marked {
            index.mark(pc);
        }
        index.finish();
        for pc in 0..=1100 {
            let expect = marked.iter().position(|&m| m == pc).map(|i| i as u32);
            assert_eq!(index.get(pc), expect, "pc {pc}");
        }
    }
}
