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
    Window(std::io::Error),
    /// Installing the fault handlers failed.
    #[error("cannot install the fault handlers: {0}")]
    Signals(std::io::Error),
}
