//! The reservation behind a [`Window`], and the pool that keeps released
//! windows for reuse (reserving 4 GiB costs system calls; a pooled window
//! costs a lock).

use crate::budget;
use crate::ctx::{CTX_OFFSET, VmCtx};
use crate::error::{SysError, WindowError};
use javm_cap::PAGE_SIZE;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect, munmap};
use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Bytes of guest address space.
const GUEST_BYTES: usize = 1 << 32;
/// Inaccessible bytes after the guest space; an 8-byte access at
/// 0xFFFFFFFF ends 7 bytes past it.
const GUARD_BYTES: usize = 1 << 16;
/// One state byte per guest page.
const STATE_BYTES: usize = 1 << 20;
/// The state table plus the context page.
const HEADER_BYTES: usize = STATE_BYTES + PAGE_SIZE;
/// The whole reservation.
const RESERVATION: usize = HEADER_BYTES + GUEST_BYTES + GUARD_BYTES;
/// Windows kept for reuse.
const POOL_LIMIT: usize = 64;

/// One reserved guest window (see the module docs).
pub struct Window {
    start: *mut u8,
}

// SAFETY: a window is plain reserved address space owned by one instance;
// nothing in it is tied to the thread that reserved it.
unsafe impl Send for Window {}

struct Pool(Vec<Window>);

static POOL: Mutex<Pool> = Mutex::new(Pool(Vec::new()));

impl Window {
    /// A clean window (all guest pages inaccessible), from the pool or
    /// freshly reserved and charged to the budget of kernel mappings.
    pub fn take() -> Result<Window, WindowError> {
        budget::init();
        if let Some(w) = POOL.lock().unwrap_or_else(|p| p.into_inner()).0.pop() {
            return Ok(w);
        }
        if !budget::try_reserve() {
            return Err(WindowError::Budget {
                budget: budget::window_mapping_budget(),
                held: budget::window_mappings_held(),
                windows: budget::guest_windows_reserved(),
            });
        }
        Window::reserve().map_err(|err| {
            budget::unreserve();
            err.into()
        })
    }

    fn reserve() -> Result<Window, SysError> {
        // SAFETY: a fresh private reservation chosen by the kernel; it
        // replaces nothing.
        let start = unsafe {
            mmap_anonymous(
                None,
                length(RESERVATION),
                ProtFlags::PROT_NONE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
            )
        }
        .map_err(SysError::new("mmap", "reserving a guest window"))?;
        // SAFETY: the header lies inside the reservation just made.
        if let Err(err) = unsafe { mprotect(start, HEADER_BYTES, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE) } {
            // SAFETY: unmapping the reservation made above, which nothing
            // else uses.
            let _ = unsafe { munmap(start, RESERVATION) };
            return Err(SysError::at("mprotect", "the window's header", start.as_ptr().addr(), HEADER_BYTES)(err));
        }
        Ok(Window { start: start.as_ptr().cast() })
    }

    /// Guest address 0.
    pub fn base(&self) -> *mut u8 {
        // SAFETY: the header precedes the guest part inside the reservation.
        unsafe { self.start.add(HEADER_BYTES) }
    }

    pub(crate) fn ctx(&self) -> *mut VmCtx {
        // SAFETY: the context lies in the header's last page.
        unsafe { self.base().sub(CTX_OFFSET).cast() }
    }

    pub(super) fn states(&self) -> *mut u8 {
        self.start
    }

    /// Returns a reset window to the pool (or unmaps it when the pool is
    /// full).
    pub(super) fn release(self) {
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.0.len() < POOL_LIMIT {
            pool.0.push(self);
        } else {
            drop(pool);
            // SAFETY: the whole reservation belongs to this window, which is
            // being dropped; no frame is mapped in it any more (reset).
            if unsafe { munmap(addr(self.start), RESERVATION) }.is_ok() {
                budget::unreserve();
            }
        }
    }
}

/// Replaces `len` bytes at `at`, part of a window's guest range, with a
/// fresh inaccessible reservation; false if part of it could not be
/// reserved again and may now belong to someone else.
pub(super) fn reserve_again(at: *mut u8, len: usize) -> bool {
    let reserve = |flags| {
        let hint = Some(addr(at).addr());
        // SAFETY: `at..at + len` lies in the caller's window; with
        // MAP_FIXED it replaces only that, with MAP_FIXED_NOREPLACE it
        // replaces nothing.
        unsafe {
            mmap_anonymous(
                hint,
                length(len),
                ProtFlags::PROT_NONE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE | flags,
            )
        }
    };
    #[cfg(test)]
    let first_fails = super::tests::fail_this_reset();
    #[cfg(not(test))]
    let first_fails = false;
    if !first_fails && reserve(MapFlags::MAP_FIXED).is_ok_and(|r| r == addr(at)) {
        return true;
    }
    // Over the kernel's mapping limit, which a split around a new mapping
    // can exceed, every `mmap` fails, even one that would free mappings;
    // `munmap` of whole mappings does not. Unmap, then reserve the hole
    // again without replacing anything another thread mapped meanwhile.
    // SAFETY: as above; the range holds only this window's mappings.
    let _ = unsafe { munmap(addr(at), len) };
    match reserve(MapFlags::MAP_FIXED_NOREPLACE) {
        Ok(r) if r == addr(at) => true,
        Ok(r) => {
            // An old kernel took the flag as a hint and mapped elsewhere.
            // SAFETY: the mapping just made, which nothing else knows of.
            let _ = unsafe { munmap(r, len) };
            false
        }
        Err(_) => false,
    }
}

/// An address in a window as the `mmap` family takes it.
pub(super) fn addr(at: *mut u8) -> NonNull<c_void> {
    NonNull::new(at.cast()).expect("window addresses are not null")
}

/// A length in bytes as `mmap` takes it (never zero for a window range).
pub(super) fn length(len: usize) -> NonZeroUsize {
    NonZeroUsize::new(len).expect("window ranges are not empty")
}
