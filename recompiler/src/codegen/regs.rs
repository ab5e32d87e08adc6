//! The register map: which host register holds which guest register.
//!
//! All 13 guest registers live in host registers for the whole run. With
//! `fsgsbase`, GS holds the window base (guest address 0; the VM context
//! sits just below it) and `r15` holds the gas counter; otherwise `r15`
//! holds the window base and gas stays in the context. `rcx` is the one
//! scratch register: it carries memory addresses, shift counts and
//! intermediate results. Guest `r0` (`ra`) and `r1` (`sp`)
//! sit in `rax` and `rdx`, the registers `div` (and `mul` without BMI2)
//! clobber, because they are rarely operands of those instructions.

/// Host register numbers (x86-64 encoding order).
pub(crate) const RAX: u8 = 0;
/// The scratch register.
pub(crate) const RCX: u8 = 1;
/// `rdx`.
pub(crate) const RDX: u8 = 2;

/// Stack slots (`[rsp + n]`, reserved by the enter trampoline) where
/// instructions that need `rax`/`rdx` park them.
pub(crate) const SPILL: [i32; 3] = [0, 8, 16];

/// Stack slot (`[rsp + n]`) holding the window base while guest code runs.
pub(crate) const BASE_SLOT: i32 = 24;

/// Bytes the enter trampoline reserves below the saved host registers: the
/// spill slots and the base slot, rounded so the stack stays 16-byte
/// aligned.
pub(crate) const FRAME: i32 = 40;

/// Host register of each guest register.
pub(crate) const GUEST_TO_HOST: [u8; 13] = [RAX, RDX, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

/// [`GUEST_TO_HOST`] padded to 16 entries, so a masked index needs no
/// bounds check (the padding is never used: registers are clamped to 0..=12
/// when decoded).
const HOST_OF: [u8; 16] = {
    let mut table = [RAX; 16];
    let mut g = 0;
    while g < GUEST_TO_HOST.len() {
        table[g] = GUEST_TO_HOST[g];
        g += 1;
    }
    table
};

/// Host register of guest register `g` (already clamped to 0..=12).
#[inline]
pub(crate) fn host(g: u8) -> u8 {
    debug_assert!(g < 13);
    HOST_OF[usize::from(g & 15)]
}

/// `ucontext` general-register index (`libc::REG_*`) of each host register.
pub(crate) const HOST_TO_GREG: [i32; 16] = [
    libc::REG_RAX,
    libc::REG_RCX,
    libc::REG_RDX,
    libc::REG_RBX,
    libc::REG_RSP,
    libc::REG_RBP,
    libc::REG_RSI,
    libc::REG_RDI,
    libc::REG_R8,
    libc::REG_R9,
    libc::REG_R10,
    libc::REG_R11,
    libc::REG_R12,
    libc::REG_R13,
    libc::REG_R14,
    libc::REG_R15,
];
