//! Control flow: gas prologues, branches, static and dynamic jumps, traps.

use super::regs::host;
use super::{Compiler, emit};
use crate::ctx;
use crate::exit_code::SiteKind;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi};
use javm_cap::program::GasModel;
use javm_cap::program::decoded::HALT_ADDRESS;

/// A comparison, as branches and `set_*` instructions use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq,
    Ne,
    LtU,
    LeU,
    GeU,
    GtU,
    LtS,
    LeS,
    GeS,
    GtS,
}

impl Compiler<'_> {
    /// The segment-entry charge ([`Program::entry_charge`]): `sub gas,
    /// cost; jl stub` (gas in `r15` with `fsgsbase`, else in the context).
    /// The stub undoes the subtraction and exits without charging (spec
    /// §8.1: compare before charging), or under the instruction model hands
    /// the block to the interpreter, which steps through it.
    ///
    /// [`Program::entry_charge`]: javm_cap::program::Program::entry_charge
    pub(super) fn gas_prologue(&mut self, i: u32, label: DynamicLabel) {
        let cost = self.program.entry_charge(i);
        emit!(self.ops ; =>label);
        if cost == 0 {
            return;
        }
        let kind = match self.program.gas_model() {
            GasModel::Instruction => SiteKind::InterpretBlock,
            GasModel::Pipeline | GasModel::Block => SiteKind::OutOfGas,
        };
        let stub = self.stub(kind, i, cost);
        // Adding −cost gives the same result and flags as subtracting cost
        // (the same signed value, overflowing exactly when it would), so
        // `jl` still means gas < cost.
        self.add_gas(-i64::from(cost));
        emit!(self.ops ; jl =>stub);
    }

    /// Adds `delta` (fits in 32 bits) to the gas counter; sets the flags.
    pub(super) fn add_gas(&mut self, delta: i64) {
        let short = delta == i64::from(delta as i8);
        match (self.features.fsgsbase, short) {
            (true, true) => emit!(self.ops ; add r15, BYTE delta as i8),
            (true, false) => emit!(self.ops ; add r15, delta as i32),
            // `add qword [r15 + disp8], imm8` (REX.WB 83 /0 ib): dynasm only
            // picks the 32-bit immediate form for a memory operand.
            (false, true) => self.ops.extend([0x49, 0x83, 0x47, ctx::GAS as i8 as u8, delta as i8 as u8]),
            (false, false) => emit!(self.ops ; add QWORD [BYTE r15 + ctx::GAS as i8], delta as i32),
        }
    }

    /// `trap`: panic at instruction `i`.
    pub(super) fn panic(&mut self, i: u32) {
        let label = self.exit_to(SiteKind::Panic, i);
        emit!(self.ops ; jmp =>label);
    }

    /// Where a static jump or taken branch of instruction `i` goes: the
    /// target block's prologue (through a thunk when it lies outside the
    /// region), or a panic when the target is not a block start.
    fn target(&mut self, i: u32) -> DynamicLabel {
        let ins = self.ins(i);
        match self.program.static_target(ins.target) {
            Some(t) if (self.first..self.end).contains(&t) => {
                self.prologues[(t - self.first) as usize].expect("every block start opens a segment")
            }
            Some(t) => self.thunk(t),
            None => self.exit_to(SiteKind::Panic, i),
        }
    }

    /// `jump` (and the jump of `load_imm_jump`); nothing when the target
    /// block is the next one emitted.
    pub(super) fn jump(&mut self, i: u32) {
        let ins = self.ins(i);
        if self.program.static_target(ins.target) == Some(i + 1) && i + 1 < self.end {
            return;
        }
        let target = self.target(i);
        emit!(self.ops ; jmp =>target);
    }

    /// Register-register branch; the fall-through is the next segment.
    pub(super) fn branch_reg(&mut self, i: u32, cond: Cond) {
        let ins = self.ins(i);
        let target = self.target(i);
        emit!(self.ops ; cmp Rq(host(ins.ra)), Rq(host(ins.rb)));
        self.jcc(cond, target);
    }

    /// Register-immediate branch.
    pub(super) fn branch_imm(&mut self, i: u32, cond: Cond) {
        let ins = self.ins(i);
        let target = self.target(i);
        self.cmp_imm(host(ins.ra), ins.imm);
        self.jcc(cond, target);
    }

    /// Flags of `cmp r, x` (x sign-extended from 32 bits) on host register
    /// `r`, with the shortest encoding: against zero, `test r, r` sets the
    /// same flags (CF and OF clear, ZF and SF from `r`).
    pub(super) fn cmp_imm(&mut self, r: u8, x: u64) {
        let x = x as i32;
        if x == 0 {
            emit!(self.ops ; test Rq(r), Rq(r));
        } else if x == i32::from(x as i8) {
            // `cmp r64, imm8` (REX.W 83 /7 ib): dynasm only picks the
            // 32-bit immediate form for `cmp`.
            self.ops.extend([0x48 | (r >> 3), 0x83, 0xF8 | (r & 7), x as u8]);
        } else {
            emit!(self.ops ; cmp Rq(r), x);
        }
    }

    pub(super) fn jcc(&mut self, cond: Cond, label: DynamicLabel) {
        match cond {
            Cond::Eq => emit!(self.ops ; je =>label),
            Cond::Ne => emit!(self.ops ; jne =>label),
            Cond::LtU => emit!(self.ops ; jb =>label),
            Cond::LeU => emit!(self.ops ; jbe =>label),
            Cond::GeU => emit!(self.ops ; jae =>label),
            Cond::GtU => emit!(self.ops ; ja =>label),
            Cond::LtS => emit!(self.ops ; jl =>label),
            Cond::LeS => emit!(self.ops ; jle =>label),
            Cond::GeS => emit!(self.ops ; jge =>label),
            Cond::GtS => emit!(self.ops ; jg =>label),
        }
    }

    /// `setcc` into the low byte of host register `r` for the flags of a
    /// preceding `cmp`.
    pub(super) fn setcc(&mut self, cond: Cond, r: u8) {
        match cond {
            Cond::Eq => emit!(self.ops ; sete Rb(r)),
            Cond::Ne => emit!(self.ops ; setne Rb(r)),
            Cond::LtU => emit!(self.ops ; setb Rb(r)),
            Cond::LeU => emit!(self.ops ; setbe Rb(r)),
            Cond::GeU => emit!(self.ops ; setae Rb(r)),
            Cond::GtU => emit!(self.ops ; seta Rb(r)),
            Cond::LtS => emit!(self.ops ; setl Rb(r)),
            Cond::LeS => emit!(self.ops ; setle Rb(r)),
            Cond::GeS => emit!(self.ops ; setge Rb(r)),
            Cond::GtS => emit!(self.ops ; setg Rb(r)),
        }
    }

    /// `ecx ← (rB + offset − 2) mod 2^32`: the address of a dynamic jump
    /// to `rB + offset`, less 2, as [`Self::dynamic_jump`] takes it.
    pub(super) fn jump_address(&mut self, base: u8, offset: u64) {
        self.address(Some(base), offset.wrapping_sub(2));
    }

    /// A dynamic jump of instruction `i` to the 32-bit address `a` (spec
    /// §7.3), with `a − 2` in `ecx` ([`Self::jump_address`]): index the
    /// jump table with `ror(a − 2, 1)` (`a/2 − 1` for an even `a`), which
    /// maps every invalid address (zero, odd, or past the table) to an
    /// index at or past the table's length, the halt address included (at
    /// [`HALT_SLOT`]); an out-of-line stub tells halt from panic. Invalid
    /// entries point at the shared panic stub, which reads the instruction
    /// index stored just before the jump when the table has any.
    pub(super) fn dynamic_jump(&mut self, i: u32) {
        let len = self.program.jump_targets().len() as u32;
        let range = self.jump_range_stub(i);
        emit!(self.ops ; ror ecx, 1);
        if len == 0 {
            emit!(self.ops ; jmp =>range);
            return;
        }
        if len < 0x80 {
            // `cmp ecx, imm8` (83 /7 ib): dynasm only picks the 32-bit form.
            self.ops.extend([0x83, 0xF9, len as u8]);
        } else {
            emit!(self.ops ; cmp ecx, len as i32);
        }
        emit!(self.ops
            ; jae =>range
            ; shl rcx, 3
        );
        let store_index = self.invalid_jump_entries;
        match (self.features.fsgsbase, store_index) {
            (true, true) => emit!(self.ops ; gs mov DWORD [ctx::EXIT_INDEX], i as i32),
            (false, true) => emit!(self.ops ; mov DWORD [BYTE r15 + ctx::EXIT_INDEX as i8], i as i32),
            (_, false) => {}
        }
        if self.features.fsgsbase {
            emit!(self.ops ; gs add rcx, [ctx::JUMP_TABLE]);
        } else {
            emit!(self.ops ; add rcx, [BYTE r15 + ctx::JUMP_TABLE as i8]);
        }
        emit!(self.ops ; jmp QWORD [rcx]);
    }
}

/// The jump-table index the halt address maps to, `ror(0xFFFF0000 − 2,
/// 1)`: past every table (the compiler refuses longer ones).
pub(crate) const HALT_SLOT: u32 = HALT_ADDRESS.wrapping_sub(2).rotate_right(1);
