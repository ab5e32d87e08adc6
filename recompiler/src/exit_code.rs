//! What the exit trampoline returns (in `eax`, from `ecx`) when generated
//! code stops: a static exit site's code, which names why and at which
//! guest instruction ([`site`]), written by the site's stub; or one of the
//! special codes below, set by the fault handler or by the shared stubs of
//! dynamic jumps. The special codes sit at the top of the `u32` range, far
//! above every site code ([`MAX_INSTRUCTIONS`]).
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
/// A dynamic jump reached a jump-table entry whose target is not compiled
/// yet; `VmCtx::rcx` holds the entry's address. The host compiles the
/// target, fills the entry in and continues there.
pub(crate) const CODE_COMPILE_JUMP: u32 = u32::MAX - 4;

/// Programs have fewer instructions than this, so that every site code
/// (`index << 3 | kind`) lies below 2^31, far from the special codes.
pub(crate) const MAX_INSTRUCTIONS: u32 = 1 << 28;

/// Why generated code left at a static exit site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SiteKind {
    /// `trap`, or a jump to a target that is not a block start.
    Panic,
    /// A dynamic jump to `0xFFFF0000`.
    Halt,
    /// `ecalli` (the id is the instruction's immediate).
    Host,
    /// Not enough gas to enter a block (nothing charged).
    OutOfGas,
    /// Instruction gas model: the block cannot be paid in full; the runtime
    /// steps through it in the interpreter (nothing charged).
    InterpretBlock,
    /// An instruction the recompiler leaves to the interpreter (`sbrk`);
    /// the block is paid for.
    InterpretHere,
    /// A jump to a segment not compiled yet (the index is the target's):
    /// the host compiles it and continues at its gas prologue (nothing
    /// charged for it yet).
    Compile,
    /// A copy or fill loop's start, far from its end
    /// ([`javm_cap::program::bulk`]): the host runs whole iterations and
    /// continues at the gas prologue, or hands one iteration to the
    /// interpreter (nothing charged).
    Bulk,
}

impl SiteKind {
    const ALL: [SiteKind; 8] = [
        SiteKind::Panic,
        SiteKind::Halt,
        SiteKind::Host,
        SiteKind::OutOfGas,
        SiteKind::InterpretBlock,
        SiteKind::InterpretHere,
        SiteKind::Compile,
        SiteKind::Bulk,
    ];
}

/// The code of a site: `kind` at guest instruction `index`
/// (`index < MAX_INSTRUCTIONS`).
pub(crate) const fn site(kind: SiteKind, index: u32) -> u32 {
    index << 3 | kind as u32
}

/// The site a code names, if it is a site code.
pub(crate) fn decode_site(code: u32) -> Option<(SiteKind, u32)> {
    let kind = *SiteKind::ALL.get((code & 7) as usize)?;
    (code >> 3 < MAX_INSTRUCTIONS).then_some((kind, code >> 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_codes_round_trip_and_stay_below_the_special_codes() {
        for kind in SiteKind::ALL {
            for index in [0, 1, 12345, MAX_INSTRUCTIONS - 1] {
                let code = site(kind, index);
                assert!(code < 1 << 31, "far below the special codes");
                assert_eq!(decode_site(code), Some((kind, index)));
            }
        }
        for special in [CODE_FAULT, CODE_REFILL, CODE_DYN_PANIC, CODE_REMAP, CODE_COMPILE_JUMP] {
            assert_eq!(decode_site(special), None);
        }
        assert_eq!(decode_site(site(SiteKind::Bulk, 3)), Some((SiteKind::Bulk, 3)), "eight kinds in three bits");
    }
}
