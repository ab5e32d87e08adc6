//! A guest address space: a few non-overlapping [`DataCap`] mappings, each
//! readable or writable; every other page is inaccessible (spec §3).
//!
//! The interpreter reads and writes through [`CachedMemory`], a per-run view
//! with a small direct-mapped page cache, so the hot path of a load or store
//! is a tag compare and a copy. The first write to a page goes through
//! [`DataCap::page_mut`], which copies it into the cap's overlay.

use crate::data::{CapError, DataCap, PAGE_SIZE, PageResolution};
use crate::page::zero_page;
use crate::vm::{GUEST_PAGE, GuestMemory, LOW_GUARD, MemFault, find_fault};
use crate::{CapHash, ssz};
use thiserror::Error;

/// Pages in the 32-bit guest address space.
pub const GUEST_PAGES: u32 = crate::image::ADDRESS_SPACE_PAGES as u32;
/// First page that may be mapped (`0x10000 / 4096`).
pub const FIRST_MAPPABLE_PAGE: u32 = LOW_GUARD / GUEST_PAGE;

pub use crate::image::Access;

/// One mapping: `cap.page_count()` pages starting at `start_page`.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// First guest page.
    pub start_page: u32,
    /// Guest access.
    pub access: Access,
    /// The pages' contents.
    pub cap: DataCap,
}

impl Mapping {
    /// One past the last page.
    pub fn end_page(&self) -> u32 {
        self.start_page + self.cap.page_count()
    }

    /// Whether `page` lies inside.
    #[inline]
    pub fn contains(&self, page: u32) -> bool {
        page >= self.start_page && page < self.end_page()
    }
}

/// Why an address-space operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SpaceError {
    /// The range is not page-aligned or has zero length.
    #[error("range 0x{address:08x}+0x{length:x} is not a non-empty run of whole pages")]
    Unaligned {
        /// Start address.
        address: u64,
        /// Length in bytes.
        length: u64,
    },
    /// The range reaches below 0x10000 or past 2^32.
    #[error("range 0x{address:08x}+0x{length:x} is outside 0x10000..2^32")]
    OutOfRange {
        /// Start address.
        address: u64,
        /// Length in bytes.
        length: u64,
    },
    /// The range overlaps an existing mapping.
    #[error("range 0x{address:08x}+0x{length:x} overlaps the mapping at page {page}")]
    Overlap {
        /// Start address.
        address: u64,
        /// Length in bytes.
        length: u64,
        /// First page of the mapping it overlaps.
        page: u32,
    },
    /// A byte of the range is not mapped.
    #[error("address 0x{address:08x} is not mapped")]
    Unmapped {
        /// The first unmapped address.
        address: u32,
    },
    /// The underlying cap refused.
    #[error(transparent)]
    Cap(#[from] CapError),
}

/// A guest address space.
#[derive(Clone, Debug, Default)]
pub struct AddressSpace {
    mappings: Vec<Mapping>,
    generation: u64,
    heap: Option<Heap>,
    cache: CacheHolder,
}

/// The P7 `sbrk` heap: grows the mapping that ends at `top`'s page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heap {
    /// Current heap top (first byte not yet handed out).
    pub top: u32,
    /// The heap may not grow past this address.
    pub limit: u32,
}

fn check_range(address: u64, length: u64) -> Result<(u32, u32), SpaceError> {
    let page = u64::from(GUEST_PAGE);
    if length == 0 || !address.is_multiple_of(page) || !length.is_multiple_of(page) {
        return Err(SpaceError::Unaligned { address, length });
    }
    if address < u64::from(LOW_GUARD) || address + length > 1 << 32 {
        return Err(SpaceError::OutOfRange { address, length });
    }
    Ok(((address / page) as u32, (length / page) as u32))
}

impl AddressSpace {
    /// An empty address space.
    pub fn new() -> AddressSpace {
        AddressSpace::default()
    }

    /// Maps `cap` at `start_page`.
    pub fn map_cap(&mut self, start_page: u32, cap: DataCap, access: Access) -> Result<(), SpaceError> {
        let address = u64::from(start_page) * u64::from(GUEST_PAGE);
        let length = u64::from(cap.page_count()) * u64::from(GUEST_PAGE);
        check_range(address, length)?;
        let end = start_page + cap.page_count();
        if let Some(m) = self.mappings.iter().find(|m| m.start_page < end && start_page < m.end_page()) {
            return Err(SpaceError::Overlap { address, length, page: m.start_page });
        }
        let at = self.mappings.partition_point(|m| m.start_page < start_page);
        self.mappings.insert(at, Mapping { start_page, access, cap });
        self.generation += 1;
        Ok(())
    }

    /// Makes `[address, address + length)` accessible and zero-filled,
    /// replacing whatever was mapped there.
    pub fn map_zeroed(&mut self, address: u64, length: u64, access: Access) -> Result<(), SpaceError> {
        let (page, count) = check_range(address, length)?;
        self.unmap_pages(page, count);
        self.map_cap(page, DataCap::zeroed(length)?, access)
    }

    /// Makes `[address, address + length)` inaccessible.
    pub fn unmap(&mut self, address: u64, length: u64) -> Result<(), SpaceError> {
        let (page, count) = check_range(address, length)?;
        self.unmap_pages(page, count);
        Ok(())
    }

    /// Removes pages `[page, page + count)` from every mapping, splitting
    /// mappings that straddle the range (their contents are kept).
    fn unmap_pages(&mut self, page: u32, count: u32) {
        let end = page + count;
        let mut kept = Vec::with_capacity(self.mappings.len() + 1);
        for m in self.mappings.drain(..) {
            if m.end_page() <= page || m.start_page >= end {
                kept.push(m);
                continue;
            }
            for (lo, hi) in [(m.start_page, page), (end, m.end_page())] {
                let (lo, hi) = (lo.max(m.start_page), hi.min(m.end_page()));
                if lo < hi {
                    kept.push(Mapping {
                        start_page: lo,
                        access: m.access,
                        cap: m.cap.slice_pages(lo - m.start_page, hi - lo).expect("a slice of a valid cap is valid"),
                    });
                }
            }
        }
        kept.sort_by_key(|m| m.start_page);
        self.mappings = kept;
        self.generation += 1;
    }

    /// The mappings, by start page.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// Mutable access to the mappings' caps (for the recompiler's transfer
    /// of dirty frames). Changing a mapping's extent or access through this
    /// is not allowed; only page contents may change.
    pub fn mappings_mut(&mut self) -> &mut [Mapping] {
        &mut self.mappings
    }

    /// Changes every time the layout or access of the space changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Index of the mapping containing `page`.
    #[inline]
    pub fn mapping_index(&self, page: u32) -> Option<usize> {
        let at = self.mappings.partition_point(|m| m.start_page <= page);
        at.checked_sub(1).filter(|&i| self.mappings[i].contains(page))
    }

    /// The mapping containing `page`.
    #[inline]
    pub fn mapping_of(&self, page: u32) -> Option<&Mapping> {
        self.mapping_index(page).map(|i| &self.mappings[i])
    }

    /// The guest's access to `page`: `None` when unmapped or when its content
    /// is known only by hash (such a page faults).
    pub fn access_of(&self, page: u32) -> Option<Access> {
        let m = self.mapping_of(page)?;
        let offset = u64::from(page - m.start_page) * PAGE_SIZE as u64;
        match m.cap.page_at(offset) {
            PageResolution::Missing(_) => None,
            _ => Some(m.access),
        }
    }

    /// Reads guest memory with guest rules (R or W pages only).
    pub fn read(&self, address: u32, out: &mut [u8]) -> Result<(), MemFault> {
        if let Some(fault) = find_fault(address, out.len() as u32, |p| self.access_of(p).is_some()) {
            return Err(fault);
        }
        self.copy_out(address, out);
        Ok(())
    }

    /// Copies bytes the caller has checked are readable.
    fn copy_out(&self, address: u32, out: &mut [u8]) {
        let mut done = 0usize;
        while done < out.len() {
            let addr = address + done as u32;
            let page = addr / GUEST_PAGE;
            let in_page = (addr % GUEST_PAGE) as usize;
            let take = (PAGE_SIZE - in_page).min(out.len() - done);
            let m = self.mapping_of(page).expect("checked readable");
            let offset = u64::from(page - m.start_page) * PAGE_SIZE as u64;
            match m.cap.page_at(offset) {
                PageResolution::Bytes(bytes) => out[done..done + take].copy_from_slice(&bytes[in_page..in_page + take]),
                PageResolution::Zero | PageResolution::Missing(_) => out[done..done + take].fill(0),
            }
            done += take;
        }
    }

    /// Writes guest memory with guest rules (W pages only), all or nothing.
    pub fn write(&mut self, address: u32, data: &[u8]) -> Result<(), MemFault> {
        if let Some(fault) = find_fault(address, data.len() as u32, |p| self.access_of(p) == Some(Access::Write)) {
            return Err(fault);
        }
        self.copy_in(address, data).map_err(|_| MemFault::PageFault(address & !(GUEST_PAGE - 1)))
    }

    /// Writes bytes into mapped pages whatever their access (a host poke, as
    /// the v0.5 vectors' `write` step does).
    pub fn poke(&mut self, address: u32, data: &[u8]) -> Result<(), SpaceError> {
        if let Some(fault) = find_fault(address, data.len() as u32, |p| self.access_of(p).is_some()) {
            let address = match fault {
                MemFault::PageFault(a) => a,
                MemFault::Panic => address,
            };
            return Err(SpaceError::Unmapped { address });
        }
        self.copy_in(address, data)
    }

    fn copy_in(&mut self, address: u32, data: &[u8]) -> Result<(), SpaceError> {
        let mut done = 0usize;
        while done < data.len() {
            let addr = address + done as u32;
            let page = addr / GUEST_PAGE;
            let in_page = (addr % GUEST_PAGE) as usize;
            let take = (PAGE_SIZE - in_page).min(data.len() - done);
            let i = self.mapping_index(page).ok_or(SpaceError::Unmapped { address: addr })?;
            let m = &mut self.mappings[i];
            let bytes = m.cap.page_mut(page - m.start_page)?;
            bytes[in_page..in_page + take].copy_from_slice(&data[done..done + take]);
            done += take;
        }
        Ok(())
    }

    /// Installs the P7 `sbrk` heap.
    pub fn set_heap(&mut self, heap: Option<Heap>) {
        self.heap = heap;
    }

    /// The P7 `sbrk` heap, if any.
    pub fn heap(&self) -> Option<Heap> {
        self.heap
    }

    /// P7 `sbrk`: hands out `size` bytes at the heap top, mapping whole new
    /// pages writable as needed; returns the start address, or 0 when there
    /// is no heap or it cannot grow that far. `size` 0 returns the top.
    pub fn grow_heap_by(&mut self, size: u64) -> u64 {
        let Some(heap) = self.heap else { return 0 };
        // `size` is a guest register: any u64.
        let Some(new_top) = u64::from(heap.top).checked_add(size).filter(|&t| t <= u64::from(heap.limit)) else {
            return 0;
        };
        let mapped_end = u64::from(heap.top).next_multiple_of(u64::from(GUEST_PAGE));
        let needed_end = new_top.next_multiple_of(u64::from(GUEST_PAGE));
        if needed_end > mapped_end {
            // Pages in [mapped_end, needed_end) are not mapped by the heap
            // yet; map them (fails only if something else lives there).
            let fresh = self
                .mappings
                .iter()
                .all(|m| u64::from(m.end_page()) * 4096 <= mapped_end || u64::from(m.start_page) * 4096 >= needed_end);
            if !fresh || self.map_zeroed(mapped_end, needed_end - mapped_end, Access::Write).is_err() {
                return 0;
            }
        }
        self.heap = Some(Heap { top: new_top as u32, limit: heap.limit });
        u64::from(heap.top)
    }

    /// Folds every mapping's overlay into its backing.
    pub fn flush(&mut self) {
        for m in &mut self.mappings {
            m.cap.flush_in_place();
        }
    }

    /// The memory root: flushes, then hashes the list of mappings as the SSZ
    /// `List[Container{start_page: uint32, writable: boolean, cap: Root},
    /// 2^20]`. Equal roots mean equal layout, access and contents.
    pub fn root(&mut self) -> CapHash {
        self.flush();
        let leaves: Vec<CapHash> = self
            .mappings
            .iter()
            .map(|m| {
                let cap_root = m.cap.hash_tree_root().expect("flushed caps have a root");
                let fields = [
                    ssz::uint64_root(u64::from(m.start_page)),
                    ssz::uint64_root(u64::from(m.access == Access::Write)),
                    cap_root,
                ];
                ssz::merkleize(&fields, 4)
            })
            .collect();
        ssz::hash_pair(&ssz::merkleize(&leaves, u64::from(GUEST_PAGES)), &ssz::uint64_root(leaves.len() as u64))
    }

    /// A per-run view with a page cache, for the interpreter. Entries of
    /// earlier views are invalidated in O(1) by advancing an epoch.
    pub fn cached(&mut self) -> CachedMemory<'_> {
        let mut cache = self.cache.0.take().unwrap_or_else(|| Box::new(PageCache::new()));
        cache.epoch = cache.epoch.wrapping_add(1);
        if cache.epoch == 0 {
            // Tags of 2^32 views ago could match again: clear them.
            cache.read.fill(CacheEntry::EMPTY);
            cache.write.fill(CacheEntry::EMPTY);
            cache.epoch = 1;
        }
        let tag_base = u64::from(cache.epoch) << 32;
        CachedMemory { space: self, cache: Some(cache), tag_base }
    }
}

const CACHE_SLOTS: usize = 1024;

#[derive(Clone, Copy)]
struct CacheEntry {
    /// `epoch << 32 | (guest page + 1)`; 0 = empty.
    tag: u64,
    ptr: *mut u8,
}

impl CacheEntry {
    const EMPTY: CacheEntry = CacheEntry { tag: 0, ptr: std::ptr::null_mut() };
}

/// Direct-mapped caches of page pointers for reads and writes, valid only
/// for the [`CachedMemory`] view of the current epoch.
struct PageCache {
    epoch: u32,
    read: [CacheEntry; CACHE_SLOTS],
    write: [CacheEntry; CACHE_SLOTS],
}

impl PageCache {
    fn new() -> PageCache {
        PageCache { epoch: 0, read: [CacheEntry::EMPTY; CACHE_SLOTS], write: [CacheEntry::EMPTY; CACHE_SLOTS] }
    }
}

/// The cache slot of an [`AddressSpace`]: never cloned (a clone starts with
/// no cache) and not shown by `Debug`.
#[derive(Default)]
struct CacheHolder(Option<Box<PageCache>>);

impl Clone for CacheHolder {
    fn clone(&self) -> Self {
        CacheHolder(None)
    }
}

impl std::fmt::Debug for CacheHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageCache")
    }
}

// SAFETY: the cached pointers are only dereferenced through a `CachedMemory`
// of the current epoch, which exclusively borrows the address space; moving
// the space to another thread moves the pages' owners with it.
unsafe impl Send for CacheHolder {}
// SAFETY: a shared `&AddressSpace` never reads the cache.
unsafe impl Sync for CacheHolder {}

/// An [`AddressSpace`] borrowed for one run, with direct-mapped caches of
/// page pointers for reads and writes.
///
/// Cached pointers point into page frames owned by the space's caps. The
/// exclusive borrow guarantees nothing else changes the caps while the view
/// lives, so a cached page stays alive and unchanged in identity; the only
/// identity change, a copy-on-write by this view, refreshes both caches.
/// Entries made by earlier views carry an older epoch and never match.
pub struct CachedMemory<'a> {
    space: &'a mut AddressSpace,
    /// Taken from the space for the view's lifetime and given back on drop.
    cache: Option<Box<PageCache>>,
    /// `epoch << 32`.
    tag_base: u64,
}

impl Drop for CachedMemory<'_> {
    fn drop(&mut self) {
        self.space.cache.0 = self.cache.take();
    }
}

impl CachedMemory<'_> {
    /// The underlying space (cached entries are dropped).
    pub fn space(&mut self) -> &mut AddressSpace {
        let cache = self.cache();
        cache.read.fill(CacheEntry::EMPTY);
        cache.write.fill(CacheEntry::EMPTY);
        self.space
    }

    #[inline(always)]
    fn cache(&mut self) -> &mut PageCache {
        // Present from `cached()` until drop.
        self.cache.as_deref_mut().expect("the view owns the cache")
    }

    #[inline(always)]
    fn tag(&self, page: u32) -> u64 {
        self.tag_base | u64::from(page + 1)
    }

    #[inline(always)]
    fn slot(page: u32) -> usize {
        page as usize % CACHE_SLOTS
    }

    /// Resolves `page` for reading and caches it; the page is known readable.
    fn fill_read(&mut self, page: u32) -> *mut u8 {
        let m = self.space.mapping_of(page).expect("checked readable");
        let offset = u64::from(page - m.start_page) * PAGE_SIZE as u64;
        let ptr = match m.cap.page_at(offset) {
            PageResolution::Bytes(bytes) => bytes.as_ptr() as *mut u8,
            PageResolution::Zero | PageResolution::Missing(_) => zero_page().bytes().as_ptr() as *mut u8,
        };
        let tag = self.tag(page);
        self.cache().read[Self::slot(page)] = CacheEntry { tag, ptr };
        ptr
    }

    /// Copies `page` into its cap's overlay if needed and caches it for
    /// reading and writing; the page is known writable.
    fn fill_write(&mut self, page: u32) -> *mut u8 {
        let i = self.space.mapping_index(page).expect("checked writable");
        let m = &mut self.space.mappings[i];
        let ptr = match m.cap.page_mut(page - m.start_page) {
            Ok(bytes) => bytes.as_mut_ptr(),
            Err(_) => unreachable!("a writable page is not missing"),
        };
        let entry = CacheEntry { tag: self.tag(page), ptr };
        let cache = self.cache();
        cache.read[Self::slot(page)] = entry;
        cache.write[Self::slot(page)] = entry;
        ptr
    }

    fn read_slow(&mut self, address: u32, out: &mut [u8]) -> Result<(), MemFault> {
        if let Some(fault) = find_fault(address, out.len() as u32, |p| self.space.access_of(p).is_some()) {
            return Err(fault);
        }
        let mut done = 0usize;
        while done < out.len() {
            let addr = address + done as u32;
            let page = addr / GUEST_PAGE;
            let in_page = (addr % GUEST_PAGE) as usize;
            let take = (PAGE_SIZE - in_page).min(out.len() - done);
            let ptr = self.fill_read(page);
            // SAFETY: `ptr` points to a live 4 KiB page (see the type docs)
            // and `in_page + take <= PAGE_SIZE`.
            let src = unsafe { std::slice::from_raw_parts(ptr.add(in_page), take) };
            out[done..done + take].copy_from_slice(src);
            done += take;
        }
        Ok(())
    }

    fn write_slow(&mut self, address: u32, data: &[u8]) -> Result<(), MemFault> {
        if let Some(fault) = find_fault(address, data.len() as u32, |p| self.space.access_of(p) == Some(Access::Write))
        {
            return Err(fault);
        }
        let mut done = 0usize;
        while done < data.len() {
            let addr = address + done as u32;
            let page = addr / GUEST_PAGE;
            let in_page = (addr % GUEST_PAGE) as usize;
            let take = (PAGE_SIZE - in_page).min(data.len() - done);
            let ptr = self.fill_write(page);
            // SAFETY: `ptr` points to a live overlay page this view owns
            // exclusively (see the type docs) and `in_page + take <= PAGE_SIZE`.
            let dst = unsafe { std::slice::from_raw_parts_mut(ptr.add(in_page), take) };
            dst.copy_from_slice(&data[done..done + take]);
            done += take;
        }
        Ok(())
    }

    /// The cached page pointer for `page` in `table`, if present.
    #[inline(always)]
    fn lookup(&mut self, write: bool, page: u32) -> Option<*mut u8> {
        let tag = self.tag(page);
        let cache = self.cache();
        let entry = if write { cache.write[Self::slot(page)] } else { cache.read[Self::slot(page)] };
        (entry.tag == tag).then_some(entry.ptr)
    }
}

impl GuestMemory for CachedMemory<'_> {
    fn read_bytes(&mut self, address: u32, out: &mut [u8]) -> Result<(), MemFault> {
        self.read_slow(address, out)
    }

    fn write_bytes(&mut self, address: u32, data: &[u8]) -> Result<(), MemFault> {
        self.write_slow(address, data)
    }

    #[inline(always)]
    fn load<const N: usize>(&mut self, address: u32) -> Result<[u8; N], MemFault> {
        let page = address / GUEST_PAGE;
        let in_page = (address % GUEST_PAGE) as usize;
        let mut out = [0u8; N];
        if in_page + N <= PAGE_SIZE {
            let ptr = match self.lookup(false, page) {
                Some(ptr) => ptr,
                None => {
                    if self.space.access_of(page).is_none() {
                        return Err(find_fault(address, N as u32, |_| false).expect("an inaccessible page faults"));
                    }
                    self.fill_read(page)
                }
            };
            // SAFETY: `ptr` points to a live 4 KiB page of this epoch (see
            // the type docs) and the N bytes at `in_page` lie inside it.
            unsafe { std::ptr::copy_nonoverlapping(ptr.add(in_page), out.as_mut_ptr(), N) };
            return Ok(out);
        }
        self.read_slow(address, &mut out)?;
        Ok(out)
    }

    #[inline(always)]
    fn store<const N: usize>(&mut self, address: u32, bytes: [u8; N]) -> Result<(), MemFault> {
        let page = address / GUEST_PAGE;
        let in_page = (address % GUEST_PAGE) as usize;
        if in_page + N <= PAGE_SIZE {
            let ptr = match self.lookup(true, page) {
                Some(ptr) => ptr,
                None => {
                    if self.space.access_of(page) != Some(Access::Write) {
                        return Err(find_fault(address, N as u32, |_| false).expect("an unwritable page faults"));
                    }
                    self.fill_write(page)
                }
            };
            // SAFETY: `ptr` points to an overlay page this view owns
            // exclusively (see the type docs); the N bytes lie inside it.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.add(in_page), N) };
            return Ok(());
        }
        self.write_slow(address, &bytes)
    }

    fn sbrk(&mut self, size: u64) -> u64 {
        self.space().grow_heap_by(size)
    }
}
