//! Frames of the global pool that a thread released, kept by the thread to
//! take again without the pool's lock: threads that each allocate and
//! release a few frames per short run then write no shared cache line for
//! them.
//!
//! A cached frame counts as free, not in use. Each thread's cache has a
//! lock of its own, which only [`FramePool::stats`] and
//! [`FramePool::trim`] take besides the thread (trimming first returns
//! every thread's cached frames to the pool). When the thread ends, its
//! frames go back to the pool.

use super::FramePool;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Frames a thread keeps at most (256 KiB).
pub(super) const CAPACITY: usize = 64;

/// A free frame of the global pool: its file offset and host address.
pub(super) struct Cached(pub(super) u64, pub(super) NonNull<u8>);

// SAFETY: the address points into the global pool's mappings, which live
// as long as the process; the frame is free, so nobody else reaches it.
unsafe impl Send for Cached {}

/// One thread's cached frames, alone on its cache lines.
#[repr(align(128))]
struct Cache(Mutex<Vec<Cached>>);

impl Cache {
    fn lock(&self) -> MutexGuard<'_, Vec<Cached>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Every live thread's cache.
static CACHES: Mutex<Vec<Arc<Cache>>> = Mutex::new(Vec::new());

/// The calling thread's cache, registered in [`CACHES`] while it lives.
struct Own(Arc<Cache>);

impl Own {
    fn new() -> Own {
        let cache = Arc::new(Cache(Mutex::new(Vec::with_capacity(CAPACITY))));
        CACHES.lock().unwrap_or_else(PoisonError::into_inner).push(cache.clone());
        Own(cache)
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        CACHES.lock().unwrap_or_else(PoisonError::into_inner).retain(|c| !Arc::ptr_eq(c, &self.0));
        let frames = std::mem::take(&mut *self.0.lock());
        FramePool::global().shared.give_back(frames);
    }
}

thread_local! {
    static OWN: Own = Own::new();
}

/// A frame this thread cached, if any.
pub(super) fn take() -> Option<Cached> {
    OWN.try_with(|own| own.0.lock().pop()).ok().flatten()
}

/// Keeps a released frame of the global pool; false when this thread
/// keeps [`CAPACITY`] already (or is ending).
pub(super) fn put(frame: Cached) -> bool {
    OWN.try_with(|own| {
        let mut cache = own.0.lock();
        let room = cache.len() < CAPACITY;
        if room {
            cache.push(frame);
        }
        room
    })
    .unwrap_or(false)
}

/// Frames all threads keep.
pub(super) fn cached() -> usize {
    CACHES.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|c| c.lock().len()).sum()
}

/// Takes every thread's cached frames.
pub(super) fn drain() -> Vec<Cached> {
    CACHES.lock().unwrap_or_else(PoisonError::into_inner).iter().flat_map(|c| std::mem::take(&mut *c.lock())).collect()
}

/// Frames the calling thread keeps.
#[cfg(test)]
pub(super) fn here() -> usize {
    OWN.with(|own| own.0.lock().len())
}
