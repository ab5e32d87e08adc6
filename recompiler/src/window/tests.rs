//! Failure injection for the window's tests: system calls made to fail on
//! purpose, as they do when the host is out of memory or of kernel
//! mappings.

use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    /// Guest-window `mmap`s on this thread still to fail on purpose.
    static FAIL_MAPS: Cell<u32> = const { Cell::new(0) };
    /// Window resets on this thread whose first `mmap` is to fail.
    static FAIL_RESETS: Cell<u32> = const { Cell::new(0) };
    /// Frame stock refills on this thread still to fail.
    static FAIL_REFILLS: Cell<u32> = const { Cell::new(0) };
}

/// Makes the next `n` refills of the frame stock on this thread fail,
/// as they do when the host is out of memory.
pub(crate) fn fail_next_refills(n: u32) {
    FAIL_REFILLS.set(n);
}

pub(super) fn fail_this_refill() -> bool {
    count_down(&FAIL_REFILLS)
}

/// Makes the next `n` window mappings on this thread fail.
pub(crate) fn fail_next_maps(n: u32) {
    FAIL_MAPS.set(n);
}

/// Makes the first `mmap` of the next `n` window resets on this
/// thread fail, as it does over the kernel's mapping limit.
pub(crate) fn fail_next_resets(n: u32) {
    FAIL_RESETS.set(n);
}

pub(super) fn fail_this_map() -> bool {
    count_down(&FAIL_MAPS)
}

pub(super) fn fail_this_reset() -> bool {
    count_down(&FAIL_RESETS)
}

/// Whether `counter` was above zero; takes one off.
fn count_down(counter: &'static LocalKey<Cell<u32>>) -> bool {
    let n = counter.get();
    counter.set(n.saturating_sub(1));
    n > 0
}
