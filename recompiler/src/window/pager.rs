//! The [`Pager`]: maps the pages of one instance's address space into its
//! window on demand, from the fault handler or from host-side accesses (see
//! the module docs of `window` for what is mapped how; `policy` decides how
//! much at a time).

use super::policy;
use super::reserve::{Window, addr, length, reserve_again};
use crate::budget;
use crate::ctx::VmCtx;
use javm_cap::PAGE_SIZE;
use javm_cap::frames::{Frame, FrameError, FramePool};
use javm_cap::page::{PageBytes, PageSlot};
use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::GuestMemory;
use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap, mmap_anonymous, mprotect};
use std::os::fd::BorrowedFd;
use std::sync::Arc;

mod keep;

pub(crate) use keep::PagerPool;
use keep::Shown;
pub use keep::release_kept_windows;

/// Page state: nothing mapped.
const NONE: u8 = 0;
/// Page state: mapped read-only from its cap.
const MAPPED: u8 = 1;
/// Page state: a private frame mapped read-write.
const DIRTY: u8 = 2;
/// Page state: mapped read-only from a frame of the pager's own that holds
/// a copy of the page (see `copies`).
const COPIED: u8 = 3;

/// A frame's place in the memory file: `(fd, offset)`.
type FrameRef = (i32, u64);

/// The pages of one instance: its address space, window, page states and
/// frames. Every method the fault handler calls is async-signal-safe: it
/// reads the address space, moves frames between pre-allocated vectors and
/// calls `mmap`/`memcpy`, nothing else.
pub(crate) struct Pager {
    window: Option<Window>,
    base: *mut u8,
    states: *mut u8,
    pub(crate) space: AddressSpace,
    /// Frames for copy-on-write, taken from the back, each with whether it
    /// is known to hold zeros (it is zeroed when used for an empty page
    /// otherwise; a copy overwrites it anyway). `dirty` always has room for
    /// all of them.
    stock: Vec<(Frame, bool)>,
    /// Pages with a private frame mapped read-write, not yet in the caps.
    dirty: Vec<(u32, Frame)>,
    /// Pages mapped read-only from a frame of the pager's own holding a
    /// copy of their bytes: pages whose frame changed from one use of the
    /// window to the next (an instance's arguments), refreshed by a copy
    /// instead of an `mmap`.
    copies: Vec<(u32, Frame)>,
    /// Page ranges mapped since the last reset.
    touched: Touched,
    /// How often the stock was refilled.
    refills: u32,
    /// Whether small mappings were mapped since the last reset.
    warm: bool,
    /// Zero groups materialized since the last reset.
    materialized: u32,
    /// Kernel mappings charged to the budget since the last reset.
    charged: usize,
    /// Part of the window could not be reserved again after a reset (see
    /// [`Self::reset`]): nothing may be mapped into it or run in it.
    broken: bool,
    /// The runs of pages mapped read-only since the last reset and what
    /// each maps, so that the window can be checked against a changed
    /// space. Fixed capacity (the fault handler cannot allocate).
    shown: Vec<Shown>,
    /// A read-only run was mapped without a record in `shown` (no room, or
    /// a private copy): the window cannot be checked, only reset.
    unrecorded: bool,
    /// The space may differ from what the window shows (the host had it
    /// after a sync that kept the window, or the window was reused for
    /// another instance): [`Self::refresh`] before the window is used.
    stale: bool,
    /// The last run in this window handed an access to the interpreter
    /// because no mapping could be made for it even in an emptied window.
    /// Kept with the window, so that the next instance in it, while
    /// mappings stay that scarce, is interpreted at once rather than after
    /// a fault that maps nothing.
    pub(crate) scarce: bool,
}

// SAFETY: a pager exclusively owns its window, frames and space; its raw
// pointers point into that window. Nothing ties it to a thread.
unsafe impl Send for Pager {}

/// A few page ranges `[lo, hi)` that cover every page mapped since the
/// last reset. Fixed capacity (the fault handler cannot allocate): a page
/// far from every range opens a new one, or, when all are used, widens the
/// nearest.
#[derive(Clone, Copy, Debug, Default)]
struct Touched {
    ranges: [(u32, u32); 8],
    len: usize,
}

impl Touched {
    /// Pages between two ranges below which they are merged.
    const NEAR: u32 = 256;

    fn add(&mut self, page: u32) {
        let live = &mut self.ranges[..self.len];
        let distance = |&(lo, hi): &(u32, u32)| {
            if page < lo {
                lo - page
            } else if page >= hi {
                page + 1 - hi
            } else {
                0
            }
        };
        let nearest = live.iter().enumerate().min_by_key(|(_, r)| distance(r)).map(|(i, r)| (i, distance(r)));
        match nearest {
            Some((i, d)) if d <= Self::NEAR || self.len == self.ranges.len() => {
                let (lo, hi) = &mut self.ranges[i];
                *lo = (*lo).min(page);
                *hi = (*hi).max(page + 1);
            }
            _ => {
                self.ranges[self.len] = (page, page + 1);
                self.len += 1;
            }
        }
    }

    fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges[..self.len]
    }
}

/// What [`Pager::prepare`] could not do in the fault handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrepareError {
    /// The frame stock is empty: refill on the host side and retry.
    NeedFrames,
    /// `mmap` failed (out of memory, or of kernel mappings): the host
    /// resets the window to free its mappings and retries.
    Map,
}

impl Pager {
    pub(crate) fn new(window: Window, space: AddressSpace) -> Pager {
        Pager {
            base: window.base(),
            states: window.states(),
            window: Some(window),
            space,
            stock: Vec::new(),
            dirty: Vec::new(),
            copies: Vec::new(),
            touched: Touched::default(),
            refills: 0,
            warm: false,
            materialized: 0,
            charged: 0,
            broken: false,
            shown: Vec::with_capacity(policy::SHOWN_RUNS),
            unrecorded: false,
            stale: false,
            scarce: false,
        }
    }

    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    pub(crate) fn ctx(&self) -> *mut VmCtx {
        self.window.as_ref().expect("a live pager has a window").ctx()
    }

    #[inline]
    fn state(&self, page: u32) -> u8 {
        // SAFETY: the state table has one byte per guest page (2^20).
        unsafe { *self.states.add(page as usize) }
    }

    #[inline]
    fn set_state(&mut self, page: u32, state: u8) {
        // SAFETY: as in `state`; the table is writable.
        unsafe { *self.states.add(page as usize) = state };
        self.touched.add(page);
    }

    /// Whether the guest may read (or, with `write`, write) `page`.
    #[inline]
    pub(crate) fn allows(&self, page: u32, write: bool) -> bool {
        match self.space.access_of(page) {
            Some(Access::Write) => true,
            Some(Access::Read) => !write,
            None => false,
        }
    }

    /// Whether a copy-on-write can run without allocating.
    fn can_cow(&self) -> bool {
        !self.stock.is_empty() && self.dirty.len() < self.dirty.capacity()
    }

    /// Makes pages `first..=last`, which the guest may access as asked,
    /// present in the window: mapped for a read, private and writable for a
    /// write. Async-signal-safe.
    pub(crate) fn prepare(&mut self, first: u32, last: u32, write: bool) -> Result<(), PrepareError> {
        if !self.warm {
            self.warm_up()?;
        }
        for page in first..=last {
            let state = self.state(page);
            if state == DIRTY {
                continue;
            }
            if self.is_zero_writable(page) && (write || self.beside_dirty(page)) {
                self.materialize(page)?;
            } else if write {
                if !self.can_cow() {
                    return Err(PrepareError::NeedFrames);
                }
                if self.beside_dirty(page) {
                    self.cow_group(page)?;
                } else {
                    self.cow(page)?;
                }
            } else if state == NONE {
                self.map_group(page)?;
            }
        }
        Ok(())
    }

    /// Whether `page` is writable and empty (all zeros, no frame yet).
    fn is_zero_writable(&self, page: u32) -> bool {
        self.space.mapping_of(page).is_some_and(|m| {
            m.access == Access::Write && matches!(m.cap.page_slot(page - m.start_page), PageSlot::Empty)
        })
    }

    /// Gives the empty writable `page` a zeroed stock frame, mapped
    /// read-write; when a neighbour has one already (a sequential fill),
    /// so does every empty writable page of its
    /// aligned group (within its mapping; a large group once the run fills
    /// memory), one fault then serving the whole group. A page touched
    /// alone gets one frame, so sparse access commits only what it touches.
    fn materialize(&mut self, page: u32) -> Result<(), PrepareError> {
        if !self.beside_dirty(page) {
            return self.own_group(page, 1, true, |pager, q| pager.is_zero_writable(q));
        }
        let populate = policy::fills_memory(self.materialized);
        let size = policy::group_pages(self.materialized);
        self.own_group(page, size, populate, |pager, q| pager.is_zero_writable(q))
    }

    /// Copies every page of `page`'s aligned group (within its writable
    /// mapping; a large group once the run fills memory) that has no private
    /// frame yet into one, mapped read-write: a store next to a page
    /// already written is taken to be part of a sequential fill, and one
    /// fault then serves the rest of the group instead of one per page.
    fn cow_group(&mut self, page: u32) -> Result<(), PrepareError> {
        let mi = self.space.mapping_index(page).expect("a writable page is mapped");
        let size = policy::group_pages(self.materialized);
        self.own_group(page, size, true, move |pager, q| pager.source(mi, q).is_some())
    }

    /// Whether a neighbour of `page` in the same mapping has a private frame.
    fn beside_dirty(&self, page: u32) -> bool {
        let Some(m) = self.space.mapping_of(page) else { return false };
        (page > m.start_page && self.state(page - 1) == DIRTY)
            || (page + 1 < m.end_page() && self.state(page + 1) == DIRTY)
    }

    /// Gives every page `q` of `page`'s aligned group of `size` pages (a
    /// power of two; clipped to its mapping) that has no private frame and
    /// satisfies `wanted` one from the stock (zeroed; a page with content
    /// is copied into it) and maps it read-write, consecutive frames with
    /// one `mmap`. Groups of more than one page count towards
    /// [`policy::fills_memory`].
    fn own_group(
        &mut self,
        page: u32,
        size: u32,
        populate: bool,
        wanted: impl Fn(&Pager, u32) -> bool,
    ) -> Result<(), PrepareError> {
        let mi = self.space.mapping_index(page).expect("a writable page is mapped");
        let (start, end) = self.group(mi, page, size);
        let eligible = |pager: &Pager, q: u32| pager.state(q) != DIRTY && wanted(pager, q);
        let count = (start..end).filter(|&q| eligible(self, q)).count();
        if self.stock.len() < count || self.dirty.capacity() - self.dirty.len() < count {
            return Err(PrepareError::NeedFrames);
        }
        if size > 1 {
            self.materialized += 1;
        }
        let mut q = start;
        while q < end {
            if !eligible(self, q) {
                q += 1;
                continue;
            }
            // Take frames while pages and file offsets both stay consecutive.
            let first = self.stock.pop().expect("counted above");
            let (fd, offset) = self.fill_frame(mi, q, first);
            let mut n = 1;
            while q + n < end && eligible(self, q + n) {
                let (next, _) = self.stock.last().expect("counted above");
                if next.fd() != fd || next.fd_offset() != offset + u64::from(n) * PAGE_SIZE as u64 {
                    break;
                }
                let frame = self.stock.pop().expect("checked above");
                self.fill_frame(mi, q + n, frame);
                n += 1;
            }
            if !self.map_at(q, n, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, Some((fd, offset)), populate) {
                return Err(PrepareError::Map);
            }
            for p in q..q + n {
                self.set_state(p, DIRTY);
            }
            q += n;
        }
        Ok(())
    }

    /// Copies page `q` of mapping `mi` into stock frame `frame` (zeroes it
    /// for a page without content unless `zero`, it is known to hold zeros)
    /// and records it as `q`'s private frame. Returns where the frame is.
    fn fill_frame(&mut self, mi: usize, q: u32, (mut frame, zero): (Frame, bool)) -> FrameRef {
        let m = &self.space.mappings()[mi];
        let dst = frame.as_mut_ptr();
        match m.cap.page_slot(q - m.start_page) {
            // SAFETY: both are distinct 4 KiB frames; the source is alive in
            // the cap and nobody writes it while the guest runs.
            PageSlot::Loaded(bytes) => unsafe { std::ptr::copy_nonoverlapping(bytes.bytes().as_ptr(), dst, PAGE_SIZE) },
            // SAFETY: `dst` is a whole frame this pager owns.
            PageSlot::Empty | PageSlot::Missing(_) if !zero => unsafe { std::ptr::write_bytes(dst, 0, PAGE_SIZE) },
            PageSlot::Empty | PageSlot::Missing(_) => {}
        }
        let source = (frame.fd(), frame.fd_offset());
        self.dirty.push((q, frame));
        source
    }

    /// The aligned group of `size` pages (a power of two) around `page`,
    /// clipped to mapping `mi`.
    fn group(&self, mi: usize, page: u32, size: u32) -> (u32, u32) {
        let m = &self.space.mappings()[mi];
        let group = page & !(size - 1);
        (group.max(m.start_page), (group + size).min(m.end_page()))
    }

    /// Copies `page` into a stock frame and maps that frame read-write.
    fn cow(&mut self, page: u32) -> Result<(), PrepareError> {
        let mi = self.space.mapping_index(page).expect("a writable page is mapped");
        let frame = self.stock.pop().expect("checked by can_cow");
        let source = self.fill_frame(mi, page, frame);
        // The retried store touches the page at once.
        if !self.map_at(page, 1, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, Some(source), true) {
            return Err(PrepareError::Map);
        }
        self.set_state(page, DIRTY);
        Ok(())
    }

    /// Maps the readable pages of `page`'s aligned group (within its
    /// mapping) that are not mapped yet, read-only, empty writable pages as
    /// zeros (see [`Self::map_range`]): a read commits no frame.
    fn map_group(&mut self, page: u32) -> Result<(), PrepareError> {
        let Some(mi) = self.space.mapping_index(page) else { return Ok(()) };
        let (start, end) = self.group(mi, page, policy::GROUP);
        self.map_range(mi, start, end, true)
    }

    /// Maps the readable pages of `start..end` of mapping `mi` that are not
    /// mapped yet, read-only: straight from their frames when that takes
    /// few `mmap`s per group, else (frames scattered over the frame file,
    /// which would cost one kernel mapping per page) as a private copy, so
    /// a window never needs more than a few kernel mappings per group.
    /// Empty writable pages are mapped (as zeros) only with `zeros`.
    fn map_range(&mut self, mi: usize, start: u32, end: u32, zeros: bool) -> Result<(), PrepareError> {
        let mut runs = 0;
        let mut q = start;
        while let Some((first, n, _)) = self.next_run(mi, q, end, true, zeros) {
            runs += 1;
            q = first + n;
        }
        let share = policy::shares_frames(runs, end - start);
        let mut q = start;
        while let Some((first, n, source)) = self.next_run(mi, q, end, share, zeros) {
            let ok = if share {
                let ok = self.map_at(first, n, ProtFlags::PROT_READ, source, true);
                if ok {
                    self.record(Shown { first, n, source });
                }
                ok
            } else {
                self.unrecorded = true;
                self.map_copy(mi, first, n)
            };
            if !ok {
                return Err(PrepareError::Map);
            }
            for p in first..first + n {
                self.set_state(p, MAPPED);
            }
            q = first + n;
        }
        Ok(())
    }

    /// On the first fault of a window, maps every small mapping's readable
    /// pages at once: a program that touches memory at all usually reads
    /// its data, arguments and stack soon, and one `mmap` per mapping is
    /// cheaper than a fault per group. Runs that touch no memory pay
    /// nothing.
    fn warm_up(&mut self) -> Result<(), PrepareError> {
        self.warm = true;
        for mi in 0..self.space.mappings().len() {
            let m = &self.space.mappings()[mi];
            let (start, end) = (m.start_page, m.end_page());
            if policy::maps_whole(end - start) {
                self.map_range(mi, start, end, false)?;
            }
        }
        Ok(())
    }

    /// The next run of pages at or after `q` (below `end`) that
    /// [`Self::map_range`] maps: not mapped yet, not missing, and empty
    /// writable pages only with `zeros` (read as zeros until written, no
    /// frame). With `by_frame`, a run also has one source: zeros, or frames
    /// at consecutive offsets of one file. Returns `(first page, pages,
    /// source of the first)`.
    fn next_run(
        &self,
        mi: usize,
        mut q: u32,
        end: u32,
        by_frame: bool,
        zeros: bool,
    ) -> Option<(u32, u32, Option<FrameRef>)> {
        let skip_zeros = !zeros && self.space.mappings()[mi].access == Access::Write;
        let eligible = |q: u32| {
            let source = self.source(mi, q);
            (self.state(q) == NONE && source.is_some() && !(skip_zeros && source == Some(None))).then_some(source)
        };
        while q < end {
            let Some(source) = eligible(q) else {
                q += 1;
                continue;
            };
            let mut n = 1;
            while q + n < end {
                match eligible(q + n) {
                    Some(next) if !by_frame || continues(source, next, n) => n += 1,
                    _ => break,
                }
            }
            return Some((q, n, source.flatten()));
        }
        None
    }

    /// Maps a private read-only copy of pages `first..first + n` of mapping
    /// `mi` (one anonymous mapping, whatever their frames).
    fn map_copy(&mut self, mi: usize, first: u32, n: u32) -> bool {
        if !self.map_at(first, n, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, None, false) {
            return false;
        }
        let m = &self.space.mappings()[mi];
        for q in first..first + n {
            if let PageSlot::Loaded(bytes) = m.cap.page_slot(q - m.start_page) {
                // SAFETY: the page was just mapped read-write in this window;
                // the source frame is alive in the cap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.bytes().as_ptr(),
                        self.base.add(q as usize * PAGE_SIZE),
                        PAGE_SIZE,
                    )
                };
            }
        }
        // SAFETY: guest pages lie inside this window's reservation.
        let at = unsafe { self.base.add(first as usize * PAGE_SIZE) };
        // SAFETY: changing the protection of pages this window just mapped.
        unsafe { mprotect(addr(at), n as usize * PAGE_SIZE, ProtFlags::PROT_READ) }.is_ok()
    }

    /// How page `q` of mapping `mi` is backed: `None` if it has no bytes
    /// (missing), `Some(None)` for zeros, `Some(Some((fd, offset)))` for a
    /// frame.
    fn source(&self, mi: usize, q: u32) -> Option<Option<FrameRef>> {
        let m = &self.space.mappings()[mi];
        match m.cap.page_slot(q - m.start_page) {
            PageSlot::Empty => Some(None),
            PageSlot::Loaded(bytes) => Some(Some((bytes.frame().fd(), bytes.fd_offset()))),
            PageSlot::Missing(_) => None,
        }
    }

    /// `mmap` `n` pages at guest page `page` with `prot`, from a frame run
    /// or anonymous zeros; with `populate`, a frame run's page tables are
    /// filled at once (cheaper than a minor fault per page that is soon
    /// touched) by reading each page: a read fault maps the frames of its
    /// 64 KiB around it at once (the kernel's fault-around, writable in a
    /// shared writable mapping), 30–50 % cheaper than `MAP_POPULATE`,
    /// which walks the range page by page.
    fn map_at(&mut self, page: u32, n: u32, prot: ProtFlags, frame: Option<FrameRef>, populate: bool) -> bool {
        if self.broken || !budget::try_charge() {
            return false;
        }
        self.charged += budget::PER_MAP;
        // Recorded before the call: should a failed MAP_FIXED leave a hole,
        // the next reset covers it with the inaccessible reservation again.
        // (A map refused by the budget touched nothing.)
        self.touched.add(page);
        self.touched.add(page + n - 1);
        // SAFETY: guest pages lie inside this window's reservation.
        let at = unsafe { self.base.add(page as usize * PAGE_SIZE) };
        let (hint, len) = (Some(addr(at).addr()), length(n as usize * PAGE_SIZE));
        #[cfg(test)]
        if super::tests::fail_this_map() {
            return false;
        }
        // SAFETY: MAP_FIXED over part of this window only (never outside
        // it); frames stay alive while mapped (held by the caps, or by
        // `dirty` until the window is reset), and so does the memory file
        // they live in.
        let mapped = unsafe {
            match frame {
                Some((fd, offset)) => {
                    let fd = BorrowedFd::borrow_raw(fd);
                    mmap(hint, len, prot, MapFlags::MAP_SHARED | MapFlags::MAP_FIXED, fd, offset as libc::off_t)
                }
                None => mmap_anonymous(hint, len, prot, MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED),
            }
        };
        if mapped.is_err() {
            return false;
        }
        if populate && frame.is_some() {
            for p in 0..n as usize {
                // SAFETY: the page was just mapped readable from a frame
                // inside the memory file.
                unsafe { std::ptr::read_volatile(at.add(p * PAGE_SIZE)) };
            }
        }
        true
    }

    /// Tops the stock of frames up (host side) to
    /// [`policy::stock_target`]. Fails when the frame pool cannot grow (the
    /// host is out of memory).
    pub(crate) fn refill(&mut self) -> Result<(), FrameError> {
        let target = policy::stock_target(self.refills, self.materialized);
        // Every request the handler makes (one group at most) fits in what
        // is left, or in what this adds.
        let group = policy::group_pages(self.materialized) as usize;
        if self.stock.len() >= group && self.dirty.capacity() - self.dirty.len() >= self.stock.len() {
            return Ok(());
        }
        self.refills += 1;
        let wanted = target.saturating_sub(self.stock.len());
        #[cfg(test)]
        if super::tests::fail_this_refill() {
            return Err(FrameError::Exhausted { max_frames: 0 });
        }
        FramePool::global().try_alloc_batch(wanted, &mut self.stock)?;
        // Pop order = ascending file offsets, so neighbouring pages get
        // consecutive frames: one mmap per run, and fewer kernel mappings.
        self.stock.sort_unstable_by_key(|(f, _)| std::cmp::Reverse((f.fd(), f.fd_offset())));
        let want = self.dirty.len() + self.stock.len();
        self.dirty.reserve(want.saturating_sub(self.dirty.len()));
        Ok(())
    }

    /// Unmaps everything (all guest pages inaccessible again) and forgets
    /// the page states; dirty frames are left in `dirty`.
    fn reset(&mut self) {
        let page = PAGE_SIZE;
        for &(lo, hi) in self.touched.ranges() {
            let (lo, hi) = (lo as usize, hi as usize);
            // SAFETY: a touched part of this window's guest range.
            let at = unsafe { self.base.add(lo * page) };
            if !self.broken {
                self.broken = !reserve_again(at, (hi - lo) * page);
            }
            if policy::clears_by_store(hi - lo) {
                // SAFETY: bytes `lo..hi` of the state table (one per page).
                unsafe { std::ptr::write_bytes(self.states.add(lo), NONE, hi - lo) };
            } else {
                let (s_lo, s_hi) = (lo / page * page, hi.next_multiple_of(page));
                // SAFETY: zaps (zero-fills) part of the state table, which is
                // private anonymous memory of this window.
                let _ = unsafe { madvise(addr(self.states.add(s_lo)), s_hi - s_lo, MmapAdvise::MADV_DONTNEED) };
            }
        }
        self.touched = Touched::default();
        self.shown.clear();
        // Unmapped above: the frames can hold other pages.
        self.stock.extend(self.copies.drain(..).map(|(_, frame)| (frame, false)));
        self.unrecorded = false;
        budget::release(std::mem::take(&mut self.charged));
        self.warm = false;
        self.materialized = 0;
    }

    /// Pages with a private frame in the window.
    #[cfg(test)]
    pub(crate) fn private_pages(&self) -> usize {
        self.dirty.len()
    }

    /// Read-only pages shown as copies (see `copies`).
    #[cfg(test)]
    pub(crate) fn copied_pages(&self) -> usize {
        self.copies.len()
    }

    /// Kernel mappings charged to the budget for what the window maps.
    pub(crate) fn charged(&self) -> usize {
        self.charged
    }

    /// Retries mapping pages `first..=last` for an access, with frames
    /// topped up; false if it failed again.
    pub(crate) fn map_again(&mut self, first: u32, last: u32, write: bool) -> bool {
        self.refill().is_ok() && self.prepare(first, last, write).is_ok()
    }

    /// Whether the window can no longer be used (see [`Self::reset`]).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Starts over when kernel mappings (or frames) ran out: syncs, which
    /// empties the window and moves every dirty frame into its cap, then
    /// maps only pages `first..=last` for the access, without mapping small
    /// mappings ahead of need. Fails when even that is impossible, or the
    /// window can no longer be used; the caller then reaches the memory
    /// through the caps.
    pub(crate) fn remap(&mut self, first: u32, last: u32, write: bool) -> Result<(), PrepareError> {
        self.flush();
        if self.broken || self.refill().is_err() {
            return Err(PrepareError::Map);
        }
        self.warm = true;
        self.prepare(first, last, write)
    }

    /// Brings the space up to date with the guest's writes. Afterwards the
    /// host may change or clone the space freely. A few dirty pages are
    /// copied into their caps and the window kept (checked against the
    /// space by [`Self::refresh`] before its next use); more are moved (see
    /// [`Self::flush`]). Nothing to do while the window is stale: nothing
    /// ran since the space was last handed out.
    pub(crate) fn sync(&mut self) {
        if self.stale {
            return;
        }
        if policy::keeps_dirty(self.dirty.len()) && !self.broken && self.copy_dirty_out() {
            self.stale = true;
            return;
        }
        self.flush();
    }

    /// Resets the window and moves every dirty frame into its cap's overlay
    /// (no copy): the window no longer maps any of the space's frames.
    /// While the window is stale its dirty frames are not the space's
    /// writes (the caps have those already, or the frames are another
    /// instance's): they go back to the stock instead.
    pub(crate) fn flush(&mut self) {
        if std::mem::take(&mut self.stale) {
            self.stock.extend(self.dirty.drain(..).map(|(_, frame)| (frame, false)));
        }
        self.reset();
        for (page, frame) in std::mem::take(&mut self.dirty) {
            self.give_to_cap(page, frame);
        }
        let want = self.stock.len();
        self.dirty.reserve(want);
    }

    /// Makes `frame` page `page` of its mapping's cap (an overlay page, no
    /// copy).
    fn give_to_cap(&mut self, page: u32, frame: Frame) {
        let i = self.space.mapping_index(page).expect("the page of a mapping");
        let m = &mut self.space.mappings_mut()[i];
        let slot = PageSlot::Loaded(Arc::new(PageBytes::from_frame(frame)));
        m.cap.insert_overlay_page(page - m.start_page, slot).expect("the page is inside its mapping");
    }

    /// Takes the frames of the writable pages that the space's caps hold
    /// alone (written through the caps, by the interpreter, and shared with
    /// no other cap or snapshot) out of the caps and into the window, mapped
    /// read-write as dirty pages: compiled code then writes them in place
    /// instead of copying each on its first write, and a flush moves them
    /// back. Pages the window already shows are left alone; if a mapping
    /// fails, the rest stay in the caps. Host side.
    pub(crate) fn adopt_private_pages(&mut self) {
        if self.broken || self.stale {
            return;
        }
        let mut taken: Vec<(u32, Frame)> = Vec::new();
        for mi in 0..self.space.mappings().len() {
            let m = &self.space.mappings()[mi];
            if m.access != Access::Write {
                continue;
            }
            let start = m.start_page;
            let private: Vec<u32> = m
                .cap
                .overlay()
                .iter()
                .filter(|&(&p, slot)| {
                    matches!(slot, PageSlot::Loaded(bytes) if Arc::strong_count(bytes) == 1)
                        && self.state(start + p) == NONE
                })
                .map(|(&p, _)| p)
                .collect();
            let cap = &mut self.space.mappings_mut()[mi].cap;
            for p in private {
                let Ok(Some(PageSlot::Loaded(bytes))) = cap.insert_overlay_page(p, PageSlot::Empty) else {
                    unreachable!("a loaded overlay page of the cap")
                };
                let bytes = Arc::try_unwrap(bytes).unwrap_or_else(|_| unreachable!("held by this cap alone"));
                taken.push((start + p, bytes.into_frame()));
            }
        }
        // Room for these and for what the signal handler may still add.
        self.dirty.reserve(taken.len() + self.stock.len());
        let mut rest = taken.into_iter().peekable();
        while let Some((page, frame)) = rest.next() {
            let (fd, offset) = (frame.fd(), frame.fd_offset());
            let mut run = vec![(page, frame)];
            while let Some((next, f)) = rest.peek() {
                let n = run.len() as u64;
                if *next != page + n as u32 || f.fd() != fd || f.fd_offset() != offset + n * PAGE_SIZE as u64 {
                    break;
                }
                run.push(rest.next().expect("peeked"));
            }
            let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
            if !self.map_at(page, run.len() as u32, rw, Some((fd, offset)), false) {
                // Back into the caps, unmapped: faults copy them as before.
                for (page, frame) in run.into_iter().chain(rest) {
                    self.give_to_cap(page, frame);
                }
                return;
            }
            for (page, frame) in run {
                self.set_state(page, DIRTY);
                self.dirty.push((page, frame));
            }
        }
    }

    /// Makes pages `first..=last` present for the host to read (or, with
    /// `write`, to write) through the window, refilling the frame stock as
    /// it goes. `false` when it cannot (out of frames or of mappings): the
    /// pages prepared so far stay prepared, which the guest cannot tell.
    pub(crate) fn prepare_for_host(&mut self, first: u32, last: u32, write: bool) -> bool {
        for page in first..=last {
            let mut refilled = false;
            loop {
                match self.prepare(page, page, write) {
                    Ok(()) => break,
                    Err(PrepareError::NeedFrames) if !refilled && self.refill().is_ok() => refilled = true,
                    Err(_) => return false,
                }
            }
        }
        true
    }

    /// Copies guest bytes at `addr` (known readable) into `out`.
    pub(crate) fn copy_out(&self, addr: u32, out: &mut [u8]) {
        let mut done = 0usize;
        while done < out.len() {
            let at = addr + done as u32;
            let page = at / PAGE_SIZE as u32;
            let in_page = (at % PAGE_SIZE as u32) as usize;
            let take = (PAGE_SIZE - in_page).min(out.len() - done);
            let dst = &mut out[done..done + take];
            if self.state(page) == DIRTY {
                // SAFETY: a dirty page is mapped read-write in the window.
                let src = unsafe { std::slice::from_raw_parts(self.base.add(at as usize), take) };
                dst.copy_from_slice(src);
            } else {
                let m = self.space.mapping_of(page).expect("checked readable");
                match m.cap.page_slot(page - m.start_page) {
                    PageSlot::Loaded(bytes) => dst.copy_from_slice(&bytes.bytes()[in_page..in_page + take]),
                    PageSlot::Empty | PageSlot::Missing(_) => dst.fill(0),
                }
            }
            done += take;
        }
    }

    /// Writes `data` at `addr` (known writable) through the window,
    /// copying pages on first write.
    pub(crate) fn copy_in(&mut self, addr: u32, data: &[u8]) {
        let first = addr / PAGE_SIZE as u32;
        let last = ((u64::from(addr) + data.len() as u64 - 1) / PAGE_SIZE as u64) as u32;
        if (self.refill().is_err() || self.prepare(first, last, true).is_err())
            && self.remap(first, last, true).is_err()
        {
            // Write into the caps, as the interpreter does. After a flush
            // nothing of the range is mapped, so the window shows the new
            // bytes once it maps them again.
            self.flush();
            let written = self.space.cached().write_bytes(addr, data);
            debug_assert!(written.is_ok(), "checked writable");
            return;
        }
        // SAFETY: every page of the range is now mapped read-write.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(addr as usize), data.len()) };
    }
}

/// Whether page source `next` continues the run that starts with `first`
/// after `n` pages (same kind; frames at consecutive offsets of one file).
fn continues(first: Option<Option<FrameRef>>, next: Option<Option<FrameRef>>, n: u32) -> bool {
    match (first, next) {
        (Some(None), Some(None)) => true,
        (Some(Some((fd, off))), Some(Some((fd2, off2)))) => fd == fd2 && off2 == off + u64::from(n) * PAGE_SIZE as u64,
        _ => false,
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        // Kept for the module's next instance, the window has moved out
        // already (see `PagerPool::keep`).
        if self.window.is_none() {
            return;
        }
        self.reset();
        self.dirty.clear();
        if let Some(window) = self.window.take() {
            // A broken window's range may be partly someone else's now: it
            // is neither unmapped nor reused (the address space is leaked,
            // nothing else).
            if !self.broken {
                window.release();
            }
        }
    }
}
