//! Frames of the global pool that a thread released, kept by the thread to
//! take again without the pool's lock: threads that each allocate and
//! release a few frames per short run then write no shared cache line for
//! them.
//!
//! A cached frame counts as free, not in use: each thread counts its cached
//! frames in a counter of its own (written by that thread alone) that
//! [`cached`] sums. When the thread ends, its frames go back to the pool.

use super::{FramePool, Shared};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Frames a thread keeps at most (256 KiB); the pool's
/// [`FramePool::trim`] does not reach them.
pub(super) const CAPACITY: usize = 64;

/// A thread's count of cached frames, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Counter(AtomicUsize);

/// Every live thread's counter.
static COUNTERS: Mutex<Vec<Arc<Counter>>> = Mutex::new(Vec::new());

/// One thread's cached frames: `(file offset, host address)`.
struct Cache {
    frames: Vec<(u64, NonNull<u8>)>,
    count: Arc<Counter>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::new());
}

impl Cache {
    fn new() -> Cache {
        let count = Arc::new(Counter::default());
        COUNTERS.lock().unwrap_or_else(PoisonError::into_inner).push(count.clone());
        Cache { frames: Vec::with_capacity(CAPACITY), count }
    }

    fn set_count(&self) {
        self.count.0.store(self.frames.len(), Ordering::Relaxed);
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let shared = global();
        let mut state = shared.lock();
        state.in_use -= self.frames.len();
        state.released_since_sort += self.frames.len();
        state.free.extend(self.frames.drain(..).map(|(offset, _)| offset));
        drop(state);
        self.set_count();
        COUNTERS.lock().unwrap_or_else(PoisonError::into_inner).retain(|c| !Arc::ptr_eq(c, &self.count));
    }
}

fn global() -> &'static Shared {
    &FramePool::global().shared
}

/// A frame this thread cached, if any.
pub(super) fn take() -> Option<(u64, NonNull<u8>)> {
    CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let frame = cache.frames.pop()?;
            cache.set_count();
            Some(frame)
        })
        .ok()
        .flatten()
}

/// Keeps a released frame of the global pool; false when this thread
/// keeps [`CAPACITY`] already (or is ending).
pub(super) fn put(offset: u64, ptr: NonNull<u8>) -> bool {
    CACHE
        .try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else { return false };
            if cache.frames.len() == CAPACITY {
                return false;
            }
            cache.frames.push((offset, ptr));
            cache.set_count();
            true
        })
        .unwrap_or(false)
}

/// Frames all threads keep.
pub(super) fn cached() -> usize {
    COUNTERS.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
}

/// Frames the calling thread keeps.
#[cfg(test)]
pub(super) fn here() -> usize {
    CACHE.with_borrow(|cache| cache.frames.len())
}
