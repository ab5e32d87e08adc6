//! The VM context: a fixed-layout block just below an instance's guest
//! window. Generated code reaches every field at a constant negative offset
//! from the window base register, so no second pointer register is needed.

use javm_cap::PAGE_SIZE;
use std::mem::offset_of;

/// Per-instance state shared by generated code, the run loop and the fault
/// handler.
///
/// Field order matters: the fields generated code uses in hot paths come
/// last, so they sit within 128 bytes of the window base and take 8-bit
/// displacements (the gas counter is the last field).
#[repr(C)]
pub(crate) struct VmCtx {
    /// Guest registers while the guest is not running (slots 13..16 unused).
    pub regs: [u64; 16],
    /// Value of the scratch register on entry (a resume after a frame refill
    /// continues a half-done memory access whose address is in it).
    pub rcx: u64,
    /// Native address the entry trampoline jumps to.
    pub entry: u64,
    /// Host stack pointer saved by the entry trampoline.
    pub host_rsp: u64,
    /// Native address to resume at after a frame refill.
    pub resume_rip: u64,
    /// The instance's `instance::Instance`, for the fault handler.
    pub inner: usize,
    /// A guest memory fault: 0 = panic, else `1 << 32 | page address`.
    pub fault: u64,
    /// For an interrupted load fused with the add before it: the add's
    /// result, which the guest state holds if the access is not resumed
    /// but handed to the interpreter.
    pub pending_sum: u64,
    /// The guest register of `pending_sum`, or `NO_BASE` (no fused add).
    pub pending_sum_reg: u32,
    /// The pages an interrupted access needs (first, last, 1 for a write),
    /// which the host prepares before resuming it.
    pub pending: [u32; 3],
    /// Guest instruction index of the last dynamic-jump panic or fault.
    pub exit_index: u32,
    /// Address of the module's dynamic-jump table.
    pub jump_table: u64,
    /// Gas left while the guest is not running (with `fsgsbase`, generated
    /// code keeps it in `r15` and the trampolines move it).
    pub gas: i64,
}

/// Distance from the context's start to the window base: the context ends
/// exactly at the base.
pub(crate) const CTX_OFFSET: usize = size_of::<VmCtx>();

const _: () = assert!(CTX_OFFSET.is_multiple_of(8) && CTX_OFFSET <= PAGE_SIZE);
const _: () = assert!(GAS == -8 && JUMP_TABLE >= -128);

/// Offset of a context field from the window base.
const fn rel(field: usize) -> i32 {
    field as i32 - CTX_OFFSET as i32
}

pub(crate) const REGS: i32 = rel(offset_of!(VmCtx, regs));
pub(crate) const GAS: i32 = rel(offset_of!(VmCtx, gas));
pub(crate) const RCX: i32 = rel(offset_of!(VmCtx, rcx));
pub(crate) const ENTRY: i32 = rel(offset_of!(VmCtx, entry));
pub(crate) const HOST_RSP: i32 = rel(offset_of!(VmCtx, host_rsp));
pub(crate) const JUMP_TABLE: i32 = rel(offset_of!(VmCtx, jump_table));
pub(crate) const EXIT_INDEX: i32 = rel(offset_of!(VmCtx, exit_index));
