//! Code generation: one pass over a region of the instruction stream (the
//! whole program, or a run of segments compiled on first entry), one native
//! segment per basic block, with a thin emitter per instruction class and
//! one per fused pair (found by a pass before, see [`pairs`]).
//!
//! Layout of a module's code:
//!
//! ```text
//! shared: enter / exit trampolines, the dynamic-jump panic and compile stubs
//! per region:
//!   for every segment (a block start, or any instruction after a terminator;
//!   heads of small loops and dynamic-jump targets 64-byte aligned):
//!       [copy or fill loops: the bulk trigger, see `bulk`]
//!       prologue: sub gas, cost; jl out_of_gas_stub
//!       body: each instruction's code, in guest order (falls through)
//!   jmp thunk (to the next segment, if the region does not end the program)
//!   out-of-line exit stubs (mov ecx, site; jmp exit)
//!   thunks: jumps to segments outside the region (see `crate::lazy`)
//! ```
//!
//! Every instruction's body is a valid entry point (the guest state lives
//! entirely in pinned registers and the context), so the runtime can enter
//! anywhere: at a block start, after an `ecalli`, or at the faulting
//! instruction after a page fault. The exception is the second instruction
//! of a fused pair, whose code relies on the first's ([`Tables::fused`]);
//! the runtime interprets from there instead.

// dynasm expands dynamic registers (`Rq(r)`) to `r.into()`, which clippy
// flags when `r` is already a `u8`.
#![allow(clippy::useless_conversion)]

mod alu;
mod assembler;
mod bits;
mod bulk;
mod context;
mod control;
#[cfg(test)]
mod golden;
mod memory;
mod muldiv;
mod pairs;
pub(crate) mod regs;
mod trampoline;

pub(crate) use trampoline::{Trampolines, trampolines};

use crate::cpu::Features;
use crate::error::CompileError;
use crate::exit_code::{self, MAX_INSTRUCTIONS, SiteKind};
use assembler::{Assembler, Scratch};
pub use context::CompileContext;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi};
use javm_cap::program::decoded::NO_INDEX;
use javm_cap::program::isa::OPCODE_COUNT;
use javm_cap::program::{Instruction, Opcode, Program};

/// Emits x86-64 with dynasm; every use goes through this so the
/// architecture directive is never forgotten.
macro_rules! emit {
    ($ops:expr; $($t:tt)*) => {
        dynasmrt::dynasm!($ops ; .arch x64 ; $($t)*)
    };
}
pub(crate) use emit;

/// Marks a memory access without a base register (absolute address).
pub(crate) const NO_BASE: u8 = 0xFF;

/// The guest memory access an instruction makes, for the fault handler:
/// `base + index + offset` (mod 2^32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct MemAccess {
    /// Guest base register, or [`NO_BASE`].
    pub base: u8,
    /// A second guest register added to the address, or [`NO_BASE`]: a load
    /// fused with the `add_64 sum, base, index` before it (see
    /// [`pairs::Pair::AddLoad`]).
    pub index: u8,
    /// With `index`: the guest register that holds `base + index` once the
    /// fused add has run; written by the handler before a fault exit.
    pub sum: u8,
    /// Bytes accessed (0: the instruction does not access memory).
    pub len: u8,
    /// A store.
    pub write: bool,
    /// Address offset (the low 32 bits of the immediate).
    pub offset: u32,
}

impl Default for MemAccess {
    fn default() -> Self {
        MemAccess { base: NO_BASE, index: NO_BASE, sum: NO_BASE, len: 0, write: false, offset: 0 }
    }
}

impl MemAccess {
    /// The access in one word (0 for no access): registers in bytes 0–2,
    /// the length in bits 24–27, the write flag in bit 28, the offset in
    /// the high half.
    pub(crate) fn pack(self) -> u64 {
        if self.len == 0 {
            return 0;
        }
        u64::from(self.base)
            | u64::from(self.index) << 8
            | u64::from(self.sum) << 16
            | u64::from(self.len & 0xF) << 24
            | u64::from(self.write) << 28
            | u64::from(self.offset) << 32
    }

    /// The access [`Self::pack`] made `word` of.
    pub(crate) fn unpack(word: u64) -> MemAccess {
        if word == 0 {
            return MemAccess::default();
        }
        MemAccess {
            base: word as u8,
            index: (word >> 8) as u8,
            sum: (word >> 16) as u8,
            len: (word >> 24) as u8 & 0xF,
            write: word >> 28 & 1 != 0,
            offset: (word >> 32) as u32,
        }
    }
}

/// An out-of-line stub: `[add [gas], refund;] mov ecx, code; jmp exit`,
/// or for a dynamic jump's out-of-range index, `cmp ecx, HALT_SLOT; jne
/// panic; mov ecx, halt; jmp exit; panic: mov ecx, code; jmp exit`.
pub(crate) struct Stub {
    label: DynamicLabel,
    code: u32,
    undo_charge: u32,
    /// The exit code taken instead when `ecx` holds the halt address'
    /// slot (see [`control::HALT_SLOT`]).
    halt: Option<u32>,
}

/// The tables that connect a region's native code to the guest program,
/// per instruction of the region (from `first`), with offsets from the
/// module's code base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tables {
    /// Offset of the region's first byte.
    pub start: u32,
    /// Its first instruction.
    pub first: u32,
    /// Offset of each instruction's body.
    pub body: Vec<u32>,
    /// Offset of the gas prologue of each segment start, else `u32::MAX`.
    pub prologue: Vec<u32>,
    /// End of the per-instruction code (start of the stubs).
    pub code_end: u32,
    pub accesses: Vec<MemAccess>,
    /// The second instructions of fused pairs, whose code relies on the
    /// first's ([`pairs`]): not entry points.
    pub fused: Vec<bool>,
}

/// A jump displacement to patch once its target is compiled: the 4 bytes
/// at `at` (a module offset), which jump to the next instruction (the
/// target's compile stub) until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Patch {
    pub target: u32,
    pub at: u32,
}

/// A compiled region.
pub(crate) struct RegionCode {
    pub tables: Tables,
    /// Its jumps to segments not compiled yet.
    pub patches: Vec<Patch>,
    /// Bytes of code.
    pub len: u32,
}

/// Where a region goes, and what it may jump to outside itself.
pub(crate) struct Placement<'a> {
    /// Module offset of the region's first byte.
    pub base: u32,
    /// Module offset of the exit trampoline.
    pub exit: u32,
    /// Module offset of the gas prologue of a segment start outside the
    /// region, if compiled.
    pub compiled: &'a dyn Fn(u32) -> Option<u32>,
    /// The program's dynamic-jump targets, sorted.
    pub dynamic_targets: &'a [u32],
}

/// Operand width of an arithmetic instruction: `_32` instructions compute
/// in 32 bits and sign-extend the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    W32,
    W64,
}

/// The compiler state, for one region: instructions `first..end`.
pub(crate) struct Compiler<'p> {
    ops: Assembler,
    features: Features,
    program: &'p Program,
    /// The region's instructions, `first..end` of the program's.
    region: &'p [Instruction],
    first: u32,
    end: u32,
    base: u32,
    /// Per instruction of the region: its segment's prologue label, if it
    /// starts one.
    prologues: Vec<Option<DynamicLabel>>,
    stubs: Vec<Stub>,
    /// Jumps out of the region: per target, the label of its thunk.
    thunks: Vec<(u32, DynamicLabel)>,
    accesses: Vec<MemAccess>,
    /// Module offset of the exit trampoline.
    exit: u32,
    /// Whether some jump-table entry is invalid (points at the shared panic
    /// stub, which needs the jump's index in the context).
    invalid_jump_entries: bool,
}

/// Opcodes with a static branch or jump target.
const BRANCH: [bool; OPCODE_COUNT] = {
    use javm_cap::program::OperandClass as C;
    let mut table = [false; OPCODE_COUNT];
    let mut i = 0;
    while i < OPCODE_COUNT {
        table[Opcode::ALL[i] as usize] = matches!(Opcode::ALL[i].class(), C::Off | C::RegImmOff | C::RegRegOff);
        i += 1;
    }
    table
};

/// Whether `opcode` has a static branch or jump target.
pub(crate) fn has_static_target(opcode: Opcode) -> bool {
    BRANCH[opcode as usize]
}

/// Loops of at most this many guest instructions get their head aligned.
const SMALL_LOOP: usize = 12;

/// Whether instruction `i` starts a segment (a block start, or any
/// instruction after a terminator).
pub(crate) fn starts_segment(program: &Program, i: u32) -> bool {
    i == 0 || program.run_end(i - 1) == i
}

/// Checks that `program` is small enough to compile.
pub(crate) fn check_size(program: &Program) -> Result<(), CompileError> {
    let n = program.instruction_count();
    if n >= MAX_INSTRUCTIONS as usize {
        return Err(CompileError::TooLarge(format!("{n} instructions")));
    }
    let len = program.jump_targets().len();
    if len > control::HALT_SLOT as usize {
        return Err(CompileError::TooLarge(format!("a jump table of {len} entries")));
    }
    Ok(())
}

/// Compiles instructions `first..end` (whole segments) of `program` for
/// `place` (see the module docs for the layout), assembling in `scratch`
/// (from a [`CompileContext`](crate::CompileContext)); `store` puts the
/// finished bytes where they run.
pub(crate) fn compile_region<R>(
    scratch: &mut Scratch,
    program: &Program,
    features: Features,
    (first, end): (u32, u32),
    place: &Placement<'_>,
    store: impl FnOnce(&[u8]) -> Result<R, CompileError>,
) -> Result<(RegionCode, R), CompileError> {
    check_size(program)?;
    compile_in(program, features, (first, end), place, scratch, store)
}

fn compile_in<R>(
    program: &Program,
    features: Features,
    (first, end): (u32, u32),
    place: &Placement<'_>,
    scratch: &mut Scratch,
    store: impl FnOnce(&[u8]) -> Result<R, CompileError>,
) -> Result<(RegionCode, R), CompileError> {
    let span = (end - first) as usize;
    let ins = program.instructions_in(first..end);
    let mut ops = std::mem::take(&mut scratch.asm);
    // About 16 bytes of native code per guest code byte.
    let code_bytes = ins.last().map_or(0, |last| last.next_pc.saturating_sub(ins[0].pc));
    ops.reserve(256 + code_bytes as usize * 16);
    let mut prologues = std::mem::take(&mut scratch.prologues);
    prologues.resize(span, None);
    let mut c = Compiler {
        ops,
        features,
        program,
        region: ins,
        first,
        end,
        base: place.base,
        prologues,
        stubs: std::mem::take(&mut scratch.stubs),
        thunks: Vec::new(),
        accesses: vec![MemAccess::default(); span],
        exit: place.exit,
        invalid_jump_entries: program.jump_targets().contains(&NO_INDEX),
    };
    // Segments that start on a 64-byte boundary: heads of small loops
    // (targets of backward static branches and jumps at most `SMALL_LOOP`
    // instructions back), so that a tight loop spans as few cache and
    // micro-op cache lines as it can, and dynamic-jump targets
    // (interpreter-style dispatch), so that their placement does not depend
    // on the code before them.
    let aligned = &mut scratch.aligned;
    aligned.resize(span, false);
    let targets = place.dynamic_targets;
    for &t in &targets[targets.partition_point(|&t| t < first)..targets.partition_point(|&t| t < end)] {
        aligned[(t - first) as usize] = true;
    }
    let segment_start = &mut scratch.segment_start;
    // Segments that branch back to their own start: the candidates for
    // copy and fill loops (see `bulk`), in order.
    let mut self_loops = Vec::new();
    let mut segment = first;
    for (k, instruction) in ins.iter().enumerate() {
        let i = first + k as u32;
        let starts = starts_segment(program, i);
        if starts {
            c.prologues[k] = Some(c.ops.new_dynamic_label());
            segment = i;
        }
        segment_start.push(starts);
        if BRANCH[instruction.opcode as usize]
            && let Some(t) = program.static_target(instruction.target)
            && (first..=i).contains(&t)
        {
            if i - t < SMALL_LOOP as u32 {
                aligned[(t - first) as usize] = true;
            }
            if t == segment {
                self_loops.push(t);
            }
        }
    }
    let pairs = pairs::find(ins, segment_start, features);
    let fused: Vec<bool> = (0..span).map(|k| k > 0 && pairs[k - 1].is_some()).collect();
    let mut body = Vec::with_capacity(span);
    let mut prologue = vec![u32::MAX; span];
    // Where the code of the second instruction of the last pair starts.
    let mut second = 0;
    let mut next_loop = 0;
    for (k, start) in prologue.iter_mut().enumerate() {
        let i = first + k as u32;
        if let Some(label) = c.prologues[k] {
            // A copy or fill loop's trigger comes first and the alignment
            // after it, so that the loop itself starts on the boundary.
            // Both in order: one step along the candidates per segment.
            while self_loops.get(next_loop).is_some_and(|&t| t < i) {
                next_loop += 1;
            }
            let trigger = (self_loops.get(next_loop) == Some(&i)).then(|| c.bulk_check(i, label, start)).flatten();
            if aligned[k] {
                c.align_segment();
            }
            if trigger.is_none() {
                *start = c.offset();
            }
            c.gas_prologue(i, trigger.unwrap_or(label));
        }
        if fused[k] {
            // Emitted with the first instruction of its pair.
            body.push(second);
            continue;
        }
        body.push(c.offset());
        match pairs[k] {
            Some(pair) => second = c.pair(pair, i) + place.base,
            None => c.instruction(i),
        }
    }
    if (end as usize) < program.instruction_count() {
        // The next segment, when the last one falls through.
        let next = c.thunk(end);
        emit!(c.ops ; jmp =>next);
    }
    let code_end = c.offset();
    let patches = c.emit_stubs(place);
    let Compiler { mut ops, prologues, mut stubs, accesses, .. } = c;
    let len = ops.offset().0;
    if u64::from(place.base) + len as u64 >= u64::from(CODE_LIMIT) {
        return Err(CompileError::TooLarge(format!("{} bytes of native code", u64::from(place.base) + len as u64)));
    }
    let stored = store(ops.commit().map_err(|e| CompileError::Memory(format!("unresolved label: {e}")))?);
    (scratch.asm, scratch.prologues) = (ops, prologues);
    stubs.clear();
    scratch.stubs = stubs;
    let tables = Tables { start: place.base, first, body, prologue, code_end, accesses, fused };
    Ok((RegionCode { tables, patches, len: len as u32 }, stored?))
}

/// A module's native code stays below 2 GiB, so that every jump inside it
/// takes a 32-bit displacement and every offset fits its tables.
pub(crate) const CODE_LIMIT: u32 = 1 << 31;

impl Compiler<'_> {
    /// Pads with no-ops to the next 64-byte boundary, where the next segment
    /// starts (see `compile`; on small loops this measured up to 10 %). The
    /// padding runs only when the code above falls through.
    fn align_segment(&mut self) {
        /// The recommended 9-byte no-op, and the shorter ones by length.
        const NOP9: [u8; 9] = [0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00];
        const SHORT: [&[u8]; 8] = [
            &[0x90],
            &[0x66, 0x90],
            &[0x0F, 0x1F, 0x00],
            &[0x0F, 0x1F, 0x40, 0x00],
            &[0x0F, 0x1F, 0x44, 0x00, 0x00],
            &[0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00],
            &[0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
            &[0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        ];
        let pad = (self.offset() as usize).wrapping_neg() % 64;
        let mut buf = [0u8; 64];
        let mut len = 0;
        while pad - len >= NOP9.len() {
            buf[len..len + NOP9.len()].copy_from_slice(&NOP9);
            len += NOP9.len();
        }
        if pad > len {
            let tail = SHORT[pad - len - 1];
            buf[len..pad].copy_from_slice(tail);
        }
        self.ops.extend(&buf[..pad]);
    }

    /// The module offset the next byte goes to.
    fn offset(&self) -> u32 {
        self.base + self.ops.offset().0 as u32
    }

    /// A new exit site and the label of its stub.
    fn exit_to(&mut self, kind: SiteKind, index: u32) -> DynamicLabel {
        self.stub(kind, index, 0)
    }

    fn stub(&mut self, kind: SiteKind, index: u32, undo_charge: u32) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.stubs.push(Stub { label, code: exit_code::site(kind, index), undo_charge, halt: None });
        label
    }

    /// The stub of dynamic jump `i`'s out-of-range slots: halt on the halt
    /// address' slot, else panic.
    fn jump_range_stub(&mut self, i: u32) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        let (halt, code) = (exit_code::site(SiteKind::Halt, i), exit_code::site(SiteKind::Panic, i));
        self.stubs.push(Stub { label, code, undo_charge: 0, halt: Some(halt) });
        label
    }

    /// A new exit site left through inline code (`mov ecx, code; jmp exit`).
    fn exit_inline(&mut self, kind: SiteKind, index: u32) {
        self.exit_with(exit_code::site(kind, index));
    }

    /// The label of the thunk that jumps to the gas prologue of segment
    /// start `target`, outside the region.
    fn thunk(&mut self, target: u32) -> DynamicLabel {
        if let Some(&(_, label)) = self.thunks.iter().find(|(t, _)| *t == target) {
            return label;
        }
        let label = self.ops.new_dynamic_label();
        self.thunks.push((target, label));
        label
    }

    /// `mov ecx, code; jmp exit`.
    fn exit_with(&mut self, code: u32) {
        emit!(self.ops ; mov ecx, code as i32);
        self.jump_to_offset(self.exit);
    }

    /// A `jmp rel32` to module offset `target`.
    fn jump_to_offset(&mut self, target: u32) {
        let next = self.offset() + 5;
        self.ops.push(0xE9);
        self.ops.extend(target.wrapping_sub(next).to_le_bytes());
    }

    /// The out-of-line code after the instructions: exit stubs and one
    /// thunk per jump out of the region to a segment not compiled yet,
    /// which jumps to the next instruction, which exits to have it
    /// compiled, until its 4-byte aligned displacement is patched
    /// (returned). Jumps to a segment compiled already go straight to its
    /// prologue.
    fn emit_stubs(&mut self, place: &Placement<'_>) -> Vec<Patch> {
        let stubs = std::mem::take(&mut self.stubs);
        for stub in &stubs {
            let label = stub.label;
            emit!(self.ops ; =>label);
            if stub.undo_charge != 0 {
                self.add_gas(i64::from(stub.undo_charge));
            }
            if let Some(halt) = stub.halt {
                let panic = self.ops.new_dynamic_label();
                emit!(self.ops
                    ; cmp ecx, control::HALT_SLOT as i32
                    ; jne =>panic
                );
                self.exit_with(halt);
                emit!(self.ops ; =>panic);
            }
            self.exit_with(stub.code);
        }
        self.stubs = stubs;
        let mut patches = Vec::new();
        for (target, label) in std::mem::take(&mut self.thunks) {
            match (place.compiled)(target) {
                // Compiled already: jumps to it go straight there.
                Some(prologue) => self.ops.bind_external(label, (prologue as usize).wrapping_sub(self.base as usize)),
                None => {
                    emit!(self.ops ; =>label);
                    // The displacement (after the opcode byte) 4-byte aligned.
                    while !(self.offset() + 1).is_multiple_of(4) {
                        self.ops.push(0x90);
                    }
                    patches.push(Patch { target, at: self.offset() + 1 });
                    self.ops.extend([0xE9, 0, 0, 0, 0]);
                    self.exit_with(exit_code::site(SiteKind::Compile, target));
                }
            }
        }
        patches
    }

    /// Records the memory access of instruction `i` for the fault handler.
    fn access(&mut self, i: u32, base: Option<u8>, offset: u64, len: u8, write: bool) {
        self.accesses[(i - self.first) as usize] =
            MemAccess { base: base.unwrap_or(NO_BASE), len, write, offset: offset as u32, ..MemAccess::default() };
    }

    /// Instruction `i` of the region.
    #[inline]
    fn ins(&self, i: u32) -> Instruction {
        self.region[(i - self.first) as usize]
    }

    /// Emits instruction `i`.
    fn instruction(&mut self, i: u32) {
        use Width::{W32, W64};
        use memory::Size::*;
        let ins = self.ins(i);
        let (a, b, d, x, y) = (ins.ra, ins.rb, ins.rd, ins.imm, ins.imm2);
        match ins.opcode {
            Opcode::Trap => self.panic(i),
            Opcode::Fallthrough | Opcode::Unlikely => {}
            Opcode::Ecalli => self.exit_inline(SiteKind::Host, i),
            Opcode::LoadImm64 | Opcode::LoadImm => self.load_imm(a, x),

            Opcode::StoreImmU8 => self.store_imm(i, None, x, B1, y),
            Opcode::StoreImmU16 => self.store_imm(i, None, x, B2, y),
            Opcode::StoreImmU32 => self.store_imm(i, None, x, B4, y),
            Opcode::StoreImmU64 => self.store_imm(i, None, x, B8, y),

            Opcode::Jump => self.jump(i),
            Opcode::JumpInd => {
                self.jump_address(a, x);
                self.dynamic_jump(i);
            }
            Opcode::LoadU8 => self.load(i, None, x, a, B1, false),
            Opcode::LoadI8 => self.load(i, None, x, a, B1, true),
            Opcode::LoadU16 => self.load(i, None, x, a, B2, false),
            Opcode::LoadI16 => self.load(i, None, x, a, B2, true),
            Opcode::LoadU32 => self.load(i, None, x, a, B4, false),
            Opcode::LoadI32 => self.load(i, None, x, a, B4, true),
            Opcode::LoadU64 => self.load(i, None, x, a, B8, false),
            Opcode::StoreU8 => self.store(i, None, x, B1, a),
            Opcode::StoreU16 => self.store(i, None, x, B2, a),
            Opcode::StoreU32 => self.store(i, None, x, B4, a),
            Opcode::StoreU64 => self.store(i, None, x, B8, a),

            Opcode::StoreImmIndU8 => self.store_imm(i, Some(a), x, B1, y),
            Opcode::StoreImmIndU16 => self.store_imm(i, Some(a), x, B2, y),
            Opcode::StoreImmIndU32 => self.store_imm(i, Some(a), x, B4, y),
            Opcode::StoreImmIndU64 => self.store_imm(i, Some(a), x, B8, y),

            Opcode::LoadImmJump => {
                self.load_imm(a, x);
                self.jump(i);
            }
            Opcode::BranchEqImm => self.branch_imm(i, control::Cond::Eq),
            Opcode::BranchNeImm => self.branch_imm(i, control::Cond::Ne),
            Opcode::BranchLtUImm => self.branch_imm(i, control::Cond::LtU),
            Opcode::BranchLeUImm => self.branch_imm(i, control::Cond::LeU),
            Opcode::BranchGeUImm => self.branch_imm(i, control::Cond::GeU),
            Opcode::BranchGtUImm => self.branch_imm(i, control::Cond::GtU),
            Opcode::BranchLtSImm => self.branch_imm(i, control::Cond::LtS),
            Opcode::BranchLeSImm => self.branch_imm(i, control::Cond::LeS),
            Opcode::BranchGeSImm => self.branch_imm(i, control::Cond::GeS),
            Opcode::BranchGtSImm => self.branch_imm(i, control::Cond::GtS),

            Opcode::MoveReg => self.mov(d, a),
            Opcode::Sbrk => {
                let label = self.exit_to(SiteKind::InterpretHere, i);
                emit!(self.ops ; jmp =>label);
            }
            Opcode::CountSetBits64 => self.popcnt(d, a, W64),
            Opcode::CountSetBits32 => self.popcnt(d, a, W32),
            Opcode::LeadingZeroBits64 => self.clz(d, a, W64),
            Opcode::LeadingZeroBits32 => self.clz(d, a, W32),
            Opcode::TrailingZeroBits64 => self.ctz(d, a, W64),
            Opcode::TrailingZeroBits32 => self.ctz(d, a, W32),
            Opcode::SignExtend8 => self.extend(d, a, bits::Extend::Sign8),
            Opcode::SignExtend16 => self.extend(d, a, bits::Extend::Sign16),
            Opcode::ZeroExtend16 => self.extend(d, a, bits::Extend::Zero16),
            Opcode::ReverseBytes => self.reverse_bytes(d, a),

            Opcode::StoreIndU8 => self.store(i, Some(b), x, B1, a),
            Opcode::StoreIndU16 => self.store(i, Some(b), x, B2, a),
            Opcode::StoreIndU32 => self.store(i, Some(b), x, B4, a),
            Opcode::StoreIndU64 => self.store(i, Some(b), x, B8, a),
            Opcode::LoadIndU8 => self.load(i, Some(b), x, a, B1, false),
            Opcode::LoadIndI8 => self.load(i, Some(b), x, a, B1, true),
            Opcode::LoadIndU16 => self.load(i, Some(b), x, a, B2, false),
            Opcode::LoadIndI16 => self.load(i, Some(b), x, a, B2, true),
            Opcode::LoadIndU32 => self.load(i, Some(b), x, a, B4, false),
            Opcode::LoadIndI32 => self.load(i, Some(b), x, a, B4, true),
            Opcode::LoadIndU64 => self.load(i, Some(b), x, a, B8, false),
            Opcode::AddImm32 => self.add_imm_32(a, b, x),
            Opcode::AndImm => self.logic_imm(alu::Logic::And, a, b, x),
            Opcode::XorImm => self.logic_imm(alu::Logic::Xor, a, b, x),
            Opcode::OrImm => self.logic_imm(alu::Logic::Or, a, b, x),
            Opcode::MulImm32 => self.mul_imm(a, b, x, W32),
            Opcode::SetLtUImm => self.set_cmp_imm(a, b, x, control::Cond::LtU),
            Opcode::SetLtSImm => self.set_cmp_imm(a, b, x, control::Cond::LtS),
            Opcode::ShloLImm32 => self.shift_imm(bits::Shift::Shl, a, b, x, W32),
            Opcode::ShloRImm32 => self.shift_imm(bits::Shift::Shr, a, b, x, W32),
            Opcode::SharRImm32 => self.shift_imm(bits::Shift::Sar, a, b, x, W32),
            Opcode::NegAddImm32 => self.neg_add_imm(a, b, x, W32),
            Opcode::SetGtUImm => self.set_cmp_imm(a, b, x, control::Cond::GtU),
            Opcode::SetGtSImm => self.set_cmp_imm(a, b, x, control::Cond::GtS),
            Opcode::ShloLImmAlt32 => self.shift_alt(bits::Shift::Shl, a, b, x, W32),
            Opcode::ShloRImmAlt32 => self.shift_alt(bits::Shift::Shr, a, b, x, W32),
            Opcode::SharRImmAlt32 => self.shift_alt(bits::Shift::Sar, a, b, x, W32),
            Opcode::CmovIzImm => self.cmov_imm(a, b, x, true),
            Opcode::CmovNzImm => self.cmov_imm(a, b, x, false),
            Opcode::AddImm64 => self.add_imm_64(a, b, x),
            Opcode::MulImm64 => self.mul_imm(a, b, x, W64),
            Opcode::ShloLImm64 => self.shift_imm(bits::Shift::Shl, a, b, x, W64),
            Opcode::ShloRImm64 => self.shift_imm(bits::Shift::Shr, a, b, x, W64),
            Opcode::SharRImm64 => self.shift_imm(bits::Shift::Sar, a, b, x, W64),
            Opcode::NegAddImm64 => self.neg_add_imm(a, b, x, W64),
            Opcode::ShloLImmAlt64 => self.shift_alt(bits::Shift::Shl, a, b, x, W64),
            Opcode::ShloRImmAlt64 => self.shift_alt(bits::Shift::Shr, a, b, x, W64),
            Opcode::SharRImmAlt64 => self.shift_alt(bits::Shift::Sar, a, b, x, W64),
            Opcode::RotR64Imm => self.shift_imm(bits::Shift::Ror, a, b, x, W64),
            Opcode::RotR64ImmAlt => self.shift_alt(bits::Shift::Ror, a, b, x, W64),
            Opcode::RotR32Imm => self.shift_imm(bits::Shift::Ror, a, b, x, W32),
            Opcode::RotR32ImmAlt => self.shift_alt(bits::Shift::Ror, a, b, x, W32),

            Opcode::BranchEq => self.branch_reg(i, control::Cond::Eq),
            Opcode::BranchNe => self.branch_reg(i, control::Cond::Ne),
            Opcode::BranchLtU => self.branch_reg(i, control::Cond::LtU),
            Opcode::BranchLtS => self.branch_reg(i, control::Cond::LtS),
            Opcode::BranchGeU => self.branch_reg(i, control::Cond::GeU),
            Opcode::BranchGeS => self.branch_reg(i, control::Cond::GeS),

            Opcode::LoadImmJumpInd => {
                self.jump_address(b, y);
                self.load_imm(a, x);
                self.dynamic_jump(i);
            }

            Opcode::Add32 => self.add_32(d, a, b),
            Opcode::Sub32 => self.arith_32(alu::Arith::Sub, d, a, b),
            Opcode::Mul32 => self.arith_32(alu::Arith::Mul, d, a, b),
            Opcode::DivU32 => self.divide(muldiv::Div::DivU, d, a, b, W32),
            Opcode::DivS32 => self.divide(muldiv::Div::DivS, d, a, b, W32),
            Opcode::RemU32 => self.divide(muldiv::Div::RemU, d, a, b, W32),
            Opcode::RemS32 => self.divide(muldiv::Div::RemS, d, a, b, W32),
            Opcode::ShloL32 => self.shift_reg(bits::Shift::Shl, d, a, b, W32),
            Opcode::ShloR32 => self.shift_reg(bits::Shift::Shr, d, a, b, W32),
            Opcode::SharR32 => self.shift_reg(bits::Shift::Sar, d, a, b, W32),
            Opcode::Add64 => self.add_64(d, a, b),
            Opcode::Sub64 => self.arith_64(alu::Arith::Sub, d, a, b),
            Opcode::Mul64 => self.arith_64(alu::Arith::Mul, d, a, b),
            Opcode::DivU64 => self.divide(muldiv::Div::DivU, d, a, b, W64),
            Opcode::DivS64 => self.divide(muldiv::Div::DivS, d, a, b, W64),
            Opcode::RemU64 => self.divide(muldiv::Div::RemU, d, a, b, W64),
            Opcode::RemS64 => self.divide(muldiv::Div::RemS, d, a, b, W64),
            Opcode::ShloL64 => self.shift_reg(bits::Shift::Shl, d, a, b, W64),
            Opcode::ShloR64 => self.shift_reg(bits::Shift::Shr, d, a, b, W64),
            Opcode::SharR64 => self.shift_reg(bits::Shift::Sar, d, a, b, W64),
            Opcode::And => self.arith_64(alu::Arith::And, d, a, b),
            Opcode::Xor => self.arith_64(alu::Arith::Xor, d, a, b),
            Opcode::Or => self.arith_64(alu::Arith::Or, d, a, b),
            Opcode::MulUpperSS => self.mul_upper(muldiv::Upper::SignedSigned, d, a, b),
            Opcode::MulUpperUU => self.mul_upper(muldiv::Upper::UnsignedUnsigned, d, a, b),
            Opcode::MulUpperSU => self.mul_upper(muldiv::Upper::SignedUnsigned, d, a, b),
            Opcode::SetLtU => self.set_cmp_reg(d, a, b, control::Cond::LtU),
            Opcode::SetLtS => self.set_cmp_reg(d, a, b, control::Cond::LtS),
            Opcode::CmovIz => self.cmov_reg(d, a, b, true),
            Opcode::CmovNz => self.cmov_reg(d, a, b, false),
            Opcode::RotL64 => self.shift_reg(bits::Shift::Rol, d, a, b, W64),
            Opcode::RotL32 => self.shift_reg(bits::Shift::Rol, d, a, b, W32),
            Opcode::RotR64 => self.shift_reg(bits::Shift::Ror, d, a, b, W64),
            Opcode::RotR32 => self.shift_reg(bits::Shift::Ror, d, a, b, W32),
            Opcode::AndInv => self.and_inv(d, a, b),
            Opcode::OrInv => self.or_inv(d, a, b),
            Opcode::Xnor => self.xnor(d, a, b),
            Opcode::Max => self.min_max(d, a, b, alu::MinMax::Max),
            Opcode::MaxU => self.min_max(d, a, b, alu::MinMax::MaxU),
            Opcode::Min => self.min_max(d, a, b, alu::MinMax::Min),
            Opcode::MinU => self.min_max(d, a, b, alu::MinMax::MinU),
        }
    }
}
