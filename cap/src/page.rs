//! Pages: one frame of bytes with a lazily cached content hash, and the slot
//! a cap stores per page.
//!
//! A page's content hash is its SSZ `hash_tree_root` as `ByteVector[4096]`
//! ([`page_content_hash`]); for an all-zero page that is [`zero_page_root`],
//! `Z[7]`.
//!
//! A page's *leaf* in a cap's pages tree ([`PageSlot::leaf`]) follows the
//! DataCap design: all-zero content is stored canonically as
//! [`PageSlot::Empty`], and an empty or absent page contributes the zero
//! chunk `[0; 32]` ([`EMPTY_LEAF`]), so padding and absent subtrees are the
//! standard zero hashes `Z[h]`. A page that holds zeros but happens to be
//! loaded (an overlay page before its flush) contributes the same
//! `[0; 32]`, so a root never depends on how zero pages are stored.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};

use crate::CapHash;
use crate::frames::Frame;
use crate::ssz;

pub use crate::PAGE_SIZE;

/// Does `bytes` contain only zeros?
#[inline]
pub fn is_all_zero(bytes: &[u8]) -> bool {
    let (blocks, tail) = bytes.as_chunks::<64>();
    blocks.iter().all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0) && tail.iter().all(|&b| b == 0)
}

/// Content hash of one page: the SSZ `hash_tree_root` of `content`
/// zero-padded to a `ByteVector[4096]`.
///
/// # Panics
///
/// Panics if `content` is longer than [`PAGE_SIZE`].
pub fn page_content_hash(content: &[u8]) -> CapHash {
    match <&[u8; PAGE_SIZE]>::try_from(content) {
        Ok(page) => ssz::hash_page(page),
        Err(_) => {
            assert!(content.len() <= PAGE_SIZE, "page_content_hash: {} bytes exceed a page", content.len());
            let mut page = [0u8; PAGE_SIZE];
            page[..content.len()].copy_from_slice(content);
            ssz::hash_page(&page)
        }
    }
}

/// The content hash of an all-zero page: `Z[7]`, the root of an all-zero
/// `ByteVector[4096]`. Not a page's leaf: see [`EMPTY_LEAF`].
#[inline]
pub fn zero_page_root() -> CapHash {
    *ssz::zero_hash(ssz::PAGE_DEPTH)
}

/// The leaf an empty (or all-zero) page contributes to a cap's pages tree:
/// the zero chunk, `Z[0]`.
pub const EMPTY_LEAF: CapHash = [0; 32];

/// A page's leaf from its content hash: [`EMPTY_LEAF`] for the all-zero
/// page's hash, the hash itself otherwise.
#[inline]
pub fn leaf_of_content_hash(hash: CapHash) -> CapHash {
    if hash == zero_page_root() { EMPTY_LEAF } else { hash }
}

/// A shared, read-only zero page from the global pool (for mapping zero pages
/// without allocating one each time).
pub fn zero_page() -> &'static Arc<PageBytes> {
    static ZERO: LazyLock<Arc<PageBytes>> = LazyLock::new(|| {
        let page = PageBytes::from_frame(Frame::alloc_zeroed());
        let _ = page.hash.set(zero_page_root());
        Arc::new(page)
    });
    &ZERO
}

/// The bytes of one page, held in a [`Frame`], with their content hash
/// computed on first use and cached.
pub struct PageBytes {
    frame: Frame,
    hash: OnceLock<CapHash>,
}

impl PageBytes {
    /// Wrap a frame without copying; its current content becomes the page.
    pub fn from_frame(frame: Frame) -> PageBytes {
        PageBytes { frame, hash: OnceLock::new() }
    }

    /// A page holding `content` followed by zeros, in a frame of the global
    /// pool.
    ///
    /// # Panics
    ///
    /// Panics if `content` is longer than [`PAGE_SIZE`] or no frame can be
    /// allocated.
    pub fn from_content(content: &[u8]) -> PageBytes {
        PageBytes::from_frame(Frame::from_content(content))
    }

    /// A zero-filled page in a frame of the global pool.
    ///
    /// # Panics
    ///
    /// Panics if no frame can be allocated.
    pub fn zeroed() -> PageBytes {
        let page = PageBytes::from_frame(Frame::alloc_zeroed());
        let _ = page.hash.set(zero_page_root());
        page
    }

    /// The page's bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8; PAGE_SIZE] {
        self.frame.as_slice()
    }

    /// The page's bytes, mutably; forgets the cached hash.
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8; PAGE_SIZE] {
        self.hash = OnceLock::new();
        self.frame.as_mut_slice()
    }

    /// The content hash ([`page_content_hash`]), computed once and cached.
    #[inline]
    pub fn hash(&self) -> CapHash {
        *self.hash.get_or_init(|| ssz::hash_page(self.bytes()))
    }

    /// The content hash if it has been computed already.
    pub fn cached_hash(&self) -> Option<CapHash> {
        self.hash.get().copied()
    }

    /// Is every byte zero?
    pub fn is_zero(&self) -> bool {
        is_all_zero(self.bytes())
    }

    /// The frame holding the bytes (for its fd offset or host pointer).
    #[inline]
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Byte offset of the page's frame in the frame pool's memory file.
    #[inline]
    pub fn fd_offset(&self) -> u64 {
        self.frame.fd_offset()
    }

    /// Give the frame back (e.g. to reuse it as a scratch page).
    pub fn into_frame(self) -> Frame {
        self.frame
    }
}

impl Clone for PageBytes {
    /// Copies the bytes into a new frame of the global pool (and the cached
    /// hash, if any).
    fn clone(&self) -> PageBytes {
        let mut frame = Frame::alloc();
        frame.as_mut_slice().copy_from_slice(self.bytes());
        PageBytes { frame, hash: self.hash.clone() }
    }
}

impl PartialEq for PageBytes {
    fn eq(&self, other: &PageBytes) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for PageBytes {}

impl fmt::Debug for PageBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nonzero = self.bytes().iter().filter(|&&b| b != 0).count();
        f.debug_struct("PageBytes")
            .field("fd_offset", &self.fd_offset())
            .field("nonzero_bytes", &nonzero)
            .field("hash_cached", &self.hash.get().is_some())
            .finish()
    }
}

/// What a cap holds for one page.
#[derive(Clone, Debug, Default)]
pub enum PageSlot {
    /// The canonical zero page; nothing is stored.
    #[default]
    Empty,
    /// A materialised page, shared by reference count.
    Loaded(Arc<PageBytes>),
    /// A page known only by its content hash; its bytes are not available,
    /// and an engine access to it is a page fault.
    Missing(CapHash),
}

impl PageSlot {
    /// A loaded slot holding `content` zero-padded to a page.
    ///
    /// # Panics
    ///
    /// Panics if `content` is longer than [`PAGE_SIZE`].
    pub fn loaded(content: &[u8]) -> PageSlot {
        PageSlot::Loaded(Arc::new(PageBytes::from_content(content)))
    }

    /// The page's leaf in a cap's pages tree: [`EMPTY_LEAF`] for an empty
    /// slot or all-zero content, the content hash otherwise.
    #[inline]
    pub fn leaf(&self) -> CapHash {
        match self {
            PageSlot::Empty => EMPTY_LEAF,
            PageSlot::Loaded(page) => leaf_of_content_hash(page.hash()),
            PageSlot::Missing(hash) => leaf_of_content_hash(*hash),
        }
    }

    /// The slot a cap's backing stores for this content: [`PageSlot::Empty`]
    /// in place of a loaded page of zeros, the slot itself otherwise.
    pub fn canonical(&self) -> PageSlot {
        match self {
            PageSlot::Loaded(page) if page.is_zero() => PageSlot::Empty,
            slot => slot.clone(),
        }
    }

    /// Is this the empty slot?
    #[inline]
    pub fn is_empty(&self) -> bool {
        matches!(self, PageSlot::Empty)
    }

    /// The loaded page, if any.
    #[inline]
    pub fn page(&self) -> Option<&Arc<PageBytes>> {
        match self {
            PageSlot::Loaded(page) => Some(page),
            _ => None,
        }
    }

    /// Do both slots hold the very same page allocation (or are both empty,
    /// or both missing with equal hashes)?
    pub fn same_storage(&self, other: &PageSlot) -> bool {
        match (self, other) {
            (PageSlot::Empty, PageSlot::Empty) => true,
            (PageSlot::Loaded(a), PageSlot::Loaded(b)) => Arc::ptr_eq(a, b),
            (PageSlot::Missing(a), PageSlot::Missing(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_cached_and_reset_on_write() {
        let mut page = PageBytes::from_content(&[1, 2, 3]);
        assert_eq!(page.cached_hash(), None);
        let h = page.hash();
        assert_eq!(page.cached_hash(), Some(h));
        assert_eq!(h, page_content_hash(&[1, 2, 3]));
        page.bytes_mut()[0] = 9;
        assert_eq!(page.cached_hash(), None);
        assert_eq!(page.hash(), page_content_hash(&[9, 2, 3]));
        assert_ne!(page.hash(), h);
    }

    #[test]
    fn zero_content_is_the_zero_leaf() {
        let loaded = PageSlot::loaded(&[0; 100]);
        assert_eq!(PageSlot::Empty.leaf(), [0u8; 32]);
        assert_eq!(loaded.leaf(), [0u8; 32]);
        assert_eq!(PageSlot::Missing(zero_page_root()).leaf(), [0u8; 32]);
        assert!(loaded.canonical().is_empty());
        // The content hash of zeros is still Z[7]; only the leaf is Z[0].
        assert_eq!(zero_page().hash(), ssz::hash_page(&[0; PAGE_SIZE]));
        assert_eq!(zero_page_root(), *ssz::zero_hash(7));
        assert!(zero_page().is_zero());
        assert_eq!(PageBytes::zeroed().hash(), zero_page_root());
    }

    #[test]
    fn content_is_its_own_leaf() {
        let slot = PageSlot::loaded(b"x");
        assert_eq!(slot.leaf(), page_content_hash(b"x"));
        assert!(!slot.canonical().is_empty());
        assert_eq!(PageSlot::Missing([7; 32]).leaf(), [7; 32]);
    }

    #[test]
    fn padding_is_implicit() {
        let mut full = [0u8; PAGE_SIZE];
        full[..4].copy_from_slice(&[5, 6, 7, 8]);
        assert_eq!(page_content_hash(&full), page_content_hash(&[5, 6, 7, 8]));
        assert_eq!(PageBytes::from_content(&[5, 6, 7, 8]).bytes(), &full);
    }

    #[test]
    fn clone_copies_into_a_new_frame() {
        let a = PageBytes::from_content(b"abc");
        let b = a.clone();
        assert_eq!(a, b);
        assert_ne!(a.fd_offset(), b.fd_offset());
    }

    #[test]
    fn from_frame_takes_the_frame_without_copying() {
        let mut frame = Frame::alloc_zeroed();
        frame.as_mut_slice()[10] = 1;
        let offset = frame.fd_offset();
        let page = PageBytes::from_frame(frame);
        assert_eq!(page.fd_offset(), offset);
        assert_eq!(page.bytes()[10], 1);
        assert_eq!(page.into_frame().fd_offset(), offset);
    }

    #[test]
    fn all_zero_detection() {
        assert!(is_all_zero(&[]));
        assert!(is_all_zero(&[0; 130]));
        for i in [0, 63, 64, 129] {
            let mut v = [0u8; 130];
            v[i] = 1;
            assert!(!is_all_zero(&v), "byte {i}");
        }
    }

    #[test]
    fn same_storage_tracks_allocations() {
        let a = PageSlot::loaded(b"x");
        let b = a.clone();
        let c = PageSlot::loaded(b"x");
        assert!(a.same_storage(&b));
        assert!(!a.same_storage(&c));
        assert!(PageSlot::Empty.same_storage(&PageSlot::Empty));
        assert!(!PageSlot::Empty.same_storage(&a));
    }
}
