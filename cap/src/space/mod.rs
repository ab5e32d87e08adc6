//! A guest address space: a few non-overlapping [`DataCap`] mappings, each
//! readable or writable; every other page is inaccessible (spec §3).
//!
//! The interpreter reads and writes through [`CachedMemory`], a per-run view
//! over a page table of host pointers (`cached`), so the hot path of a load
//! or store is one table load and a copy. The first write to a page goes
//! through [`DataCap::page_mut`], which copies it into the cap's overlay.

mod cached;

pub use cached::CachedMemory;
use cached::PageTableHolder;

use crate::data::{CapError, DataCap, PAGE_SIZE, PageResolution};
use crate::vm::{LOW_GUARD, MemFault, find_fault, page_chunks};
use crate::{CapHash, ssz};
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

/// Pages in the 32-bit guest address space.
pub const GUEST_PAGES: u32 = crate::image::ADDRESS_SPACE_PAGES as u32;
/// First page that may be mapped (`0x10000 / 4096`).
pub const FIRST_MAPPABLE_PAGE: u32 = LOW_GUARD / PAGE_SIZE as u32;

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
#[derive(Debug, Default)]
pub struct AddressSpace {
    mappings: Vec<Mapping>,
    generation: u64,
    heap: Option<Heap>,
    cache: PageTableHolder,
    exposed: ExposedCaps,
}

/// Set whenever the mappings' caps were handed out by shared reference
/// (or the space was cloned), so that someone may since hold a clone of an
/// overlay page: the interpreter's page table must then stop writing
/// through the pointers it resolved before (see [`CachedMemory`]).
#[derive(Debug, Default)]
struct ExposedCaps(AtomicBool);

impl ExposedCaps {
    /// Only a flag not yet set is written: the template space that every
    /// instance of a module is cloned from stays set, and a store on each
    /// clone would move its cache line between the threads instantiating.
    fn set(&self) {
        if !self.0.load(Ordering::Relaxed) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the caps were exposed since the last call. Exclusive access
    /// makes this a plain read and write.
    fn take(&mut self) -> bool {
        std::mem::take(self.0.get_mut())
    }
}

impl Clone for ExposedCaps {
    /// The clone shares overlay pages with the original, so both count as
    /// exposed.
    fn clone(&self) -> Self {
        self.set();
        ExposedCaps(AtomicBool::new(true))
    }
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
    let page = PAGE_SIZE as u64;
    if length == 0 || !address.is_multiple_of(page) || !length.is_multiple_of(page) {
        return Err(SpaceError::Unaligned { address, length });
    }
    if address < u64::from(LOW_GUARD) || address + length > 1 << 32 {
        return Err(SpaceError::OutOfRange { address, length });
    }
    Ok(((address / page) as u32, (length / page) as u32))
}

impl Clone for AddressSpace {
    fn clone(&self) -> Self {
        self.clone_with_room(0)
    }
}

impl AddressSpace {
    /// An empty address space.
    pub fn new() -> AddressSpace {
        AddressSpace::default()
    }

    /// A clone with room for `extra` more mappings, for a caller about to
    /// map them (spares growing the list).
    pub fn clone_with_room(&self, extra: usize) -> AddressSpace {
        let mut mappings = Vec::with_capacity(self.mappings.len() + extra);
        mappings.extend_from_slice(&self.mappings);
        AddressSpace {
            mappings,
            generation: self.generation,
            heap: self.heap,
            cache: self.cache.clone(),
            exposed: self.exposed.clone(),
        }
    }

    /// Maps `cap` at `start_page`.
    pub fn map_cap(&mut self, start_page: u32, cap: DataCap, access: Access) -> Result<(), SpaceError> {
        let address = u64::from(start_page) * PAGE_SIZE as u64;
        let length = u64::from(cap.page_count()) * PAGE_SIZE as u64;
        check_range(address, length)?;
        let end = start_page + cap.page_count();
        if let Some(m) = self.mappings.iter().find(|m| m.start_page < end && start_page < m.end_page()) {
            return Err(SpaceError::Overlap { address, length, page: m.start_page });
        }
        self.cache.invalidate();
        let at = self.mappings.partition_point(|m| m.start_page < start_page);
        self.mappings.insert(at, Mapping { start_page, access, cap });
        self.generation += 1;
        Ok(())
    }

    /// Makes `[address, address + length)` accessible and zero-filled,
    /// replacing whatever was mapped there.
    pub fn map_zeroed(&mut self, address: u64, length: u64, access: Access) -> Result<(), SpaceError> {
        let (page, count) = check_range(address, length)?;
        let zeroes = DataCap::zeroed(length)?;
        self.unmap_pages(page, count);
        self.map_cap(page, zeroes, access)
    }

    /// Makes `[address, address + length)` inaccessible.
    pub fn unmap(&mut self, address: u64, length: u64) -> Result<(), SpaceError> {
        let (page, count) = check_range(address, length)?;
        self.unmap_pages(page, count);
        Ok(())
    }

    /// Gives every page of `[address, address + length)` `access`, keeping
    /// its contents; every page must be mapped (else nothing changes).
    pub fn protect(&mut self, address: u64, length: u64, access: Access) -> Result<(), SpaceError> {
        let (page, count) = check_range(address, length)?;
        let mut next = page;
        for m in self.mappings.iter().filter(|m| m.end_page() > page && m.start_page < page + count) {
            if m.start_page > next {
                break;
            }
            next = m.end_page();
        }
        if next < page + count {
            return Err(SpaceError::Unmapped { address: next * PAGE_SIZE as u32 });
        }
        self.reshape(page, count, |m| Some(Mapping { access, ..m }));
        Ok(())
    }

    /// Removes pages `[page, page + count)` from every mapping, splitting
    /// mappings that straddle the range (their contents are kept).
    fn unmap_pages(&mut self, page: u32, count: u32) {
        self.reshape(page, count, |_| None);
    }

    /// Splits the mappings that straddle the edges of pages
    /// `[page, page + count)` (contents kept) and replaces each part inside
    /// by what `inside` makes of it.
    fn reshape(&mut self, page: u32, count: u32, mut inside: impl FnMut(Mapping) -> Option<Mapping>) {
        self.cache.invalidate();
        let end = page + count;
        let mut kept = Vec::with_capacity(self.mappings.len() + 2);
        for m in self.mappings.drain(..) {
            if m.end_page() <= page || m.start_page >= end {
                kept.push(m);
                continue;
            }
            let slice = |lo: u32, hi: u32| {
                let (lo, hi) = (lo.max(m.start_page), hi.min(m.end_page()));
                (lo < hi).then(|| Mapping {
                    start_page: lo,
                    access: m.access,
                    cap: m.cap.slice_pages(lo - m.start_page, hi - lo).expect("a slice of a valid cap is valid"),
                })
            };
            let (before, within, after) = (slice(m.start_page, page), slice(page, end), slice(end, m.end_page()));
            kept.extend(before);
            kept.extend(within.and_then(&mut inside));
            kept.extend(after);
        }
        kept.sort_by_key(|m| m.start_page);
        self.mappings = kept;
        self.generation += 1;
    }

    /// The mappings, by start page.
    pub fn mappings(&self) -> &[Mapping] {
        self.exposed.set();
        &self.mappings
    }

    /// Mutable access to the mappings' caps (for the recompiler's transfer
    /// of dirty frames). Changing a mapping's extent or access through this
    /// is not allowed; only page contents may change.
    pub fn mappings_mut(&mut self) -> &mut [Mapping] {
        self.cache.invalidate();
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
        self.exposed.set();
        self.mapping_containing(page)
    }

    /// [`Self::mapping_of`] for this crate's own reads, which never keep or
    /// clone the cap.
    #[inline]
    fn mapping_containing(&self, page: u32) -> Option<&Mapping> {
        self.mapping_index(page).map(|i| &self.mappings[i])
    }

    /// The guest's access to `page`: `None` when unmapped or when its content
    /// is known only by hash (such a page faults).
    pub fn access_of(&self, page: u32) -> Option<Access> {
        let m = self.mapping_containing(page)?;
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
        for c in page_chunks(address, out.len()) {
            let m = self.mapping_containing(c.page).expect("checked readable");
            let dst = &mut out[c.at..c.at + c.len];
            match m.cap.page_at(u64::from(c.page - m.start_page) * PAGE_SIZE as u64) {
                PageResolution::Bytes(bytes) => dst.copy_from_slice(&bytes[c.in_page..c.in_page + c.len]),
                PageResolution::Zero | PageResolution::Missing(_) => dst.fill(0),
            }
        }
    }

    /// Writes guest memory with guest rules (W pages only), all or nothing.
    pub fn write(&mut self, address: u32, data: &[u8]) -> Result<(), MemFault> {
        if let Some(fault) = find_fault(address, data.len() as u32, |p| self.access_of(p) == Some(Access::Write)) {
            return Err(fault);
        }
        self.copy_in(address, data).map_err(|_| MemFault::PageFault(address & !(PAGE_SIZE as u32 - 1)))
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
        self.cache.invalidate();
        for c in page_chunks(address, data.len()) {
            let i = self.mapping_index(c.page).ok_or(SpaceError::Unmapped { address: c.page * PAGE_SIZE as u32 })?;
            let m = &mut self.mappings[i];
            let bytes = m.cap.page_mut(c.page - m.start_page)?;
            bytes[c.in_page..c.in_page + c.len].copy_from_slice(&data[c.at..c.at + c.len]);
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
        let mapped_end = u64::from(heap.top).next_multiple_of(PAGE_SIZE as u64);
        let needed_end = new_top.next_multiple_of(PAGE_SIZE as u64);
        if needed_end > mapped_end {
            // Pages in [mapped_end, needed_end) are not mapped by the heap
            // yet; map them (fails only if something else lives there).
            let fresh = self.mappings.iter().all(|m| {
                u64::from(m.end_page()) * PAGE_SIZE as u64 <= mapped_end
                    || u64::from(m.start_page) * PAGE_SIZE as u64 >= needed_end
            });
            if !fresh || self.map_zeroed(mapped_end, needed_end - mapped_end, Access::Write).is_err() {
                return 0;
            }
        }
        self.heap = Some(Heap { top: new_top as u32, limit: heap.limit });
        u64::from(heap.top)
    }

    /// Folds every mapping's overlay into its backing.
    pub fn flush(&mut self) {
        self.cache.invalidate();
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

    /// A per-run view with a page table, for the interpreter.
    pub fn cached(&mut self) -> CachedMemory<'_> {
        CachedMemory::new(self)
    }
}
