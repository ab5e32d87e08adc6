//! What the exit trampoline returns (in `eax`, from `ecx`) when generated
//! code stops: the number of a static exit site (an index into
//! `CompiledModule::exits`, written by the site's stub), or one of the codes
//! below, set by the fault handler or the dynamic-jump panic stub. The codes
//! sit at the top of the `u32` range; code generation keeps every site
//! number below them.
//!
//! The run loop (`exec`) decodes them; the context holds what each needs.

/// A guest memory fault: `VmCtx::fault` says which (panic or page fault),
/// `VmCtx::exit_index` at which instruction.
pub(crate) const CODE_FAULT: u32 = u32::MAX;
/// The frame stock ran out in the fault handler: refill and resume.
pub(crate) const CODE_REFILL: u32 = u32::MAX - 1;
/// A dynamic jump hit an invalid table entry (index in `exit_index`).
pub(crate) const CODE_DYN_PANIC: u32 = u32::MAX - 2;
/// The fault handler could not map a page (out of memory or of kernel
/// mappings): the host resets the window and resumes.
pub(crate) const CODE_REMAP: u32 = u32::MAX - 3;
