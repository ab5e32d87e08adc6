//! javm's x86-64 recompiler for PVM code.
//!
//! - `codegen` turns a [`Program`] into x86-64 in one pass per basic block,
//!   with all 13 guest registers pinned in host registers and guest memory
//!   addressed as `[window base + zero-extended 32-bit address]`.
//! - `module` holds the result: the executable code and the tables that
//!   map guest instructions to native code and back ([`CompiledModule`]).
//! - `window` reserves the 4 GiB guest window of an instance and maps
//!   DataCap frames into it on demand (read-only; copy-on-write on the first
//!   store to a writable page).
//! - `signals` turns hardware faults in generated code into lazy mapping,
//!   copy-on-write, or exact guest page faults.
//! - `exec` runs an instance ([`JitInstance`]); `memory` exposes its guest
//!   memory to the host ([`WindowMemory`]).
//!
//! Everything the recompiler cannot do fast it hands back to the runtime's
//! interpreter ([`JitExit::Interpret`]); it never answers differently from it.
//!
//! Where the kernel allows `wrgsbase` ([`Features::fsgsbase`]), a thread
//! that runs guest code has its GS base set to the instance's window and
//! left there (x86-64 Linux user space does not use GS otherwise).

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("javm-recompiler supports x86-64 Linux only");

mod budget;
mod code;
mod codegen;
mod cpu;
mod ctx;
mod exec;
mod memory;
mod module;
mod signals;
mod window;

#[cfg(test)]
mod tests;

pub use budget::{set_window_mapping_budget, window_mapping_budget, window_mappings_held};
pub use cpu::Features;
pub use exec::{JitExit, JitInstance};
pub use memory::WindowMemory;
pub use module::CompiledModule;

use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(doc)]
use javm_cap::program::Program;

/// How a program is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Emit only baseline x86-64 (no BMI1/BMI2/LZCNT/POPCNT), even where the
    /// CPU has them. The default comes from [`set_default_force_fallbacks`],
    /// else from the environment variable `JAVM_JIT_FALLBACKS=1`.
    pub force_fallbacks: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { force_fallbacks: default_force_fallbacks() }
    }
}

impl CompileOptions {
    /// The CPU features code compiled with these options may use.
    pub fn features(&self) -> Features {
        if self.force_fallbacks { Features::NONE } else { Features::detect() }
    }
}

/// 0 = not decided yet, 1 = off, 2 = on.
static FORCE_FALLBACKS: AtomicU8 = AtomicU8::new(0);

/// Sets what [`CompileOptions::default`] uses for `force_fallbacks` in this
/// process (tests use it to run a whole suite on the fallback code paths).
pub fn set_default_force_fallbacks(on: bool) {
    FORCE_FALLBACKS.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

fn default_force_fallbacks() -> bool {
    match FORCE_FALLBACKS.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("JAVM_JIT_FALLBACKS").is_ok_and(|v| v == "1");
            set_default_force_fallbacks(on);
            on
        }
        v => v == 2,
    }
}

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
