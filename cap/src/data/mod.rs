//! [`DataCap`]: guest memory as an `Arc`-shared page backing plus a
//! copy-on-write overlay.
//!
//! - The **backing** ([`PageSlab`]) is immutable once shared: a dense vector of
//!   page slots with a logical size. Cloning a cap bumps one reference count.
//! - The **overlay** maps absolute page index → [`PageSlot`] for the pages
//!   changed since the backing settled; an overlay page shadows the backing
//!   page. Engines write there ([`DataCap::page_mut`],
//!   [`DataCap::write_page`], [`DataCap::insert_overlay_page`]) and
//!   [`DataCap::flush`] folds it into a new backing.
//!
//! # The cap root
//!
//! Defined only for a clean cap (empty overlay); hashing a dirty cap is an
//! error ([`CapError::DirtyOverlay`]). With `page_count = size / 4096`:
//!
//! ```text
//! leaf(p)    = [0; 32]                          if page p is empty (all zero)
//!            = hash_tree_root(ByteVector[4096]) otherwise
//! pages_root = merkleize([leaf(0) .. leaf(page_count - 1)], page_count)
//! cap_root   = merkleize([htr(size as uint64), pages_root], 2)
//!            = H(htr(size) ‖ pages_root)
//! ```
//!
//! `merkleize` is plain SSZ with SHA-256: the leaves are padded to the next
//! power of two of `page_count` with zero chunks, so a run of `2^h` empty
//! pages folds to the standard zero hash `Z[h]` (`Z[0] = [0; 32]`,
//! `Z[h + 1] = H(Z[h] ‖ Z[h])`). All-zero content is stored as
//! [`PageSlot::Empty`] in a backing, and a loaded page of zeros has the same
//! leaf, so a root never depends on how zero pages were built. A cap made
//! from fewer than 4096 bytes (none included) has one page; the size-0 cap
//! ([`DataCap::empty`]) hashes as `H(htr(0) ‖ [0; 32])`.
//! Roots are cached per backing and maintained incrementally: flushing `k`
//! pages of an `n`-page cap costs `O(k log n)` node hashes.
//!
//! # Bounds
//!
//! Caps are at most [`MAX_CAP_SIZE`] (4 GiB, 2^20 pages). Reads of slots
//! ([`DataCap::page_slot`], [`DataCap::page_at`]) are total: pages past the
//! size read as empty. Everything that copies or writes bytes checks bounds and
//! returns a [`CapError`].

mod merkle;
mod slab;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;

use crate::CapHash;
use crate::frames::Frame;
pub use crate::page::PAGE_SIZE;
use crate::page::{PageBytes, PageSlot, is_all_zero};
pub use slab::PageSlab;
use slab::normalize_size;

/// Largest cap size in bytes: the 32-bit guest address space.
pub const MAX_CAP_SIZE: u64 = 1 << 32;

/// What went wrong with a cap operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// A requested size is larger than [`MAX_CAP_SIZE`].
    #[error("cap size {size} exceeds the limit of {MAX_CAP_SIZE} bytes")]
    TooLarge {
        /// The requested size in bytes.
        size: u64,
    },
    /// A page index is not below the cap's page count.
    #[error("page {page} is outside a cap of {page_count} pages")]
    PageOutOfRange {
        /// The offending page index.
        page: u64,
        /// The cap's page count.
        page_count: u32,
    },
    /// Content for one page is longer than a page.
    #[error("{len} bytes of content do not fit in one page")]
    ContentTooLong {
        /// The content length.
        len: usize,
    },
    /// A byte range does not lie within the cap.
    #[error("{len} bytes at offset {start} run past the cap's {size} bytes")]
    OutOfBounds {
        /// First byte of the range.
        start: u64,
        /// Length of the range.
        len: usize,
        /// The cap's size.
        size: u64,
    },
    /// An offset that must be page-aligned is not.
    #[error("offset {offset} is not page-aligned")]
    Misaligned {
        /// The offending offset.
        offset: u64,
    },
    /// A page's bytes are unavailable: it is known only by its hash.
    #[error("page {page} is known only by its hash; its bytes are unavailable")]
    MissingPage {
        /// The page index.
        page: u32,
        /// The page's content hash.
        hash: CapHash,
    },
    /// The cap has unflushed overlay pages, so it has no root yet.
    #[error("the cap has {pages} overlay pages; flush it before hashing")]
    DirtyOverlay {
        /// Number of overlay pages.
        pages: usize,
    },
}

/// How one page of a cap resolves, as both engines must see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageResolution<'a> {
    /// The canonical zero page: reads as zeros.
    Zero,
    /// A materialised page.
    Bytes(&'a [u8; PAGE_SIZE]),
    /// A page known only by its hash: any access is a page fault.
    Missing(CapHash),
}

/// Guest memory: an `Arc`-shared [`PageSlab`] backing plus a copy-on-write
/// overlay of changed pages. See the [module docs](self).
#[derive(Clone, Default)]
pub struct DataCap {
    backing: Arc<PageSlab>,
    /// Changed pages by absolute index; never holds [`PageSlot::Empty`] and
    /// never an index at or past the page count.
    overlay: BTreeMap<u32, PageSlot>,
}

impl DataCap {
    /// The size-0 cap: no pages, no overlay.
    pub fn empty() -> DataCap {
        DataCap::default()
    }

    /// An all-zero clean cap of at least `size` bytes (rounded up to whole
    /// pages, at least one).
    pub fn zeroed(size: u64) -> Result<DataCap, CapError> {
        Ok(DataCap::from_slab(PageSlab::zeroed(normalize_size(size)?)))
    }

    /// A clean cap holding `content`, sized to whole pages (at least one).
    /// All-zero pages are stored as empty.
    pub fn from_bytes(content: &[u8]) -> Result<DataCap, CapError> {
        DataCap::from_bytes_sized(content, 0)
    }

    /// A clean cap of at least `target_size` bytes (and at least
    /// `content.len()`, rounded up to whole pages) whose low bytes are
    /// `content` and whose remaining bytes are zero.
    pub fn from_bytes_sized(content: &[u8], target_size: u64) -> Result<DataCap, CapError> {
        let requested = target_size.max(content.len() as u64);
        let size = normalize_size(requested)?;
        Ok(DataCap::from_slab(PageSlab::from_content(size, content)))
    }

    /// A clean cap of at least `size` bytes (rounded like
    /// [`DataCap::from_bytes_sized`]) whose page `i` holds `content`
    /// (zero-padded) for each `(i, content)` of `pages`, later entries
    /// replacing earlier ones; unnamed pages are zero. The layout and root
    /// equal those of `from_bytes_sized` for the same logical content.
    pub fn from_sparse_pages<'a>(
        size: u64,
        pages: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> Result<DataCap, CapError> {
        let mut slab = PageSlab::zeroed(normalize_size(size)?);
        let page_count = slab.page_count();
        let mut edits = Vec::new();
        for (page, content) in pages {
            check_page(page.into(), page_count)?;
            edits.push((page, canonical_slot(content)?));
        }
        slab.apply(edits);
        Ok(DataCap::from_slab(slab))
    }

    /// A clean cap over an existing slab.
    pub fn from_slab(slab: PageSlab) -> DataCap {
        DataCap { backing: Arc::new(slab), overlay: BTreeMap::new() }
    }

    /// The backing slab.
    #[inline]
    pub fn backing(&self) -> &Arc<PageSlab> {
        &self.backing
    }

    /// The overlay: changed pages by absolute index.
    #[inline]
    pub fn overlay(&self) -> &BTreeMap<u32, PageSlot> {
        &self.overlay
    }

    /// Logical size in bytes.
    #[inline]
    pub fn content_len(&self) -> u64 {
        self.backing.size()
    }

    /// Number of logical pages.
    #[inline]
    pub fn page_count(&self) -> u32 {
        self.backing.page_count()
    }

    /// Is `page` in the overlay?
    #[inline]
    pub fn is_dirty(&self, page: u32) -> bool {
        self.overlay.contains_key(&page)
    }

    /// Does the cap have no overlay pages (so it has a root)?
    #[inline]
    pub fn is_clean(&self) -> bool {
        self.overlay.is_empty()
    }

    /// The overlay pages in index order.
    pub fn dirty_pages(&self) -> impl Iterator<Item = (u32, &PageSlot)> + '_ {
        self.overlay.iter().map(|(&page, slot)| (page, slot))
    }

    /// The effective slot of `page`: the overlay's if dirty, else the
    /// backing's. Pages past the size read as empty.
    #[inline]
    pub fn page_slot(&self, page: u32) -> &PageSlot {
        match self.overlay.get(&page) {
            Some(slot) => slot,
            None => self.backing.page(page),
        }
    }

    /// The effective page containing byte `offset` (any alignment). Offsets
    /// past the size resolve to [`PageResolution::Zero`].
    #[inline]
    pub fn page_at(&self, offset: u64) -> PageResolution<'_> {
        let Ok(page) = u32::try_from(offset / PAGE_SIZE as u64) else {
            return PageResolution::Zero;
        };
        match self.page_slot(page) {
            PageSlot::Empty => PageResolution::Zero,
            PageSlot::Loaded(bytes) => PageResolution::Bytes(bytes.bytes()),
            PageSlot::Missing(hash) => PageResolution::Missing(*hash),
        }
    }

    /// The frame holding `page`'s effective bytes, if it is loaded; map it
    /// at `(frame.fd(), frame.fd_offset())`.
    #[inline]
    pub fn page_frame(&self, page: u32) -> Option<&Frame> {
        self.page_slot(page).page().map(|p| p.frame())
    }

    /// The effective non-empty pages in index order (overlay merged over the
    /// backing). Overlay pages that hold zeros are included.
    pub fn pages(&self) -> impl Iterator<Item = (u32, &PageSlot)> + '_ {
        let mut backing = (0u32..).zip(self.backing.pages()).filter(|(_, s)| !s.is_empty()).peekable();
        let mut overlay = self.overlay.iter().map(|(&p, s)| (p, s)).peekable();
        std::iter::from_fn(move || match (backing.peek(), overlay.peek()) {
            (Some(&(b, _)), Some(&(o, _))) if b < o => backing.next(),
            (Some(&(b, _)), Some(&(o, _))) => {
                if b == o {
                    backing.next();
                }
                overlay.next()
            }
            (Some(_), None) => backing.next(),
            (None, _) => overlay.next(),
        })
    }

    /// Copy the effective bytes `start .. start + out.len()` into `out`.
    ///
    /// Fails if the range is not inside the cap or touches a missing page
    /// (elided content is not zero); `out` may then be partly written.
    pub fn copy_into(&self, start: u64, out: &mut [u8]) -> Result<(), CapError> {
        self.check_range(start, out.len())?;
        let mut offset = start;
        for chunk in split_at_pages(start, out) {
            let in_page = (offset % PAGE_SIZE as u64) as usize;
            let page = (offset / PAGE_SIZE as u64) as u32;
            match self.page_slot(page) {
                PageSlot::Empty => chunk.fill(0),
                PageSlot::Loaded(bytes) => {
                    chunk.copy_from_slice(&bytes.bytes()[in_page..in_page + chunk.len()]);
                }
                PageSlot::Missing(hash) => {
                    return Err(CapError::MissingPage { page, hash: *hash });
                }
            }
            offset += chunk.len() as u64;
        }
        Ok(())
    }

    /// Overwrite the backing page containing `offset` with `content`
    /// (zero-padded). A construction primitive: it copies the whole slab if
    /// the backing is shared. The overlay, if any, still shadows the page.
    pub fn put_page(&mut self, offset: u64, content: &[u8]) -> Result<(), CapError> {
        let page = self.page_of(offset)?;
        let slot = canonical_slot(content)?;
        Arc::make_mut(&mut self.backing).apply([(page, slot)]);
        Ok(())
    }

    /// Set the overlay page containing `offset` to `content` (zero-padded).
    /// The page is stored even if all zero, so it shadows the backing.
    pub fn write_page(&mut self, offset: u64, content: &[u8]) -> Result<(), CapError> {
        let page = self.page_of(offset)?;
        if content.len() > PAGE_SIZE {
            return Err(CapError::ContentTooLong { len: content.len() });
        }
        self.overlay.insert(page, PageSlot::loaded(content));
        Ok(())
    }

    /// Write access to `page` through the overlay: the first call copies the
    /// effective page into a fresh overlay page; later calls return that page
    /// directly (copying again only if a clone of the cap shares it).
    pub fn page_mut(&mut self, page: u32) -> Result<&mut [u8; PAGE_SIZE], CapError> {
        check_page(page.into(), self.page_count())?;
        let slot = match self.overlay.entry(page) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let fresh = match self.backing.page(page) {
                    PageSlot::Empty => PageBytes::zeroed(),
                    PageSlot::Loaded(bytes) => PageBytes::clone(bytes),
                    PageSlot::Missing(hash) => {
                        return Err(CapError::MissingPage { page, hash: *hash });
                    }
                };
                entry.insert(PageSlot::Loaded(Arc::new(fresh)))
            }
        };
        match slot {
            PageSlot::Loaded(bytes) => Ok(Arc::make_mut(bytes).bytes_mut()),
            PageSlot::Missing(hash) => Err(CapError::MissingPage { page, hash: *hash }),
            PageSlot::Empty => unreachable!("the overlay never stores empty slots"),
        }
    }

    /// Write `data` at byte `start` through the overlay ([`DataCap::page_mut`]
    /// per touched page). Fails without writing anything if the range is not
    /// inside the cap; a missing page stops the write there.
    pub fn write_bytes(&mut self, start: u64, data: &[u8]) -> Result<(), CapError> {
        self.check_range(start, data.len())?;
        let mut offset = start;
        let mut rest = data;
        while !rest.is_empty() {
            let in_page = (offset % PAGE_SIZE as u64) as usize;
            let take = rest.len().min(PAGE_SIZE - in_page);
            let page = self.page_mut((offset / PAGE_SIZE as u64) as u32)?;
            page[in_page..in_page + take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
            offset += take as u64;
        }
        Ok(())
    }

    /// Put `slot` into the overlay at `page` without copying (e.g. a frame
    /// the recompiler filled, wrapped by [`PageBytes::from_frame`]); returns
    /// the overlay slot it replaces. Inserting [`PageSlot::Empty`] removes
    /// the overlay entry, so the backing shows again; to zero a page, insert
    /// a loaded zero page.
    pub fn insert_overlay_page(&mut self, page: u32, slot: PageSlot) -> Result<Option<PageSlot>, CapError> {
        check_page(page.into(), self.page_count())?;
        Ok(match slot {
            PageSlot::Empty => self.overlay.remove(&page),
            slot => self.overlay.insert(page, slot),
        })
    }

    /// Drop every overlay page, reverting to the backing.
    pub fn discard_overlay(&mut self) {
        self.overlay.clear();
    }

    /// Make backing pages `dst_offset / 4096 + i` share `src`'s effective
    /// page `i` (a reference-count bump per page, no byte copy), for every
    /// page of `src` that falls inside this cap (the rest is dropped). The
    /// content equals copying `src`'s bytes there with [`DataCap::put_page`];
    /// this cap's overlay, if any, still shadows the placed pages. Like
    /// `put_page`, it copies the slot vector first if the backing is shared.
    pub fn place_shared(&mut self, dst_offset: u64, src: &DataCap) -> Result<(), CapError> {
        if !dst_offset.is_multiple_of(PAGE_SIZE as u64) {
            return Err(CapError::Misaligned { offset: dst_offset });
        }
        let page_count = u64::from(self.page_count());
        let base = dst_offset / PAGE_SIZE as u64;
        if base >= page_count {
            return Ok(());
        }
        let base = base as u32;
        let span = u64::from(src.page_count()).min(page_count - u64::from(base)) as u32;
        // Past both caps' stored pages, source and destination are empty.
        let src_stored =
            (src.backing.pages().len() as u32).max(src.overlay.last_key_value().map_or(0, |(&p, _)| p + 1));
        let dst_stored = (self.backing.pages().len() as u32).saturating_sub(base);
        let span = span.min(src_stored.max(dst_stored));
        let dst = &self.backing;
        let edits: Vec<(u32, PageSlot)> = (0..span)
            .filter_map(|i| {
                let slot = src.backing_slot(i);
                let old = dst.page(base + i);
                (!slot.same_storage(old)).then_some((base + i, slot))
            })
            .collect();
        if !edits.is_empty() {
            Arc::make_mut(&mut self.backing).apply(edits);
        }
        Ok(())
    }

    /// A clean cap of `count` pages whose page `i` shares this cap's
    /// effective page `first + i` (reference-count bumps, no byte copy).
    pub fn slice_pages(&self, first: u32, count: u32) -> Result<DataCap, CapError> {
        let mut slab = PageSlab::zeroed(normalize_size(u64::from(count) * PAGE_SIZE as u64)?);
        // Pages past index 2^32 − 1 do not exist: they read as zero.
        let edits: Vec<(u32, PageSlot)> = (0..count)
            .map_while(|i| Some((i, self.backing_slot(first.checked_add(i)?))))
            .filter(|(_, slot)| !slot.is_empty())
            .collect();
        slab.apply(edits);
        Ok(DataCap::from_slab(slab))
    }

    /// A clean cap with the overlay folded into a new backing; this cap is
    /// unchanged. Overlay pages move by reference (no byte copy); those that
    /// hold only zeros become empty slots.
    pub fn flush(&self) -> DataCap {
        let mut cap = self.clone();
        cap.flush_in_place();
        cap
    }

    /// Fold the overlay into the backing in place (copying the slot vector
    /// only if the backing is shared).
    pub fn flush_in_place(&mut self) {
        if self.overlay.is_empty() {
            return;
        }
        let overlay = std::mem::take(&mut self.overlay);
        let edits = overlay.into_iter().map(|(page, slot)| (page, slot.canonical()));
        Arc::make_mut(&mut self.backing).apply(edits);
    }

    /// The cap root (see the [module docs](self)); cached per backing, so
    /// repeated calls are cheap and a flushed cap is rehashed only along its
    /// changed pages. Fails if the overlay is not empty.
    pub fn hash_tree_root(&self) -> Result<CapHash, CapError> {
        self.require_clean()?;
        Ok(self.backing.cap_root())
    }

    /// The cap root recomputed from scratch (every page rehashed, no cached
    /// node used). Equal to [`DataCap::hash_tree_root`]; for tests and audits.
    pub fn hash_tree_root_uncached(&self) -> Result<CapHash, CapError> {
        self.require_clean()?;
        Ok(self.backing.cap_root_uncached())
    }

    /// The effective slot of `page` as a backing stores it: an overlay page
    /// of zeros becomes [`PageSlot::Empty`] (backing pages already are
    /// canonical).
    fn backing_slot(&self, page: u32) -> PageSlot {
        match self.overlay.get(&page) {
            Some(slot) => slot.canonical(),
            None => self.backing.page(page).clone(),
        }
    }

    fn require_clean(&self) -> Result<(), CapError> {
        match self.overlay.len() {
            0 => Ok(()),
            pages => Err(CapError::DirtyOverlay { pages }),
        }
    }

    /// The page holding byte `offset`, which must be inside the cap.
    fn page_of(&self, offset: u64) -> Result<u32, CapError> {
        let page = offset / PAGE_SIZE as u64;
        check_page(page, self.page_count())?;
        Ok(page as u32)
    }

    fn check_range(&self, start: u64, len: usize) -> Result<(), CapError> {
        let size = self.content_len();
        match start.checked_add(len as u64) {
            Some(end) if end <= size => Ok(()),
            _ => Err(CapError::OutOfBounds { start, len, size }),
        }
    }
}

impl fmt::Debug for DataCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataCap")
            .field("backing", &self.backing)
            .field("overlay_pages", &self.overlay.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn check_page(page: u64, page_count: u32) -> Result<(), CapError> {
    if page < u64::from(page_count) { Ok(()) } else { Err(CapError::PageOutOfRange { page, page_count }) }
}

/// The canonical slot for one page of content: empty if all zero.
fn canonical_slot(content: &[u8]) -> Result<PageSlot, CapError> {
    if content.len() > PAGE_SIZE {
        return Err(CapError::ContentTooLong { len: content.len() });
    }
    Ok(if is_all_zero(content) { PageSlot::Empty } else { PageSlot::loaded(content) })
}

/// Split `buf` (which starts at byte `start`) at page boundaries.
fn split_at_pages(start: u64, buf: &mut [u8]) -> impl Iterator<Item = &mut [u8]> {
    let first = (PAGE_SIZE - (start % PAGE_SIZE as u64) as usize).min(buf.len());
    let (head, tail) = buf.split_at_mut(first);
    std::iter::once(head).filter(|h| !h.is_empty()).chain(tail.chunks_mut(PAGE_SIZE))
}
