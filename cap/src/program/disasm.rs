//! Human-readable instruction text, from the ISA table's operand classes.

use super::decode::{INVALID_TARGET, Instruction};
use super::isa::OperandClass;
use std::fmt::{self, Write};

/// Formats one instruction as `mnemonic operands`, e.g.
/// `add_32 r9, r7, r8` or `branch_eq_imm r1, 0x5, @12`.
pub fn format_instruction(ins: &Instruction) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_instruction(&mut out, ins);
    out
}

fn target(t: u32) -> String {
    if t == INVALID_TARGET { "@invalid".to_string() } else { format!("@{t}") }
}

fn imm(v: u64) -> String {
    let s = v as i64;
    if (-4096..=4096).contains(&s) { format!("{s}") } else { format!("0x{v:x}") }
}

/// Writes `ins` to `out` (see [`format_instruction`]).
pub fn write_instruction(out: &mut impl Write, ins: &Instruction) -> fmt::Result {
    let m = ins.opcode.mnemonic();
    let (a, b, d) = (ins.ra, ins.rb, ins.rd);
    match ins.opcode.class() {
        OperandClass::None => write!(out, "{m}"),
        OperandClass::Imm => write!(out, "{m} {}", imm(ins.imm)),
        OperandClass::RegImm64 => write!(out, "{m} r{a}, 0x{:x}", ins.imm),
        OperandClass::ImmImm => write!(out, "{m} {}, {}", imm(ins.imm), imm(ins.imm2)),
        OperandClass::Off => write!(out, "{m} {}", target(ins.target)),
        OperandClass::RegImm => write!(out, "{m} r{a}, {}", imm(ins.imm)),
        OperandClass::RegImmImm => write!(out, "{m} r{a}, {}, {}", imm(ins.imm), imm(ins.imm2)),
        OperandClass::RegImmOff => write!(out, "{m} r{a}, {}, {}", imm(ins.imm), target(ins.target)),
        OperandClass::RegReg => write!(out, "{m} r{d}, r{a}"),
        OperandClass::RegRegImm => write!(out, "{m} r{a}, r{b}, {}", imm(ins.imm)),
        OperandClass::RegRegOff => write!(out, "{m} r{a}, r{b}, {}", target(ins.target)),
        OperandClass::RegRegImmImm => write!(out, "{m} r{a}, r{b}, {}, {}", imm(ins.imm), imm(ins.imm2)),
        OperandClass::RegRegReg => write!(out, "{m} r{d}, r{a}, r{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::blob::CodeBlob;
    use crate::program::decode::decode_at;
    use crate::program::isa::Profile;

    #[test]
    fn formats_by_class() {
        let blob = CodeBlob::from_parts(vec![190, 0x87, 9], [0], vec![]);
        assert_eq!(format_instruction(&decode_at(&blob, Profile::P8, 0)), "add_32 r9, r7, r8");
        let blob = CodeBlob::from_parts(vec![81, 0x17, 5, 0xfd], [0], vec![]);
        assert_eq!(format_instruction(&decode_at(&blob, Profile::P8, 0)), "branch_eq_imm r7, 5, @invalid");
    }
}
