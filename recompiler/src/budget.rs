//! The kernel mappings that guest windows may hold together.
//!
//! Linux allows a process `vm.max_map_count` mappings (65,530 by default).
//! Once a process is over that limit every `mmap` fails, including the
//! host's own allocations and the `mmap` that would reset a window. A guest
//! that touches memory sparsely costs its window up to two mappings per
//! fault. So every window `mmap` is charged against one budget shared by all
//! windows of the process (by default half the kernel's limit). An `mmap`
//! over budget fails like one the kernel refuses: the window is reset, which
//! gives its mappings back, and the access is retried.
//!
//! Every function here that the fault handler calls uses atomics only.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Mappings charged for one window `mmap`: it can split the inaccessible
/// reservation around it in two.
pub(crate) const PER_MAP: usize = 2;

/// The kernel's limit when it cannot be read.
const DEFAULT_KERNEL_LIMIT: usize = 65_530;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_KERNEL_LIMIT / 2);
static HELD: AtomicUsize = AtomicUsize::new(0);
static FROM_KERNEL: Once = Once::new();

/// Sets the default budget from the kernel's limit, once per process,
/// unless [`set_window_mapping_budget`] was called first.
pub(crate) fn init() {
    FROM_KERNEL.call_once(|| {
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_KERNEL_LIMIT);
        BUDGET.store(limit / 2, Ordering::Relaxed);
    });
}

/// Sets how many kernel mappings the guest windows of this process may
/// hold together (default: half of `vm.max_map_count`). A smaller budget
/// leaves more to the host; a window that cannot map even when it holds
/// nothing runs the access in the interpreter instead, with the same
/// results, only slower.
pub fn set_window_mapping_budget(mappings: usize) {
    FROM_KERNEL.call_once(|| {});
    BUDGET.store(mappings, Ordering::Relaxed);
}

/// The current budget (see [`set_window_mapping_budget`]).
pub fn window_mapping_budget() -> usize {
    init();
    BUDGET.load(Ordering::Relaxed)
}

/// Kernel mappings the guest windows of this process hold now (an upper
/// bound: each window `mmap` is counted as two).
pub fn window_mappings_held() -> usize {
    HELD.load(Ordering::Relaxed)
}

/// Charges one window `mmap`; false (nothing charged) when that would go
/// over budget. Async-signal-safe.
pub(crate) fn try_charge() -> bool {
    let before = HELD.fetch_add(PER_MAP, Ordering::Relaxed);
    if before + PER_MAP > BUDGET.load(Ordering::Relaxed) {
        HELD.fetch_sub(PER_MAP, Ordering::Relaxed);
        return false;
    }
    true
}

/// Gives back `mappings` charged by a window that has been reset.
pub(crate) fn release(mappings: usize) {
    HELD.fetch_sub(mappings, Ordering::Relaxed);
}
