//! What a window keeps from one use to the next: the read-only runs it
//! shows (checked against the space when the space may have changed), the
//! frames of a few dirty pages and of a few read-only copies (refreshed
//! from the space instead of faulted and mapped again), and [`PagerPool`],
//! which keeps all of it from one instance of a module to the next.

use super::{COPIED, FrameRef, MAPPED, NONE, Pager};
use crate::window::policy;
use crate::window::reserve::reserve_again;
use javm_cap::PAGE_SIZE;
use javm_cap::frames::FramePool;
use javm_cap::page::{PageBytes, PageSlot, is_all_zero};
use javm_cap::space::AddressSpace;
use nix::sys::mman::ProtFlags;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

#[cfg(test)]
mod tests;

/// A run of `n` pages from `first` mapped read-only, showing zeros
/// (`source` is `None`) or the frames at consecutive offsets from `source`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shown {
    pub(super) first: u32,
    pub(super) n: u32,
    pub(super) source: Option<FrameRef>,
}

/// The windows of one module's ended instances, each with what it still
/// shows and its frames, for the module's next instances: a short run then
/// needs no new reservation, no fault for what the last instance read, and
/// no fault for what it wrote.
///
/// The pool is sharded by thread, one window per shard (at most
/// [`policy::KEPT_WINDOWS`] in all): a thread keeps its window in its own
/// shard and takes it back from there, so that the window, its frames and
/// its context stay in that core's caches, and threads running short runs
/// of the module at once each take a lock of their own. Only when its shard
/// is empty (or full) does a thread look in the others. (Short runs of
/// `sort` from two threads took 1.43–1.47 s of CPU per 600,000 runs with
/// each thread taking back its own window from one shared list, 1.51–1.69 s
/// when each window went to whichever thread came next; one thread:
/// 1.02–1.18 s; noisy shared machine.)
pub(crate) struct PagerPool([Shard; policy::KEPT_WINDOWS]);

/// One shard of a [`PagerPool`], alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Option<Pager>>);

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Option<Pager>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The calling thread's shard of every pool: threads take shards in the
/// order they first ask.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % policy::KEPT_WINDOWS;
    }
    SHARD.with(|shard| *shard)
}

/// Every live pool, so that [`release_kept_windows`] reaches them all.
static POOLS: Mutex<Vec<Weak<PagerPool>>> = Mutex::new(Vec::new());

/// Drops every window kept for a module's next instance, with its frames
/// (they go back to the frame pool, which can then give them to the OS).
/// Returns how many windows were dropped.
pub fn release_kept_windows() -> usize {
    let pools: Vec<Arc<PagerPool>> =
        POOLS.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
    pools.iter().flat_map(|pool| &pool.0).filter(|shard| shard.lock().take().is_some()).count()
}

impl PagerPool {
    /// An empty pool, registered for [`release_kept_windows`].
    pub(crate) fn new() -> Arc<PagerPool> {
        let pool = Arc::new(PagerPool(Default::default()));
        let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        pool
    }

    /// The shards, this thread's first.
    fn shards(&self) -> impl Iterator<Item = &Shard> {
        let own = thread_shard();
        (0..self.0.len()).map(move |i| &self.0[(own + i) % self.0.len()])
    }

    /// The window this thread kept last, else another kept one.
    fn take(&self) -> Option<Pager> {
        self.shards().find_map(|shard| shard.lock().take())
    }

    /// Keeps the window and frames of `pager`, an ended instance's, for
    /// the module's next instance when worth it and there is room (the
    /// window then moves out of `pager`).
    pub(crate) fn keep(&self, pager: &mut Pager) {
        for shard in self.shards() {
            let mut shard = shard.lock();
            if shard.is_none() {
                // Retired under the lock: one lock for the common case.
                *shard = pager.retire();
                return;
            }
        }
    }

    /// How many windows are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.iter().filter(|shard| shard.lock().is_some()).count()
    }
}

impl Pager {
    /// A pager for `space` in a window kept by `pool`, or `space` back
    /// when the pool keeps none; when the instance ends,
    /// [`PagerPool::keep`] may keep it again.
    pub(crate) fn from_pool(pool: &PagerPool, space: AddressSpace) -> Result<Pager, AddressSpace> {
        match pool.take() {
            Some(mut kept) => {
                kept.space = space;
                kept.stale = true;
                Ok(kept)
            }
            None => Err(space),
        }
    }

    /// The window and frames to keep when the instance ends, taken out of
    /// this pager (which then holds no window), or `None` when the window
    /// is not worth keeping: broken or with many dirty pages.
    pub(super) fn retire(&mut self) -> Option<Pager> {
        if self.broken || !policy::keeps_dirty(self.dirty.len()) {
            return None;
        }
        let window = self.window.take()?;
        let excess = self.stock.len().saturating_sub(policy::KEPT_STOCK);
        // The back of the stock is taken first: keep that end.
        self.stock.drain(..excess);
        Some(Pager {
            window: Some(window),
            base: self.base,
            states: self.states,
            space: AddressSpace::new(),
            stock: std::mem::take(&mut self.stock),
            dirty: std::mem::take(&mut self.dirty),
            copies: std::mem::take(&mut self.copies),
            touched: self.touched,
            refills: 0,
            warm: self.warm,
            materialized: 0,
            charged: std::mem::take(&mut self.charged),
            broken: false,
            shown: std::mem::take(&mut self.shown),
            unrecorded: self.unrecorded,
            stale: true,
            scarce: self.scarce,
        })
    }

    /// Records a read-only run, or notes that one went unrecorded.
    /// Async-signal-safe: `shown` never grows past its capacity.
    pub(super) fn record(&mut self, run: Shown) {
        if self.shown.len() < self.shown.capacity() {
            self.shown.push(run);
        } else {
            self.unrecorded = true;
        }
    }

    /// Copies each dirty page whose bytes differ from its cap's into a new
    /// overlay page of the cap, keeping the frame mapped in the window.
    /// False if a frame could not be allocated (the pages copied so far
    /// hold the same bytes as the frames).
    pub(super) fn copy_dirty_out(&mut self) -> bool {
        for (page, frame) in &self.dirty {
            let mi = self.space.mapping_index(*page).expect("dirty pages stay mapped until a sync");
            let m = &self.space.mappings()[mi];
            let bytes = frame.as_slice();
            let same = match m.cap.page_slot(page - m.start_page) {
                PageSlot::Loaded(current) => current.bytes() == bytes,
                PageSlot::Empty => is_all_zero(bytes),
                PageSlot::Missing(_) => false,
            };
            if same {
                continue;
            }
            let Ok(mut copy) = FramePool::global().try_alloc() else { return false };
            copy.as_mut_slice().copy_from_slice(bytes);
            let m = &mut self.space.mappings_mut()[mi];
            let slot = PageSlot::Loaded(Arc::new(PageBytes::from_frame(copy)));
            m.cap.insert_overlay_page(page - m.start_page, slot).expect("the page is inside its mapping");
        }
        true
    }

    /// Makes the window show the space again when it may have changed (see
    /// `stale`): each read-only run that no longer matches the space is
    /// made inaccessible, each dirty page the space still lets the guest
    /// write gets the space's bytes (the others are made inaccessible and
    /// their frames go back to the stock). If anything was dropped from a
    /// window that had warmed up, it warms up again here rather than on a
    /// fault. Host side.
    pub(crate) fn refresh(&mut self) {
        if !std::mem::take(&mut self.stale) {
            return;
        }
        if self.unrecorded || self.broken {
            // The caps hold everything the dirty frames do.
            self.stock.extend(self.dirty.drain(..).map(|(_, frame)| (frame, false)));
            self.reset();
            return;
        }
        let mut lost = self.refresh_copies();
        let mut i = 0;
        while i < self.shown.len() {
            let run = self.shown[i];
            if self.still_shows(run) {
                i += 1;
                continue;
            }
            self.shown.swap_remove(i);
            if !self.copy_run(run) {
                self.hide(run);
                lost = true;
            }
        }
        let mut k = 0;
        while k < self.dirty.len() {
            let page = self.dirty[k].0;
            if !self.allows(page, true) {
                let (_, frame) = self.dirty.swap_remove(k);
                self.stock.push((frame, false));
                self.unmap(page, page + 1);
                lost = true;
                continue;
            }
            let m = self.space.mapping_of(page).expect("a writable page is mapped");
            fill(self.dirty[k].1.as_mut_slice(), m.cap.page_slot(page - m.start_page));
            k += 1;
        }
        if lost && self.warm {
            // A failure leaves pages unmapped: faults map them later.
            let _ = self.warm_up();
        }
    }

    /// Gives each copied page the space's bytes again, or makes it
    /// inaccessible if the guest may no longer read it; the frames of
    /// pages no longer copied go back to the stock. True if a page was made
    /// inaccessible.
    fn refresh_copies(&mut self) -> bool {
        let mut lost = false;
        let mut k = 0;
        while k < self.copies.len() {
            let page = self.copies[k].0;
            let copied = self.state(page) == COPIED;
            if copied && self.readable_bytes(page) {
                let m = self.space.mapping_of(page).expect("a readable page is mapped");
                fill(self.copies[k].1.as_mut_slice(), m.cap.page_slot(page - m.start_page));
                k += 1;
                continue;
            }
            let (_, frame) = self.copies.swap_remove(k);
            if copied {
                self.unmap(page, page + 1);
                lost = true;
            }
            // Otherwise a private frame or a reset replaced the mapping.
            self.stock.push((frame, false));
        }
        lost
    }

    /// Whether the guest may read `page` and the space has its bytes.
    fn readable_bytes(&self, page: u32) -> bool {
        self.allows(page, false) && self.space.mapping_index(page).is_some_and(|mi| self.source(mi, page).is_some())
    }

    /// Maps a copy of each page of `run` still mapped read-only (whose
    /// frames the space no longer holds) in its place, from frames of the
    /// pager's own (see `copies`), when the guest may still read them all
    /// and they are few. False (nothing done) otherwise.
    fn copy_run(&mut self, run: Shown) -> bool {
        let pages: Vec<u32> = (run.first..run.first + run.n).filter(|&q| self.state(q) == MAPPED).collect();
        if self.copies.len() + pages.len() > policy::KEPT_COPIES || !pages.iter().all(|&q| self.readable_bytes(q)) {
            return false;
        }
        for q in pages {
            if self.stock.is_empty() && self.refill().is_err() {
                self.unmap(q, q + 1);
                continue;
            }
            let (mut frame, _) = self.stock.pop().expect("refilled");
            let m = self.space.mapping_of(q).expect("a readable page is mapped");
            fill(frame.as_mut_slice(), m.cap.page_slot(q - m.start_page));
            if self.map_at(q, 1, ProtFlags::PROT_READ, Some((frame.fd(), frame.fd_offset())), true) {
                self.set_state(q, COPIED);
                self.copies.push((q, frame));
            } else {
                self.stock.push((frame, false));
                self.unmap(q, q + 1);
            }
        }
        true
    }

    /// Whether every page of `run` still mapped read-only shows what the
    /// space holds there, and the guest may read it.
    fn still_shows(&self, run: Shown) -> bool {
        (0..run.n).all(|k| {
            let q = run.first + k;
            if self.state(q) != MAPPED {
                return true;
            }
            let Some(mi) = self.space.mapping_index(q).filter(|_| self.allows(q, false)) else { return false };
            let shows = run.source.map(|(fd, offset)| (fd, offset + u64::from(k) * PAGE_SIZE as u64));
            match self.source(mi, q) {
                Some(Some(frame)) => shows == Some(frame),
                Some(None) => shows.is_none(),
                None => false,
            }
        })
    }

    /// Makes the pages of `run` still mapped read-only inaccessible.
    fn hide(&mut self, run: Shown) {
        let end = run.first + run.n;
        let mut q = run.first;
        while q < end {
            if self.state(q) != MAPPED {
                q += 1;
                continue;
            }
            let mut hi = q + 1;
            while hi < end && self.state(hi) == MAPPED {
                hi += 1;
            }
            self.unmap(q, hi);
            q = hi;
        }
    }

    /// Makes pages `lo..hi` inaccessible again.
    fn unmap(&mut self, lo: u32, hi: u32) {
        // SAFETY: guest pages lie inside this window's reservation.
        let at = unsafe { self.base.add(lo as usize * PAGE_SIZE) };
        if !self.broken {
            self.broken = !reserve_again(at, (hi - lo) as usize * PAGE_SIZE);
        }
        for q in lo..hi {
            self.set_state(q, NONE);
        }
    }
}

/// Writes the bytes of `slot` (zeros when empty) into `frame`.
fn fill(frame: &mut [u8; PAGE_SIZE], slot: &PageSlot) {
    match slot {
        PageSlot::Loaded(bytes) => frame.copy_from_slice(bytes.bytes()),
        PageSlot::Empty | PageSlot::Missing(_) => frame.fill(0),
    }
}
