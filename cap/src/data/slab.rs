//! [`PageSlab`]: the immutable, dense, hashable backing of a cap.

use std::fmt;

use super::merkle::{self, MerkleCache};
use super::{CapError, MAX_CAP_SIZE};
use crate::CapHash;
use crate::page::{PAGE_SIZE, PageSlot, is_all_zero};

/// A cap's backing store: a logical size and a dense vector of page slots,
/// index = absolute page.
///
/// Canonical layout: trailing [`PageSlot::Empty`] slots are trimmed (so
/// `pages().len() <= page_count()`, and pages past the vector read as empty),
/// and the constructors store all-zero content as `Empty`. The root
/// ([`PageSlab::cap_root`]) is computed once per version through an
/// incrementally maintained merkle cache shared by clones of the slab.
#[derive(Clone, Default)]
pub struct PageSlab {
    size: u64,
    pages: Vec<PageSlot>,
    merkle: MerkleCache,
}

/// Round a requested byte size up to whole pages (at least one page), or
/// reject it if it exceeds [`MAX_CAP_SIZE`].
pub(crate) fn normalize_size(requested: u64) -> Result<u64, CapError> {
    if requested > MAX_CAP_SIZE {
        return Err(CapError::TooLarge { size: requested });
    }
    Ok(requested.next_multiple_of(PAGE_SIZE as u64).max(PAGE_SIZE as u64))
}

impl PageSlab {
    /// A slab of size 0 with no pages.
    pub fn empty() -> PageSlab {
        PageSlab::default()
    }

    /// An all-zero slab of `size` bytes (already normalized).
    pub(crate) fn zeroed(size: u64) -> PageSlab {
        PageSlab { size, pages: Vec::new(), merkle: MerkleCache::default() }
    }

    /// A slab of (normalized) `size` whose low bytes are `content`.
    pub(crate) fn from_content(size: u64, content: &[u8]) -> PageSlab {
        let mut pages: Vec<PageSlot> = content
            .chunks(PAGE_SIZE)
            .map(|chunk| if is_all_zero(chunk) { PageSlot::Empty } else { PageSlot::loaded(chunk) })
            .collect();
        trim(&mut pages);
        PageSlab { size, pages, merkle: MerkleCache::default() }
    }

    /// Logical size in bytes (a [`PAGE_SIZE`] multiple, or 0 for
    /// [`PageSlab::empty`]).
    #[inline]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of logical pages (`size / PAGE_SIZE`).
    #[inline]
    pub fn page_count(&self) -> u32 {
        (self.size / PAGE_SIZE as u64) as u32
    }

    /// The slot of page `page`; pages past the stored vector are `Empty`.
    #[inline]
    pub fn page(&self, page: u32) -> &PageSlot {
        const EMPTY: &PageSlot = &PageSlot::Empty;
        self.pages.get(page as usize).unwrap_or(EMPTY)
    }

    /// The stored slots (trailing empty pages trimmed).
    #[inline]
    pub fn pages(&self) -> &[PageSlot] {
        &self.pages
    }

    /// Root of the `pages` field: the page roots merkleized at depth
    /// `ceil_log2(page_count)` (cached).
    pub fn pages_root(&self) -> CapHash {
        self.roots().pages_root
    }

    /// The cap root `merkleize([htr(size), pages_root], 2)` (cached).
    pub fn cap_root(&self) -> CapHash {
        self.roots().cap_root
    }

    /// The cap root recomputed from scratch, bypassing every cache.
    pub fn cap_root_uncached(&self) -> CapHash {
        merkle::cap_root_uncached(self.size, u64::from(self.page_count()), &self.pages)
    }

    /// Is the root of this version already cached?
    pub fn root_is_cached(&self) -> bool {
        self.merkle.is_built()
    }

    fn roots(&self) -> &merkle::Built {
        self.merkle.get_or_build(self.size, u64::from(self.page_count()), &self.pages)
    }

    /// Store each `(page, slot)` as given (callers canonicalize content and
    /// check `page < page_count`), then trim and mark the pages dirty for the
    /// merkle cache.
    pub(crate) fn apply(&mut self, edits: impl IntoIterator<Item = (u32, PageSlot)>) {
        let mut touched = Vec::new();
        for (page, slot) in edits {
            debug_assert!(page < self.page_count(), "edit past the slab");
            let i = page as usize;
            if i >= self.pages.len() {
                if slot.is_empty() {
                    continue;
                }
                self.pages.resize(i + 1, PageSlot::Empty);
            }
            self.pages[i] = slot;
            touched.push(page);
        }
        trim(&mut self.pages);
        touched.sort_unstable();
        touched.dedup();
        self.merkle.invalidate(touched);
    }
}

/// Drop trailing empty slots so each content has one layout.
fn trim(pages: &mut Vec<PageSlot>) {
    let keep = pages.iter().rposition(|s| !s.is_empty()).map_or(0, |i| i + 1);
    pages.truncate(keep);
}

impl fmt::Debug for PageSlab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.pages.iter().filter(|s| !s.is_empty()).count();
        f.debug_struct("PageSlab")
            .field("size", &self.size)
            .field("stored_slots", &self.pages.len())
            .field("non_empty", &loaded)
            .field("root_cached", &self.root_is_cached())
            .finish()
    }
}
