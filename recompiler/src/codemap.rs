//! [`CodeMap`]: where each guest instruction's native code is, filled in
//! region by region as a module compiles, and read without locks by the run
//! loop and the fault handler.
//!
//! A region is a run of whole segments compiled together, laid out in the
//! module's code block at increasing offsets: regions are published in
//! address order, so the fault handler finds the one holding a native
//! address by a binary search over the published ones. Every entry is
//! written before the region is published (release) and read after it is
//! seen (acquire); an instruction whose entry reads as absent is not
//! compiled yet.

use crate::codegen::{MemAccess, Tables};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Marks a fused second instruction in a body entry.
const FUSED: u32 = 1 << 31;

/// One compiled region: code offsets (from the module's code base) and the
/// instructions it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    /// Offset of its first byte.
    pub start: u32,
    /// End of its per-instruction code (its stubs follow).
    pub code_end: u32,
    /// First instruction.
    pub first: u32,
    /// One past the last instruction.
    pub end: u32,
}

/// Words per region slot: start, code end, first, end.
const SLOT: usize = 4;

/// Per guest instruction: its body's offset, its segment's gas prologue,
/// its memory access; and the regions, in address order.
pub(crate) struct CodeMap {
    /// Body offset + 1 (0: not compiled), with [`FUSED`].
    body: Box<[AtomicU32]>,
    /// Prologue offset + 1 (0: none, or not compiled).
    prologue: Box<[AtomicU32]>,
    /// [`MemAccess::pack`] (0: no access).
    access: Box<[AtomicU64]>,
    /// [`SLOT`] words per region.
    regions: Box<[AtomicU32]>,
    published: AtomicUsize,
}

/// `len` zeroed 32-bit atomics, from zeroed memory (fresh zero pages for
/// large tables, nothing written).
fn zeroed_u32(len: usize) -> Box<[AtomicU32]> {
    let words = vec![0u32; len].into_boxed_slice();
    // SAFETY: `AtomicU32` has the size, alignment and bit validity of `u32`.
    unsafe { Box::from_raw(Box::into_raw(words) as *mut [AtomicU32]) }
}

/// As [`zeroed_u32`], 64-bit.
fn zeroed_u64(len: usize) -> Box<[AtomicU64]> {
    let words = vec![0u64; len].into_boxed_slice();
    // SAFETY: `AtomicU64` has the size, alignment and bit validity of `u64`.
    unsafe { Box::from_raw(Box::into_raw(words) as *mut [AtomicU64]) }
}

impl CodeMap {
    /// An empty map for `instructions` instructions and at most `regions`
    /// regions.
    pub(crate) fn new(instructions: usize, regions: usize) -> CodeMap {
        CodeMap {
            body: zeroed_u32(instructions),
            prologue: zeroed_u32(instructions),
            access: zeroed_u64(instructions),
            regions: zeroed_u32(regions * SLOT),
            published: AtomicUsize::new(0),
        }
    }

    /// Instructions mapped.
    pub(crate) fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether no further region can be published.
    pub(crate) fn is_full(&self) -> bool {
        self.published.load(Ordering::Relaxed) * SLOT == self.regions.len()
    }

    /// Offset of instruction `index`'s body, once compiled.
    #[inline]
    pub(crate) fn body(&self, index: u32) -> Option<u32> {
        match self.body[index as usize].load(Ordering::Acquire) {
            0 => None,
            b => Some((b & !FUSED) - 1),
        }
    }

    /// Whether instruction `index` is compiled.
    #[inline]
    pub(crate) fn is_compiled(&self, index: u32) -> bool {
        self.body[index as usize].load(Ordering::Acquire) != 0
    }

    /// Whether instruction `index` is the second of a fused pair (not an
    /// entry point); false until compiled.
    #[inline]
    pub(crate) fn is_fused(&self, index: u32) -> bool {
        self.body[index as usize].load(Ordering::Acquire) & FUSED != 0
    }

    /// Offset of the gas prologue of the segment instruction `index`
    /// starts, once compiled.
    #[inline]
    pub(crate) fn prologue(&self, index: u32) -> Option<u32> {
        self.prologue[index as usize].load(Ordering::Acquire).checked_sub(1)
    }

    /// The memory access of instruction `index` (none until compiled).
    #[inline]
    pub(crate) fn access(&self, index: u32) -> MemAccess {
        MemAccess::unpack(self.access[index as usize].load(Ordering::Relaxed))
    }

    /// Enters a region's tables (indices from `t.first`, offsets from the
    /// code base) and publishes it. Regions must come in address order,
    /// each after the last, over instructions not mapped yet.
    pub(crate) fn publish(&self, t: &Tables) {
        let at = self.published.load(Ordering::Relaxed);
        let first = t.first as usize;
        for (k, &body) in t.body.iter().enumerate() {
            let i = first + k;
            let fused = if t.fused[k] { FUSED } else { 0 };
            self.access[i].store(t.accesses[k].pack(), Ordering::Relaxed);
            if t.prologue[k] != u32::MAX {
                self.prologue[i].store(t.prologue[k] + 1, Ordering::Release);
            }
            self.body[i].store((body + 1) | fused, Ordering::Release);
        }
        let end = t.first + t.body.len() as u32;
        for (word, value) in self.regions[at * SLOT..(at + 1) * SLOT].iter().zip([t.start, t.code_end, t.first, end]) {
            word.store(value, Ordering::Relaxed);
        }
        self.published.store(at + 1, Ordering::Release);
    }

    /// The published regions, in address order.
    pub(crate) fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        let count = self.published.load(Ordering::Acquire);
        self.regions[..count * SLOT].chunks_exact(SLOT).map(|s| Region {
            start: s[0].load(Ordering::Relaxed),
            code_end: s[1].load(Ordering::Relaxed),
            first: s[2].load(Ordering::Relaxed),
            end: s[3].load(Ordering::Relaxed),
        })
    }

    /// The guest instruction whose body holds native offset `offset`, if
    /// it lies in some region's instruction code. Lock-free and allocation
    /// free: the fault handler calls it.
    pub(crate) fn index_at(&self, offset: u32) -> Option<u32> {
        let count = self.published.load(Ordering::Acquire);
        let word = |r: usize, k: usize| self.regions[r * SLOT + k].load(Ordering::Relaxed);
        let mut lo = 0;
        let mut hi = count;
        // The last region starting at or before `offset`.
        while lo < hi {
            let mid = (lo + hi) / 2;
            if word(mid, 0) <= offset { lo = mid + 1 } else { hi = mid }
        }
        let r = lo.checked_sub(1)?;
        if offset >= word(r, 1) {
            return None;
        }
        let (first, end) = (word(r, 2), word(r, 3));
        let bodies = &self.body[first as usize..end as usize];
        let k = bodies.partition_point(|b| (b.load(Ordering::Relaxed) & !FUSED) - 1 <= offset);
        k.checked_sub(1).map(|k| first + k as u32)
    }

    /// The whole map as one region's tables, if exactly one region covers
    /// every instruction (a module compiled in one piece).
    pub(crate) fn whole(&self) -> Option<Tables> {
        let mut regions = self.regions();
        let region = regions.next()?;
        if regions.next().is_some() || region.first != 0 || region.end as usize != self.len() {
            return None;
        }
        let n = self.len() as u32;
        Some(Tables {
            start: region.start,
            first: 0,
            body: (0..n).map(|i| self.body(i).expect("covered")).collect(),
            prologue: (0..n).map(|i| self.prologue(i).unwrap_or(u32::MAX)).collect(),
            code_end: region.code_end,
            accesses: (0..n).map(|i| self.access(i)).collect(),
            fused: (0..n).map(|i| self.is_fused(i)).collect(),
        })
    }
}
