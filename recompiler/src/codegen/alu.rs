//! Arithmetic, logic, comparisons, conditional moves, min/max. `_32`
//! results are computed in `ecx` and sign-extended with `movsxd`.

use super::control::Cond;
use super::regs::{RCX, host};
use super::{Compiler, Width, emit};
use dynasmrt::DynasmApi;

/// Two-operand register ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    Sub,
    Mul,
    And,
    Xor,
    Or,
}

impl Arith {
    fn commutes(self) -> bool {
        !matches!(self, Arith::Sub)
    }
}

/// Bitwise ops with an immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Logic {
    And,
    Xor,
    Or,
}

/// Signed/unsigned minimum and maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MinMax {
    Max,
    MaxU,
    Min,
    MinU,
}

impl Compiler<'_> {
    /// `rD ← rA`.
    pub(super) fn mov(&mut self, d: u8, a: u8) {
        self.copy(host(d), host(a));
    }

    /// `dst ← src` on host registers, nothing when they are the same.
    pub(super) fn copy(&mut self, dst: u8, src: u8) {
        if dst != src {
            emit!(self.ops ; mov Rq(dst), Rq(src));
        }
    }

    /// Where `rD ← rA op rB` (host registers) is computed as `dst op= src`,
    /// for any aliasing of the three: in rD when it already holds rA (or
    /// rB, for an op that `commutes`), else in `fresh` after `fresh ← rA`
    /// (a 32-bit move for [`Width::W32`]). `None` when rD is rB, the op does
    /// not commute and `fresh` is rD: the caller handles that case.
    fn binop(&mut self, (hd, ha, hb): (u8, u8, u8), commutes: bool, fresh: u8, width: Width) -> Option<(u8, u8)> {
        if hd == ha {
            Some((hd, hb))
        } else if hd == hb && commutes {
            Some((hd, ha))
        } else if hd == hb && fresh == hd {
            None
        } else {
            match width {
                Width::W64 => emit!(self.ops ; mov Rq(fresh), Rq(ha)),
                Width::W32 => emit!(self.ops ; mov Rd(fresh), Rd(ha)),
            }
            Some((fresh, hb))
        }
    }

    /// `dst op= src` on host registers, 64-bit.
    fn op64(&mut self, op: Arith, dst: u8, src: u8) {
        match op {
            Arith::Sub => emit!(self.ops ; sub Rq(dst), Rq(src)),
            Arith::Mul => emit!(self.ops ; imul Rq(dst), Rq(src)),
            Arith::And => emit!(self.ops ; and Rq(dst), Rq(src)),
            Arith::Xor => emit!(self.ops ; xor Rq(dst), Rq(src)),
            Arith::Or => emit!(self.ops ; or Rq(dst), Rq(src)),
        }
    }

    /// `rD ← rA op rB`, 64-bit, for any aliasing of the three.
    pub(super) fn arith_64(&mut self, op: Arith, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        match self.binop((hd, ha, hb), op.commutes(), hd, Width::W64) {
            Some((dst, src)) => self.op64(op, dst, src),
            // rD = rB: rA − rB = −rB + rA.
            None => emit!(self.ops
                ; neg Rq(hd)
                ; add Rq(hd), Rq(ha)
            ),
        }
    }

    /// `rD ← sx32(rA op rB)`.
    pub(super) fn arith_32(&mut self, op: Arith, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        // Work in rD when it is the left operand (or either, for a commuting
        // op), else in ecx; the 32-bit operation reads only the low halves
        // either way.
        let (dst, src) = self.binop((hd, ha, hb), op.commutes(), RCX, Width::W32).expect("ecx is not rD");
        match op {
            Arith::Sub => emit!(self.ops ; sub Rd(dst), Rd(src)),
            Arith::Mul => emit!(self.ops ; imul Rd(dst), Rd(src)),
            Arith::And => emit!(self.ops ; and Rd(dst), Rd(src)),
            Arith::Xor => emit!(self.ops ; xor Rd(dst), Rd(src)),
            Arith::Or => emit!(self.ops ; or Rd(dst), Rd(src)),
        }
        emit!(self.ops ; movsxd Rq(hd), Rd(dst));
    }

    /// `rD ← rA + rB`: `add` when rD is an operand, else `lea`.
    pub(super) fn add_64(&mut self, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if hd == ha || hd == hb {
            self.add_64_carry(d, a, b);
        } else {
            emit!(self.ops ; lea Rq(hd), [Rq(ha) + Rq(hb)]);
        }
    }

    /// `rD ← rA + rB` with a flag-setting `add`: CF is the carry out.
    pub(super) fn add_64_carry(&mut self, d: u8, a: u8, b: u8) {
        let (dst, src) = self.binop((host(d), host(a), host(b)), true, host(d), Width::W64).expect("add commutes");
        emit!(self.ops ; add Rq(dst), Rq(src));
    }

    /// `rD ← sx32(rA + rB)`.
    pub(super) fn add_32(&mut self, d: u8, a: u8, b: u8) {
        emit!(self.ops
            ; lea ecx, [Rq(host(a)) + Rq(host(b))]
            ; movsxd Rq(host(d)), ecx
        );
    }

    /// `rA ← rB + x`.
    pub(super) fn add_imm_64(&mut self, a: u8, b: u8, x: u64) {
        let (ha, hb) = (host(a), host(b));
        if ha == hb {
            if x as i64 == i64::from(x as i8) {
                if x != 0 {
                    emit!(self.ops ; add Rq(ha), BYTE x as i8);
                }
            } else {
                emit!(self.ops ; add Rq(ha), x as i32);
            }
        } else if x as i64 == i64::from(x as i8) {
            emit!(self.ops ; lea Rq(ha), [BYTE Rq(hb) + x as i8]);
        } else {
            emit!(self.ops ; lea Rq(ha), [Rq(hb) + x as i32]);
        }
    }

    /// `rA ← sx32(rB + x)`.
    pub(super) fn add_imm_32(&mut self, a: u8, b: u8, x: u64) {
        let x = x as i32;
        if x == i32::from(x as i8) {
            emit!(self.ops ; lea ecx, [BYTE Rq(host(b)) + x as i8]);
        } else {
            emit!(self.ops ; lea ecx, [Rq(host(b)) + x]);
        }
        emit!(self.ops ; movsxd Rq(host(a)), ecx);
    }

    /// `rA ← rB op x` (x is a sign-extended 32-bit immediate).
    pub(super) fn logic_imm(&mut self, op: Logic, a: u8, b: u8, x: u64) {
        let ha = host(a);
        self.copy(ha, host(b));
        let x = x as i32;
        match (op, x == i32::from(x as i8)) {
            (Logic::And, true) => emit!(self.ops ; and Rq(ha), BYTE x as i8),
            (Logic::Xor, true) => emit!(self.ops ; xor Rq(ha), BYTE x as i8),
            (Logic::Or, true) => emit!(self.ops ; or Rq(ha), BYTE x as i8),
            (Logic::And, false) => emit!(self.ops ; and Rq(ha), x),
            (Logic::Xor, false) => emit!(self.ops ; xor Rq(ha), x),
            (Logic::Or, false) => emit!(self.ops ; or Rq(ha), x),
        }
    }

    /// `rA ← rB × x`, 64-bit or sign-extended 32-bit.
    pub(super) fn mul_imm(&mut self, a: u8, b: u8, x: u64, width: Width) {
        let (ha, hb) = (host(a), host(b));
        if width == Width::W64 {
            emit!(self.ops ; imul Rq(ha), Rq(hb), x as i32);
        } else {
            emit!(self.ops
                ; imul ecx, Rd(hb), x as i32
                ; movsxd Rq(ha), ecx
            );
        }
    }

    /// `rA ← x − rB`, 64-bit or sign-extended 32-bit.
    pub(super) fn neg_add_imm(&mut self, a: u8, b: u8, x: u64, width: Width) {
        let (ha, hb) = (host(a), host(b));
        let wide = width == Width::W64;
        if wide && ha == hb {
            emit!(self.ops
                ; neg Rq(ha)
                ; add Rq(ha), x as i32
            );
        } else if wide {
            emit!(self.ops
                ; mov Rq(ha), x as i32
                ; sub Rq(ha), Rq(hb)
            );
        } else {
            emit!(self.ops
                ; mov ecx, x as i32
                ; sub ecx, Rd(hb)
                ; movsxd Rq(ha), ecx
            );
        }
    }

    /// `rA ← (rB cond x) ? 1 : 0`.
    pub(super) fn set_cmp_imm(&mut self, a: u8, b: u8, x: u64, cond: Cond) {
        let (ha, hb) = (host(a), host(b));
        if ha != hb {
            // Zeroing first (an idiom with no dependency) and setting the low
            // byte saves the zero extension; `xor` must precede the `cmp`.
            emit!(self.ops ; xor Rd(ha), Rd(ha));
            self.cmp_imm(hb, x);
            self.setcc(cond, ha);
        } else {
            self.cmp_imm(hb, x);
            self.setcc(cond, 1);
            emit!(self.ops ; movzx Rd(ha), cl);
        }
    }

    /// `rD ← (rA cond rB) ? 1 : 0`.
    pub(super) fn set_cmp_reg(&mut self, d: u8, a: u8, b: u8, cond: Cond) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if hd != ha && hd != hb {
            emit!(self.ops
                ; xor Rd(hd), Rd(hd)
                ; cmp Rq(ha), Rq(hb)
            );
            self.setcc(cond, hd);
        } else {
            emit!(self.ops ; cmp Rq(ha), Rq(hb));
            self.setcc(cond, 1);
            emit!(self.ops ; movzx Rd(hd), cl);
        }
    }

    /// `if (rB == 0) == if_zero { rA ← x }`.
    pub(super) fn cmov_imm(&mut self, a: u8, b: u8, x: u64, if_zero: bool) {
        let (ha, hb) = (host(a), host(b));
        match x as i64 {
            0 => emit!(self.ops ; xor ecx, ecx),
            v if v >= 0 && v <= i64::from(u32::MAX) => emit!(self.ops ; mov ecx, v as u32 as i32),
            v => emit!(self.ops ; mov rcx, v as i32),
        }
        emit!(self.ops ; test Rq(hb), Rq(hb));
        if if_zero {
            emit!(self.ops ; cmovz Rq(ha), rcx);
        } else {
            emit!(self.ops ; cmovnz Rq(ha), rcx);
        }
    }

    /// `if (rB == 0) == if_zero { rD ← rA }`.
    pub(super) fn cmov_reg(&mut self, d: u8, a: u8, b: u8, if_zero: bool) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        emit!(self.ops ; test Rq(hb), Rq(hb));
        if if_zero {
            emit!(self.ops ; cmovz Rq(hd), Rq(ha));
        } else {
            emit!(self.ops ; cmovnz Rq(hd), Rq(ha));
        }
    }

    /// `rD ← rA & !rB`.
    pub(super) fn and_inv(&mut self, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if self.features.bmi1 {
            emit!(self.ops ; andn Rq(hd), Rq(hb), Rq(ha));
        } else {
            emit!(self.ops
                ; mov rcx, Rq(hb)
                ; not rcx
                ; and rcx, Rq(ha)
                ; mov Rq(hd), rcx
            );
        }
    }

    /// `rD ← rA | !rB`.
    pub(super) fn or_inv(&mut self, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if hd == ha {
            emit!(self.ops
                ; mov rcx, Rq(hb)
                ; not rcx
                ; or Rq(hd), rcx
            );
        } else {
            // rD is rB (negated in place) or neither operand.
            self.copy(hd, hb);
            emit!(self.ops
                ; not Rq(hd)
                ; or Rq(hd), Rq(ha)
            );
        }
    }

    /// `rD ← !(rA ^ rB)`.
    pub(super) fn xnor(&mut self, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        let (dst, src) = self.binop((hd, ha, hb), true, hd, Width::W64).expect("xor commutes");
        emit!(self.ops
            ; xor Rq(dst), Rq(src)
            ; not Rq(dst)
        );
    }

    /// Signed or unsigned min/max.
    pub(super) fn min_max(&mut self, d: u8, a: u8, b: u8, op: MinMax) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        // Start from one operand in rD and take the other when it wins.
        let (_, other) = self.binop((hd, ha, hb), true, hd, Width::W64).expect("min and max commute");
        emit!(self.ops ; cmp Rq(hd), Rq(other));
        // The kept value loses when it is on the wrong side of the other;
        // on ties either is the answer.
        match op {
            MinMax::Max => emit!(self.ops ; cmovl Rq(hd), Rq(other)),
            MinMax::MaxU => emit!(self.ops ; cmovb Rq(hd), Rq(other)),
            MinMax::Min => emit!(self.ops ; cmovg Rq(hd), Rq(other)),
            MinMax::MinU => emit!(self.ops ; cmova Rq(hd), Rq(other)),
        }
    }
}
