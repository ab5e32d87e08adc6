//! Loads, stores and immediates. A guest address is formed in 32 bits in
//! `ecx` (which zero-extends into `rcx`), so every access is
//! `[r15 + rcx]`: wrap-around at 2^32 is free and there is no bounds check.
//! A fault is resolved by the signal handler, which recomputes the address
//! from the guest registers (unchanged until the access succeeds).

use super::regs::host;
use super::{Compiler, emit};
use dynasmrt::DynasmApi;

/// Access width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    B1,
    B2,
    B4,
    B8,
}

impl Width {
    fn bytes(self) -> u8 {
        match self {
            Width::B1 => 1,
            Width::B2 => 2,
            Width::B4 => 4,
            Width::B8 => 8,
        }
    }
}

impl Compiler<'_> {
    /// `ecx ← (base + offset) mod 2^32` (or the absolute `offset`).
    pub(super) fn address(&mut self, base: Option<u8>, offset: u64) {
        let offset = offset as u32 as i32;
        match base {
            Some(b) if offset == 0 => emit!(self.ops ; mov ecx, Rd(host(b))),
            Some(b) => emit!(self.ops ; lea ecx, [Rq(host(b)) + offset]),
            None => emit!(self.ops ; mov ecx, offset),
        }
    }

    /// `rA ← x` with the shortest encoding.
    pub(super) fn load_imm(&mut self, a: u8, x: u64) {
        let r = host(a);
        if x == 0 {
            emit!(self.ops ; xor Rd(r), Rd(r));
        } else if x <= u64::from(u32::MAX) {
            emit!(self.ops ; mov Rd(r), x as u32 as i32);
        } else if x as i64 == i64::from(x as i32) {
            emit!(self.ops ; mov Rq(r), x as i32);
        } else {
            emit!(self.ops ; mov Rq(r), QWORD x as i64);
        }
    }

    /// A load of `width` bytes into guest register `dst`.
    pub(super) fn load(&mut self, i: u32, base: Option<u8>, offset: u64, dst: u8, width: Width, signed: bool) {
        self.access(i, base, offset, width.bytes(), false);
        self.address(base, offset);
        let d = host(dst);
        match (width, signed) {
            (Width::B1, false) => emit!(self.ops ; movzx Rd(d), BYTE [r15 + rcx]),
            (Width::B1, true) => emit!(self.ops ; movsx Rq(d), BYTE [r15 + rcx]),
            (Width::B2, false) => emit!(self.ops ; movzx Rd(d), WORD [r15 + rcx]),
            (Width::B2, true) => emit!(self.ops ; movsx Rq(d), WORD [r15 + rcx]),
            (Width::B4, false) => emit!(self.ops ; mov Rd(d), DWORD [r15 + rcx]),
            (Width::B4, true) => emit!(self.ops ; movsxd Rq(d), DWORD [r15 + rcx]),
            (Width::B8, _) => emit!(self.ops ; mov Rq(d), QWORD [r15 + rcx]),
        }
    }

    /// A store of the low `width` bytes of guest register `src`.
    pub(super) fn store(&mut self, i: u32, base: Option<u8>, offset: u64, width: Width, src: u8) {
        self.access(i, base, offset, width.bytes(), true);
        self.address(base, offset);
        let s = host(src);
        match width {
            Width::B1 => emit!(self.ops ; mov BYTE [r15 + rcx], Rb(s)),
            Width::B2 => emit!(self.ops ; mov WORD [r15 + rcx], Rw(s)),
            Width::B4 => emit!(self.ops ; mov DWORD [r15 + rcx], Rd(s)),
            Width::B8 => emit!(self.ops ; mov QWORD [r15 + rcx], Rq(s)),
        }
    }

    /// A store of the immediate `value` (sign-extended from at most 32 bits).
    pub(super) fn store_imm(&mut self, i: u32, base: Option<u8>, offset: u64, width: Width, value: u64) {
        self.access(i, base, offset, width.bytes(), true);
        self.address(base, offset);
        match width {
            Width::B1 => emit!(self.ops ; mov BYTE [r15 + rcx], value as i8),
            Width::B2 => emit!(self.ops ; mov WORD [r15 + rcx], value as i16),
            Width::B4 => emit!(self.ops ; mov DWORD [r15 + rcx], value as i32),
            Width::B8 => emit!(self.ops ; mov QWORD [r15 + rcx], value as i32),
        }
    }
}
