//! javm: a JIT-backed runtime for JAM's PVM.
//!
//! Load a program with an [`Engine`], instantiate the [`Module`] and run the
//! [`Instance`]; host calls reach a [`HostCalls`] implementation. See
//! [`api`] for an example.

pub mod api;
pub mod cache;
pub mod config;
pub mod disk_cache;
pub mod harness;
pub mod interp;
pub mod testing;

pub use api::{
    Compilation, Config, Engine, EngineKind, Error, HostCalls, HostResult, Instance, MemoryAccess, Module, PageAccess,
    Snapshot, StepRecord,
};
pub use cache::{CacheStats, DEFAULT_CACHE_BYTES};
pub use disk_cache::{DiskCacheStats, Rejections};
pub use javm_cap::program::{GasModel, Profile};
pub use javm_cap::vm::{Exit, VmState};
/// Process-wide limit on the kernel mappings the recompiler's guest windows
/// hold together, what they hold, and giving back those of idle instances
/// (see the recompiler's README, "Kernel mappings").
pub use javm_recompiler::{
    CompileContext, guest_windows_reserved, release_idle_mappings, set_window_mapping_budget, window_mapping_budget,
    window_mappings_held,
};

/// Gives the memory of idle guest pages back to the OS and returns how many
/// 4 KiB pages were given back. Guest pages come from one process-wide pool
/// that never shrinks by itself, so a long-running host whose guests once
/// used much memory at the same time calls this when they are gone. The
/// recompiler's windows kept for a module's next instances are dropped
/// first, with their frames.
pub fn release_idle_memory() -> usize {
    javm_recompiler::release_kept_windows();
    javm_cap::frames::FramePool::global().trim(0)
}
