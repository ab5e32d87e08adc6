//! javm's x86-64 recompiler for PVM code.
//!
//! - `codegen` turns a [`Program`] into x86-64 in one pass per basic block,
//!   with all 13 guest registers pinned in host registers and guest memory
//!   addressed as `[window base + zero-extended 32-bit address]`.
//! - `module` holds the result: the executable code and the tables that
//!   map guest instructions to native code and back ([`CompiledModule`],
//!   `codemap`); `lazy` compiles a module region by region, each on its
//!   first entry, when [`CompileOptions::lazy`] asks for it.
//! - `window` reserves the 4 GiB guest window of an instance and maps
//!   DataCap frames into it on demand (read-only; copy-on-write on the first
//!   store to a writable page).
//! - `signals` turns hardware faults in generated code into lazy mapping,
//!   copy-on-write, or exact guest page faults.
//! - `persist` archives a compiled module for a persistent cache and
//!   loads it back, checked against the program, without code generation.
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
mod bulk;
mod code;
mod codegen;
mod codemap;
mod cpu;
mod ctx;
mod error;
mod exec;
mod exit_code;
mod instance;
mod lazy;
mod memory;
mod module;
mod options;
mod persist;
mod signals;
mod window;

#[cfg(test)]
mod tests;

pub use budget::{guest_windows_reserved, set_window_mapping_budget, window_mapping_budget, window_mappings_held};
pub use codegen::CompileContext;
pub use cpu::Features;
pub use error::{CompileError, JitError, SysError, WindowError};
pub use exec::{JitExit, JitInstance};
pub use instance::ThreadHandle;
pub use memory::WindowMemory;
pub use module::CompiledModule;
pub use options::{CompileOptions, DEFAULT_REGION, set_default_force_fallbacks};
pub use persist::{ARCHIVE_ALIGN, ARCHIVE_FORMAT, ArchiveError, CODEGEN_FINGERPRINT};
pub use window::{release_idle_mappings, release_kept_windows};

#[cfg(doc)]
use javm_cap::program::Program;
