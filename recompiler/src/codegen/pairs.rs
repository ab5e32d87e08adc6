//! Fused pairs: adjacent instructions of one segment compiled as one, found
//! by one pass over the program before code generation ([`find`]) and
//! emitted by one emitter each ([`Compiler::pair`]).
//!
//! Nothing can run between the two halves of a pair (no exit, fault or
//! entry: the second is not an entry point, see [`Tables::fused`]), so the
//! pair is atomic; each emitter says why its code is exact.
//!
//! [`Tables::fused`]: super::Tables::fused

use super::memory::Size;
use super::regs::{RCX, RDX, host};
use super::{Compiler, emit};
use crate::cpu::Features;
use dynasmrt::DynasmApi;
use javm_cap::program::{Instruction, Opcode};

/// The pairs, in the order they are tried on an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pair {
    /// `add_64 d, a, b` then `set_lt_u _, d, a` (or `d, b`), the add's
    /// carry: `add; setc`.
    AddCarry,
    /// `shlo_l_imm_64 d, s, 1..=3` then `add_64 d, d, o` (or `o, d`):
    /// one `lea`.
    ShiftAdd,
    /// `mul_upper_u_u hi, a, b` then `mul_64 lo, a, b` (or `b, a`): one
    /// BMI2 `mulx` for both halves.
    MulWide,
    /// `add_64 d, a, b` then a load into `d` based on `d`
    /// (`load_ind_* d, d, offset`): one load from `a + b + offset`.
    AddLoad,
}

impl Pair {
    const ALL: [Pair; 4] = [Pair::AddCarry, Pair::ShiftAdd, Pair::MulWide, Pair::AddLoad];

    /// Whether `first` then `second` compile as this pair.
    fn matches(self, first: &Instruction, second: &Instruction, features: Features) -> bool {
        let (d, a, b) = (first.rd, first.ra, first.rb);
        match self {
            // Unsigned `a + b` wraps exactly when the sum is below either
            // addend, which must still be unchanged (not the sum's register).
            Pair::AddCarry => {
                let (p, q) = (second.ra, second.rb);
                first.opcode == Opcode::Add64
                    && second.opcode == Opcode::SetLtU
                    && p == d
                    && q != d
                    && (q == a || q == b)
            }
            Pair::ShiftAdd => {
                let d = first.ra;
                first.opcode == Opcode::ShloLImm64
                    && (1..=3).contains(&(first.imm & 63))
                    && second.opcode == Opcode::Add64
                    && second.rd == d
                    && (second.ra == d) != (second.rb == d)
            }
            // `hi ∉ {a, b}` so that the multiply reads the same operands,
            // `hi ≠ lo`, and neither in `rdx`, which holds `a` meanwhile.
            Pair::MulWide => {
                let lo = second.rd;
                features.bmi2
                    && first.opcode == Opcode::MulUpperUU
                    && second.opcode == Opcode::Mul64
                    && ((second.ra == a && second.rb == b) || (second.ra == b && second.rb == a))
                    && d != a
                    && d != b
                    && d != lo
                    && host(d) != RDX
                    && host(lo) != RDX
            }
            Pair::AddLoad => {
                first.opcode == Opcode::Add64 && load_size(second.opcode).is_some() && second.ra == d && second.rb == d
            }
        }
    }
}

/// For each instruction, the pair it starts, if any: left to right, an
/// instruction joins at most one pair, and the second half must continue
/// the first's segment (`segment_start[i]`: instruction `i` opens one).
pub(crate) fn find(ins: &[Instruction], segment_start: &[bool], features: Features) -> Vec<Option<Pair>> {
    let mut pairs = vec![None; ins.len()];
    let mut i = 0;
    while i + 1 < ins.len() {
        // Every pair starts with one of these (see `Pair::matches`).
        let first = matches!(ins[i].opcode, Opcode::Add64 | Opcode::ShloLImm64 | Opcode::MulUpperUU);
        let pair = (first && !segment_start[i + 1])
            .then(|| Pair::ALL.into_iter().find(|p| p.matches(&ins[i], &ins[i + 1], features)))
            .flatten();
        pairs[i] = pair;
        i += if pair.is_some() { 2 } else { 1 };
    }
    pairs
}

impl Compiler<'_> {
    /// Emits the pair starting at instruction `i`; returns the native offset
    /// where the second instruction's code starts (for the tables that map
    /// native code back to instructions).
    pub(super) fn pair(&mut self, pair: Pair, i: u32) -> u32 {
        let (first, second) = (self.ins(i), self.ins(i + 1));
        match pair {
            Pair::AddCarry => self.add_carry(&first, &second),
            Pair::ShiftAdd => self.shift_add(&first, &second),
            Pair::MulWide => self.mul_wide(&first, &second),
            Pair::AddLoad => self.add_load(&first, &second, i + 1),
        }
    }

    /// `rD ← rA + rB` with a flag-setting `add` (CF is the carry out), then
    /// `set_lt_u`'s `rD' ← CF`.
    fn add_carry(&mut self, add: &Instruction, set: &Instruction) -> u32 {
        self.add_64_carry(add.rd, add.ra, add.rb);
        let second = self.ops.offset().0 as u32;
        emit!(self.ops
            ; setc cl
            ; movzx Rd(host(set.rd)), cl
        );
        second
    }

    /// `lea d, [o + s × 2^n]`: the shifted value is overwritten by the add
    /// before any other code runs, so nothing can observe it, and the `lea`
    /// reads `s` and `o` before writing `d`.
    fn shift_add(&mut self, shift: &Instruction, add: &Instruction) -> u32 {
        let (d, s) = (shift.ra, shift.rb);
        let o = if add.ra == d { add.rb } else { add.ra };
        let (hd, hs, ho) = (host(d), host(s), host(o));
        match shift.imm & 63 {
            1 => emit!(self.ops ; lea Rq(hd), [Rq(ho) + Rq(hs) * 2]),
            2 => emit!(self.ops ; lea Rq(hd), [Rq(ho) + Rq(hs) * 4]),
            _ => emit!(self.ops ; lea Rq(hd), [Rq(ho) + Rq(hs) * 8]),
        }
        self.ops.offset().0 as u32
    }

    /// `mulx hi, lo`: the full 128-bit product in one multiply; `rdx`
    /// (guest `r1`) waits in `rcx` as in `mul_upper_mulx`.
    fn mul_wide(&mut self, upper: &Instruction, lower: &Instruction) -> u32 {
        let (hh, hl, ha, hb) = (host(upper.rd), host(lower.rd), host(upper.ra), host(upper.rb));
        let src = if hb == RDX { RCX } else { hb };
        emit!(self.ops ; mov rcx, rdx);
        if ha != RDX {
            emit!(self.ops ; mov rdx, Rq(ha));
        }
        emit!(self.ops
            ; mulx Rq(hh), Rq(hl), Rq(src)
            ; mov rdx, rcx
        );
        self.ops.offset().0 as u32
    }

    /// The load from `a + b + offset`: the sum is overwritten by the load
    /// before other code runs, so it never needs to exist, except at a
    /// fault of the load (instruction `j`), where the handler writes it
    /// (`MemAccess::sum`) before exiting; the registers read are unchanged
    /// until the load succeeds, so a retried or resumed access computes the
    /// same address. The add emits nothing: the load's code does both.
    fn add_load(&mut self, add: &Instruction, load: &Instruction, j: u32) -> u32 {
        let second = self.ops.offset().0 as u32;
        let (size, signed) = load_size(load.opcode).expect("a pair's load");
        self.access(j, Some(add.ra), load.imm, size.bytes(), false);
        let access = &mut self.accesses[(j - self.first) as usize];
        (access.index, access.sum) = (add.rb, add.rd);
        let operand = self.indexed_operand(add.ra, add.rb, load.imm);
        self.load_from(operand, load.ra, size, signed);
        second
    }
}

/// Size and signedness of an indirect load.
fn load_size(opcode: Opcode) -> Option<(Size, bool)> {
    let (bytes, signed) = opcode.indirect_load()?;
    let size = match bytes {
        1 => Size::B1,
        2 => Size::B2,
        4 => Size::B4,
        _ => Size::B8,
    };
    Some((size, signed))
}
