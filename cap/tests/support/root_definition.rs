//! The cap root of the DataCap design, computed from its definition with
//! plain SHA-256 calls and nothing of `javm_cap`'s hashing:
//!
//! ```text
//! leaf(p)    = [0; 32] for an all-zero page, else hash_tree_root(ByteVector[4096])
//! pages_root = merkleize([leaf(0) .. leaf(n - 1)], limit = n)   (n = size / 4096)
//! cap_root   = H(uint64_root(size) ‖ pages_root)
//! ```
//!
//! `merkleize` pads the leaves with zero chunks to the next power of two of
//! `n`. Pages are given sparsely (index → bytes); the tree is folded
//! recursively so that a subtree with no given page is the zero hash of its
//! height, built here by hand (`Z[0] = [0; 32]`, `Z[h + 1] = H(Z[h] ‖ Z[h])`).
//! That keeps a 4 GiB cap (2^20 leaves) cheap while following the definition
//! node by node.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Bound;

use sha2::{Digest, Sha256};

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// Bytes of one page.
pub const PAGE: usize = 4096;

/// SHA-256 of the concatenation of `parts`.
pub fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Lower-case hex of a hash.
pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Z[h]`: the root of a tree of height `h` over zero chunks.
pub fn zero_subtree(height: u32) -> Hash {
    let mut z = [0u8; 32];
    for _ in 0..height {
        z = sha(&[&z, &z]);
    }
    z
}

/// `hash_tree_root` of `content` zero-padded to a `ByteVector[4096]`: 128
/// chunks reduced pairwise seven times.
pub fn page_root(content: &[u8]) -> Hash {
    let mut page = content.to_vec();
    page.resize(PAGE, 0);
    let mut level: Vec<Hash> = page.chunks(32).map(|c| c.try_into().unwrap()).collect();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| sha(&[&p[0], &p[1]])).collect();
    }
    level[0]
}

/// A page's leaf: the zero chunk for all-zero content, its root otherwise.
pub fn page_leaf(content: &[u8]) -> Hash {
    if content.iter().all(|&b| b == 0) { [0; 32] } else { page_root(content) }
}

/// `uint64_root(size)`: the little-endian value in a zero chunk.
pub fn size_chunk(size: u64) -> Hash {
    let mut c = [0u8; 32];
    c[..8].copy_from_slice(&size.to_le_bytes());
    c
}

/// Smallest `d` with `2^d >= n` (0 for `n <= 1`).
fn depth_for(n: u64) -> u32 {
    let mut d = 0;
    while (1u64 << d) < n {
        d += 1;
    }
    d
}

/// The node of height `height` whose leaves start at `first`.
fn node(leaves: &BTreeMap<u64, Hash>, zeros: &[Hash], height: u32, first: u64) -> Hash {
    let end = first + (1u64 << height);
    if leaves.range((Bound::Included(first), Bound::Excluded(end))).next().is_none() {
        return zeros[height as usize];
    }
    if height == 0 {
        return leaves[&first];
    }
    let half = 1u64 << (height - 1);
    sha(&[&node(leaves, zeros, height - 1, first), &node(leaves, zeros, height - 1, first + half)])
}

/// The pages root of a cap of `size` bytes whose pages not in `pages` are
/// zero.
pub fn pages_root<B: AsRef<[u8]>>(size: u64, pages: &BTreeMap<u32, B>) -> Hash {
    let count = size / PAGE as u64;
    let leaves: BTreeMap<u64, Hash> =
        pages.iter().map(|(&i, bytes)| (u64::from(i), page_leaf(bytes.as_ref()))).collect();
    assert!(leaves.keys().all(|&i| i < count.max(1)), "a page lies past the cap");
    let depth = depth_for(count.max(1));
    let zeros: Vec<Hash> = (0..=depth).map(zero_subtree).collect();
    node(&leaves, &zeros, depth, 0)
}

/// The cap root of a cap of `size` bytes whose pages not in `pages` are
/// zero.
pub fn cap_root<B: AsRef<[u8]>>(size: u64, pages: &BTreeMap<u32, B>) -> Hash {
    sha(&[&size_chunk(size), &pages_root(size, pages)])
}

/// The cap root of `DataCap::from_bytes(bytes)`: whole pages, at least one.
pub fn cap_root_of_bytes(bytes: &[u8]) -> Hash {
    let size = (bytes.len().div_ceil(PAGE).max(1) * PAGE) as u64;
    let pages: BTreeMap<u32, &[u8]> = bytes.chunks(PAGE).enumerate().map(|(i, c)| (i as u32, c)).collect();
    cap_root(size, &pages)
}
