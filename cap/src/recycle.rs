//! Bounded pools of emptied vectors for the large per-program tables (the
//! instruction stream and its per-instruction indexes, the interpreter's
//! ops): a dropped program gives its tables back and the next load takes
//! them, so loading one program after another reuses memory that is already
//! mapped instead of returning it to the allocator and faulting in fresh
//! pages every time (about 1,500 page faults for a 256 KiB program).
//!
//! A pool keeps at most [`KEEP`] vectors of [`MIN_BYTES`] to [`MAX_BYTES`]
//! each; smaller ones are cheap to allocate and larger ones are not worth
//! pinning.

use std::sync::Mutex;

/// Vectors kept per pool (a few loads in flight at once).
pub const KEEP: usize = 4;
/// Smallest vector worth keeping, in bytes.
pub const MIN_BYTES: usize = 64 << 10;
/// Largest vector kept, in bytes.
pub const MAX_BYTES: usize = 64 << 20;

/// A pool of empty vectors of `T` (see the module docs).
pub struct Pool<T> {
    free: Mutex<Vec<Vec<T>>>,
}

impl<T> Pool<T> {
    /// An empty pool.
    pub const fn new() -> Pool<T> {
        Pool { free: Mutex::new(Vec::new()) }
    }

    /// An empty vector with room for at least `capacity` elements, recycled
    /// when the pool has one.
    pub fn take(&self, capacity: usize) -> Vec<T> {
        let recycled = if capacity.saturating_mul(size_of::<T>()) >= MIN_BYTES {
            self.free.lock().unwrap_or_else(|p| p.into_inner()).pop()
        } else {
            None
        };
        let mut v = recycled.unwrap_or_default();
        v.reserve(capacity);
        v
    }

    /// Empties `v` and keeps its memory for a later [`Pool::take`], unless
    /// it is too small or too large or the pool is full.
    pub fn give(&self, mut v: Vec<T>) {
        let bytes = v.capacity().saturating_mul(size_of::<T>());
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
            return;
        }
        v.clear();
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < KEEP {
            free.push(v);
        }
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Pool<T> {
        Pool::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_vectors_come_back_empty_with_their_memory() {
        let pool = Pool::<u64>::new();
        let mut v = pool.take(100_000);
        v.extend(0..100_000);
        let (ptr, capacity) = (v.as_ptr(), v.capacity());
        pool.give(v);
        let again = pool.take(50_000);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr(), again.capacity()), (ptr, capacity));
        assert!(pool.take(100_000).capacity() >= 100_000, "a fresh one once the pool is empty");
    }

    #[test]
    fn small_and_surplus_vectors_are_dropped() {
        let pool = Pool::<u8>::new();
        pool.give(Vec::with_capacity(16));
        assert!(pool.free.lock().unwrap().is_empty());
        for _ in 0..KEEP + 2 {
            pool.give(Vec::with_capacity(MIN_BYTES));
        }
        assert_eq!(pool.free.lock().unwrap().len(), KEEP);
        // Small requests do not take a pooled vector.
        let small = pool.take(10);
        assert!(small.capacity() >= 10);
        assert_eq!(pool.free.lock().unwrap().len(), KEEP);
    }
}
