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

/// Entering an op with nothing paid for its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Gas to charge: the cost of the containing block.
    pub cost: u32,
    /// Ops to step over once charged: the `unlikely` hints starting here,
    /// which do nothing.
    pub skip: u32,
}

/// A program ready for the interpreter.
#[derive(Debug)]
pub struct InterpCode {
    pub(crate) ops: Vec<Op>,
    /// Code offset of each op.
    pub(crate) pcs: Vec<u32>,
    /// What entering each op with nothing paid does (pipeline and block
    /// models).
    pub(crate) entry: Vec<Entry>,
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
        let mut entry = Vec::with_capacity(instructions.len());
        for (i, ins) in instructions.iter().enumerate() {
            let has_target =
                matches!(ins.opcode.class(), OperandClass::Off | OperandClass::RegImmOff | OperandClass::RegRegOff);
            let aux = if has_target { program.static_target(ins.target).unwrap_or(NO_INDEX) } else { ins.imm2 as u32 };
            debug_assert_eq!(ins.imm2, ins.imm2 as u32 as i32 as i64 as u64, "Y is a 32-bit immediate");
            ops.push(Op { opcode: ins.opcode, a: ins.ra, b: ins.rb, d: ins.rd, aux, imm: ins.imm });
            pcs.push(ins.pc);
            entry.push(Entry { cost: program.charge_at(i as u32), skip: 0 });
        }
        // `unlikely` is only a hint: a block entered at one goes straight on
        // to the instruction after it. (The instruction model charges it like
        // any other instruction, so there it runs.)
        if program.gas_model() != GasModel::Instruction {
            for i in (0..instructions.len()).rev() {
                if instructions[i].opcode == Opcode::Unlikely {
                    entry[i].skip = 1 + entry.get(i + 1).map_or(0, |next| next.skip);
                }
            }
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
            entry,
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
        assert_eq!(c.entry.iter().map(|e| e.cost).collect::<Vec<_>>(), [2, 2, 1, 1]);
        assert!(c.entry.iter().all(|e| e.skip == 0));
        assert_eq!(c.pcs, [0, 3, 7, 8], "with the trap past the end");
    }

    #[test]
    fn block_entries_step_over_unlikely_hints() {
        // 0: unlikely, 1: unlikely, 2: trap
        let blob = || CodeBlob::from_parts(vec![2, 2, 0], [0, 1, 2], vec![]);
        let program = Program::new(blob(), Profile::P8, GasModel::Block).unwrap();
        let c = InterpCode::new(&program);
        assert_eq!(c.entry.iter().map(|e| e.skip).collect::<Vec<_>>(), [2, 1, 0, 0]);
        let program = Program::new(blob(), Profile::P8, GasModel::Instruction).unwrap();
        let c = InterpCode::new(&program);
        assert!(c.entry.iter().all(|e| e.skip == 0), "the instruction model charges each hint as it runs");
    }
}
