//! Division, remainder and upper multiplication: the instructions that
//! need `rax`/`rdx`. Guest `r0`/`r1` live there, so both are saved to
//! stack slots around the operation. Division by zero and `MIN / −1` are
//! tested explicitly: x86 would raise #DE, the PVM defines results.

use super::regs::{RCX, RDX, SPILL, host};
use super::{Compiler, Width, emit};
use dynasmrt::{DynasmApi, DynasmLabelApi};

/// Division and remainder kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Div {
    DivU,
    DivS,
    RemU,
    RemS,
}

/// Upper-half multiplication kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upper {
    SignedSigned,
    UnsignedUnsigned,
    SignedUnsigned,
}

const S0: i32 = SPILL[0];
const S1: i32 = SPILL[1];
const S2: i32 = SPILL[2];

impl Compiler<'_> {
    /// Saves `rax`/`rdx`, then `rax ← rA`, `rcx ← rB`.
    fn rax_rdx_frame(&mut self, a: u8, b: u8) {
        emit!(self.ops
            ; mov [BYTE rsp + S0 as i8], rax
            ; mov [BYTE rsp + S1 as i8], rdx
            ; mov rcx, Rq(host(b))
        );
        if host(a) != super::regs::RAX {
            emit!(self.ops ; mov rax, Rq(host(a)));
        }
    }

    /// Restores `rax`/`rdx`, then `rD ← rcx`.
    fn rax_rdx_unframe(&mut self, d: u8) {
        emit!(self.ops
            ; mov rax, [BYTE rsp + S0 as i8]
            ; mov rdx, [BYTE rsp + S1 as i8]
            ; mov Rq(host(d)), rcx
        );
    }

    /// `rD ← rA ÷ rB` or `rA mod rB` with the spec's edge values.
    pub(super) fn divide(&mut self, kind: Div, d: u8, a: u8, b: u8, width: Width) {
        self.rax_rdx_frame(a, b);
        let [zero, done, negate, minus_one] = [(); 4].map(|()| self.ops.new_dynamic_label());
        match (kind, width) {
            (Div::DivU, Width::W64) => emit!(self.ops
                ; test rcx, rcx
                ; jz =>zero
                ; xor edx, edx
                ; div rcx
                ; mov rcx, rax
                ; jmp =>done
                ; =>zero
                ; mov rcx, -1
                ; =>done
            ),
            (Div::RemU, Width::W64) => emit!(self.ops
                ; test rcx, rcx
                ; jz =>zero
                ; xor edx, edx
                ; div rcx
                ; mov rcx, rdx
                ; jmp =>done
                ; =>zero
                ; mov rcx, rax
                ; =>done
            ),
            (Div::DivS, Width::W64) => emit!(self.ops
                ; test rcx, rcx
                ; jz =>zero
                ; cmp rcx, -1
                ; je =>negate
                ; cqo
                ; idiv rcx
                ; mov rcx, rax
                ; jmp =>done
                ; =>negate
                ; neg rax
                ; mov rcx, rax
                ; jmp =>done
                ; =>zero
                ; mov rcx, -1
                ; =>done
            ),
            (Div::RemS, Width::W64) => emit!(self.ops
                ; test rcx, rcx
                ; jz =>zero
                ; cmp rcx, -1
                ; je =>minus_one
                ; cqo
                ; idiv rcx
                ; mov rcx, rdx
                ; jmp =>done
                ; =>minus_one
                ; xor ecx, ecx
                ; jmp =>done
                ; =>zero
                ; mov rcx, rax
                ; =>done
            ),
            (Div::DivU, Width::W32) => emit!(self.ops
                ; test ecx, ecx
                ; jz =>zero
                ; xor edx, edx
                ; div ecx
                ; movsxd rcx, eax
                ; jmp =>done
                ; =>zero
                ; mov rcx, -1
                ; =>done
            ),
            (Div::RemU, Width::W32) => emit!(self.ops
                ; test ecx, ecx
                ; jz =>zero
                ; xor edx, edx
                ; div ecx
                ; movsxd rcx, edx
                ; jmp =>done
                ; =>zero
                ; movsxd rcx, eax
                ; =>done
            ),
            (Div::DivS, Width::W32) => emit!(self.ops
                ; test ecx, ecx
                ; jz =>zero
                ; cmp ecx, -1
                ; je =>negate
                ; cdq
                ; idiv ecx
                ; movsxd rcx, eax
                ; jmp =>done
                ; =>negate
                ; neg eax
                ; movsxd rcx, eax
                ; jmp =>done
                ; =>zero
                ; mov rcx, -1
                ; =>done
            ),
            (Div::RemS, Width::W32) => emit!(self.ops
                ; test ecx, ecx
                ; jz =>zero
                ; cmp ecx, -1
                ; je =>minus_one
                ; cdq
                ; idiv ecx
                ; movsxd rcx, edx
                ; jmp =>done
                ; =>minus_one
                ; xor ecx, ecx
                ; jmp =>done
                ; =>zero
                ; movsxd rcx, eax
                ; =>done
            ),
        }
        self.rax_rdx_unframe(d);
    }

    /// `rD ←` the high 64 bits of the 128-bit product.
    pub(super) fn mul_upper(&mut self, kind: Upper, d: u8, a: u8, b: u8) {
        if self.features.bmi2 {
            self.mul_upper_mulx(kind, d, a, b);
            return;
        }
        self.rax_rdx_frame(a, b);
        match kind {
            Upper::UnsignedUnsigned => emit!(self.ops ; mul rcx),
            Upper::SignedSigned => emit!(self.ops ; imul rcx),
            // high_u(A × B) − (A < 0 ? B : 0)
            Upper::SignedUnsigned => emit!(self.ops
                ; mov rdx, rax
                ; sar rdx, 63
                ; and rdx, rcx
                ; mov [BYTE rsp + S2 as i8], rdx
                ; mul rcx
                ; sub rdx, [BYTE rsp + S2 as i8]
            ),
        }
        emit!(self.ops ; mov rcx, rdx);
        self.rax_rdx_unframe(d);
    }
}

impl Compiler<'_> {
    /// `mul_upper_*` with BMI2 `mulx`, which needs only `rdx`: the unsigned
    /// high half, minus `(A < 0 ? B : 0)` and, for signed × signed,
    /// `(B < 0 ? A : 0)`, all mod 2^64.
    fn mul_upper_mulx(&mut self, kind: Upper, d: u8, a: u8, b: u8) {
        let (hd, ha, hb) = (host(d), host(a), host(b));
        if kind == Upper::UnsignedUnsigned {
            // rdx (guest r1) waits in rcx; rB is read from rcx if it is r1.
            // With two equal destinations `mulx` writes the high half.
            let src = if hb == RDX { RCX } else { hb };
            emit!(self.ops ; mov rcx, rdx);
            if ha != RDX {
                emit!(self.ops ; mov rdx, Rq(ha));
            }
            emit!(self.ops ; mulx Rq(hd), Rq(hd), Rq(src));
            if hd != RDX {
                emit!(self.ops ; mov rdx, rcx);
            }
            return;
        }
        emit!(self.ops
            ; mov rcx, Rq(ha)
            ; sar rcx, 63
            ; and rcx, Rq(hb)
            ; mov [BYTE rsp + S2 as i8], rcx
        );
        if kind == Upper::SignedSigned {
            emit!(self.ops
                ; mov rcx, Rq(hb)
                ; sar rcx, 63
                ; and rcx, Rq(ha)
                ; add [BYTE rsp + S2 as i8], rcx
            );
        }
        emit!(self.ops ; mov [BYTE rsp + S1 as i8], rdx);
        if ha != RDX {
            emit!(self.ops ; mov rdx, Rq(ha));
        }
        if hb == RDX && ha != RDX {
            // rB's value now lives only in the save slot.
            emit!(self.ops ; mulx rcx, rcx, QWORD [BYTE rsp + S1 as i8]);
        } else {
            emit!(self.ops ; mulx rcx, rcx, Rq(hb));
        }
        emit!(self.ops
            ; sub rcx, [BYTE rsp + S2 as i8]
            ; mov rdx, [BYTE rsp + S1 as i8]
            ; mov Rq(hd), rcx
        );
    }
}
