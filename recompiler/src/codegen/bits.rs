//! Shifts, rotates, bit counts, sign/zero extension and byte reversal.
//!
//! x86 masks shift and rotate counts mod 32 (32-bit operands) or mod 64,
//! exactly as the PVM does. `lzcnt`/`tzcnt` give 32/64 for a zero input;
//! the `bsr`/`bsf` fallbacks test for zero explicitly (their result is
//! undefined there).

use super::regs::{SPILL, host};
use super::{Compiler, Width, emit};
use dynasmrt::{DynasmApi, DynasmLabelApi};

/// Shift and rotate operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shift {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
}

/// A shift count: an immediate, or `cl`.
#[derive(Clone, Copy)]
enum Count {
    Imm(i8),
    Cl,
}

/// Register extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extend {
    Sign8,
    Sign16,
    Zero16,
}

impl Compiler<'_> {
    /// `op r, count` on host register `r`.
    fn shift_by(&mut self, op: Shift, r: u8, count: Count, width: Width) {
        /// `before, count`.
        macro_rules! by {
            ($($before:tt)*) => {
                match count {
                    Count::Imm(n) => emit!(self.ops ; $($before)*, n),
                    Count::Cl => emit!(self.ops ; $($before)*, cl),
                }
            };
        }
        match (op, width) {
            (Shift::Shl, Width::W64) => by!(shl Rq(r)),
            (Shift::Shr, Width::W64) => by!(shr Rq(r)),
            (Shift::Sar, Width::W64) => by!(sar Rq(r)),
            (Shift::Rol, Width::W64) => by!(rol Rq(r)),
            (Shift::Ror, Width::W64) => by!(ror Rq(r)),
            (Shift::Shl, Width::W32) => by!(shl Rd(r)),
            (Shift::Shr, Width::W32) => by!(shr Rd(r)),
            (Shift::Sar, Width::W32) => by!(sar Rd(r)),
            (Shift::Rol, Width::W32) => by!(rol Rd(r)),
            (Shift::Ror, Width::W32) => by!(ror Rd(r)),
        }
    }

    /// BMI2 `shlx/shrx/sarx dst, src, count` (no flags, any registers).
    /// Returns false for rotates, which have no such form.
    fn shift_bmi2(&mut self, op: Shift, dst: u8, src: u8, count: u8, width: Width) -> bool {
        match (op, width) {
            (Shift::Shl, Width::W64) => emit!(self.ops ; shlx Rq(dst), Rq(src), Rq(count)),
            (Shift::Shr, Width::W64) => emit!(self.ops ; shrx Rq(dst), Rq(src), Rq(count)),
            (Shift::Sar, Width::W64) => emit!(self.ops ; sarx Rq(dst), Rq(src), Rq(count)),
            (Shift::Shl, Width::W32) => emit!(self.ops ; shlx Rd(dst), Rd(src), Rd(count)),
            (Shift::Shr, Width::W32) => emit!(self.ops ; shrx Rd(dst), Rd(src), Rd(count)),
            (Shift::Sar, Width::W32) => emit!(self.ops ; sarx Rd(dst), Rd(src), Rd(count)),
            (Shift::Rol | Shift::Ror, _) => return false,
        }
        true
    }

    /// `rA ← rB op (x mod width)`.
    pub(super) fn shift_imm(&mut self, op: Shift, a: u8, b: u8, x: u64, width: Width) {
        let (ha, hb) = (host(a), host(b));
        let n = (x & if width == Width::W64 { 63 } else { 31 }) as i8;
        if width == Width::W64 {
            if op == Shift::Ror && self.features.bmi2 {
                emit!(self.ops ; rorx Rq(ha), Rq(hb), n);
                return;
            }
            self.copy(ha, hb);
            if n != 0 {
                self.shift_by(op, ha, Count::Imm(n), Width::W64);
            }
        } else {
            self.shift_imm_32(op, ha, hb, n);
        }
    }

    /// `rA ← sx32(rB op n)` on host registers, `n` already masked to 0..=31.
    fn shift_imm_32(&mut self, op: Shift, ha: u8, hb: u8, n: i8) {
        match op {
            // Nothing to shift: the sign-extended low half.
            _ if n == 0 => emit!(self.ops ; movsxd Rq(ha), Rd(hb)),
            // A logical right shift by 1..=31 clears bit 31, so the 32-bit
            // operation's zero extension is also the sign extension.
            Shift::Shr => {
                if ha != hb {
                    emit!(self.ops ; mov Rd(ha), Rd(hb));
                }
                emit!(self.ops ; shr Rd(ha), n);
            }
            // Shifting the sign-extended value arithmetically gives the
            // sign extension of the 32-bit result.
            Shift::Sar => emit!(self.ops
                ; movsxd Rq(ha), Rd(hb)
                ; sar Rq(ha), n
            ),
            // The low 32 bits of rB × 2^n, then sign-extended.
            Shift::Shl if ha != hb && n <= 3 => {
                match n {
                    1 => emit!(self.ops ; lea Rd(ha), [Rq(hb) + Rq(hb)]),
                    2 => emit!(self.ops ; lea Rd(ha), [Rq(hb) * 4]),
                    _ => emit!(self.ops ; lea Rd(ha), [Rq(hb) * 8]),
                }
                emit!(self.ops ; movsxd Rq(ha), Rd(ha));
            }
            Shift::Ror if self.features.bmi2 => emit!(self.ops
                ; rorx ecx, Rd(hb), n
                ; movsxd Rq(ha), ecx
            ),
            _ if ha == hb => {
                self.shift_by(op, ha, Count::Imm(n), Width::W32);
                emit!(self.ops ; movsxd Rq(ha), Rd(ha));
            }
            _ => {
                emit!(self.ops ; mov ecx, Rd(hb));
                self.shift_by(op, 1, Count::Imm(n), Width::W32);
                emit!(self.ops ; movsxd Rq(ha), ecx);
            }
        }
    }

    /// `rA ← x op (rB mod width)` (the `_alt` forms).
    pub(super) fn shift_alt(&mut self, op: Shift, a: u8, b: u8, x: u64, width: Width) {
        let (ha, hb) = (host(a), host(b));
        if self.features.bmi2 && op != Shift::Ror {
            if width == Width::W64 {
                emit!(self.ops ; mov rcx, x as i32);
                self.shift_bmi2(op, ha, 1, hb, width);
            } else {
                emit!(self.ops ; mov ecx, x as i32);
                self.shift_bmi2(op, 1, 1, hb, width);
                emit!(self.ops ; movsxd Rq(ha), ecx);
            }
            return;
        }
        emit!(self.ops ; mov ecx, Rd(hb));
        if width == Width::W64 {
            emit!(self.ops ; mov Rq(ha), x as i32);
            self.shift_by(op, ha, Count::Cl, width);
        } else {
            emit!(self.ops ; mov Rd(ha), x as i32);
            self.shift_by(op, ha, Count::Cl, width);
            emit!(self.ops ; movsxd Rq(ha), Rd(ha));
        }
    }

    /// `rD ← rA op (rB mod width)`.
    pub(super) fn shift_reg(&mut self, op: Shift, d: u8, a: u8, b: u8, width: Width) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if self.features.bmi2 {
            let dst = if width == Width::W64 { hd } else { 1 };
            if self.shift_bmi2(op, dst, ha, hb, width) {
                if width == Width::W32 {
                    emit!(self.ops ; movsxd Rq(hd), ecx);
                }
                return;
            }
        }
        // The count goes to cl first, so rD may alias rB.
        emit!(self.ops ; mov ecx, Rd(hb));
        if width == Width::W64 {
            self.copy(hd, ha);
            self.shift_by(op, hd, Count::Cl, width);
        } else {
            emit!(self.ops ; mov Rd(hd), Rd(ha));
            self.shift_by(op, hd, Count::Cl, width);
            emit!(self.ops ; movsxd Rq(hd), Rd(hd));
        }
    }

    /// `rD ← popcount(rA)` (of the low 32 bits for [`Width::W32`]).
    pub(super) fn popcnt(&mut self, d: u8, a: u8, width: Width) {
        let (hd, ha) = (host(d), host(a));
        if self.features.popcnt {
            if width == Width::W64 {
                emit!(self.ops ; popcnt Rq(hd), Rq(ha));
            } else {
                emit!(self.ops ; popcnt Rd(hd), Rd(ha));
            }
            return;
        }
        // SWAR count in rax with rdx for the masks; both saved around it.
        let [s0, s1, _] = SPILL;
        emit!(self.ops
            ; mov [BYTE rsp + s0 as i8], rax
            ; mov [BYTE rsp + s1 as i8], rdx
        );
        if width == Width::W64 {
            emit!(self.ops ; mov rax, Rq(ha));
        } else {
            emit!(self.ops ; mov eax, Rd(ha));
        }
        emit!(self.ops
            ; mov rcx, rax
            ; shr rcx, 1
            ; mov rdx, QWORD 0x5555_5555_5555_5555
            ; and rcx, rdx
            ; sub rax, rcx
            ; mov rdx, QWORD 0x3333_3333_3333_3333
            ; mov rcx, rax
            ; shr rcx, 2
            ; and rax, rdx
            ; and rcx, rdx
            ; add rax, rcx
            ; mov rcx, rax
            ; shr rcx, 4
            ; add rax, rcx
            ; mov rdx, QWORD 0x0f0f_0f0f_0f0f_0f0f
            ; and rax, rdx
            ; mov rdx, QWORD 0x0101_0101_0101_0101
            ; imul rax, rdx
            ; shr rax, 56
            ; mov rcx, rax
            ; mov rax, [BYTE rsp + s0 as i8]
            ; mov rdx, [BYTE rsp + s1 as i8]
            ; mov Rq(hd), rcx
        );
    }

    /// `rD ← clz(rA)`: 64 (or 32) for zero.
    pub(super) fn clz(&mut self, d: u8, a: u8, width: Width) {
        let (hd, ha) = (host(d), host(a));
        let [zero, done] = [(); 2].map(|()| self.ops.new_dynamic_label());
        match (self.features.lzcnt, width) {
            (true, Width::W64) => emit!(self.ops ; lzcnt Rq(hd), Rq(ha)),
            (true, Width::W32) => emit!(self.ops ; lzcnt Rd(hd), Rd(ha)),
            (false, Width::W64) => emit!(self.ops
                ; bsr rcx, Rq(ha)
                ; jz =>zero
                ; xor ecx, 63
                ; jmp =>done
                ; =>zero
                ; mov ecx, 64
                ; =>done
                ; mov Rq(hd), rcx
            ),
            (false, Width::W32) => emit!(self.ops
                ; bsr ecx, Rd(ha)
                ; jz =>zero
                ; xor ecx, 31
                ; jmp =>done
                ; =>zero
                ; mov ecx, 32
                ; =>done
                ; mov Rq(hd), rcx
            ),
        }
    }

    /// `rD ← ctz(rA)`: 64 (or 32) for zero.
    pub(super) fn ctz(&mut self, d: u8, a: u8, width: Width) {
        let (hd, ha) = (host(d), host(a));
        let done = self.ops.new_dynamic_label();
        match (self.features.bmi1, width) {
            (true, Width::W64) => emit!(self.ops ; tzcnt Rq(hd), Rq(ha)),
            (true, Width::W32) => emit!(self.ops ; tzcnt Rd(hd), Rd(ha)),
            (false, Width::W64) => emit!(self.ops
                ; bsf rcx, Rq(ha)
                ; jnz =>done
                ; mov ecx, 64
                ; =>done
                ; mov Rq(hd), rcx
            ),
            (false, Width::W32) => emit!(self.ops
                ; bsf ecx, Rd(ha)
                ; jnz =>done
                ; mov ecx, 32
                ; =>done
                ; mov Rq(hd), rcx
            ),
        }
    }

    /// Sign- or zero-extension of the low 8 or 16 bits.
    pub(super) fn extend(&mut self, d: u8, a: u8, kind: Extend) {
        let (hd, ha) = (host(d), host(a));
        match kind {
            Extend::Sign8 => emit!(self.ops ; movsx Rq(hd), Rb(ha)),
            Extend::Sign16 => emit!(self.ops ; movsx Rq(hd), Rw(ha)),
            Extend::Zero16 => emit!(self.ops ; movzx Rd(hd), Rw(ha)),
        }
    }

    /// `rD ← byte-swap(rA)`.
    pub(super) fn reverse_bytes(&mut self, d: u8, a: u8) {
        let hd = host(d);
        self.copy(hd, host(a));
        emit!(self.ops ; bswap Rq(hd));
    }
}
