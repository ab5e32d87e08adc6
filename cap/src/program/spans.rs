//! [`SpanSlots`]: a table with one slot per instruction of a program,
//! filled a span at a time the first time one of the span's slots is
//! needed.
//!
//! A lazily decoded [`Program`](super::Program) keeps its instruction
//! stream in one: a load validates every instruction start and lays out the
//! stream (which pcs it holds, where blocks start), but decodes no
//! operands; a span (a few consecutive blocks, see
//! [`super::decoded::SPAN_BLOCKS`]) is decoded when a run or a compile
//! first needs it. Decoding depends on the code alone, so a lazily decoded
//! instruction equals the one an eager decode would give. An engine's own
//! per-instruction form (the interpreter's ops) is built the same way.

use crate::recycle::Pool;
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Range;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Room for `len` values of `T`, and one [`Once`] per span.
pub struct SpanSlots<T: Copy + 'static> {
    /// The slots, `len` of them, from a pooled vector of capacity `cap`;
    /// slot `i` is written only inside the [`Once`] of its span, before
    /// that `Once` completes, and read only after it has.
    slots: *mut T,
    len: usize,
    cap: usize,
    pool: &'static Pool<T>,
    spans: Box<[Once]>,
    /// Every span is filled: the whole table can be read.
    complete: AtomicBool,
}

// SAFETY: the slots are plain `Copy` data owned by the table (`T: Send`);
// every write to a slot happens inside its span's `Once`, which orders it
// before every read of that slot on any thread (see `SpanSlots::span`).
unsafe impl<T: Copy + Send + 'static> Send for SpanSlots<T> {}
// SAFETY: as above; shared access only reads slots of completed spans
// (`T: Sync`), and writes each slot once, inside its span's `Once`.
unsafe impl<T: Copy + Send + Sync + 'static> Sync for SpanSlots<T> {}

impl<T: Copy + 'static> SpanSlots<T> {
    /// A table of `len` slots in `spans` spans, none filled, its room taken
    /// from `pool` (and given back to it when dropped).
    pub fn new(len: usize, spans: usize, pool: &'static Pool<T>) -> SpanSlots<T> {
        let mut v = ManuallyDrop::new(pool.take(len));
        let (slots, cap) = (v.as_mut_ptr(), v.capacity());
        debug_assert!(cap >= len);
        SpanSlots {
            slots,
            len,
            cap,
            pool,
            spans: (0..spans).map(|_| Once::new()).collect(),
            complete: AtomicBool::new(false),
        }
    }

    /// The table `values`, filled whole (given back to `pool` when dropped).
    pub fn filled_whole(values: Vec<T>, pool: &'static Pool<T>) -> SpanSlots<T> {
        let mut v = ManuallyDrop::new(values);
        let (slots, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
        SpanSlots { slots, len, cap, pool, spans: Box::default(), complete: AtomicBool::new(true) }
    }

    /// How many slots the table holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no slots.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether span `k` is filled.
    pub fn is_filled(&self, k: usize) -> bool {
        self.is_complete() || self.spans[k].is_completed()
    }

    /// The slots of span `k`, which covers `range` (the same range on
    /// every call for `k`, and spans never overlap), filled by `fill` if no
    /// call has filled them yet. `fill` must write every slot it is given.
    #[inline]
    pub fn span(&self, k: usize, range: Range<usize>, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len, "a span inside the stream");
        if self.is_complete() {
            // SAFETY: every slot is written and never written again (see
            // `SpanSlots::all`).
            return unsafe { self.filled(range) };
        }
        self.spans[k].call_once(|| {
            // SAFETY: the range lies inside the allocation (asserted above)
            // and belongs to span `k` alone; this closure runs once, before
            // any reader of the span returns from `call_once`, so nothing
            // else reads or writes these slots meanwhile.
            let out = unsafe {
                std::slice::from_raw_parts_mut(self.slots.add(range.start).cast::<MaybeUninit<T>>(), range.len())
            };
            fill(out);
        });
        // SAFETY: span `k`'s `Once` has completed, so every slot of the
        // range was written (the contract of `fill`) and is never written
        // again.
        unsafe { std::slice::from_raw_parts(self.slots.add(range.start), range.len()) }
    }

    /// The slots in `range`.
    ///
    /// # Safety
    ///
    /// Every slot of `range` must lie in a span whose [`SpanSlots::span`]
    /// call has returned (on any thread, ordered before this call by that
    /// span's `Once`, which holds when this thread made or observed it).
    #[inline]
    pub unsafe fn filled(&self, range: Range<usize>) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len, "a range inside the stream");
        // SAFETY: the caller's contract: every slot is written and never
        // written again.
        unsafe { std::slice::from_raw_parts(self.slots.add(range.start), range.len()) }
    }

    /// Slot `i`, without a bounds check.
    ///
    /// # Safety
    ///
    /// `i < self.len()`, in a span filled as for [`SpanSlots::filled`].
    #[inline(always)]
    pub unsafe fn get_unchecked(&self, i: usize) -> &T {
        debug_assert!(i < self.len, "slot {i} of {}", self.len);
        // SAFETY: in bounds and written, by the caller's contract.
        unsafe { &*self.slots.add(i) }
    }

    /// Whether every span is filled (see [`SpanSlots::mark_complete`]).
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Records that every span has been filled through [`SpanSlots::span`].
    pub fn mark_complete(&self) {
        debug_assert!(self.is_complete() || self.spans.iter().all(Once::is_completed));
        self.complete.store(true, Ordering::Release);
    }

    /// The whole table, once [`SpanSlots::is_complete`].
    pub fn all(&self) -> &[T] {
        assert!(self.is_complete(), "every span filled");
        // SAFETY: every span's `Once` has completed (the `Acquire` load in
        // `is_complete` pairs with the `Release` store after the last of
        // them), the spans cover the stream, and no slot is written again.
        unsafe { std::slice::from_raw_parts(self.slots, self.len) }
    }
}

impl<T: Copy + 'static> Drop for SpanSlots<T> {
    fn drop(&mut self) {
        // SAFETY: `slots` and `cap` come from a vector of `T` that `new` or
        // `filled_whole` took apart and nothing else owns; with length 0
        // no element is read (and `T: Copy` needs no drop).
        let v = unsafe { Vec::from_raw_parts(self.slots, 0, self.cap) };
        self.pool.give(v);
    }
}

impl<T: Copy + 'static> fmt::Debug for SpanSlots<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanSlots")
            .field("len", &self.len)
            .field("spans", &self.spans.len())
            .field("complete", &self.is_complete())
            .finish()
    }
}
