//! The interpreter's pre-decoded form of a [`Program`]: one compact `Op`
//! per instruction with static targets resolved to instruction indices, plus
//! side tables read only on block entry or exit.

use javm_cap::program::decoded::NO_INDEX;
use javm_cap::program::{GasModel, Opcode, OperandClass, Program};

/// One pre-decoded instruction (16 bytes).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Op {
    /// Immediate `X`.
    pub imm: u64,
    /// For jumps and branches: the target's instruction index, or
    /// [`NO_INDEX`] when the target is not a block start. Otherwise the low
    /// 32 bits of immediate `Y` (always a sign-extended 32-bit value).
    pub aux: u32,
    pub opcode: Opcode,
    pub a: u8,
    pub b: u8,
    pub d: u8,
}

impl Op {
    /// Immediate `Y`.
    #[inline(always)]
    pub fn imm2(&self) -> u64 {
        self.aux as i32 as i64 as u64
    }
}

const _: () = assert!(std::mem::size_of::<Op>() == 16);

/// A program ready for the interpreter.
#[derive(Debug)]
pub struct InterpCode {
    pub(crate) ops: Vec<Op>,
    /// Code offset of each op.
    pub(crate) pcs: Vec<u32>,
    /// Gas to charge on reaching each op with nothing paid: the cost of its
    /// containing block (pipeline and block models).
    pub(crate) charge: Vec<u32>,
    /// Index one past the first terminator at or after each op (the
    /// instruction model pre-pays up to there).
    pub(crate) run_end: Vec<u32>,
    /// Jump-table entries as instruction indices ([`NO_INDEX`] if invalid).
    pub(crate) jump_targets: Vec<u32>,
    pub(crate) gas_model: GasModel,
    pub(crate) lone_trap_cost: u32,
}

impl InterpCode {
    /// Builds the pre-decoded form.
    pub fn new(program: &Program) -> InterpCode {
        let instructions = program.instructions();
        let mut ops = Vec::with_capacity(instructions.len());
        let mut pcs = Vec::with_capacity(instructions.len());
        let mut charge = Vec::with_capacity(instructions.len());
        for (i, ins) in instructions.iter().enumerate() {
            let has_target =
                matches!(ins.opcode.class(), OperandClass::Off | OperandClass::RegImmOff | OperandClass::RegRegOff);
            let aux = if has_target { program.static_target(ins.target).unwrap_or(NO_INDEX) } else { ins.imm2 as u32 };
            debug_assert_eq!(ins.imm2, ins.imm2 as u32 as i32 as i64 as u64, "Y is a 32-bit immediate");
            ops.push(Op { opcode: ins.opcode, a: ins.ra, b: ins.rb, d: ins.rd, aux, imm: ins.imm });
            pcs.push(ins.pc);
            charge.push(program.charge_at(i as u32));
        }
        let mut run_end = vec![0u32; instructions.len()];
        let mut end = instructions.len() as u32;
        for i in (0..instructions.len()).rev() {
            if instructions[i].opcode.is_terminator() {
                end = i as u32 + 1;
            }
            run_end[i] = end;
        }
        InterpCode {
            ops,
            pcs,
            charge,
            run_end,
            jump_targets: program.jump_targets().to_vec(),
            gas_model: program.gas_model(),
            lone_trap_cost: program.lone_trap_cost(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use javm_cap::program::{CodeBlob, Profile};

    #[test]
    fn resolves_targets_and_run_ends() {
        // 0: load_imm r0 1, 3: branch_eq_imm r0, 1, → 0; 7: trap
        let code = vec![51, 0x00, 1, 81, 0x10, 1, 0xfd, 0];
        let blob = CodeBlob::from_parts(code, [0, 3, 7], vec![]);
        let program = Program::new(blob, Profile::P8, GasModel::Block).unwrap();
        let c = InterpCode::new(&program);
        assert_eq!(c.ops[1].aux, 0);
        assert_eq!(c.run_end, [2, 2, 3, 4]);
        assert_eq!(c.charge, [2, 2, 1, 1]);
        assert_eq!(c.pcs, [0, 3, 7, 8], "with the trap past the end");
    }
}
