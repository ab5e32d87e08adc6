//! A decoded program: the instruction stream, basic blocks and the resolved
//! jump table, built once at load time (spec §14, "Load time"), and every
//! block's gas cost, priced when first asked for; shared by both engines.

use super::blob::CodeBlob;
pub use super::block::{Block, NO_INDEX};
use super::build::{Tables, build, decode_span, pools};
use super::decode::Instruction;
use super::error::ProgramError;
use super::gas::costs::BlockCosts;
use super::gas::{GasModel, meter};
use super::isa::{Opcode, Profile};
use super::pc_index::PcIndex;
use super::spans::SpanSlots;
use std::ops::Range;

/// A validated program, decoded as far as it is read.
///
/// The instruction stream holds, in code order, every instruction start and
/// an explicit `trap` wherever execution would fall onto a byte that is not
/// an instruction start (including the end of the code), so the successor of
/// every non-terminator at index `i` is the instruction at `i + 1`. A load
/// validates every start and lays out the stream and its blocks; with
/// [`Decode::Lazy`] operands are decoded a span at a time, the first time
/// one of its instructions is read (a span is [`SPAN_BLOCKS`] consecutive
/// blocks with the instructions up to the next span).
#[derive(Debug)]
pub struct Program {
    profile: Profile,
    gas_model: GasModel,
    blob: CodeBlob,
    stream: SpanSlots<Instruction>,
    pc_index: PcIndex,
    blocks: Vec<Block>,
    block_of: Vec<u32>,
    run_ends: Vec<u32>,
    jump_targets: Vec<u32>,
    costs: BlockCosts,
}

impl Program {
    /// Parses a raw code blob (spec §4) and decodes it.
    pub fn from_blob(blob: &[u8], profile: Profile, gas_model: GasModel) -> Result<Program, ProgramError> {
        Program::new(CodeBlob::parse(blob)?, profile, gas_model)
    }

    /// Validates (P8, spec §4.2) and decodes `blob`.
    pub fn new(blob: CodeBlob, profile: Profile, gas_model: GasModel) -> Result<Program, ProgramError> {
        Program::with_decode(blob, profile, gas_model, Decode::Eager)
    }

    /// Validates `blob` (P8, spec §4.2) and lays it out, decoding it now or
    /// a span at a time as it is read.
    pub fn with_decode(
        blob: CodeBlob,
        profile: Profile,
        gas_model: GasModel,
        decode: Decode,
    ) -> Result<Program, ProgramError> {
        let Tables { len, instructions, pc_index, blocks, block_of, run_ends } =
            build(&blob, profile, decode == Decode::Eager)?;
        let costs = BlockCosts::new(gas_model, blocks.len());
        let stream = match instructions {
            Some(instructions) => SpanSlots::filled_whole(instructions, &pools::INSTRUCTIONS),
            None => SpanSlots::new(len, blocks.len().div_ceil(SPAN_BLOCKS), &pools::INSTRUCTIONS),
        };
        let mut program = Program {
            profile,
            gas_model,
            blob,
            stream,
            pc_index,
            blocks,
            block_of,
            run_ends,
            jump_targets: Vec::new(),
            costs,
        };
        program.jump_targets =
            program.blob.jump_table.iter().map(|&t| program.static_target(t).unwrap_or(NO_INDEX)).collect();
        Ok(program)
    }

    /// The profile the program was decoded for.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The gas model its block costs follow.
    pub fn gas_model(&self) -> GasModel {
        self.gas_model
    }

    /// The raw parts (code, bitmask, jump table).
    pub fn blob(&self) -> &CodeBlob {
        &self.blob
    }

    /// The code bytes.
    pub fn code(&self) -> &[u8] {
        &self.blob.code
    }

    /// The whole instruction stream (see the type's docs), decoding every
    /// span not decoded yet.
    pub fn instructions(&self) -> &[Instruction] {
        if !self.stream.is_complete() {
            for s in 0..self.span_count() {
                self.span(s);
            }
            self.stream.mark_complete();
        }
        self.stream.all()
    }

    /// How many instructions the stream holds.
    #[inline]
    pub fn instruction_count(&self) -> usize {
        self.stream.len()
    }

    /// Instruction `i` of the stream, decoding its span if nothing has yet.
    #[inline]
    pub fn instruction(&self, i: u32) -> &Instruction {
        assert!((i as usize) < self.instruction_count(), "instruction {i} of {}", self.instruction_count());
        if !self.stream.is_complete() {
            let s = self.span_of(i);
            if !self.stream.is_filled(s) {
                self.span(s);
            }
        }
        // SAFETY: in bounds (asserted above), and its span is filled: all
        // are, or this one was seen filled or filled just now.
        unsafe { self.stream.get_unchecked(i as usize) }
    }

    /// Instructions `range` of the stream, decoding the spans they lie in
    /// where nothing has yet.
    pub fn instructions_in(&self, range: Range<u32>) -> &[Instruction] {
        let (first, end) = (range.start as usize, range.end as usize);
        assert!(
            first <= end && end <= self.instruction_count(),
            "instructions {range:?} of {}",
            self.instruction_count()
        );
        if first < end && !self.stream.is_complete() {
            let mut s = self.span_of(first as u32);
            while self.blocks.get(s * SPAN_BLOCKS).is_some_and(|b| (b.first as usize) < end) {
                self.span(s);
                s += 1;
            }
        }
        // SAFETY: every span overlapping the range was decoded by a `span`
        // call above, or all were (`is_complete`).
        unsafe { self.stream.filled(first..end) }
    }

    /// How many instructions are decoded so far (all of them after an
    /// eager decode).
    pub fn decoded_instructions(&self) -> usize {
        if self.stream.is_complete() {
            return self.instruction_count();
        }
        (0..self.span_count()).filter(|&s| self.stream.is_filled(s)).map(|s| self.span_bounds(s).0.len()).sum()
    }

    /// How many spans the stream is decoded in (see [`SPAN_BLOCKS`]).
    #[inline]
    pub fn span_count(&self) -> usize {
        self.blocks.len().div_ceil(SPAN_BLOCKS)
    }

    /// The span instruction `index` lies in.
    #[inline]
    pub fn span_of(&self, index: u32) -> usize {
        self.block_of[index as usize] as usize / SPAN_BLOCKS
    }

    /// The instruction indexes of span `s`, from its first block's first
    /// instruction to the next span's. Spans cover the stream, in order,
    /// and each is whole blocks.
    #[inline]
    pub fn span_indexes(&self, s: usize) -> Range<usize> {
        self.span_bounds(s).0
    }

    /// Span `s`: its instruction indexes and its pcs (from its first
    /// block's to the next span's, or on past the end).
    #[inline]
    fn span_bounds(&self, s: usize) -> (Range<usize>, Range<usize>) {
        let head = &self.blocks[s * SPAN_BLOCKS];
        let (end, end_pc) = match self.blocks.get((s + 1) * SPAN_BLOCKS) {
            Some(next) => (next.first as usize, next.pc as usize),
            None => (self.instruction_count(), usize::MAX),
        };
        (head.first as usize..end, head.pc as usize..end_pc)
    }

    /// The instructions of span `s`, decoded on the first call.
    #[inline]
    fn span(&self, s: usize) -> &[Instruction] {
        let (indexes, pcs) = self.span_bounds(s);
        self.stream.span(s, indexes, |out| decode_span(&self.blob, self.profile, pcs, out))
    }

    /// All blocks in code order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Index in [`Self::instructions`] of the instruction at `pc`, if the
    /// stream has one there.
    #[inline]
    pub fn index_of(&self, pc: u32) -> Option<u32> {
        self.pc_index.get(pc as usize)
    }

    /// Index of the block containing instruction `index` (`L(pc)`, spec §7.1).
    #[inline]
    pub fn block_of(&self, index: u32) -> u32 {
        self.block_of[index as usize]
    }

    /// Whether `pc` is a block start (a valid static or dynamic jump target).
    #[inline]
    pub fn is_block_start(&self, pc: u32) -> bool {
        self.index_of(pc).is_some_and(|i| {
            let b = &self.blocks[self.block_of[i as usize] as usize];
            b.is_target && b.first == i
        })
    }

    /// The instruction index a static jump to `target` lands on, or `None`
    /// when `target` is not a block start (the jump panics).
    #[inline]
    pub fn static_target(&self, target: u32) -> Option<u32> {
        if self.is_block_start(target) { self.index_of(target) } else { None }
    }

    /// Jump-table entries resolved to instruction indices ([`NO_INDEX`] where
    /// the entry is not a block start).
    pub fn jump_targets(&self) -> &[u32] {
        &self.jump_targets
    }

    /// Resolves a dynamic jump to address `a` (spec §7.3).
    #[inline]
    pub fn dynamic_target(&self, a: u32) -> DynamicTarget {
        resolve_dynamic(&self.jump_targets, a)
    }

    /// Whether `pc` is a valid entry point: in P8 an instruction start with
    /// a valid opcode (spec §4.2); in P7 every pc is accepted (a bad one
    /// traps when run).
    pub fn is_valid_entry(&self, pc: u32) -> bool {
        match self.profile {
            Profile::P7 => true,
            Profile::P8 => {
                let at = pc as usize;
                at < self.blob.code.len()
                    && self.blob.is_start_bit(at)
                    && Opcode::from_code(self.profile, self.blob.code[at]).is_some()
            }
        }
    }

    /// The gas cost of block number `k` under the program's gas model
    /// (priced on the first call; spec §8.2).
    #[inline]
    pub fn block_cost(&self, k: u32) -> u32 {
        let block = &self.blocks[k as usize];
        let len = block.end - block.first;
        self.costs.get(k, len, &self.blob.code, || self.instructions_in(block.first..block.end))
    }

    /// How many blocks have a cost yet: under the pipeline model those
    /// asked for so far (a run prices the blocks it enters), under the unit
    /// models all.
    pub fn priced_blocks(&self) -> usize {
        self.costs.priced(self.blocks.len())
    }

    /// Every block with its cost, in code order (pricing any not priced
    /// yet).
    pub fn blocks_with_costs(&self) -> impl Iterator<Item = (&Block, u32)> {
        self.blocks.iter().zip(0..).map(|(block, k)| (block, self.block_cost(k)))
    }

    /// Gas to charge when execution reaches instruction `index` with no
    /// block paid for: the cost of its containing block.
    #[inline]
    pub fn charge_at(&self, index: u32) -> u32 {
        self.block_cost(self.block_of[index as usize])
    }

    /// Index one past the first terminator at or after instruction `index`:
    /// the end of its run, which the instruction gas model pre-pays
    /// ([`meter`]).
    #[inline]
    pub fn run_end(&self, index: u32) -> u32 {
        self.run_ends[index as usize]
    }

    /// [`Self::run_end`] of every instruction.
    pub fn run_ends(&self) -> &[u32] {
        &self.run_ends
    }

    /// Gas to charge when execution reaches instruction `index` with
    /// nothing paid, under the program's gas model ([`meter::entry_charge`]).
    #[inline]
    pub fn entry_charge(&self, index: u32) -> u32 {
        meter::entry_charge(self.gas_model, self.charge_at(index), index, self.run_end(index))
    }

    /// Gas for a `trap` at a pc outside the instruction stream (a P7 entry
    /// onto a non-start): the cost of a block made of that trap alone.
    pub fn lone_trap_cost(&self) -> u32 {
        self.gas_model.block_cost(&[], &[Instruction::trap(0)])
    }
}

impl Clone for Program {
    /// A copy decoded whole (whatever this one has decoded so far).
    fn clone(&self) -> Program {
        Program {
            profile: self.profile,
            gas_model: self.gas_model,
            blob: self.blob.clone(),
            stream: SpanSlots::filled_whole(self.instructions().to_vec(), &pools::INSTRUCTIONS),
            pc_index: self.pc_index.clone(),
            blocks: self.blocks.clone(),
            block_of: self.block_of.clone(),
            run_ends: self.run_ends.clone(),
            jump_targets: self.jump_targets.clone(),
            costs: self.costs.clone(),
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        pools::BLOCKS.give(std::mem::take(&mut self.blocks));
        pools::INDEXES.give(std::mem::take(&mut self.block_of));
        pools::INDEXES.give(std::mem::take(&mut self.run_ends));
    }
}

/// Blocks per span of a lazily decoded [`Program`]: enough that a span
/// pays for its bookkeeping (about a hundred instructions), few enough that
/// a run decodes little it does not reach.
pub const SPAN_BLOCKS: usize = 16;

/// When a [`Program`] decodes its instructions' operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Decode {
    /// All of them at load, in the pass that validates the code: what an
    /// engine that translates the whole program wants.
    #[default]
    Eager,
    /// A span ([`SPAN_BLOCKS`] blocks) the first time one of its
    /// instructions is read: a load validates and lays out the code only,
    /// and spans that are never read are never decoded.
    Lazy,
}

/// The dynamic-jump address that halts (spec §7.3).
pub const HALT_ADDRESS: u32 = 0xFFFF_0000;

/// Where a dynamic jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynamicTarget {
    /// Address `0xFFFF0000`: halt.
    Halt,
    /// An invalid address or table entry: panic.
    Panic,
    /// The instruction index to continue at.
    Jump(u32),
}

/// Resolves a dynamic jump to address `a` through `jump_targets` (resolved
/// entries as in [`Program::jump_targets`]), in the order of spec §7.3.
#[inline]
pub fn resolve_dynamic(jump_targets: &[u32], a: u32) -> DynamicTarget {
    if a == HALT_ADDRESS {
        return DynamicTarget::Halt;
    }
    if a == 0 || !a.is_multiple_of(2) {
        return DynamicTarget::Panic;
    }
    match jump_targets.get((a / 2 - 1) as usize) {
        Some(&i) if i != NO_INDEX => DynamicTarget::Jump(i),
        _ => DynamicTarget::Panic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::build::tests::xorshift;

    fn program(code: &[u8], starts: &[usize], table: &[u32], profile: Profile) -> Result<Program, ProgramError> {
        let blob = CodeBlob::from_parts(code.to_vec(), starts.iter().copied(), table.to_vec());
        Program::new(blob, profile, GasModel::Block)
    }

    #[test]
    fn falling_off_the_end_adds_a_trap() {
        let p = program(&[190, 0x87, 9], &[0], &[], Profile::P8).unwrap();
        let ops: Vec<_> = p.instructions().iter().map(|i| (i.pc, i.opcode)).collect();
        assert_eq!(ops, [(0, Opcode::Add32), (3, Opcode::Trap)]);
        assert_eq!(p.blocks().len(), 1);
        assert_eq!(p.block_cost(0), 2);
        assert_eq!(p.charge_at(1), 2);
    }

    #[test]
    fn blocks_start_after_terminators() {
        // 0: fallthrough, 1: load_imm r0 1, 4: jump -4 (→ 0), 6: trap
        let code = [1, 51, 0x00, 1, 40, 0xfc, 0];
        let p = program(&code, &[0, 1, 4, 6], &[], Profile::P8).unwrap();
        let starts: Vec<_> = p.blocks_with_costs().map(|(b, cost)| (b.pc, cost)).collect();
        assert_eq!(starts, [(0, 1), (1, 2), (6, 1)]);
        assert!(p.is_block_start(1));
        assert!(!p.is_block_start(4));
        assert_eq!(p.static_target(0), Some(0));
        assert_eq!(p.instructions()[2].target, 0);
        // With the trap past the end, in the last block but a run of its own.
        assert_eq!(p.instructions().len(), 5);
        assert_eq!(p.run_ends(), [1, 3, 3, 4, 5]);
        let charges = |p: &Program| (0..5).map(|i| p.entry_charge(i)).collect::<Vec<_>>();
        assert_eq!(charges(&p), [1, 2, 2, 1, 1], "the containing block's cost");
        let blob = CodeBlob::from_parts(code.to_vec(), [0, 1, 4, 6], vec![]);
        let p = Program::new(blob, Profile::P8, GasModel::Instruction).unwrap();
        assert_eq!(charges(&p), [1, 2, 1, 1, 1], "the rest of the run");
    }

    #[test]
    fn dynamic_targets_follow_the_spec_order() {
        let code = [1, 1, 0];
        let p = program(&code, &[0, 1, 2], &[1, 2, 0], Profile::P8).unwrap();
        assert_eq!(p.dynamic_target(HALT_ADDRESS), DynamicTarget::Halt);
        assert_eq!(p.dynamic_target(0), DynamicTarget::Panic);
        assert_eq!(p.dynamic_target(3), DynamicTarget::Panic);
        assert_eq!(p.dynamic_target(2), DynamicTarget::Jump(1));
        assert_eq!(p.dynamic_target(4), DynamicTarget::Jump(2));
        assert_eq!(p.dynamic_target(6), DynamicTarget::Jump(0));
        assert_eq!(p.dynamic_target(8), DynamicTarget::Panic);
    }

    #[test]
    fn p8_validation_errors() {
        assert_eq!(program(&[], &[], &[], Profile::P8).unwrap_err(), ProgramError::EmptyCode);
        assert_eq!(
            program(&[0, 2, 0], &[0, 1, 2], &[], Profile::P7).map(|p| p.instructions()[1].opcode).unwrap(),
            Opcode::Trap
        );
        assert_eq!(
            program(&[0, 111, 0], &[0, 1, 2], &[], Profile::P8).unwrap_err(),
            ProgramError::InvalidOpcode { pc: 1, byte: 111 }
        );
        assert_eq!(program(&[0, 0], &[1], &[], Profile::P8).unwrap_err(), ProgramError::NotInstructionStart { pc: 0 });
        let mut long = vec![51, 0x00];
        long.resize(30, 0);
        assert_eq!(program(&long, &[0], &[], Profile::P8).unwrap_err(), ProgramError::NotInstructionStart { pc: 25 });
    }

    #[test]
    fn p7_gap_over_24_traps_mid_code() {
        let mut code = vec![51, 0x00];
        code.resize(30, 0);
        let p = program(&code, &[0], &[], Profile::P7).unwrap();
        let ops: Vec<_> = p.instructions().iter().map(|i| (i.pc, i.opcode)).collect();
        assert_eq!(ops, [(0, Opcode::LoadImm), (25, Opcode::Trap)]);
    }

    /// Random code, mostly of opcodes that exist and with terminators
    /// common, starts at one offset in `density` on average (and at 0).
    fn random_blob(next: &mut impl FnMut() -> u64, len: usize, density: u64) -> CodeBlob {
        let code: Vec<u8> = (0..len).map(|_| [0, 1, 40, 51, 81, 149, 190, 2, 100, 200][next() as usize % 10]).collect();
        let mut starts: Vec<usize> = (0..len).filter(|_| next().is_multiple_of(density)).collect();
        if starts.first() != Some(&0) {
            starts.insert(0, 0);
        }
        CodeBlob::from_parts(code, starts, (0..8).map(|_| (next() % len as u64) as u32).collect())
    }

    #[test]
    fn lazy_decoding_reads_what_eager_decoding_does() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let mut checked = [0; 2];
        for case in 0..600 {
            let len = 1 + (next() % 2000) as usize;
            let density = 1 + next() % 4;
            let blob = random_blob(&mut next, len, density);
            for (p, profile) in Profile::ALL.into_iter().enumerate() {
                let model = [GasModel::Pipeline, GasModel::Instruction][case % 2];
                let Ok(eager) = Program::new(blob.clone(), profile, model) else { continue };
                checked[p] += 1;
                let lazy = Program::with_decode(blob.clone(), profile, model, Decode::Lazy).unwrap();
                let what = format!("case {case} {profile:?} {model}");
                let all = eager.instructions();
                let n = all.len();
                assert_eq!(lazy.instruction_count(), n, "{what}");
                assert_eq!(lazy.decoded_instructions(), 0, "{what}: decoded at load");
                // A read decodes its span only.
                let i = (next() % n as u64) as u32;
                assert_eq!(lazy.instruction(i), &all[i as usize], "{what}: instruction {i}");
                let decoded = lazy.decoded_instructions();
                assert!(decoded > 0, "{what}");
                if eager.blocks().len() > 2 * SPAN_BLOCKS {
                    assert!(decoded < n, "{what}: one read decoded all {n}");
                }
                for _ in 0..6 {
                    let (a, b) = ((next() % n as u64) as u32, (next() % n as u64) as u32);
                    let range = a.min(b)..a.max(b) + 1;
                    assert_eq!(lazy.instructions_in(range.clone()), &all[range.start as usize..range.end as usize]);
                    // One at a time, in spans decoded by now or not yet.
                    let j = (next() % n as u64) as u32;
                    assert_eq!(lazy.instruction(j), &all[j as usize], "{what}: instruction {j}");
                }
                for k in (0..eager.blocks().len() as u32).rev() {
                    assert_eq!(lazy.block_cost(k), eager.block_cost(k), "{what}: block {k}");
                }
                assert_eq!(lazy.instructions(), all, "{what}");
                assert_eq!(lazy.decoded_instructions(), n, "{what}");
                // And once the whole stream is decoded.
                assert!((0..n).all(|j| lazy.instruction(j as u32) == &all[j]), "{what}: one at a time, decoded");
                assert_eq!(lazy.clone().instructions(), all, "{what}: a clone");
            }
        }
        assert!(checked.iter().all(|&c| c > 100), "valid programs per profile: {checked:?}");
    }

    #[test]
    fn threads_decoding_one_program_read_what_eager_decoding_does() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let blob = random_blob(&mut next, 60_000, 2);
        let eager = Program::new(blob.clone(), Profile::P7, GasModel::Pipeline).unwrap();
        let all = eager.instructions();
        for round in 0..4 {
            let lazy = Program::with_decode(blob.clone(), Profile::P7, GasModel::Pipeline, Decode::Lazy).unwrap();
            std::thread::scope(|s| {
                for t in 0..4u64 {
                    let (lazy, eager) = (&lazy, &eager);
                    s.spawn(move || {
                        // Every instruction, from a different place and in a
                        // different order on each thread.
                        let n = all.len() as u64;
                        let stride = [1, 7, 13, 31][t as usize];
                        for j in 0..n {
                            let i = ((j * stride + t * n / 4 + round) % n) as u32;
                            assert_eq!(lazy.instruction(i), &all[i as usize], "round {round}, thread {t}");
                            let k = lazy.block_of(i);
                            assert_eq!(lazy.block_cost(k), eager.block_cost(k));
                        }
                    });
                }
            });
            assert_eq!(lazy.decoded_instructions(), all.len());
            assert_eq!(lazy.instructions(), all);
        }
    }

    #[test]
    fn entry_validity() {
        let p = program(&[51, 0x00, 0], &[0, 2], &[], Profile::P8).unwrap();
        assert!(p.is_valid_entry(0));
        assert!(p.is_valid_entry(2));
        assert!(!p.is_valid_entry(1));
        assert!(!p.is_valid_entry(3));
    }
}
