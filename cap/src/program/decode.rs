//! Operand decoding (spec §5): one instruction at a code offset.

use super::blob::CodeBlob;
use super::isa::{Opcode, OperandClass, Profile};

/// Marks a branch target that lies outside `0..2^32` and so can never be a
/// block start.
pub const INVALID_TARGET: u32 = u32::MAX;

/// One decoded instruction. Register fields are already clamped to `0..=12`;
/// fields an operand class does not use are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// The instruction.
    pub opcode: Opcode,
    /// Register `rA`.
    pub ra: u8,
    /// Register `rB`.
    pub rb: u8,
    /// Register `rD`.
    pub rd: u8,
    /// Immediate `X` (sign-extended; the full value for `load_imm_64`).
    pub imm: u64,
    /// Immediate `Y` (sign-extended).
    pub imm2: u64,
    /// Branch or jump target `T`, or [`INVALID_TARGET`].
    pub target: u32,
    /// Code offset of the instruction.
    pub pc: u32,
    /// Offset of the next instruction: `pc + 1 + skip(pc)`.
    pub next_pc: u32,
}

impl Instruction {
    /// The register the instruction writes when it runs, from the ISA
    /// table's register use.
    pub fn written_register(&self) -> Option<u8> {
        use super::isa::RegUse as U;
        match self.opcode.reg_use() {
            U::WriteA | U::ReadBWriteA | U::ReadABWriteA => Some(self.ra),
            U::ReadAWriteD | U::ReadABWriteD | U::ReadABDWriteD => Some(self.rd),
            U::Nothing | U::ReadA | U::ReadAB => None,
        }
    }

    /// A `trap` at `pc` (what executing an invalid opcode, a non-start or an
    /// offset past the code does).
    pub const fn trap(pc: u32) -> Instruction {
        Instruction {
            opcode: Opcode::Trap,
            ra: 0,
            rb: 0,
            rd: 0,
            imm: 0,
            imm2: 0,
            target: 0,
            pc,
            next_pc: pc.saturating_add(1),
        }
    }
}

/// Bytes of `ζ` an instruction's operands can reach from its opcode byte:
/// at most `3 + 4` bytes of offset before an 8-byte read.
const WINDOW: usize = 16;

/// `ζ[at .. at + 16]`: the code bytes from `at`, zeros past the end.
#[inline]
fn window(code: &[u8], at: usize) -> [u8; WINDOW] {
    match code.get(at..at + WINDOW) {
        Some(bytes) => bytes.try_into().expect("a 16-byte slice"),
        None => {
            let mut w = [0u8; WINDOW];
            let tail = code.get(at..).unwrap_or_default();
            w[..tail.len()].copy_from_slice(tail);
            w
        }
    }
}

/// The 8 bytes at `pos` of the window, little-endian.
#[inline]
fn read_u64(w: &[u8; WINDOW], pos: usize) -> u64 {
    let bytes: [u8; 8] = w[pos..pos + 8].try_into().expect("pos + 8 is inside the window");
    u64::from_le_bytes(bytes)
}

/// `imm(n, pos)`: the `n`-byte value at `pos` sign-extended to 64 bits (0
/// for n = 0; `n <= 4`, `pos <= 7`).
#[inline]
fn imm(w: &[u8; WINDOW], pos: usize, n: u32) -> u64 {
    if n == 0 {
        return 0;
    }
    let shift = 64 - 8 * n;
    (((read_u64(w, pos) << shift) as i64) >> shift) as u64
}

/// `off(n, pos)`: `pc` plus a signed `n`-byte offset, or [`INVALID_TARGET`]
/// when the sum leaves `0..2^32`.
#[inline]
fn off(w: &[u8; WINDOW], pc: u32, pos: usize, n: u32) -> u32 {
    let target = i64::from(pc) + imm(w, pos, n) as i64;
    u32::try_from(target).unwrap_or(INVALID_TARGET)
}

#[inline]
fn reg(v: u8) -> u8 {
    v.min(12)
}

/// Both register nibbles of a byte, clamped: `(low, high)`.
#[inline(always)]
fn regs(byte: u8) -> (u8, u8) {
    const TABLE: [[u8; 2]; 256] = {
        let mut table = [[0; 2]; 256];
        let mut b = 0;
        while b < 256 {
            let (lo, hi) = ((b & 15) as u8, (b >> 4) as u8);
            table[b] = [if lo > 12 { 12 } else { lo }, if hi > 12 { 12 } else { hi }];
            b += 1;
        }
        table
    };
    let [lo, hi] = TABLE[byte as usize];
    (lo, hi)
}

#[inline]
fn clamp4(v: i64) -> u32 {
    v.clamp(0, 4) as u32
}

/// Decodes the instruction at `pc`. An offset past the code, a byte whose
/// mask bit is 0, or a byte that is not an opcode of `profile` decodes as
/// `trap` (spec §4.1, §7.4).
pub fn decode_at(blob: &CodeBlob, profile: Profile, pc: u32) -> Instruction {
    let code = &blob.code;
    let at = pc as usize;
    if at >= code.len() || !blob.is_start_bit(at) {
        return Instruction::trap(pc);
    }
    let Some(opcode) = Opcode::from_code(profile, code[at]) else {
        return Instruction::trap(pc);
    };
    let skip = blob.skip(at);
    decode_operands(code, opcode, pc, skip)
}

/// The basic block from `pc`: the instructions [`decode_at`] gives from
/// there through the first terminator (which `trap` always is).
pub fn block_at(blob: &CodeBlob, profile: Profile, pc: u32) -> Vec<Instruction> {
    let mut body = Vec::new();
    let mut pc = pc;
    loop {
        let ins = decode_at(blob, profile, pc);
        body.push(ins);
        if ins.opcode.is_terminator() {
            return body;
        }
        pc = ins.next_pc;
    }
}

/// Decodes the operands of `opcode` at `pc` whose skip is `skip`.
#[inline(always)]
pub fn decode_operands(code: &[u8], opcode: Opcode, pc: u32, skip: u32) -> Instruction {
    // Every operand lies in ζ[pc .. pc + 16]: read it once.
    let w = &window(code, pc as usize);
    let (b1, b2) = (w[1], w[2]);
    let (lo, hi) = regs(b1);
    let l = i64::from(skip);
    let mut ins = Instruction { opcode, next_pc: pc.saturating_add(1 + skip), ..Instruction::trap(pc) };
    match opcode.class() {
        OperandClass::None => {}
        OperandClass::Imm => ins.imm = imm(w, 1, skip.min(4)),
        OperandClass::RegImm64 => {
            ins.ra = lo;
            ins.imm = read_u64(w, 2);
        }
        OperandClass::ImmImm => {
            let lx = u32::from(b1 & 7).min(4);
            let ly = clamp4(l - i64::from(lx) - 1);
            ins.imm = imm(w, 2, lx);
            ins.imm2 = imm(w, 2 + lx as usize, ly);
        }
        OperandClass::Off => ins.target = off(w, pc, 1, skip.min(4)),
        OperandClass::RegImm => {
            ins.ra = lo;
            ins.imm = imm(w, 2, clamp4(l - 1));
        }
        OperandClass::RegImmImm | OperandClass::RegImmOff => {
            ins.ra = lo;
            let lx = u32::from((b1 >> 4) & 7).min(4);
            let ly = clamp4(l - i64::from(lx) - 1);
            ins.imm = imm(w, 2, lx);
            if opcode.class() == OperandClass::RegImmImm {
                ins.imm2 = imm(w, 2 + lx as usize, ly);
            } else {
                ins.target = off(w, pc, 2 + lx as usize, ly);
            }
        }
        OperandClass::RegReg => {
            ins.rd = lo;
            ins.ra = hi;
        }
        OperandClass::RegRegImm => {
            ins.ra = lo;
            ins.rb = hi;
            ins.imm = imm(w, 2, clamp4(l - 1));
        }
        OperandClass::RegRegOff => {
            ins.ra = lo;
            ins.rb = hi;
            ins.target = off(w, pc, 2, clamp4(l - 1));
        }
        OperandClass::RegRegImmImm => {
            ins.ra = lo;
            ins.rb = hi;
            let lx = u32::from(b2 & 7).min(4);
            let ly = clamp4(l - i64::from(lx) - 2);
            ins.imm = imm(w, 3, lx);
            ins.imm2 = imm(w, 3 + lx as usize, ly);
        }
        OperandClass::RegRegReg => {
            ins.ra = lo;
            ins.rb = hi;
            // GP reads the whole byte (open question Q1; PolkaVM masks to the
            // low nibble). We follow GP.
            ins.rd = reg(b2);
        }
    }
    ins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(code: &[u8], starts: &[usize]) -> CodeBlob {
        CodeBlob::from_parts(code.to_vec(), starts.iter().copied(), vec![])
    }

    #[test]
    fn add_32_from_the_spec_example() {
        let b = blob(&[0xbe, 0x87, 0x09], &[0]);
        let ins = decode_at(&b, Profile::P8, 0);
        assert_eq!(ins.opcode, Opcode::Add32);
        assert_eq!((ins.ra, ins.rb, ins.rd), (7, 8, 9));
        assert_eq!(ins.next_pc, 3);
        assert_eq!(decode_at(&b, Profile::P8, 3).opcode, Opcode::Trap);
    }

    #[test]
    fn rd_of_reg_reg_reg_uses_the_whole_byte() {
        let b = blob(&[190, 0x21, 0x17], &[0]);
        assert_eq!(decode_at(&b, Profile::P8, 0).rd, 12);
        let b = blob(&[190, 0x21, 0x05], &[0]);
        assert_eq!(decode_at(&b, Profile::P8, 0).rd, 5);
    }

    #[test]
    fn register_nibbles_above_12_clamp() {
        let b = blob(&[100, 0xfd], &[0]);
        let ins = decode_at(&b, Profile::P8, 0);
        assert_eq!((ins.rd, ins.ra), (12, 12));
    }

    #[test]
    fn immediates_of_every_length_sign_extend() {
        // load_imm r1, X with X of 0..=4 bytes.
        let cases: &[(&[u8], u64)] = &[
            (&[], 0),
            (&[0x80], 0xFFFF_FFFF_FFFF_FF80),
            (&[0x34, 0x92], 0xFFFF_FFFF_FFFF_9234),
            (&[0x01, 0x02, 0x83], 0xFFFF_FFFF_FF83_0201),
            (&[0x01, 0x02, 0x03, 0x7f], 0x7f03_0201),
            (&[0x01, 0x02, 0x03, 0x84], 0xFFFF_FFFF_8403_0201),
        ];
        for &(bytes, want) in cases {
            let mut code = vec![51, 0x01];
            code.extend_from_slice(bytes);
            let b = blob(&code, &[0]);
            assert_eq!(decode_at(&b, Profile::P8, 0).imm, want, "{bytes:?}");
        }
        // Five or more immediate bytes: still only four are read.
        let b = blob(&[51, 0x01, 1, 2, 3, 4, 5], &[0]);
        assert_eq!(decode_at(&b, Profile::P8, 0).imm, 0x0403_0201);
    }

    #[test]
    fn load_imm_64_reads_eight_bytes_even_past_the_end() {
        let b = blob(&[20, 0x03, 1, 2, 3], &[0]);
        let ins = decode_at(&b, Profile::P8, 0);
        assert_eq!(ins.ra, 3);
        assert_eq!(ins.imm, 0x03_0201);
    }

    #[test]
    fn two_immediates_honour_the_first_length() {
        // store_imm_u8 with lX = 7 (→ 4) but only 2 bytes of skip: Y has length 0.
        let b = blob(&[30, 0x07, 0x00, 0x00, 0x02, 0x00, 0x55], &[0, 3]);
        let ins = decode_at(&b, Profile::P8, 0);
        assert_eq!(ins.imm, 0x0002_0000);
        assert_eq!(ins.imm2, 0);
    }

    #[test]
    fn branch_targets_are_relative_and_may_be_invalid() {
        // branch_eq_imm r0, 0, T = pc - 4 at pc 2 → negative.
        let b = blob(&[1, 1, 81, 0x10, 0x00, 0xfc], &[0, 1, 2]);
        let ins = decode_at(&b, Profile::P8, 2);
        assert_eq!(ins.opcode, Opcode::BranchEqImm);
        assert_eq!(ins.target, INVALID_TARGET);
        // jump +3 at pc 0.
        let b = blob(&[40, 3, 0, 0], &[0, 2, 3]);
        assert_eq!(decode_at(&b, Profile::P8, 0).target, 3);
    }

    #[test]
    fn invalid_opcodes_and_non_starts_decode_as_trap() {
        let b = blob(&[2, 0], &[0, 1]);
        assert_eq!(decode_at(&b, Profile::P7, 0).opcode, Opcode::Trap);
        assert_eq!(decode_at(&b, Profile::P8, 0).opcode, Opcode::Unlikely);
        let b = blob(&[1, 1], &[0]);
        assert_eq!(decode_at(&b, Profile::P8, 1).opcode, Opcode::Trap);
    }
}
