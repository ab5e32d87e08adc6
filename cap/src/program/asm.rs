//! A small assembler: the inverse of [`decode`](super::decode), driven by the
//! ISA table's operand classes. Tests and fuzz generators build programs
//! with it.

use super::blob::CodeBlob;
use super::decode::Instruction;
use super::isa::{Opcode, OperandClass, Profile};

/// Where a branch, jump or jump-table entry points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A label (an index returned by [`Assembler::label`]).
    Label(usize),
    /// A raw code offset (may be invalid on purpose).
    Offset(u32),
}

/// Operands of one instruction to assemble. Fields an operand class does not
/// use are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operands {
    /// `rA` (0..=15; values above 12 exercise the decoder's clamp).
    pub ra: u8,
    /// `rB`.
    pub rb: u8,
    /// `rD` (for `REG_REG_REG` a whole byte).
    pub rd: u8,
    /// Immediate `X`.
    pub imm: u64,
    /// Immediate `Y`.
    pub imm2: u64,
    /// Branch or jump target.
    pub target: Target,
}

impl Default for Operands {
    fn default() -> Self {
        Operands { ra: 0, rb: 0, rd: 0, imm: 0, imm2: 0, target: Target::Offset(0) }
    }
}

/// Smallest length (0..=4) whose sign extension reproduces `value`; `value`
/// must be a sign-extended 32-bit number, else it is truncated to 4 bytes.
pub fn imm_len(value: u64) -> usize {
    (0..4).find(|&n| sign_extend(value, n) == value).unwrap_or(4)
}

fn sign_extend(value: u64, n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    let shift = 64 - 8 * n as u32;
    (((value << shift) as i64) >> shift) as u64
}

#[derive(Clone, Debug)]
struct Pending {
    at: usize,
    pc: u32,
    target: Target,
}

/// Builds a code blob instruction by instruction.
#[derive(Clone, Debug)]
pub struct Assembler {
    profile: Profile,
    code: Vec<u8>,
    starts: Vec<usize>,
    labels: Vec<Option<u32>>,
    fixups: Vec<Pending>,
    jump_table: Vec<Target>,
}

impl Assembler {
    /// An empty program for `profile`.
    pub fn new(profile: Profile) -> Assembler {
        Assembler {
            profile,
            code: Vec::new(),
            starts: Vec::new(),
            labels: Vec::new(),
            fixups: Vec::new(),
            jump_table: Vec::new(),
        }
    }

    /// The current code offset.
    pub fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    /// Binds `label` to the current offset.
    pub fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.pc());
    }

    /// Appends a jump-table entry; returns the dynamic-jump address that
    /// selects it (`2 · (index + 1)`).
    pub fn jump_table_entry(&mut self, target: Target) -> u32 {
        self.jump_table.push(target);
        2 * self.jump_table.len() as u32
    }

    /// Appends raw bytes as one instruction start (for malformed programs).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.starts.push(self.code.len());
        self.code.extend_from_slice(bytes);
    }

    /// Appends bytes that are not an instruction start.
    pub fn raw_continuation(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    /// Appends one instruction. Returns `false` (appending nothing) if it
    /// does not exist in the profile.
    pub fn push(&mut self, opcode: Opcode, ops: Operands) -> bool {
        let Some(byte) = opcode.code(self.profile) else { return false };
        let pc = self.pc();
        self.starts.push(self.code.len());
        let mut out = vec![byte];
        let nib = |lo: u8, hi: u8| (lo & 15) | (hi << 4);
        let imm = |out: &mut Vec<u8>, v: u64| {
            let n = imm_len(v);
            out.extend_from_slice(&v.to_le_bytes()[..n]);
            n
        };
        let offset_at = |out: &Vec<u8>| out.len();
        let mut target_at = None;
        match opcode.class() {
            OperandClass::None => {}
            OperandClass::Imm => {
                imm(&mut out, ops.imm);
            }
            OperandClass::RegImm64 => {
                out.push(ops.ra & 15);
                out.extend_from_slice(&ops.imm.to_le_bytes());
            }
            OperandClass::ImmImm => {
                let lx = imm_len(ops.imm);
                out.push(lx as u8);
                imm(&mut out, ops.imm);
                imm(&mut out, ops.imm2);
            }
            OperandClass::Off => {
                target_at = Some(offset_at(&out));
                out.extend_from_slice(&[0; 4]);
            }
            OperandClass::RegImm => {
                out.push(ops.ra & 15);
                imm(&mut out, ops.imm);
            }
            OperandClass::RegImmImm | OperandClass::RegImmOff => {
                let lx = imm_len(ops.imm);
                out.push(nib(ops.ra, lx as u8));
                imm(&mut out, ops.imm);
                if opcode.class() == OperandClass::RegImmImm {
                    imm(&mut out, ops.imm2);
                } else {
                    target_at = Some(offset_at(&out));
                    out.extend_from_slice(&[0; 4]);
                }
            }
            OperandClass::RegReg => out.push(nib(ops.rd, ops.ra)),
            OperandClass::RegRegImm => {
                out.push(nib(ops.ra, ops.rb));
                imm(&mut out, ops.imm);
            }
            OperandClass::RegRegOff => {
                out.push(nib(ops.ra, ops.rb));
                target_at = Some(offset_at(&out));
                out.extend_from_slice(&[0; 4]);
            }
            OperandClass::RegRegImmImm => {
                out.push(nib(ops.ra, ops.rb));
                let lx = imm_len(ops.imm);
                out.push(lx as u8);
                imm(&mut out, ops.imm);
                imm(&mut out, ops.imm2);
            }
            OperandClass::RegRegReg => {
                out.push(nib(ops.ra, ops.rb));
                out.push(ops.rd);
            }
        }
        if let Some(at) = target_at {
            self.fixups.push(Pending { at: self.code.len() + at, pc, target: ops.target });
        }
        self.code.extend_from_slice(&out);
        true
    }

    /// Appends an already-decoded instruction (its `target` is taken as a
    /// raw offset).
    pub fn push_instruction(&mut self, ins: &Instruction) -> bool {
        let ops = Operands {
            ra: ins.ra,
            rb: ins.rb,
            rd: ins.rd,
            imm: ins.imm,
            imm2: ins.imm2,
            target: Target::Offset(ins.target),
        };
        self.push(ins.opcode, ops)
    }

    fn resolve(&self, target: Target) -> u32 {
        match target {
            Target::Offset(o) => o,
            Target::Label(l) => self.labels[l].unwrap_or(u32::MAX),
        }
    }

    /// Resolves labels and returns the blob. Unbound labels become offsets
    /// that are never block starts.
    pub fn finish(mut self) -> CodeBlob {
        for f in std::mem::take(&mut self.fixups) {
            let rel = self.resolve(f.target).wrapping_sub(f.pc);
            self.code[f.at..f.at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        let table = self.jump_table.iter().map(|&t| self.resolve(t)).collect();
        CodeBlob::from_parts(self.code, self.starts, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::decode::decode_at;

    #[test]
    fn every_instruction_round_trips_through_the_decoder() {
        for profile in Profile::ALL {
            for op in Opcode::ALL.into_iter().filter(|op| op.in_profile(profile)) {
                let mut asm = Assembler::new(profile);
                let ops = Operands {
                    ra: 3,
                    rb: 11,
                    rd: 7,
                    imm: 0xFFFF_FFFF_FFFF_8123,
                    imm2: 0x1234,
                    target: Target::Offset(0),
                };
                assert!(asm.push(op, ops));
                asm.push(Opcode::Trap, Operands::default());
                let blob = asm.finish();
                let ins = decode_at(&blob, profile, 0);
                assert_eq!(ins.opcode, op);
                let class = op.class();
                use OperandClass as C;
                if matches!(
                    class,
                    C::RegImm
                        | C::RegImm64
                        | C::RegImmImm
                        | C::RegImmOff
                        | C::RegRegImm
                        | C::RegRegOff
                        | C::RegRegImmImm
                        | C::RegRegReg
                ) {
                    assert_eq!(ins.ra, 3, "{op}");
                }
                if matches!(class, C::RegRegImm | C::RegRegOff | C::RegRegImmImm | C::RegRegReg) {
                    assert_eq!(ins.rb, 11, "{op}");
                }
                if matches!(class, C::RegReg | C::RegRegReg) {
                    assert_eq!(ins.rd, 7, "{op}");
                }
                if matches!(
                    class,
                    C::Imm | C::ImmImm | C::RegImm | C::RegImmImm | C::RegImmOff | C::RegRegImm | C::RegRegImmImm
                ) {
                    assert_eq!(ins.imm, 0xFFFF_FFFF_FFFF_8123, "{op}");
                }
                if matches!(class, C::ImmImm | C::RegImmImm | C::RegRegImmImm) {
                    assert_eq!(ins.imm2, 0x1234, "{op}");
                }
                if matches!(class, C::Off | C::RegImmOff | C::RegRegOff) {
                    assert_eq!(ins.target, 0, "{op}");
                }
            }
        }
    }

    #[test]
    fn labels_and_jump_tables_resolve() {
        let mut asm = Assembler::new(Profile::P8);
        let end = asm.label();
        asm.push(Opcode::Jump, Operands { target: Target::Label(end), ..Operands::default() });
        asm.push(Opcode::Fallthrough, Operands::default());
        asm.bind(end);
        let addr = asm.jump_table_entry(Target::Label(end));
        asm.push(Opcode::Trap, Operands::default());
        let blob = asm.finish();
        assert_eq!(addr, 2);
        assert_eq!(blob.jump_table, [6]);
        assert_eq!(decode_at(&blob, Profile::P8, 0).target, 6);
    }
}
