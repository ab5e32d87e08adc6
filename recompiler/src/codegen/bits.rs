//! Shifts, rotates, bit counts, sign/zero extension and byte reversal.
//!
//! x86 masks shift and rotate counts mod 32 (32-bit operands) or mod 64,
//! exactly as the PVM does. `lzcnt`/`tzcnt` give 32/64 for a zero input;
//! the `bsr`/`bsf` fallbacks test for zero explicitly (their result is
//! undefined there).

use super::regs::{SPILL, host};
use super::{Compiler, emit};
use dynasmrt::{DynasmApi, DynasmLabelApi};
use javm_cap::program::Opcode;

/// Shift and rotate operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shift {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
}

/// Register extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extend {
    Sign8,
    Sign16,
    Zero16,
}

impl Compiler<'_> {
    /// `op r, imm8` on host register `r`.
    fn shift_by_imm(&mut self, op: Shift, r: u8, n: i8, wide: bool) {
        match (op, wide) {
            (Shift::Shl, true) => emit!(self.ops ; shl Rq(r), n),
            (Shift::Shr, true) => emit!(self.ops ; shr Rq(r), n),
            (Shift::Sar, true) => emit!(self.ops ; sar Rq(r), n),
            (Shift::Rol, true) => emit!(self.ops ; rol Rq(r), n),
            (Shift::Ror, true) => emit!(self.ops ; ror Rq(r), n),
            (Shift::Shl, false) => emit!(self.ops ; shl Rd(r), n),
            (Shift::Shr, false) => emit!(self.ops ; shr Rd(r), n),
            (Shift::Sar, false) => emit!(self.ops ; sar Rd(r), n),
            (Shift::Rol, false) => emit!(self.ops ; rol Rd(r), n),
            (Shift::Ror, false) => emit!(self.ops ; ror Rd(r), n),
        }
    }

    /// `op r, cl` on host register `r`.
    fn shift_by_cl(&mut self, op: Shift, r: u8, wide: bool) {
        match (op, wide) {
            (Shift::Shl, true) => emit!(self.ops ; shl Rq(r), cl),
            (Shift::Shr, true) => emit!(self.ops ; shr Rq(r), cl),
            (Shift::Sar, true) => emit!(self.ops ; sar Rq(r), cl),
            (Shift::Rol, true) => emit!(self.ops ; rol Rq(r), cl),
            (Shift::Ror, true) => emit!(self.ops ; ror Rq(r), cl),
            (Shift::Shl, false) => emit!(self.ops ; shl Rd(r), cl),
            (Shift::Shr, false) => emit!(self.ops ; shr Rd(r), cl),
            (Shift::Sar, false) => emit!(self.ops ; sar Rd(r), cl),
            (Shift::Rol, false) => emit!(self.ops ; rol Rd(r), cl),
            (Shift::Ror, false) => emit!(self.ops ; ror Rd(r), cl),
        }
    }

    /// BMI2 `shlx/shrx/sarx dst, src, count` (no flags, any registers).
    /// Returns false for rotates, which have no such form.
    fn shift_bmi2(&mut self, op: Shift, dst: u8, src: u8, count: u8, wide: bool) -> bool {
        match (op, wide) {
            (Shift::Shl, true) => emit!(self.ops ; shlx Rq(dst), Rq(src), Rq(count)),
            (Shift::Shr, true) => emit!(self.ops ; shrx Rq(dst), Rq(src), Rq(count)),
            (Shift::Sar, true) => emit!(self.ops ; sarx Rq(dst), Rq(src), Rq(count)),
            (Shift::Shl, false) => emit!(self.ops ; shlx Rd(dst), Rd(src), Rd(count)),
            (Shift::Shr, false) => emit!(self.ops ; shrx Rd(dst), Rd(src), Rd(count)),
            (Shift::Sar, false) => emit!(self.ops ; sarx Rd(dst), Rd(src), Rd(count)),
            (Shift::Rol | Shift::Ror, _) => return false,
        }
        true
    }

    /// `shlo_l_imm_64 d, s, n` (n = 1..=3) followed in its segment by
    /// `add_64 d, d, o` (or `o, d`, with `o ≠ d`) as one
    /// `lea d, [o + s × 2^n]`: the shifted value is overwritten before any
    /// other code runs, so nothing can observe it, and the `lea` reads `s`
    /// and `o` before writing `d`. The add becomes a fused instruction.
    /// Returns false (nothing emitted) when the pattern does not apply.
    pub(super) fn shift_add(&mut self, i: u32, d: u8, s: u8, x: u64) -> bool {
        let n = x & 63;
        let Some(next) = self.next_in_segment(i) else { return false };
        if !(1..=3).contains(&n) || next.opcode != Opcode::Add64 || next.rd != d || (next.ra == d) == (next.rb == d) {
            return false;
        }
        let o = if next.ra == d { next.rb } else { next.ra };
        let (hd, hs, ho) = (host(d), host(s), host(o));
        match n {
            1 => emit!(self.ops ; lea Rq(hd), [Rq(ho) + Rq(hs) * 2]),
            2 => emit!(self.ops ; lea Rq(hd), [Rq(ho) + Rq(hs) * 4]),
            _ => emit!(self.ops ; lea Rq(hd), [Rq(ho) + Rq(hs) * 8]),
        }
        self.skip_next = true;
        true
    }

    /// `rA ← rB op (x mod width)`.
    pub(super) fn shift_imm(&mut self, op: Shift, a: u8, b: u8, x: u64, wide: bool) {
        let (ha, hb) = (host(a), host(b));
        let n = (x & if wide { 63 } else { 31 }) as i8;
        if wide {
            if op == Shift::Ror && self.features.bmi2 {
                emit!(self.ops ; rorx Rq(ha), Rq(hb), n);
                return;
            }
            if ha != hb {
                emit!(self.ops ; mov Rq(ha), Rq(hb));
            }
            if n != 0 {
                self.shift_by_imm(op, ha, n, true);
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
                self.shift_by_imm(op, ha, n, false);
                emit!(self.ops ; movsxd Rq(ha), Rd(ha));
            }
            _ => {
                emit!(self.ops ; mov ecx, Rd(hb));
                self.shift_by_imm(op, 1, n, false);
                emit!(self.ops ; movsxd Rq(ha), ecx);
            }
        }
    }

    /// `rA ← x op (rB mod width)` (the `_alt` forms).
    pub(super) fn shift_alt(&mut self, op: Shift, a: u8, b: u8, x: u64, wide: bool) {
        let (ha, hb) = (host(a), host(b));
        if self.features.bmi2 && op != Shift::Ror {
            if wide {
                emit!(self.ops ; mov rcx, x as i32);
                self.shift_bmi2(op, ha, 1, hb, true);
            } else {
                emit!(self.ops ; mov ecx, x as i32);
                self.shift_bmi2(op, 1, 1, hb, false);
                emit!(self.ops ; movsxd Rq(ha), ecx);
            }
            return;
        }
        emit!(self.ops ; mov ecx, Rd(hb));
        if wide {
            emit!(self.ops ; mov Rq(ha), x as i32);
            self.shift_by_cl(op, ha, true);
        } else {
            emit!(self.ops ; mov Rd(ha), x as i32);
            self.shift_by_cl(op, ha, false);
            emit!(self.ops ; movsxd Rq(ha), Rd(ha));
        }
    }

    /// `rD ← rA op (rB mod width)`.
    pub(super) fn shift_reg(&mut self, op: Shift, d: u8, a: u8, b: u8, wide: bool) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if self.features.bmi2 {
            let dst = if wide { hd } else { 1 };
            if self.shift_bmi2(op, dst, ha, hb, wide) {
                if !wide {
                    emit!(self.ops ; movsxd Rq(hd), ecx);
                }
                return;
            }
        }
        // The count goes to cl first, so rD may alias rB.
        emit!(self.ops ; mov ecx, Rd(hb));
        if wide {
            if hd != ha {
                emit!(self.ops ; mov Rq(hd), Rq(ha));
            }
            self.shift_by_cl(op, hd, true);
        } else {
            emit!(self.ops ; mov Rd(hd), Rd(ha));
            self.shift_by_cl(op, hd, false);
            emit!(self.ops ; movsxd Rq(hd), Rd(hd));
        }
    }

    /// `rD ← popcount(rA)` (of the low 32 bits unless `wide`).
    pub(super) fn popcnt(&mut self, d: u8, a: u8, wide: bool) {
        let (hd, ha) = (host(d), host(a));
        if self.features.popcnt {
            if wide {
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
        if wide {
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
    pub(super) fn clz(&mut self, d: u8, a: u8, wide: bool) {
        let (hd, ha) = (host(d), host(a));
        let [zero, done] = [(); 2].map(|()| self.ops.new_dynamic_label());
        match (self.features.lzcnt, wide) {
            (true, true) => emit!(self.ops ; lzcnt Rq(hd), Rq(ha)),
            (true, false) => emit!(self.ops ; lzcnt Rd(hd), Rd(ha)),
            (false, true) => emit!(self.ops
                ; bsr rcx, Rq(ha)
                ; jz =>zero
                ; xor ecx, 63
                ; jmp =>done
                ; =>zero
                ; mov ecx, 64
                ; =>done
                ; mov Rq(hd), rcx
            ),
            (false, false) => emit!(self.ops
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
    pub(super) fn ctz(&mut self, d: u8, a: u8, wide: bool) {
        let (hd, ha) = (host(d), host(a));
        let done = self.ops.new_dynamic_label();
        match (self.features.bmi1, wide) {
            (true, true) => emit!(self.ops ; tzcnt Rq(hd), Rq(ha)),
            (true, false) => emit!(self.ops ; tzcnt Rd(hd), Rd(ha)),
            (false, true) => emit!(self.ops
                ; bsf rcx, Rq(ha)
                ; jnz =>done
                ; mov ecx, 64
                ; =>done
                ; mov Rq(hd), rcx
            ),
            (false, false) => emit!(self.ops
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
        let (hd, ha) = (host(d), host(a));
        if hd != ha {
            emit!(self.ops ; mov Rq(hd), Rq(ha));
        }
        emit!(self.ops ; bswap Rq(hd));
    }
}
