//! Code generation: one pass over the instruction stream, one native
//! segment per basic block, with a thin emitter per instruction class and
//! one per fused pair (found by a pass before, see [`pairs`]).
//!
//! Layout of the generated code:
//!
//! ```text
//! enter / exit trampolines, the dynamic-jump panic stub
//! for every segment (a block start, or any instruction after a terminator;
//! heads of small loops and dynamic-jump targets 64-byte aligned):
//!     prologue: sub gas, cost; jl out_of_gas_stub
//!     body: each instruction's code, in guest order (falls through)
//! out-of-line exit stubs (mov ecx, site; jmp exit)
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
mod control;
#[cfg(test)]
mod golden;
mod memory;
mod muldiv;
mod pairs;
pub(crate) mod regs;
mod trampoline;

use crate::code::CodeMemory;
use crate::cpu::Features;
use crate::error::CompileError;
use crate::exit_code;
use assembler::{Assembler, Scratch};
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi};
use javm_cap::program::decoded::NO_INDEX;
use javm_cap::program::isa::OPCODE_COUNT;
use javm_cap::program::{Opcode, Program};

/// Emits x86-64 with dynasm; every use goes through this so the
/// architecture directive is never forgotten.
macro_rules! emit {
    ($ops:expr; $($t:tt)*) => {
        dynasmrt::dynasm!($ops ; .arch x64 ; $($t)*)
    };
}
pub(crate) use emit;

/// Why generated code left for the run loop, per static exit site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum ExitKind {
    /// `trap`, or a jump to a target that is not a block start.
    Panic,
    /// A dynamic jump to `0xFFFF0000`.
    Halt,
    /// `ecalli` with this id.
    Host(u32),
    /// Not enough gas to enter a block (nothing charged).
    OutOfGas,
    /// Instruction gas model: the block cannot be paid in full; the runtime
    /// steps through it in the interpreter (nothing charged).
    InterpretBlock,
    /// An instruction the recompiler leaves to the interpreter (`sbrk`);
    /// the block is paid for.
    InterpretHere,
}

/// One static exit site: what happened at which guest instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ExitSite {
    /// Why.
    pub kind: ExitKind,
    /// Index of the guest instruction in the program's stream.
    pub index: u32,
}

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

/// An out-of-line stub: `[add [gas], refund;] mov ecx, site; jmp exit`.
pub(crate) struct Stub {
    label: DynamicLabel,
    site: u32,
    undo_charge: u32,
}

/// Everything compilation produces.
pub(crate) struct Output {
    /// The machine code, position-independent (only relative jumps inside
    /// it), in executable memory.
    pub code: CodeMemory,
    /// Where things are in it.
    pub tables: Tables,
}

/// The tables that connect native code to the guest program: offsets into
/// the code, per guest instruction and per exit site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tables {
    pub enter: usize,
    pub exit: usize,
    pub dyn_panic: usize,
    /// Native offset of each instruction's body.
    pub body: Vec<u32>,
    /// Native offset of the gas prologue of each segment start, else
    /// `u32::MAX`.
    pub prologue: Vec<u32>,
    /// End of the per-instruction code (start of the stubs).
    pub code_end: u32,
    pub exits: Vec<ExitSite>,
    pub accesses: Vec<MemAccess>,
    /// The second instructions of fused pairs, whose code relies on the
    /// first's ([`pairs`]): not entry points.
    pub fused: Vec<bool>,
}

/// Operand width of an arithmetic instruction: `_32` instructions compute
/// in 32 bits and sign-extend the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    W32,
    W64,
}

/// The compiler state.
pub(crate) struct Compiler<'p> {
    ops: Assembler,
    features: Features,
    program: &'p Program,
    prologues: Vec<Option<DynamicLabel>>,
    stubs: Vec<Stub>,
    exits: Vec<ExitSite>,
    accesses: Vec<MemAccess>,
    exit_label: DynamicLabel,
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

/// Loops of at most this many guest instructions get their head aligned.
const SMALL_LOOP: usize = 12;

/// Compiles `program` (see the module docs for the layout) into executable
/// memory, assembling in this thread's reusable [`Scratch`].
pub(crate) fn compile(program: &Program, features: Features) -> Result<Output, CompileError> {
    let n = program.instructions().len();
    if n >= (CODE_LIMIT as usize) {
        return Err(CompileError::TooLarge(format!("{n} instructions")));
    }
    assembler::with_scratch(|scratch| compile_in(program, features, scratch))
}

fn compile_in(program: &Program, features: Features, scratch: &mut Scratch) -> Result<Output, CompileError> {
    let n = program.instructions().len();
    let mut ops = std::mem::take(&mut scratch.asm);
    // About 16 bytes of native code per guest code byte.
    ops.reserve(4096 + program.code().len() * 16);
    let exit_label = ops.new_dynamic_label();
    let mut prologues = std::mem::take(&mut scratch.prologues);
    prologues.resize(n, None);
    let mut c = Compiler {
        ops,
        features,
        program,
        prologues,
        stubs: std::mem::take(&mut scratch.stubs),
        exits: Vec::new(),
        accesses: vec![MemAccess::default(); n],
        exit_label,
    };
    let (enter, exit, dyn_panic) = c.trampolines();
    // Segments that start on a 64-byte boundary: heads of small loops
    // (targets of backward static branches and jumps at most `SMALL_LOOP`
    // instructions back), so that a tight loop spans as few cache and
    // micro-op cache lines as it can, and dynamic-jump targets
    // (interpreter-style dispatch), so that their placement does not depend
    // on the code before them.
    let aligned = &mut scratch.aligned;
    aligned.resize(n, false);
    for &t in program.jump_targets() {
        if t != NO_INDEX {
            aligned[t as usize] = true;
        }
    }
    let ins = program.instructions();
    let run_end = program.run_ends();
    let segment_start = &mut scratch.segment_start;
    for i in 0..n {
        // Instruction i − 1 is a terminator exactly when its run ends at i.
        let starts = i == 0 || run_end[i - 1] as usize == i;
        if starts {
            c.prologues[i] = Some(c.ops.new_dynamic_label());
        }
        segment_start.push(starts);
        if BRANCH[ins[i].opcode as usize]
            && let Some(t) = program.static_target(ins[i].target)
            && t as usize <= i
            && i - (t as usize) < SMALL_LOOP
        {
            aligned[t as usize] = true;
        }
    }
    let pairs = pairs::find(ins, segment_start, features);
    let fused: Vec<bool> = (0..n).map(|i| i > 0 && pairs[i - 1].is_some()).collect();
    let mut body = Vec::with_capacity(n);
    let mut prologue = vec![u32::MAX; n];
    // Where the code of the second instruction of the last pair starts.
    let mut second = 0;
    for (i, start) in prologue.iter_mut().enumerate() {
        if let Some(label) = c.prologues[i] {
            if aligned[i] {
                c.align_segment();
            }
            *start = c.ops.offset().0 as u32;
            c.gas_prologue(i as u32, label);
        }
        if fused[i] {
            // Emitted with the first instruction of its pair.
            body.push(second);
            continue;
        }
        body.push(c.ops.offset().0 as u32);
        match pairs[i] {
            Some(pair) => second = c.pair(pair, i as u32),
            None => c.instruction(i as u32),
        }
    }
    let code_end = c.ops.offset().0 as u32;
    c.emit_stubs();
    let Compiler { mut ops, prologues, mut stubs, exits, accesses, .. } = c;
    if ops.offset().0 >= CODE_LIMIT as usize {
        return Err(CompileError::TooLarge(format!("{} bytes of native code", ops.offset().0)));
    }
    let native = ops.commit().map_err(|e| CompileError::Memory(format!("unresolved label: {e}")))?;
    let code = CodeMemory::new(native).map_err(|e| CompileError::Memory(e.to_string()))?;
    (scratch.asm, scratch.prologues) = (ops, prologues);
    stubs.clear();
    scratch.stubs = stubs;
    let tables = Tables { enter, exit, dyn_panic, body, prologue, code_end, exits, accesses, fused };
    Ok(Output { code, tables })
}

/// Native offsets and exit-site numbers must stay below the special exit
/// codes ([`exit_code::CODE_DYN_PANIC`] and up).
pub(crate) const CODE_LIMIT: u32 = exit_code::CODE_DYN_PANIC - 1;

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
        let pad = self.ops.offset().0.wrapping_neg() % 64;
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

    /// A new exit site and the label of its stub.
    fn exit_to(&mut self, kind: ExitKind, index: u32) -> DynamicLabel {
        self.stub(kind, index, 0)
    }

    fn stub(&mut self, kind: ExitKind, index: u32, undo_charge: u32) -> DynamicLabel {
        let site = self.exits.len() as u32;
        self.exits.push(ExitSite { kind, index });
        let label = self.ops.new_dynamic_label();
        self.stubs.push(Stub { label, site, undo_charge });
        label
    }

    /// A new exit site left through inline code (`mov ecx, site; jmp exit`).
    fn exit_inline(&mut self, kind: ExitKind, index: u32) {
        let site = self.exits.len() as u32;
        self.exits.push(ExitSite { kind, index });
        let exit = self.exit_label;
        emit!(self.ops ; mov ecx, site as i32 ; jmp =>exit);
    }

    fn emit_stubs(&mut self) {
        let exit = self.exit_label;
        let stubs = std::mem::take(&mut self.stubs);
        for stub in &stubs {
            let label = stub.label;
            emit!(self.ops ; =>label);
            if stub.undo_charge != 0 {
                self.add_gas(i64::from(stub.undo_charge));
            }
            emit!(self.ops ; mov ecx, stub.site as i32 ; jmp =>exit);
        }
        self.stubs = stubs;
    }

    /// Records the memory access of instruction `i` for the fault handler.
    fn access(&mut self, i: u32, base: Option<u8>, offset: u64, len: u8, write: bool) {
        self.accesses[i as usize] =
            MemAccess { base: base.unwrap_or(NO_BASE), len, write, offset: offset as u32, ..MemAccess::default() };
    }

    /// Emits instruction `i`.
    fn instruction(&mut self, i: u32) {
        use Width::{W32, W64};
        use memory::Size::*;
        let ins = self.program.instructions()[i as usize];
        let (a, b, d, x, y) = (ins.ra, ins.rb, ins.rd, ins.imm, ins.imm2);
        match ins.opcode {
            Opcode::Trap => self.panic(i),
            Opcode::Fallthrough | Opcode::Unlikely => {}
            Opcode::Ecalli => self.exit_inline(ExitKind::Host(x as u32), i),
            Opcode::LoadImm64 | Opcode::LoadImm => self.load_imm(a, x),

            Opcode::StoreImmU8 => self.store_imm(i, None, x, B1, y),
            Opcode::StoreImmU16 => self.store_imm(i, None, x, B2, y),
            Opcode::StoreImmU32 => self.store_imm(i, None, x, B4, y),
            Opcode::StoreImmU64 => self.store_imm(i, None, x, B8, y),

            Opcode::Jump => self.jump(i),
            Opcode::JumpInd => {
                self.address(Some(a), x);
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
                let label = self.exit_to(ExitKind::InterpretHere, i);
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
                self.address(Some(b), y);
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
