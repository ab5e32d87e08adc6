//! From a code blob to a [`Program`](super::Program)'s tables in one pass
//! over the code: the instruction starts come from the bitmask a word at a
//! time, and each one's opcode byte is validated (P8) and read for where
//! runs end. The blocks and the per-instruction tables are then filled
//! from those notes, a block or a run at a time. Operands are decoded
//! later, a span at a time ([`decode_span`], [`super::spans`]).

use super::blob::{CodeBlob, MAX_SKIP, word};
use super::block::Block;
use super::decode::{Instruction, decode_operands};
use super::error::ProgramError;
use super::isa::{Opcode, Profile};
use super::pc_index::PcIndex;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Where a [`Program`](super::Program)'s tables come from and go back to
/// when it is dropped.
pub(super) mod pools {
    use super::{Block, Instruction};
    use crate::recycle::Pool;

    pub static INSTRUCTIONS: Pool<Instruction> = Pool::new();
    pub static BLOCKS: Pool<Block> = Pool::new();
    pub static INDEXES: Pool<u32> = Pool::new();
    /// For the run ends and `trap`s noted while laying out.
    pub static ENDS: Pool<u64> = Pool::new();
    pub static MARKS: Pool<u32> = Pool::new();
}

/// The tables [`build`] produces: the layout of the instruction stream,
/// and the stream itself when decoded eagerly (else [`decode_span`]
/// decodes it later).
pub(super) struct Tables {
    /// How many instructions the stream holds.
    pub len: usize,
    pub instructions: Option<Vec<Instruction>>,
    pub pc_index: PcIndex,
    pub blocks: Vec<Block>,
    pub block_of: Vec<u32>,
    pub run_ends: Vec<u32>,
}

/// Lays out the instruction stream and its blocks (see
/// [`Program`](super::Program)), validating P8 on the way (spec §4.2):
/// code 0 must be a start and every start a valid opcode at most
/// `1 + MAX_SKIP` bytes before the next (or the end).
///
/// Two passes: [`scan`] reads each start's opcode byte and the next start,
/// notes where runs end (and the `trap`s made for non-starts) and, when
/// `decode` is set, decodes the stream on the way; [`blocks`] then derives
/// the blocks and fills the per-instruction tables a run at a time.
pub(super) fn build(blob: &CodeBlob, profile: Profile, decode: bool) -> Result<Tables, ProgramError> {
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
    // Every start gives its instruction and, in P7, maybe a `trap` after it
    // (in P8 the starts are at most `1 + MAX_SKIP` apart, so only the last
    // is followed by one); with no start at all there is the final `trap`.
    let most = match profile {
        Profile::P8 => starts + 1,
        Profile::P7 => 2 * starts + 1,
    };
    let mut marks = Marks { ends: Notched::new(most), traps: pools::MARKS.take(0), first_pc: 0 };
    let mut pc_index = PcIndex::from_starts(&blob.mask, len);
    let mut instructions = pools::INSTRUCTIONS.take(if decode { most } else { 0 });
    let out = &mut instructions.spare_capacity_mut()[..if decode { most } else { 0 }];
    let n = match (profile, decode) {
        (Profile::P8, true) => scan::<true, true>(blob, &mut marks, &mut pc_index, out),
        (Profile::P8, false) => scan::<true, false>(blob, &mut marks, &mut pc_index, out),
        (Profile::P7, true) => scan::<false, true>(blob, &mut marks, &mut pc_index, out),
        (Profile::P7, false) => scan::<false, false>(blob, &mut marks, &mut pc_index, out),
    };
    let n = match n {
        Ok(n) => n,
        Err(e) => {
            marks.give_back();
            pools::INSTRUCTIONS.give(instructions);
            return Err(e);
        }
    };
    let instructions = if decode {
        // SAFETY: `scan` wrote the first `n` elements of the spare
        // capacity, in order, and `n <= most <= capacity`.
        unsafe { instructions.set_len(n) };
        Some(instructions)
    } else {
        pools::INSTRUCTIONS.give(instructions);
        None
    };
    pc_index.finish();
    let tables = blocks(n, instructions, pc_index, &mut marks);
    marks.give_back();
    Ok(tables)
}

/// What [`scan`] notes for [`blocks`], in increasing order.
struct Marks {
    /// The end of each run: the index of its terminator in the low 32
    /// bits, the pc execution continues at in the high.
    ends: Notched,
    /// Indexes of the `trap`s that are not valid instruction starts (made
    /// for bytes that are not starts or not opcodes): ends that no block
    /// start follows, and blocks that are no jump targets.
    traps: Vec<u32>,
    /// The pc of the stream's first instruction.
    first_pc: u32,
}

impl Marks {
    fn give_back(self) {
        pools::ENDS.give(self.ends.values);
        pools::MARKS.give(self.traps);
    }
}

/// A list of marks noted without a branch: each value offered is written
/// to the next free slot, and kept (the count moves on) only if it counts.
struct Notched {
    /// Room for every value that can be offered; the first `kept` are
    /// written.
    values: Vec<u64>,
    kept: usize,
}

impl Notched {
    /// Room for `most` offers.
    fn new(most: usize) -> Notched {
        Notched { values: pools::ENDS.take(most + 1), kept: 0 }
    }

    #[inline(always)]
    fn offer(&mut self, value: u64, keep: bool) {
        self.values.spare_capacity_mut()[self.kept].write(value);
        self.kept += usize::from(keep);
    }

    /// The values kept.
    fn kept(&mut self) -> &[u64] {
        // SAFETY: `offer` wrote every slot below `kept` (each in the spare
        // capacity, from the vector's length 0 on).
        unsafe { self.values.set_len(self.kept) };
        &self.values
    }
}

/// The instruction starts of a bitmask, in increasing order, from a word's
/// bits a start at a time.
struct Starts<'a> {
    words: std::slice::Chunks<'a, u8>,
    /// The start of the current word's offsets.
    base: usize,
    /// The starts left in the current word.
    bits: u64,
}

impl<'a> Starts<'a> {
    /// The starts of `mask` at or after `from`.
    fn new(mask: &'a [u8], from: usize) -> Starts<'a> {
        let first = (from / 64).min(mask.len().div_ceil(8));
        let mut words = mask[first * 8..].chunks(8);
        let bits = words.next().map_or(0, word) & (!0u64 << (from % 64));
        Starts { words, base: first * 64, bits }
    }
}

impl Iterator for Starts<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.bits = word(self.words.next()?);
            self.base += 64;
        }
        let pc = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(pc)
    }
}

/// What [`walk`] tells about the stream as it goes: [`Layout`] notes it
/// for the tables, [`Nothing`] ignores it (when only decoding).
trait Notes {
    /// The stream's first instruction is at `pc`.
    fn first(&mut self, pc: usize);
    /// Instruction `n`, a valid one, is a terminator (`is_end`) after
    /// which execution continues at `next_pc`.
    fn end(&mut self, n: usize, next_pc: u32, is_end: bool);
    /// Instruction `n` is a `trap` at `pc` that is not a valid start: at
    /// a start that is not an opcode (`at_start`), or at a byte that is
    /// not a start.
    fn trap(&mut self, n: usize, pc: usize, at_start: bool);
}

/// The notes [`build`] keeps: the [`Marks`], and the `trap`s in the map.
struct Layout<'a> {
    marks: &'a mut Marks,
    pc_index: &'a mut PcIndex,
}

impl Notes for Layout<'_> {
    #[inline(always)]
    fn first(&mut self, pc: usize) {
        self.marks.first_pc = pc as u32;
    }
    #[inline(always)]
    fn end(&mut self, n: usize, next_pc: u32, is_end: bool) {
        self.marks.ends.offer(n as u64 | u64::from(next_pc) << 32, is_end);
    }
    #[inline(always)]
    fn trap(&mut self, n: usize, pc: usize, at_start: bool) {
        if !at_start {
            self.pc_index.mark(pc);
        }
        self.marks.ends.offer(n as u64, true);
        self.marks.traps.push(n as u32);
    }
}

/// No notes.
struct Nothing;

impl Notes for Nothing {
    #[inline(always)]
    fn first(&mut self, _: usize) {}
    #[inline(always)]
    fn end(&mut self, _: usize, _: u32, _: bool) {}
    #[inline(always)]
    fn trap(&mut self, _: usize, _: usize, _: bool) {}
}

/// Lays out the instruction stream (`P8`: under P8's rules, else P7's)
/// and returns its length; with `DECODE`, decodes it into `out`, which
/// then has room for every instruction. `pc_index` has the starts marked
/// and gets the `trap`s added.
fn scan<const P8: bool, const DECODE: bool>(
    blob: &CodeBlob,
    marks: &mut Marks,
    pc_index: &mut PcIndex,
    out: &mut [MaybeUninit<Instruction>],
) -> Result<usize, ProgramError> {
    let n = walk::<P8, DECODE>(blob, 0..blob.code.len(), &mut Layout { marks, pc_index }, out)?;
    if n == 0 {
        // No instruction starts at all: only the trap at the end.
        let len = blob.code.len();
        Layout { marks, pc_index }.trap(0, len, false);
        marks.first_pc = len as u32;
        if DECODE {
            out[0].write(Instruction::trap(len as u32));
        }
        return Ok(1);
    }
    Ok(n)
}

/// The part of the stream at pcs `pcs`, in code order (`P8`: under P8's
/// rules, else P7's): tells `notes` about it, decodes it into `out` with
/// `DECODE`, and returns how many instructions it has.
///
/// Each start's length comes from the next start (or the end); a `trap`
/// follows it where execution falls onto a byte that is not a start.
#[inline(always)]
fn walk<const P8: bool, const DECODE: bool>(
    blob: &CodeBlob,
    pcs: Range<usize>,
    notes: &mut impl Notes,
    out: &mut [MaybeUninit<Instruction>],
) -> Result<usize, ProgramError> {
    let profile = if P8 { Profile::P8 } else { Profile::P7 };
    let (code, mask) = (&blob.code[..], &blob.mask[..]);
    let (len, stop) = (code.len(), pcs.end.min(code.len()));
    let mut starts = Starts::new(mask, pcs.start);
    let mut pc = match starts.next() {
        Some(pc) if pc < stop => pc,
        _ => return Ok(0),
    };
    notes.first(pc);
    let mut n = 0;
    loop {
        // The start after this one (past the code: none).
        let next = starts.next().map_or(len, |next| next.min(len));
        // The distance to the next start (or the end) minus one, up to
        // `MAX_SKIP + 1`.
        let gap = (next - pc - 1).min(MAX_SKIP as usize + 1);
        let byte = code[pc];
        let raw = Opcode::from_code(profile, byte);
        if P8 && (raw.is_none() || gap > MAX_SKIP as usize) {
            return Err(match raw {
                None => ProgramError::InvalidOpcode { pc: pc as u32, byte },
                Some(_) => ProgramError::NotInstructionStart { pc: pc as u32 + 1 + MAX_SKIP },
            });
        }
        // Where execution goes on after it, and whether a start or the end
        // of the code is there (else a `trap` is).
        let (after, at_start) = match raw {
            Some(op) => {
                let skip = gap.min(MAX_SKIP as usize) as u32;
                let next_pc = (pc as u32).saturating_add(1 + skip);
                if DECODE {
                    out[n].write(decode_operands(code, op, pc as u32, skip));
                }
                notes.end(n, next_pc, op.is_terminator());
                n += 1;
                (next_pc as usize, gap <= MAX_SKIP as usize)
            }
            None => {
                if DECODE {
                    out[n].write(Instruction::trap(pc as u32));
                }
                notes.trap(n, pc, true);
                n += 1;
                (pc + 1, gap == 0)
            }
        };
        // Past the last start, the end of the code is such a place too.
        if !at_start || after == len {
            trap::<DECODE>(notes, out, n, after);
            n += 1;
        }
        if next >= stop {
            return Ok(n);
        }
        pc = next;
    }
}

/// The `trap` at index `n` and pc `pc` that is not an instruction start:
/// noted (as the end of its run) and, with `DECODE`, decoded.
#[cold]
fn trap<const DECODE: bool>(notes: &mut impl Notes, out: &mut [MaybeUninit<Instruction>], n: usize, pc: usize) {
    notes.trap(n, pc, false);
    if DECODE {
        out[n].write(Instruction::trap(pc as u32));
    }
}

/// The blocks of a stream of `n` instructions from the [`Marks`] [`scan`]
/// noted, and the per-instruction tables, each filled a block or a run at
/// a time.
///
/// A block starts at the first instruction, and at a valid instruction
/// where a valid terminator continues; it is a jump target unless it is
/// the first one at a pc other than 0 (or a `trap` there).
fn blocks(n: usize, instructions: Option<Vec<Instruction>>, pc_index: PcIndex, marks: &mut Marks) -> Tables {
    let ends = marks.ends.kept();
    let mut run_ends = pools::INDEXES.take(n);
    for &end in ends {
        let t = end as u32;
        run_ends.resize(t as usize + 1, t + 1);
    }
    // The stream ends with a `trap`, so this never adds anything.
    run_ends.resize(n, n as u32);
    // Whether instruction `i` is a `trap` made for a non-start, asked for
    // in increasing order.
    let mut traps = marks.traps.iter().copied().peekable();
    let mut is_trap = move |i: u32| {
        while traps.next_if(|&t| t < i).is_some() {}
        traps.peek() == Some(&i)
    };
    let first = (0, marks.first_pc, marks.first_pc == 0 && !is_trap(0));
    let heads = ends.iter().filter_map(|&end| {
        let (t, next_pc) = (end as u32, (end >> 32) as u32);
        let head = (t as usize + 1) < n && !is_trap(t) && !is_trap(t + 1);
        head.then_some((t + 1, next_pc, true))
    });
    let mut blocks = pools::BLOCKS.take(ends.len() + 1);
    let mut block_of = pools::INDEXES.take(n);
    let mut ends = ends.iter();
    let mut end = 0;
    for (first, pc, is_target) in std::iter::once(first).chain(heads) {
        block_of.resize(first as usize, (blocks.len() as u32).wrapping_sub(1));
        // The stream ends with a terminator, so there is one at or after
        // every block start.
        while end <= first {
            end = ends.next().map_or(n as u32, |&t| t as u32 + 1);
        }
        blocks.push(Block { pc, first, end, is_target });
    }
    block_of.resize(n, blocks.len() as u32 - 1);
    Tables { len: n, instructions, pc_index, blocks, block_of, run_ends }
}

/// Decodes the instructions of a stream laid out by [`build`] at pcs
/// `pcs` (from a block's first pc to the next block's, or past the end)
/// into `out`, which has one slot for each of them: what the eager decode
/// writes there.
pub(super) fn decode_span(blob: &CodeBlob, profile: Profile, pcs: Range<usize>, out: &mut [MaybeUninit<Instruction>]) {
    let n = match profile {
        Profile::P8 => walk::<true, true>(blob, pcs, &mut Nothing, out),
        Profile::P7 => walk::<false, true>(blob, pcs, &mut Nothing, out),
    };
    // A stream without starts is the one `trap` past the end.
    if n == Ok(0) && out.len() == 1 {
        out[0].write(Instruction::trap(blob.code.len() as u32));
        return;
    }
    assert_eq!(n, Ok(out.len()), "a span of a validated program, decoded slot by slot");
}

#[cfg(test)]
pub(super) mod tests {
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

    /// The whole stream of `t`, decoded a block's span at a time, the last
    /// span first.
    fn decoded(blob: &CodeBlob, profile: Profile, t: &Tables) -> Vec<Instruction> {
        let mut out = vec![MaybeUninit::new(Instruction::trap(u32::MAX)); t.len];
        let mut first = t.len;
        for (k, block) in t.blocks.iter().enumerate().rev() {
            let end_pc = t.blocks.get(k + 1).map_or(usize::MAX, |next| next.pc as usize);
            decode_span(blob, profile, block.pc as usize..end_pc, &mut out[block.first as usize..first]);
            first = block.first as usize;
        }
        assert_eq!(first, 0, "the spans cover the stream");
        // SAFETY: every slot was initialised above (and maybe overwritten).
        out.into_iter().map(|slot| unsafe { slot.assume_init() }).collect()
    }

    /// A xorshift generator from `state` (not 0), for reproducible random
    /// programs.
    pub(in crate::program) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn matches_the_definitions_on_random_code() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let mut checked = [0; 2];
        for case in 0..3000 {
            let len = (next() % 120) as usize;
            // Mostly opcodes that exist, with terminators common.
            let code: Vec<u8> =
                (0..len).map(|_| [0, 1, 40, 51, 81, 149, 190, 2, 111, 255][next() as usize % 10]).collect();
            let density = 1 + next() % 6;
            let mut starts: Vec<usize> = (0..len).filter(|_| next().is_multiple_of(density)).collect();
            if case % 2 == 0 && len > 0 && starts.first() != Some(&0) {
                starts.insert(0, 0);
            }
            let blob = CodeBlob::from_parts(code, starts, vec![]);
            for (p, profile) in Profile::ALL.into_iter().enumerate() {
                let Ok(t) = build(&blob, profile, false) else { continue };
                checked[p] += 1;
                let (stream, blocks, block_of, run_ends) = reference(&blob, profile);
                assert_eq!(decoded(&blob, profile, &t), stream, "case {case} {profile:?}");
                let eager = build(&blob, profile, true).expect("valid either way");
                assert_eq!(eager.instructions.as_deref(), Some(&stream[..]), "case {case} {profile:?}");
                let got: Vec<_> = t.blocks.iter().map(|b| (b.pc, b.first, b.end, b.is_target)).collect();
                assert_eq!(got, blocks, "case {case} {profile:?}");
                assert_eq!(t.block_of, block_of, "case {case} {profile:?}");
                assert_eq!(t.run_ends, run_ends, "case {case} {profile:?}");
                for pc in 0..len + 2 {
                    let at = stream.iter().position(|ins| ins.pc as usize == pc).map(|i| i as u32);
                    assert_eq!(t.pc_index.get(pc), at, "case {case} {profile:?} pc {pc}");
                }
            }
        }
        assert!(checked.iter().all(|&n| n > 200), "valid programs per profile: {checked:?}");
    }
}
