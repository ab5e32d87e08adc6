//! Why a program could not be compiled, or an instance created.

/// Why a program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The assembler could not allocate or finalize executable memory.
    #[error("cannot allocate executable memory: {0}")]
    Memory(String),
    /// The program is too large for the recompiler's 32-bit native offsets.
    #[error("program too large to compile: {0}")]
    TooLarge(String),
}

/// Why an instance could not be created.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// Reserving the guest window failed.
    #[error("cannot reserve a guest window: {0}")]
    Window(WindowError),
    /// Installing the fault handlers failed.
    #[error("cannot install the fault handlers: {0}")]
    Signals(SysError),
}

/// Why a guest window could not be reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The kernel refused a system call.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The windows' budget of kernel mappings is used up (see
    /// [`crate::set_window_mapping_budget`]), even after the mappings of
    /// idle windows were taken back.
    #[error(
        "the guest windows' budget of {budget} kernel mappings is used up ({held} held, {windows} windows reserved; \
         see set_window_mapping_budget)"
    )]
    Budget {
        /// The budget.
        budget: usize,
        /// Mappings charged to it.
        held: usize,
        /// Windows reserved, each charged two.
        windows: usize,
    },
}

/// A system call that failed: which, on what, and the error the kernel
/// gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{call} ({what}{}) failed: {errno}", range.map(|(a, n)| format!(", {n:#x} bytes at {a:#x}")).unwrap_or_default())]
pub struct SysError {
    /// The call (`mmap`, `mprotect`, …).
    pub call: &'static str,
    /// What it was for.
    pub what: &'static str,
    /// The address range it was given (start, length), when it has one.
    pub range: Option<(usize, usize)>,
    /// The kernel's error.
    pub errno: nix::errno::Errno,
}

impl SysError {
    /// A `call` for `what`, without an address range.
    pub(crate) fn new(call: &'static str, what: &'static str) -> impl Fn(nix::errno::Errno) -> SysError + Copy {
        move |errno| SysError { call, what, range: None, errno }
    }

    /// A `call` for `what` on `len` bytes at `addr`.
    pub(crate) fn at(
        call: &'static str,
        what: &'static str,
        addr: usize,
        len: usize,
    ) -> impl Fn(nix::errno::Errno) -> SysError + Copy {
        move |errno| SysError { call, what, range: Some((addr, len)), errno }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn a_failed_call_names_itself_its_purpose_and_its_range() {
        let e = SysError::at("mmap", "the code file's writable view", 0x7000_0000, 0x40_0000)(Errno::ENOMEM);
        assert_eq!(
            e.to_string(),
            "mmap (the code file's writable view, 0x400000 bytes at 0x70000000) failed: ENOMEM: Out of memory"
        );
        let e = SysError::new("sigaction", "the SIGSEGV and SIGBUS handlers")(Errno::EINVAL);
        assert_eq!(e.to_string(), "sigaction (the SIGSEGV and SIGBUS handlers) failed: EINVAL: Invalid argument");
        assert_eq!(JitError::Window(e.into()).to_string(), format!("cannot reserve a guest window: {e}"));
        let over = WindowError::Budget { budget: 20, held: 20, windows: 10 };
        assert_eq!(
            JitError::Window(over).to_string(),
            "cannot reserve a guest window: the guest windows' budget of 20 kernel mappings is used up \
             (20 held, 10 windows reserved; see set_window_mapping_budget)"
        );
    }
}
