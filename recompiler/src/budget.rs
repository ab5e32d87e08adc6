//! The kernel mappings that guest windows may hold together.
//!
//! Linux allows a process `vm.max_map_count` mappings (65,530 by default).
//! Once a process is over that limit every `mmap` fails, including the
//! host's own allocations and the `mmap` that would reset a window. A guest
//! that touches memory sparsely costs its window up to two mappings per
//! fault. So every window `mmap` is charged against one budget shared by all
//! windows of the process (by default half the kernel's limit). An `mmap`
//! over budget fails like one the kernel refuses: mappings are taken back
//! from windows that do not run (or the window is reset), and the access is
//! retried.
//!
//! Each reserved window is charged too ([`PER_WINDOW`]: its header and its
//! inaccessible guest range), from its reservation until it is unmapped, so
//! that windows alone can never use up the kernel's limit: once the budget
//! is used up, reserving another window fails with an error that names the
//! budget instead of a failed `mmap` elsewhere in the host.
//!
//! Every function here that the fault handler calls uses atomics only.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Mappings charged for one window `mmap`: it can split the inaccessible
/// reservation around it in two.
pub(crate) const PER_MAP: usize = 2;

/// Mappings charged for one reserved window: its read-write header and its
/// inaccessible guest range.
pub(crate) const PER_WINDOW: usize = 2;

/// The kernel's limit when it cannot be read.
const DEFAULT_KERNEL_LIMIT: usize = 65_530;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_KERNEL_LIMIT / 2);
static HELD: AtomicUsize = AtomicUsize::new(0);
static RESERVED: AtomicUsize = AtomicUsize::new(0);
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
/// hold together (default: half of `vm.max_map_count`): two per reserved
/// window, and what they map. A smaller budget leaves more to the host.
/// A window short of mappings takes them back from idle windows, else
/// empties itself; one that cannot map even then runs the access in the
/// interpreter instead, with the same results, only slower. An instance
/// whose window cannot be reserved within the budget is not created
/// ([`crate::WindowError::Budget`]). So a budget of what windows hold now
/// ([`window_mappings_held`]) plus a few lets the instances that exist (and
/// pooled windows) run with almost no mappings to spare.
pub fn set_window_mapping_budget(mappings: usize) {
    FROM_KERNEL.call_once(|| {});
    BUDGET.store(mappings, Ordering::Relaxed);
}

/// The current budget (see [`set_window_mapping_budget`]).
pub fn window_mapping_budget() -> usize {
    init();
    BUDGET.load(Ordering::Relaxed)
}

/// Kernel mappings the guest windows of this process hold now, charged to
/// the budget: two per reserved window (see [`guest_windows_reserved`]) and
/// two per window `mmap` (an upper bound).
pub fn window_mappings_held() -> usize {
    HELD.load(Ordering::Relaxed)
}

/// Guest windows reserved now: those of live instances, and those kept
/// for reuse.
pub fn guest_windows_reserved() -> usize {
    RESERVED.load(Ordering::Relaxed)
}

/// Mappings held by what windows map into their reservations (an estimate
/// while other threads charge).
pub(crate) fn page_mappings_held() -> usize {
    window_mappings_held().saturating_sub(guest_windows_reserved() * PER_WINDOW)
}

/// Charges one window `mmap`; false (nothing charged) when that would go
/// over budget. Async-signal-safe.
pub(crate) fn try_charge() -> bool {
    charge(PER_MAP)
}

/// Charges the reservation of one window; false (nothing charged) when
/// that would go over budget.
pub(crate) fn try_reserve() -> bool {
    let charged = charge(PER_WINDOW);
    if charged {
        RESERVED.fetch_add(1, Ordering::Relaxed);
    }
    charged
}

/// Gives back the charge of a window that has been unmapped.
pub(crate) fn unreserve() {
    RESERVED.fetch_sub(1, Ordering::Relaxed);
    release(PER_WINDOW);
}

/// Charges `mappings`, unless that would go over budget.
fn charge(mappings: usize) -> bool {
    let before = HELD.fetch_add(mappings, Ordering::Relaxed);
    if before + mappings > BUDGET.load(Ordering::Relaxed) {
        HELD.fetch_sub(mappings, Ordering::Relaxed);
        return false;
    }
    true
}

/// Gives back `mappings` charged by a window that has been reset.
pub(crate) fn release(mappings: usize) {
    HELD.fetch_sub(mappings, Ordering::Relaxed);
}
