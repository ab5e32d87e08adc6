//! One pass from a code blob to a [`Program`](super::Program)'s tables: the
//! instruction starts come from the bitmask a word at a time, and each one
//! is validated (P8), decoded, indexed and placed in its block as it is
//! met, with no table built only to be read back later.

use super::blob::{CodeBlob, MAX_SKIP};
use super::decode::{Instruction, decode_operands};
use super::decoded::{Block, NO_INDEX};
use super::error::ProgramError;
use super::isa::{Opcode, Profile};
use super::pc_index::PcIndex;

/// Where a [`Program`](super::Program)'s tables come from and go back to
/// when it is dropped.
pub(super) mod pools {
    use super::{Block, Instruction};
    use crate::recycle::Pool;

    pub static INSTRUCTIONS: Pool<Instruction> = Pool::new();
    pub static BLOCKS: Pool<Block> = Pool::new();
    pub static INDEXES: Pool<u32> = Pool::new();
}

/// The tables [`build`] produces (block costs still zero).
pub(super) struct Tables {
    pub instructions: Vec<Instruction>,
    pub pc_index: PcIndex,
    pub blocks: Vec<Block>,
    pub block_of: Vec<u32>,
    pub run_ends: Vec<u32>,
}

/// Builds the instruction stream and its blocks (see
/// [`Program`](super::Program)), validating P8 on the way (spec §4.2):
/// code 0 must be a start and every start a valid opcode at most
/// `1 + MAX_SKIP` bytes before the next (or the end).
pub(super) fn build(blob: &CodeBlob, profile: Profile) -> Result<Tables, ProgramError> {
    let len = blob.code.len();
    if profile == Profile::P8 {
        if len == 0 {
            return Err(ProgramError::EmptyCode);
        }
        if blob.mask.first().is_none_or(|&b| b & 1 == 0) {
            return Err(ProgramError::NotInstructionStart { pc: 0 });
        }
    }
    let starts: usize = blob.mask.chunks(8).map(|c| word(c).count_ones() as usize).sum();
    let mut b = Builder {
        blob,
        profile,
        tables: Tables {
            instructions: pools::INSTRUCTIONS.take(starts + 1),
            pc_index: PcIndex::with_len(len),
            blocks: pools::BLOCKS.take(starts / 2 + 1),
            block_of: pools::INDEXES.take(starts + 1),
            run_ends: pools::INDEXES.take(starts + 1),
        },
        target_pc: 0,
        open: None,
    };
    // The start before the one being looked at, decoded once its successor
    // (and so its length) is known.
    let mut previous: Option<usize> = None;
    for (w, chunk) in blob.mask.chunks(8).enumerate() {
        let mut bits = word(chunk);
        while bits != 0 {
            let pc = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if pc >= len {
                break;
            }
            if let Some(at) = previous {
                b.instruction(at, pc)?;
            }
            previous = Some(pc);
        }
    }
    match previous {
        Some(at) => b.instruction(at, len)?,
        // No instruction starts at all: only the trap at the end.
        None => b.push(Instruction::trap(len as u32), false),
    }
    let mut tables = b.tables;
    tables.pc_index.finish();
    // The stream ends with a `trap`, so this never adds anything.
    let n = tables.instructions.len();
    tables.run_ends.resize(n, n as u32);
    debug_assert!(
        tables.instructions.iter().enumerate().all(|(i, ins)| tables.pc_index.get(ins.pc as usize) == Some(i as u32))
    );
    Ok(tables)
}

/// Up to 8 bytes of the bitmask as one little-endian word.
#[inline]
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..chunk.len()].copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

struct Builder<'b> {
    blob: &'b CodeBlob,
    profile: Profile,
    tables: Tables,
    /// Where the last valid terminator continues: a block start if a valid
    /// instruction starts there ([`NO_INDEX`] after a non-terminator). Code
    /// offset 0 starts a block the same way.
    target_pc: u32,
    /// The block whose terminator has not been met yet.
    open: Option<usize>,
}

impl Builder<'_> {
    /// The instruction starting at `pc`, the next start being `next_start`
    /// (or the end of the code), and the `trap` where execution falls if
    /// its length stops short of `next_start`.
    #[inline(always)]
    fn instruction(&mut self, pc: usize, next_start: usize) -> Result<(), ProgramError> {
        let code = &self.blob.code;
        let byte = code[pc];
        let raw = Opcode::from_code(self.profile, byte);
        let gap = next_start - pc - 1;
        if self.profile == Profile::P8 {
            if raw.is_none() {
                return Err(ProgramError::InvalidOpcode { pc: pc as u32, byte });
            }
            if gap > MAX_SKIP as usize {
                return Err(ProgramError::NotInstructionStart { pc: pc as u32 + 1 + MAX_SKIP });
            }
        }
        let skip = (gap as u32).min(MAX_SKIP);
        let is_target = raw.is_some() && self.target_pc == pc as u32;
        let ins = match raw {
            Some(op) => decode_operands(code, op, pc as u32, skip),
            None => Instruction::trap(pc as u32),
        };
        self.target_pc = if raw.is_some_and(Opcode::is_terminator) { ins.next_pc } else { NO_INDEX };
        self.push(ins, is_target);
        let next = ins.next_pc as usize;
        // Past the last start, the end of the code is such a place too.
        if next < next_start || next == code.len() {
            self.push(Instruction::trap(next as u32), false);
        }
        Ok(())
    }

    /// Appends `ins` to the stream, opening a block at it if it is a block
    /// start (`is_target`) or the first instruction.
    #[inline(always)]
    fn push(&mut self, ins: Instruction, is_target: bool) {
        let t = &mut self.tables;
        let i = t.instructions.len() as u32;
        if is_target || t.blocks.is_empty() {
            t.blocks.push(Block { pc: ins.pc, first: i, end: i, cost: 0, is_target });
            self.open = Some(t.blocks.len() - 1);
        }
        t.pc_index.mark(ins.pc as usize);
        t.block_of.push(t.blocks.len() as u32 - 1);
        if ins.opcode.is_terminator() {
            t.run_ends.resize(i as usize + 1, i + 1);
            if let Some(b) = self.open.take() {
                t.blocks[b].end = i + 1;
            }
        }
        t.instructions.push(ins);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::decode::decode_at;

    /// Stream, blocks as `(pc, first, end, is_target)`, block of each
    /// instruction, run ends.
    type Reference = (Vec<Instruction>, Vec<(u32, u32, u32, bool)>, Vec<u32>, Vec<u32>);

    /// The stream and blocks straight from their definitions, a byte at a
    /// time: every start decoded with [`decode_at`], a `trap` wherever an
    /// instruction's successor is not the next start, blocks opened at
    /// valid starts after valid terminators.
    fn reference(blob: &CodeBlob, profile: Profile) -> Reference {
        let len = blob.code.len();
        let starts: Vec<usize> = (0..len).filter(|&pc| blob.is_start_bit(pc)).collect();
        let valid =
            |pc: usize| pc < len && blob.is_start_bit(pc) && Opcode::from_code(profile, blob.code[pc]).is_some();
        let mut stream = Vec::new();
        let mut target = vec![false; len + 1];
        target[0] = valid(0);
        for (k, &pc) in starts.iter().enumerate() {
            let ins = decode_at(blob, profile, pc as u32);
            stream.push(ins);
            let next_start = starts.get(k + 1).copied().unwrap_or(len);
            let next = ins.next_pc as usize;
            if Opcode::from_code(profile, blob.code[pc]).is_some_and(Opcode::is_terminator) && valid(next) {
                target[next] = true;
            }
            if next < next_start || next == len {
                stream.push(Instruction::trap(next as u32));
            }
        }
        if stream.is_empty() {
            stream.push(Instruction::trap(len as u32));
        }
        let (mut blocks, mut block_of, mut run_ends) = (Vec::new(), Vec::new(), Vec::new());
        let mut open = false;
        for (i, ins) in stream.iter().enumerate() {
            let t = target[ins.pc as usize];
            if t || blocks.is_empty() {
                blocks.push((ins.pc, i as u32, i as u32, t));
                open = true;
            }
            block_of.push(blocks.len() as u32 - 1);
            let end = (i..stream.len()).find(|&j| stream[j].opcode.is_terminator()).unwrap() as u32 + 1;
            run_ends.push(end);
            if ins.opcode.is_terminator() && open {
                blocks.last_mut().unwrap().2 = i as u32 + 1;
                open = false;
            }
        }
        (stream, blocks, block_of, run_ends)
    }

    #[test]
    fn matches_the_definitions_on_random_code() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = [0; 2];
        for case in 0..3000 {
            let len = (next() % 120) as usize;
            // Mostly opcodes that exist, with terminators common.
            let code: Vec<u8> =
                (0..len).map(|_| [0, 1, 40, 51, 81, 149, 190, 2, 111, 255][next() as usize % 10]).collect();
            let density = 1 + next() % 6;
            let mut starts: Vec<usize> = (0..len).filter(|_| next() % density == 0).collect();
            if case % 2 == 0 && len > 0 && starts.first() != Some(&0) {
                starts.insert(0, 0);
            }
            let blob = CodeBlob::from_parts(code, starts, vec![]);
            for (p, profile) in Profile::ALL.into_iter().enumerate() {
                let Ok(t) = build(&blob, profile) else { continue };
                checked[p] += 1;
                let (stream, blocks, block_of, run_ends) = reference(&blob, profile);
                assert_eq!(t.instructions, stream, "case {case} {profile:?}");
                let got: Vec<_> = t.blocks.iter().map(|b| (b.pc, b.first, b.end, b.is_target)).collect();
                assert_eq!(got, blocks, "case {case} {profile:?}");
                assert_eq!(t.block_of, block_of, "case {case} {profile:?}");
                assert_eq!(t.run_ends, run_ends, "case {case} {profile:?}");
            }
        }
        assert!(checked.iter().all(|&n| n > 200), "valid programs per profile: {checked:?}");
    }
}
