//! [`Stream`]: a program's instruction stream, decoded a span at a time the
//! first time one of its instructions is read.
//!
//! A load validates every instruction start and lays out the stream (which
//! pcs it holds, where blocks start), but decodes no operands; a span (a
//! few consecutive blocks, see [`super::decoded::SPAN_BLOCKS`]) is decoded
//! when a run or a compile first needs it. Decoding depends on
//! the code alone, so a lazily decoded instruction equals the one an eager
//! decode would give.

use super::build::pools;
use super::decode::Instruction;
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Range;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Room for a stream of known length, and one [`Once`] per span.
pub(super) struct Stream {
    /// The slots, `len` of them, from a pooled vector of capacity `cap`;
    /// slot `i` is written only inside the [`Once`] of its span, before
    /// that `Once` completes, and read only after it has.
    slots: *mut Instruction,
    len: usize,
    cap: usize,
    spans: Box<[Once]>,
    /// Every span is decoded: the whole stream can be read.
    complete: AtomicBool,
}

// SAFETY: the slots are plain `Copy` data owned by the stream; every write
// to a slot happens inside its span's `Once`, which orders it before every
// read of that slot on any thread (see `Stream::span`).
unsafe impl Send for Stream {}
// SAFETY: as above; shared access only reads slots of completed spans.
unsafe impl Sync for Stream {}

impl Stream {
    /// A stream of `len` instructions in `spans` spans, none decoded.
    pub fn new(len: usize, spans: usize) -> Stream {
        let mut v = ManuallyDrop::new(pools::INSTRUCTIONS.take(len));
        let (slots, cap) = (v.as_mut_ptr(), v.capacity());
        debug_assert!(cap >= len);
        Stream { slots, len, cap, spans: (0..spans).map(|_| Once::new()).collect(), complete: AtomicBool::new(false) }
    }

    /// The stream `instructions`, decoded whole.
    pub fn decoded_whole(instructions: Vec<Instruction>) -> Stream {
        let mut v = ManuallyDrop::new(instructions);
        let (slots, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
        Stream { slots, len, cap, spans: Box::default(), complete: AtomicBool::new(true) }
    }

    /// How many instructions the stream holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether span `k` is decoded.
    pub fn is_decoded(&self, k: usize) -> bool {
        self.is_complete() || self.spans[k].is_completed()
    }

    /// The instructions of span `k`, which covers `range` (the same range
    /// on every call for `k`, and spans never overlap), decoded by
    /// `decode` if no call has decoded them yet. `decode` must write every
    /// slot it is given.
    #[inline]
    pub fn span(
        &self,
        k: usize,
        range: Range<usize>,
        decode: impl FnOnce(&mut [MaybeUninit<Instruction>]),
    ) -> &[Instruction] {
        assert!(range.start <= range.end && range.end <= self.len, "a span inside the stream");
        if self.is_complete() {
            // SAFETY: every slot is written and never written again (see
            // `Stream::all`).
            return unsafe { self.decoded(range) };
        }
        self.spans[k].call_once(|| {
            // SAFETY: the range lies inside the allocation (asserted above)
            // and belongs to span `k` alone; this closure runs once, before
            // any reader of the span returns from `call_once`, so nothing
            // else reads or writes these slots meanwhile.
            let out = unsafe {
                std::slice::from_raw_parts_mut(
                    self.slots.add(range.start).cast::<MaybeUninit<Instruction>>(),
                    range.len(),
                )
            };
            decode(out);
        });
        // SAFETY: span `k`'s `Once` has completed, so every slot of the
        // range was written (the contract of `decode`) and is never written
        // again.
        unsafe { std::slice::from_raw_parts(self.slots.add(range.start), range.len()) }
    }

    /// The instructions in `range`.
    ///
    /// # Safety
    ///
    /// Every slot of `range` must lie in a span whose [`Stream::span`] call
    /// has returned (on any thread, ordered before this call by that
    /// span's `Once`, which holds when this thread made or observed it).
    #[inline]
    pub unsafe fn decoded(&self, range: Range<usize>) -> &[Instruction] {
        assert!(range.start <= range.end && range.end <= self.len, "a range inside the stream");
        // SAFETY: the caller's contract: every slot is written and never
        // written again.
        unsafe { std::slice::from_raw_parts(self.slots.add(range.start), range.len()) }
    }

    /// Whether every span is decoded (see [`Stream::mark_complete`]).
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Records that every span has been decoded through [`Stream::span`].
    pub fn mark_complete(&self) {
        debug_assert!(self.is_complete() || self.spans.iter().all(Once::is_completed));
        self.complete.store(true, Ordering::Release);
    }

    /// The whole stream, once [`Stream::is_complete`].
    pub fn all(&self) -> &[Instruction] {
        assert!(self.is_complete(), "every span decoded");
        // SAFETY: every span's `Once` has completed (the `Acquire` load in
        // `is_complete` pairs with the `Release` store after the last of
        // them), the spans cover the stream, and no slot is written again.
        unsafe { std::slice::from_raw_parts(self.slots, self.len) }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: `slots` and `cap` come from a vector of `Instruction`
        // that `new` took apart and nothing else owns; with length 0 no
        // element is read (and `Instruction` needs no drop).
        let v = unsafe { Vec::from_raw_parts(self.slots, 0, self.cap) };
        pools::INSTRUCTIONS.give(v);
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("len", &self.len)
            .field("spans", &self.spans.len())
            .field("complete", &self.is_complete())
            .finish()
    }
}
