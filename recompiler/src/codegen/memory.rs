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

/// Bytes an access reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Size {
    B1,
    B2,
    B4,
    B8,
}

impl Size {
    pub(super) fn bytes(self) -> u8 {
        match self {
            Size::B1 => 1,
            Size::B2 => 2,
            Size::B4 => 4,
            Size::B8 => 8,
        }
    }
}

/// How an access addresses guest memory: the address, built once.
#[derive(Clone, Copy)]
pub(super) enum Operand {
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

/// Emits one instruction whose memory operand is `$operand`:
/// `at!(ops, operand, [before], [after])` writes `before [address] after`,
/// with the `gs` prefix for the segment forms.
macro_rules! at {
    ($ops:expr, $operand:expr, [$($before:tt)*], [$($after:tt)*]) => {
        match $operand {
            Operand::SegmentShort(b, o) => emit!($ops ; gs $($before)* [BYTE Rd(b) + o] $($after)*),
            Operand::Segment(b, o) => emit!($ops ; gs $($before)* [Rd(b) + o] $($after)*),
            Operand::SegmentAbsolute(a) => emit!($ops ; gs $($before)* [a] $($after)*),
            Operand::SegmentIndexedShort(b, x, o) => emit!($ops ; gs $($before)* [BYTE Rd(b) + Rd(x) + o] $($after)*),
            Operand::SegmentIndexed(b, x, o) => emit!($ops ; gs $($before)* [Rd(b) + Rd(x) + o] $($after)*),
            Operand::Window => emit!($ops ; $($before)* [r15 + rcx] $($after)*),
        }
    };
}

impl Compiler<'_> {
    /// Chooses the operand form for an access to `base + offset` and emits
    /// what it needs.
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

    /// The operand form for an access to `base + index + offset` (guest
    /// registers), emitting what it needs.
    pub(super) fn indexed_operand(&mut self, base: u8, index: u8, offset: u64) -> Operand {
        let (hb, hx, o) = (host(base), host(index), offset as u32 as i32);
        if self.features.fsgsbase && o == i32::from(o as i8) {
            Operand::SegmentIndexedShort(hb, hx, o as i8)
        } else if self.features.fsgsbase {
            Operand::SegmentIndexed(hb, hx, o)
        } else {
            emit!(self.ops ; lea ecx, [Rq(hb) + Rq(hx) + o]);
            Operand::Window
        }
    }

    /// `ecx ← (base + offset) mod 2^32` (or the absolute `offset`).
    pub(super) fn address(&mut self, base: Option<u8>, offset: u64) {
        let offset = offset as u32 as i32;
        match base {
            Some(b) if offset == 0 => emit!(self.ops ; mov ecx, Rd(host(b))),
            Some(b) if offset == i32::from(offset as i8) => {
                emit!(self.ops ; lea ecx, [BYTE Rq(host(b)) + offset as i8])
            }
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

    /// A load of `size` bytes into guest register `dst` (instruction `i`).
    pub(super) fn load(&mut self, i: u32, base: Option<u8>, offset: u64, dst: u8, size: Size, signed: bool) {
        self.access(i, base, offset, size.bytes(), false);
        let operand = self.operand(base, offset);
        self.load_from(operand, dst, size, signed);
    }

    /// `dst ← [operand]`, zero- or sign-extended from `size` bytes.
    pub(super) fn load_from(&mut self, operand: Operand, dst: u8, size: Size, signed: bool) {
        let d = host(dst);
        match (size, signed) {
            (Size::B1, false) => at!(self.ops, operand, [movzx Rd(d), BYTE], []),
            (Size::B1, true) => at!(self.ops, operand, [movsx Rq(d), BYTE], []),
            (Size::B2, false) => at!(self.ops, operand, [movzx Rd(d), WORD], []),
            (Size::B2, true) => at!(self.ops, operand, [movsx Rq(d), WORD], []),
            (Size::B4, false) => at!(self.ops, operand, [mov Rd(d), DWORD], []),
            (Size::B4, true) => at!(self.ops, operand, [movsxd Rq(d), DWORD], []),
            (Size::B8, _) => at!(self.ops, operand, [mov Rq(d), QWORD], []),
        }
    }

    /// A store of the low `size` bytes of guest register `src`.
    pub(super) fn store(&mut self, i: u32, base: Option<u8>, offset: u64, size: Size, src: u8) {
        self.access(i, base, offset, size.bytes(), true);
        let s = host(src);
        let operand = self.operand(base, offset);
        match size {
            Size::B1 => at!(self.ops, operand, [mov BYTE], [, Rb(s)]),
            Size::B2 => at!(self.ops, operand, [mov WORD], [, Rw(s)]),
            Size::B4 => at!(self.ops, operand, [mov DWORD], [, Rd(s)]),
            Size::B8 => at!(self.ops, operand, [mov QWORD], [, Rq(s)]),
        }
    }

    /// A store of the immediate `value` (sign-extended from at most 32 bits).
    pub(super) fn store_imm(&mut self, i: u32, base: Option<u8>, offset: u64, size: Size, value: u64) {
        self.access(i, base, offset, size.bytes(), true);
        let operand = self.operand(base, offset);
        match size {
            Size::B1 => at!(self.ops, operand, [mov BYTE], [, value as i8]),
            Size::B2 => at!(self.ops, operand, [mov WORD], [, value as i16]),
            Size::B4 => at!(self.ops, operand, [mov DWORD], [, value as i32]),
            Size::B8 => at!(self.ops, operand, [mov QWORD], [, value as i32]),
        }
    }
}
