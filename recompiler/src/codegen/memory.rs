//! Loads, stores and immediates. Where the kernel allows `wrgsbase`, GS
//! holds the window base while guest code runs and an access is one
//! instruction, `gs:[32-bit base + offset]` (the address-size prefix wraps
//! the sum at 2^32). Otherwise the address is formed in 32 bits in `ecx`
//! (which zero-extends into `rcx`) and the access is `[r15 + rcx]`. Either
//! way wrap-around is free and there is no bounds check.
//! A fault is resolved by the signal handler, which recomputes the address
//! from the guest registers (unchanged until the access succeeds).

use super::regs::{RCX, host};
use super::{Compiler, emit};
use dynasmrt::DynasmApi;
use javm_cap::program::Opcode;

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

/// How an access addresses guest memory.
enum Operand {
    /// `gs:[32-bit base + offset]` with an 8-bit offset.
    SegmentShort(u8, i8),
    /// `gs:[32-bit base + offset]`.
    Segment(u8, i32),
    /// `gs:[offset]`, an absolute address below 2^31.
    SegmentAbsolute(i32),
    /// `gs:[32-bit base + 32-bit index + offset]` with an 8-bit offset.
    SegmentIndexedShort(u8, u8, i8),
    /// `gs:[32-bit base + 32-bit index + offset]`.
    SegmentIndexed(u8, u8, i32),
    /// `[r15 + rcx]` with the address in `ecx`.
    Window,
}

impl Compiler<'_> {
    /// Chooses the operand form for an access and emits what it needs.
    #[inline(always)]
    fn operand(&mut self, base: Option<u8>, offset: u64) -> Operand {
        let offset32 = offset as u32;
        match base {
            Some(b) if self.features.fsgsbase && offset32 as i32 == i32::from(offset32 as i8) => {
                Operand::SegmentShort(host(b), offset32 as i8)
            }
            Some(b) if self.features.fsgsbase => Operand::Segment(host(b), offset32 as i32),
            None if self.features.fsgsbase && offset32 < 1 << 31 => Operand::SegmentAbsolute(offset32 as i32),
            None if self.features.fsgsbase => {
                // Above 2^31 a 32-bit displacement would be sign-extended:
                // address through `ecx` instead (`r15` is not the base here).
                self.address(None, offset);
                Operand::SegmentShort(RCX, 0)
            }
            _ => {
                self.address(base, offset);
                Operand::Window
            }
        }
    }

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

    /// `add_64 d, a, b` followed in its segment by a load into `d` based on
    /// `d` (`load_ind_* d, d, offset`) as one load from `a + b + offset`:
    /// the sum is overwritten by the load before other code runs, so it
    /// never needs to exist, except at a fault of the load, where the
    /// handler writes it (`MemAccess::sum`) before exiting; the registers
    /// read are unchanged until the load succeeds, so a retried or resumed
    /// access computes the same address. This instruction emits nothing and
    /// the load, whose code does both, becomes a fused instruction (its code
    /// starts where this one's does). Returns false when the pattern does not
    /// apply.
    pub(super) fn add_then_load(&mut self, i: u32, d: u8, a: u8, b: u8) -> bool {
        let Some(next) = self.next_in_segment(i) else { return false };
        let load = matches!(
            next.opcode,
            Opcode::LoadIndU8
                | Opcode::LoadIndI8
                | Opcode::LoadIndU16
                | Opcode::LoadIndI16
                | Opcode::LoadIndU32
                | Opcode::LoadIndI32
                | Opcode::LoadIndU64
        );
        if !load || next.ra != d || next.rb != d {
            return false;
        }
        self.pending_sum = Some((i + 1, a, b));
        true
    }

    /// A load of `width` bytes into guest register `dst`.
    pub(super) fn load(&mut self, i: u32, base: Option<u8>, offset: u64, dst: u8, width: Width, signed: bool) {
        self.access(i, base, offset, width.bytes(), false);
        let d = host(dst);
        let operand = match self.pending_sum.take() {
            Some((j, a, b)) if j == i => {
                self.fused[i as usize] = true;
                let access = &mut self.accesses[i as usize];
                (access.base, access.index, access.sum) = (a, b, dst);
                let (ha, hb, o) = (host(a), host(b), offset as u32 as i32);
                if self.features.fsgsbase && o == i32::from(o as i8) {
                    Operand::SegmentIndexedShort(ha, hb, o as i8)
                } else if self.features.fsgsbase {
                    Operand::SegmentIndexed(ha, hb, o)
                } else {
                    emit!(self.ops ; lea ecx, [Rq(ha) + Rq(hb) + o]);
                    Operand::Window
                }
            }
            _ => self.operand(base, offset),
        };
        match (operand, width, signed) {
            (Operand::SegmentIndexedShort(b, x, o), Width::B1, false) => {
                emit!(self.ops ; gs movzx Rd(d), BYTE [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexedShort(b, x, o), Width::B1, true) => {
                emit!(self.ops ; gs movsx Rq(d), BYTE [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexedShort(b, x, o), Width::B2, false) => {
                emit!(self.ops ; gs movzx Rd(d), WORD [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexedShort(b, x, o), Width::B2, true) => {
                emit!(self.ops ; gs movsx Rq(d), WORD [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexedShort(b, x, o), Width::B4, false) => {
                emit!(self.ops ; gs mov Rd(d), DWORD [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexedShort(b, x, o), Width::B4, true) => {
                emit!(self.ops ; gs movsxd Rq(d), DWORD [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexedShort(b, x, o), Width::B8, _) => {
                emit!(self.ops ; gs mov Rq(d), QWORD [BYTE Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B1, false) => {
                emit!(self.ops ; gs movzx Rd(d), BYTE [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B1, true) => {
                emit!(self.ops ; gs movsx Rq(d), BYTE [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B2, false) => {
                emit!(self.ops ; gs movzx Rd(d), WORD [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B2, true) => {
                emit!(self.ops ; gs movsx Rq(d), WORD [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B4, false) => {
                emit!(self.ops ; gs mov Rd(d), DWORD [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B4, true) => {
                emit!(self.ops ; gs movsxd Rq(d), DWORD [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentIndexed(b, x, o), Width::B8, _) => {
                emit!(self.ops ; gs mov Rq(d), QWORD [Rd(b) + Rd(x) + o])
            }
            (Operand::SegmentShort(b, o), Width::B1, false) => emit!(self.ops ; gs movzx Rd(d), BYTE [BYTE Rd(b) + o]),
            (Operand::SegmentShort(b, o), Width::B1, true) => emit!(self.ops ; gs movsx Rq(d), BYTE [BYTE Rd(b) + o]),
            (Operand::SegmentShort(b, o), Width::B2, false) => emit!(self.ops ; gs movzx Rd(d), WORD [BYTE Rd(b) + o]),
            (Operand::SegmentShort(b, o), Width::B2, true) => emit!(self.ops ; gs movsx Rq(d), WORD [BYTE Rd(b) + o]),
            (Operand::SegmentShort(b, o), Width::B4, false) => emit!(self.ops ; gs mov Rd(d), DWORD [BYTE Rd(b) + o]),
            (Operand::SegmentShort(b, o), Width::B4, true) => emit!(self.ops ; gs movsxd Rq(d), DWORD [BYTE Rd(b) + o]),
            (Operand::SegmentShort(b, o), Width::B8, _) => emit!(self.ops ; gs mov Rq(d), QWORD [BYTE Rd(b) + o]),
            (Operand::Segment(b, o), Width::B1, false) => emit!(self.ops ; gs movzx Rd(d), BYTE [Rd(b) + o]),
            (Operand::Segment(b, o), Width::B1, true) => emit!(self.ops ; gs movsx Rq(d), BYTE [Rd(b) + o]),
            (Operand::Segment(b, o), Width::B2, false) => emit!(self.ops ; gs movzx Rd(d), WORD [Rd(b) + o]),
            (Operand::Segment(b, o), Width::B2, true) => emit!(self.ops ; gs movsx Rq(d), WORD [Rd(b) + o]),
            (Operand::Segment(b, o), Width::B4, false) => emit!(self.ops ; gs mov Rd(d), DWORD [Rd(b) + o]),
            (Operand::Segment(b, o), Width::B4, true) => emit!(self.ops ; gs movsxd Rq(d), DWORD [Rd(b) + o]),
            (Operand::Segment(b, o), Width::B8, _) => emit!(self.ops ; gs mov Rq(d), QWORD [Rd(b) + o]),
            (Operand::SegmentAbsolute(a), Width::B1, false) => emit!(self.ops ; gs movzx Rd(d), BYTE [a]),
            (Operand::SegmentAbsolute(a), Width::B1, true) => emit!(self.ops ; gs movsx Rq(d), BYTE [a]),
            (Operand::SegmentAbsolute(a), Width::B2, false) => emit!(self.ops ; gs movzx Rd(d), WORD [a]),
            (Operand::SegmentAbsolute(a), Width::B2, true) => emit!(self.ops ; gs movsx Rq(d), WORD [a]),
            (Operand::SegmentAbsolute(a), Width::B4, false) => emit!(self.ops ; gs mov Rd(d), DWORD [a]),
            (Operand::SegmentAbsolute(a), Width::B4, true) => emit!(self.ops ; gs movsxd Rq(d), DWORD [a]),
            (Operand::SegmentAbsolute(a), Width::B8, _) => emit!(self.ops ; gs mov Rq(d), QWORD [a]),
            (Operand::Window, Width::B1, false) => emit!(self.ops ; movzx Rd(d), BYTE [r15 + rcx]),
            (Operand::Window, Width::B1, true) => emit!(self.ops ; movsx Rq(d), BYTE [r15 + rcx]),
            (Operand::Window, Width::B2, false) => emit!(self.ops ; movzx Rd(d), WORD [r15 + rcx]),
            (Operand::Window, Width::B2, true) => emit!(self.ops ; movsx Rq(d), WORD [r15 + rcx]),
            (Operand::Window, Width::B4, false) => emit!(self.ops ; mov Rd(d), DWORD [r15 + rcx]),
            (Operand::Window, Width::B4, true) => emit!(self.ops ; movsxd Rq(d), DWORD [r15 + rcx]),
            (Operand::Window, Width::B8, _) => emit!(self.ops ; mov Rq(d), QWORD [r15 + rcx]),
        }
    }

    /// A store of the low `width` bytes of guest register `src`.
    pub(super) fn store(&mut self, i: u32, base: Option<u8>, offset: u64, width: Width, src: u8) {
        self.access(i, base, offset, width.bytes(), true);
        let s = host(src);
        match (self.operand(base, offset), width) {
            (Operand::SegmentShort(b, o), Width::B1) => emit!(self.ops ; gs mov BYTE [BYTE Rd(b) + o], Rb(s)),
            (Operand::SegmentShort(b, o), Width::B2) => emit!(self.ops ; gs mov WORD [BYTE Rd(b) + o], Rw(s)),
            (Operand::SegmentShort(b, o), Width::B4) => emit!(self.ops ; gs mov DWORD [BYTE Rd(b) + o], Rd(s)),
            (Operand::SegmentShort(b, o), Width::B8) => emit!(self.ops ; gs mov QWORD [BYTE Rd(b) + o], Rq(s)),
            (Operand::Segment(b, o), Width::B1) => emit!(self.ops ; gs mov BYTE [Rd(b) + o], Rb(s)),
            (Operand::Segment(b, o), Width::B2) => emit!(self.ops ; gs mov WORD [Rd(b) + o], Rw(s)),
            (Operand::Segment(b, o), Width::B4) => emit!(self.ops ; gs mov DWORD [Rd(b) + o], Rd(s)),
            (Operand::Segment(b, o), Width::B8) => emit!(self.ops ; gs mov QWORD [Rd(b) + o], Rq(s)),
            (Operand::SegmentAbsolute(a), Width::B1) => emit!(self.ops ; gs mov BYTE [a], Rb(s)),
            (Operand::SegmentAbsolute(a), Width::B2) => emit!(self.ops ; gs mov WORD [a], Rw(s)),
            (Operand::SegmentAbsolute(a), Width::B4) => emit!(self.ops ; gs mov DWORD [a], Rd(s)),
            (Operand::SegmentAbsolute(a), Width::B8) => emit!(self.ops ; gs mov QWORD [a], Rq(s)),
            (Operand::Window, Width::B1) => emit!(self.ops ; mov BYTE [r15 + rcx], Rb(s)),
            (Operand::Window, Width::B2) => emit!(self.ops ; mov WORD [r15 + rcx], Rw(s)),
            (Operand::Window, Width::B4) => emit!(self.ops ; mov DWORD [r15 + rcx], Rd(s)),
            (Operand::Window, Width::B8) => emit!(self.ops ; mov QWORD [r15 + rcx], Rq(s)),
            (Operand::SegmentIndexedShort(..) | Operand::SegmentIndexed(..), _) => {
                unreachable!("`operand` never indexes")
            }
        }
    }

    /// A store of the immediate `value` (sign-extended from at most 32 bits).
    pub(super) fn store_imm(&mut self, i: u32, base: Option<u8>, offset: u64, width: Width, value: u64) {
        self.access(i, base, offset, width.bytes(), true);
        match (self.operand(base, offset), width) {
            (Operand::SegmentShort(b, o), Width::B1) => emit!(self.ops ; gs mov BYTE [BYTE Rd(b) + o], value as i8),
            (Operand::SegmentShort(b, o), Width::B2) => emit!(self.ops ; gs mov WORD [BYTE Rd(b) + o], value as i16),
            (Operand::SegmentShort(b, o), Width::B4) => emit!(self.ops ; gs mov DWORD [BYTE Rd(b) + o], value as i32),
            (Operand::SegmentShort(b, o), Width::B8) => emit!(self.ops ; gs mov QWORD [BYTE Rd(b) + o], value as i32),
            (Operand::Segment(b, o), Width::B1) => emit!(self.ops ; gs mov BYTE [Rd(b) + o], value as i8),
            (Operand::Segment(b, o), Width::B2) => emit!(self.ops ; gs mov WORD [Rd(b) + o], value as i16),
            (Operand::Segment(b, o), Width::B4) => emit!(self.ops ; gs mov DWORD [Rd(b) + o], value as i32),
            (Operand::Segment(b, o), Width::B8) => emit!(self.ops ; gs mov QWORD [Rd(b) + o], value as i32),
            (Operand::SegmentAbsolute(a), Width::B1) => emit!(self.ops ; gs mov BYTE [a], value as i8),
            (Operand::SegmentAbsolute(a), Width::B2) => emit!(self.ops ; gs mov WORD [a], value as i16),
            (Operand::SegmentAbsolute(a), Width::B4) => emit!(self.ops ; gs mov DWORD [a], value as i32),
            (Operand::SegmentAbsolute(a), Width::B8) => emit!(self.ops ; gs mov QWORD [a], value as i32),
            (Operand::Window, Width::B1) => emit!(self.ops ; mov BYTE [r15 + rcx], value as i8),
            (Operand::Window, Width::B2) => emit!(self.ops ; mov WORD [r15 + rcx], value as i16),
            (Operand::Window, Width::B4) => emit!(self.ops ; mov DWORD [r15 + rcx], value as i32),
            (Operand::Window, Width::B8) => emit!(self.ops ; mov QWORD [r15 + rcx], value as i32),
            (Operand::SegmentIndexedShort(..) | Operand::SegmentIndexed(..), _) => {
                unreachable!("`operand` never indexes")
            }
        }
    }
}
