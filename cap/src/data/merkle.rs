//! The merkle-tree cache behind a [`PageSlab`](super::PageSlab)'s root.
//!
//! The pages root is a binary tree of height `depth = ceil_log2(page_count)`
//! over the page leaves ([`PageSlot::leaf`]: `[0; 32]` for an empty page, the
//! content hash otherwise). The cache keeps the inner nodes from height
//! `tile = min(TILE_HEIGHT, depth)` up as a persistent tree of `Arc`ed nodes:
//! an absent child is a subtree of empty pages (root `Z[height]`), and a node
//! at the tile height is recomputed from its `2^tile` page leaves (whose
//! content hashes [`PageBytes`](crate::page::PageBytes) caches) whenever one
//! of its pages changes.
//!
//! Building and updating are one operation: walk down only along the dirty
//! page indices, reuse every untouched subtree by reference, and rebuild the
//! nodes on the touched paths. A full build is an update of the empty tree with
//! every non-empty page marked dirty, so a sparse cap costs time proportional
//! to its non-empty pages; `k` changed pages of an `n`-page cap cost
//! `O(k log n)` hashes (plus the changed pages' own content hashes). Old trees
//! are never modified, so a cap that shares nodes with a newer one keeps a
//! valid root.
//!
//! A slab edited after its tree was built (or derived from one that was, e.g.
//! by [`DataCap::flush`](super::DataCap::flush)) records a [`Pending`] update:
//! the old tree plus the sorted dirty page indices. Edits accumulate until the
//! root is next asked for.

use std::sync::{Arc, Mutex, OnceLock};

use crate::CapHash;
use crate::page::{EMPTY_LEAF, PageSlot, leaf_of_content_hash};
use crate::ssz;

/// Height of the lowest cached node: 16 pages per tile, so touching a page
/// rehashes at most 15 tile nodes besides its path.
const TILE_HEIGHT: u32 = 4;

/// A cached inner node: its subtree root and its children (`None` = zero
/// subtree). Tile nodes have no children.
struct Node {
    hash: CapHash,
    children: [Option<Arc<Node>>; 2],
}

/// A fully computed tree and the roots derived from it.
#[derive(Clone)]
pub(crate) struct Built {
    tree: Option<Arc<Node>>,
    /// Root of the `pages` field.
    pub(crate) pages_root: CapHash,
    /// Root of the cap container `{size, pages}`.
    pub(crate) cap_root: CapHash,
}

/// An update still to apply: the tree of an earlier version of the slab and
/// the pages that changed since (sorted, deduplicated).
#[derive(Clone)]
struct Pending {
    base: Option<Arc<Node>>,
    dirty: Vec<u32>,
}

/// The lazily built root cache of one slab version.
#[derive(Default)]
pub(crate) struct MerkleCache {
    built: OnceLock<Built>,
    pending: Mutex<Option<Pending>>,
}

impl Clone for MerkleCache {
    fn clone(&self) -> MerkleCache {
        MerkleCache { built: self.built.clone(), pending: Mutex::new(self.lock_pending().clone()) }
    }
}

impl MerkleCache {
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Option<Pending>> {
        // A panic mid-build only loses the pending update, which the next
        // build then replaces by a full build; the data is still consistent.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Is a root cached for the current content?
    pub(crate) fn is_built(&self) -> bool {
        self.built.get().is_some()
    }

    /// The roots of the slab `(size, pages)`, building or updating the tree
    /// on first use.
    pub(crate) fn get_or_build(&self, size: u64, page_count: u64, pages: &[PageSlot]) -> &Built {
        self.built.get_or_init(|| {
            let shape = Shape::new(page_count, pages);
            let tree = match self.lock_pending().take() {
                Some(Pending { base, dirty }) => shape.update(base.as_ref(), &dirty),
                None => {
                    let present: Vec<u32> =
                        (0u32..).zip(pages).filter(|(_, slot)| !slot.is_empty()).map(|(i, _)| i).collect();
                    shape.update(None, &present)
                }
            };
            let pages_root = shape.root_of(&tree, shape.depth);
            let cap_root = ssz::hash_pair(&ssz::uint64_root(size), &pages_root);
            Built { tree, pages_root, cap_root }
        })
    }

    /// Record that the pages in `dirty` (sorted, deduplicated) changed.
    pub(crate) fn invalidate(&mut self, dirty: Vec<u32>) {
        if dirty.is_empty() {
            return;
        }
        let pending = self.pending.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(built) = self.built.take() {
            *pending = Some(Pending { base: built.tree, dirty });
        } else if let Some(p) = pending.as_mut() {
            p.dirty = merge_sorted(&p.dirty, &dirty);
        }
    }
}

/// Union of two sorted, deduplicated lists.
fn merge_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Tree geometry of one slab.
struct Shape<'a> {
    pages: &'a [PageSlot],
    depth: u32,
    tile: u32,
}

impl<'a> Shape<'a> {
    fn new(page_count: u64, pages: &'a [PageSlot]) -> Shape<'a> {
        let depth = ssz::ceil_log2(page_count.max(1));
        Shape { pages, depth, tile: depth.min(TILE_HEIGHT) }
    }

    /// Root of a cached subtree of the given height (`None` = all empty).
    fn root_of(&self, node: &Option<Arc<Node>>, height: u32) -> CapHash {
        match node {
            Some(node) => node.hash,
            None => *ssz::zero_hash(height as usize),
        }
    }

    /// The whole tree after the pages in `dirty` changed from `base`.
    fn update(&self, base: Option<&Arc<Node>>, dirty: &[u32]) -> Option<Arc<Node>> {
        self.update_at(base, self.depth, 0, dirty)
    }

    /// Subtree of `height` covering pages `first..first + 2^height`.
    fn update_at(&self, node: Option<&Arc<Node>>, height: u32, first: u64, dirty: &[u32]) -> Option<Arc<Node>> {
        if dirty.is_empty() {
            return node.cloned();
        }
        if height == self.tile {
            return self.tile_node(first);
        }
        let mid = first + (1u64 << (height - 1));
        let split = dirty.partition_point(|&p| u64::from(p) < mid);
        let [left, right] = match node {
            Some(node) => [node.children[0].as_ref(), node.children[1].as_ref()],
            None => [None, None],
        };
        let left = self.update_at(left, height - 1, first, &dirty[..split]);
        let right = self.update_at(right, height - 1, mid, &dirty[split..]);
        if left.is_none() && right.is_none() {
            return None;
        }
        let hash = ssz::hash_pair(&self.root_of(&left, height - 1), &self.root_of(&right, height - 1));
        Some(Arc::new(Node { hash, children: [left, right] }))
    }

    /// Recompute a tile from its page leaves; `None` if all its pages are empty.
    fn tile_node(&self, first: u64) -> Option<Arc<Node>> {
        let width = 1usize << self.tile;
        let start = usize::try_from(first).ok()?.min(self.pages.len());
        let end = (start + width).min(self.pages.len());
        let slots = &self.pages[start..end];
        if slots.iter().all(PageSlot::is_empty) {
            return None;
        }
        let mut level = [EMPTY_LEAF; 1 << TILE_HEIGHT];
        for (leaf, slot) in level.iter_mut().zip(slots) {
            *leaf = slot.leaf();
        }
        let hash = ssz::root_of_level(&mut level[..width]);
        Some(Arc::new(Node { hash, children: [None, None] }))
    }
}

/// The cap root computed from scratch, without any cache (page hashes
/// included): the reference the cached path is tested against.
pub(crate) fn cap_root_uncached(size: u64, page_count: u64, pages: &[PageSlot]) -> CapHash {
    let leaves: Vec<CapHash> = pages
        .iter()
        .map(|slot| match slot {
            // Rehash the bytes instead of trusting the cached hash.
            PageSlot::Loaded(page) => leaf_of_content_hash(ssz::hash_page(page.bytes())),
            slot => slot.leaf(),
        })
        .collect();
    let pages_root = ssz::merkleize(&leaves, page_count.max(1));
    ssz::hash_pair(&ssz::uint64_root(size), &pages_root)
}

#[cfg(test)]
mod tests {
    use super::merge_sorted;

    #[test]
    fn merge_sorted_unions() {
        assert_eq!(merge_sorted(&[1, 3, 5], &[2, 3, 6]), vec![1, 2, 3, 5, 6]);
        assert_eq!(merge_sorted(&[], &[4]), vec![4]);
        assert_eq!(merge_sorted(&[4], &[]), vec![4]);
    }
}
