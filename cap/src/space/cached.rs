//! The interpreter's view of an [`AddressSpace`]: a flat table with one
//! entry per guest page holding the host address of the page's bytes, so a
//! load is one table read, one check and the copy.
//!
//! An entry is `0` (not resolved yet), a page address (readable), or a page
//! address with bit 0 set (readable and writable: the page is this space's
//! own overlay copy). Page addresses are 4096-aligned, so the low bits are
//! free. The table (8 MiB of address space, touched lazily) lives in the
//! address space between runs; a list of the entries in use makes clearing
//! proportional to what was resolved.
//!
//! Validity: a resolved entry points into a page owned by one of the space's
//! caps. Every `&mut AddressSpace` method that can change which page backs
//! an address (mapping, unmapping, host writes, flushing, handing out the
//! mappings mutably) clears the table first. Writable marks are also cleared
//! when a new view starts after the caps were handed out by shared reference
//! (`mappings`, `mapping_of`) or the space was cloned: the host may then hold
//! a clone of a cap whose overlay pages are shared and must be copied again
//! before the next write. A host call that does neither keeps them, so the
//! guest's next write to a page it already owns stays on the fast path.

use super::{Access, AddressSpace};
use crate::data::{PAGE_SIZE, PageResolution};
use crate::page::zero_page;
use crate::vm::{GuestMemory, MemFault, find_fault, page_chunks};
use std::cell::Cell;
use std::sync::Mutex;

const PAGES: usize = 1 << 20;
const WRITABLE: usize = 1;
const ADDRESS_MASK: usize = !(PAGE_SIZE - 1);

/// The page table and the list of its non-zero entries.
struct PageTable {
    entries: Box<[usize; PAGES]>,
    used: Vec<u32>,
    writable: Vec<u32>,
}

/// Cleared tables kept for reuse: creating one maps 8 MiB and faults its
/// pages in as they are touched, which costs far more than clearing.
static POOL: Mutex<Vec<PageTable>> = Mutex::new(Vec::new());
const POOL_LIMIT: usize = 16;

thread_local! {
    /// The table this thread gave back last, in front of [`POOL`]: a thread
    /// running short runs one after the other takes and gives back a table
    /// per run without touching the lock the other threads take.
    static LAST: Cell<Option<PageTable>> = const { Cell::new(None) };
}

impl PageTable {
    /// A cleared table, from the pool when one is there.
    fn take() -> PageTable {
        let pooled =
            LAST.try_with(Cell::take).ok().flatten().or_else(|| POOL.lock().map(|mut pool| pool.pop()).unwrap_or(None));
        pooled.unwrap_or_else(|| {
            let entries: Box<[usize]> = vec![0usize; PAGES].into_boxed_slice();
            let entries: Box<[usize; PAGES]> = entries.try_into().expect("exactly PAGES entries");
            PageTable { entries, used: Vec::new(), writable: Vec::new() }
        })
    }

    /// Clears `table` and keeps it for reuse (or frees it if the pool is full).
    /// Each thread keeps one besides the pool's.
    fn give_back(mut table: PageTable) {
        table.clear();
        // The thread keeps it, and a table it kept before goes to the pool
        // (as does this one past the thread's end, when the slot is gone).
        let mut table = Some(table);
        let _ = LAST.try_with(|last| table = last.replace(table.take()));
        if let Some(table) = table
            && let Ok(mut pool) = POOL.lock()
            && pool.len() < POOL_LIMIT
        {
            pool.push(table);
        }
    }

    fn clear(&mut self) {
        for page in self.used.drain(..) {
            self.entries[page as usize] = 0;
        }
        self.writable.clear();
    }

    fn clear_writable(&mut self) {
        for page in self.writable.drain(..) {
            self.entries[page as usize] &= !WRITABLE;
        }
    }

    fn set(&mut self, page: u32, entry: usize) {
        let slot = &mut self.entries[page as usize];
        if *slot == 0 {
            self.used.push(page);
        }
        if entry & WRITABLE != 0 && *slot & WRITABLE == 0 {
            self.writable.push(page);
        }
        *slot = entry;
    }
}

/// The page-table slot of an [`AddressSpace`]: created on first use, never
/// cloned (a clone starts without one) and not shown by `Debug`.
#[derive(Default)]
pub(super) struct PageTableHolder(Option<PageTable>);

impl PageTableHolder {
    /// Forgets every resolved page.
    pub(super) fn invalidate(&mut self) {
        if let Some(table) = &mut self.0 {
            table.clear();
        }
    }
}

impl Drop for PageTableHolder {
    fn drop(&mut self) {
        if let Some(table) = self.0.take() {
            PageTable::give_back(table);
        }
    }
}

impl Clone for PageTableHolder {
    fn clone(&self) -> Self {
        PageTableHolder(None)
    }
}

impl std::fmt::Debug for PageTableHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTable")
    }
}

// SAFETY: the table holds host addresses of pages owned by the address
// space's caps, which move with the space; they are only dereferenced through
// a `CachedMemory`, which borrows the space exclusively.
unsafe impl Send for PageTableHolder {}
// SAFETY: a shared `&AddressSpace` never reads the table.
unsafe impl Sync for PageTableHolder {}

/// An [`AddressSpace`] borrowed for one run, resolving pages through the
/// space's page table (see the module docs for why the addresses stay
/// valid).
pub struct CachedMemory<'a> {
    space: &'a mut AddressSpace,
    /// Taken from the space for the view's lifetime and given back on drop.
    table: Option<PageTable>,
    /// The table's entries (heap memory owned by `table`, which does not
    /// move while the view holds it), read on every access without going
    /// through the `Option`.
    entries: *const [usize; PAGES],
}

impl Drop for CachedMemory<'_> {
    fn drop(&mut self) {
        self.space.cache.0 = self.table.take();
    }
}

impl<'a> CachedMemory<'a> {
    pub(super) fn new(space: &'a mut AddressSpace) -> CachedMemory<'a> {
        let mut table = space.cache.0.take().unwrap_or_else(PageTable::take);
        if space.exposed.take() {
            table.clear_writable();
        }
        let entries: *const [usize; PAGES] = &*table.entries;
        CachedMemory { space, table: Some(table), entries }
    }
}

impl CachedMemory<'_> {
    /// The underlying space (the table is cleared).
    pub fn space(&mut self) -> &mut AddressSpace {
        self.table().clear();
        self.space
    }

    #[inline(always)]
    fn table(&mut self) -> &mut PageTable {
        self.table.as_mut().expect("the view owns the table from creation to drop")
    }

    /// Resolves `page`, known readable, and records it.
    fn fill_read(&mut self, page: u32) -> usize {
        let m = self.space.mapping_containing(page).expect("checked readable");
        let offset = u64::from(page - m.start_page) * PAGE_SIZE as u64;
        let entry = match m.cap.page_at(offset) {
            PageResolution::Bytes(bytes) => bytes.as_ptr() as usize,
            PageResolution::Zero | PageResolution::Missing(_) => zero_page().bytes().as_ptr() as usize,
        };
        self.table().set(page, entry);
        entry
    }

    /// Copies `page`, known writable, into its cap's overlay if needed and
    /// records it as writable.
    fn fill_write(&mut self, page: u32) -> usize {
        let i = self.space.mapping_index(page).expect("checked writable");
        let m = &mut self.space.mappings[i];
        let entry = match m.cap.page_mut(page - m.start_page) {
            Ok(bytes) => bytes.as_mut_ptr() as usize | WRITABLE,
            Err(_) => unreachable!("a writable page is not missing"),
        };
        self.table().set(page, entry);
        entry
    }

    /// The host address of `page`, resolving it if needed; 0 if the page is
    /// not readable (or, for `write`, not writable).
    #[inline(always)]
    fn entry(&mut self, page: u32, write: bool) -> usize {
        // SAFETY: `entries` points to the entries of the table this view
        // owns (see the field); `page < 2^20 = PAGES`.
        let entry = unsafe { (*self.entries)[page as usize] };
        // A resolved entry's address part is never 0, so reads test just
        // that (one test serves both the lookup and the caller's check).
        let base = entry & ADDRESS_MASK;
        let ok = if write { entry & WRITABLE != 0 } else { base != 0 };
        if ok { base } else { self.resolve(page, write) }
    }

    #[cold]
    fn resolve(&mut self, page: u32, write: bool) -> usize {
        match (self.space.access_of(page), write) {
            (None, _) | (Some(Access::Read), true) => 0,
            (Some(Access::Write), true) => self.fill_write(page) & ADDRESS_MASK,
            (Some(_), false) => self.fill_read(page) & ADDRESS_MASK,
        }
    }

    /// Copies between guest memory and `buf`, page by page, once the whole
    /// access is known to be allowed.
    fn copy(&mut self, address: u32, len: usize, write: bool, mut each: impl FnMut(*mut u8, usize, usize)) {
        for c in page_chunks(address, len) {
            let base = self.entry(c.page, write);
            assert_ne!(base, 0, "checked accessible");
            each((base + c.in_page) as *mut u8, c.at, c.len);
        }
    }
}

impl GuestMemory for CachedMemory<'_> {
    fn read_bytes(&mut self, address: u32, out: &mut [u8]) -> Result<(), MemFault> {
        if let Some(fault) = find_fault(address, out.len() as u32, |p| self.space.access_of(p).is_some()) {
            return Err(fault);
        }
        self.copy(address, out.len(), false, |src, at, n| {
            // SAFETY: `src` addresses `n` bytes inside a live page (see the
            // module docs) and `out[at..at + n]` is in bounds.
            unsafe { std::ptr::copy_nonoverlapping(src, out[at..at + n].as_mut_ptr(), n) }
        });
        Ok(())
    }

    fn write_bytes(&mut self, address: u32, data: &[u8]) -> Result<(), MemFault> {
        let writable = |p| self.space.access_of(p) == Some(Access::Write);
        if let Some(fault) = find_fault(address, data.len() as u32, writable) {
            return Err(fault);
        }
        self.copy(address, data.len(), true, |dst, at, n| {
            // SAFETY: `dst` addresses `n` bytes inside an overlay page this
            // view owns exclusively (see the module docs).
            unsafe { std::ptr::copy_nonoverlapping(data[at..at + n].as_ptr(), dst, n) }
        });
        Ok(())
    }

    #[inline(always)]
    fn load<const N: usize>(&mut self, address: u32) -> Result<[u8; N], MemFault> {
        let in_page = (address % PAGE_SIZE as u32) as usize;
        if in_page + N <= PAGE_SIZE {
            let base = self.entry(address / PAGE_SIZE as u32, false);
            if base == 0 {
                return Err(find_fault(address, N as u32, |_| false).expect("an unreadable page faults"));
            }
            // SAFETY: `base` is a live page (see the module docs) and the N
            // bytes at `in_page` lie inside it.
            return Ok(unsafe { std::ptr::read_unaligned((base + in_page) as *const [u8; N]) });
        }
        let mut out = [0u8; N];
        self.read_bytes(address, &mut out)?;
        Ok(out)
    }

    #[inline(always)]
    fn store<const N: usize>(&mut self, address: u32, bytes: [u8; N]) -> Result<(), MemFault> {
        let in_page = (address % PAGE_SIZE as u32) as usize;
        if in_page + N <= PAGE_SIZE {
            let base = self.entry(address / PAGE_SIZE as u32, true);
            if base == 0 {
                return Err(find_fault(address, N as u32, |_| false).expect("an unwritable page faults"));
            }
            // SAFETY: `base` is an overlay page this view owns exclusively
            // (see the module docs); the N bytes lie inside it.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (base + in_page) as *mut u8, N) };
            return Ok(());
        }
        self.write_bytes(address, &bytes)
    }

    fn sbrk(&mut self, size: u64) -> u64 {
        self.space().grow_heap_by(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataCap;

    #[test]
    fn host_changes_between_views_are_seen() {
        let mut space = AddressSpace::new();
        space.map_cap(16, DataCap::from_bytes(&[7; 8]).unwrap(), Access::Write).unwrap();
        assert_eq!(space.cached().load::<1>(0x10000), Ok([7]));
        // A host write replaces the page; the next view must not read the old one.
        space.poke(0x10000, &[9]).unwrap();
        assert_eq!(space.cached().load::<1>(0x10000), Ok([9]));
        // A clone of the cap made between runs keeps its own bytes.
        space.cached().store::<1>(0x10000, [1]).unwrap();
        let snapshot = space.mappings()[0].cap.clone();
        space.cached().store::<1>(0x10000, [2]).unwrap();
        let mut byte = [0u8; 1];
        snapshot.copy_into(0, &mut byte).unwrap();
        assert_eq!(byte, [1], "the snapshot is not written through a stale pointer");
        assert_eq!(space.cached().load::<1>(0x10000), Ok([2]));
        // So does a clone of the whole space.
        let copy = space.clone();
        space.cached().store::<1>(0x10000, [3]).unwrap();
        copy.read(0x10000, &mut byte).unwrap();
        assert_eq!(byte, [2], "the clone keeps the bytes of the moment it was made");
        assert_eq!(space.cached().load::<1>(0x10000), Ok([3]));
        // Flushing drops zero pages; the table must not keep pointing at them.
        space.cached().store::<8>(0x10000, [0; 8]).unwrap();
        space.flush();
        assert_eq!(space.cached().load::<8>(0x10000), Ok([0; 8]));
        space.unmap(0x10000, 4096).unwrap();
        assert_eq!(space.cached().load::<1>(0x10000), Err(MemFault::PageFault(0x10000)));
    }

    #[test]
    fn writable_marks_survive_until_the_caps_are_exposed() {
        let mut space = AddressSpace::new();
        space.map_cap(16, DataCap::from_bytes(&[7; 8]).unwrap(), Access::Write).unwrap();
        let writable = |space: &mut AddressSpace| {
            let view = space.cached();
            view.table.as_ref().unwrap().entries[16] & WRITABLE != 0
        };
        space.cached().store::<1>(0x10000, [1]).unwrap();
        assert!(writable(&mut space), "a new view keeps the page it owns writable");
        let _ = space.read(0x10000, &mut [0; 1]);
        assert!(writable(&mut space), "reading guest memory exposes no cap");
        let _ = space.mappings();
        assert!(!writable(&mut space), "after the caps were handed out the next write copies again");
        space.cached().store::<1>(0x10000, [2]).unwrap();
        let _ = space.clone();
        assert!(!writable(&mut space), "so after a clone of the space");
    }
}
