//! The SSZ merkleization pieces the data model needs, over SHA-256.
//!
//! - [`hash_pair`]: the inner-node hash `H(left ‖ right)`.
//! - [`zero_hash`]: `Z[0] = [0; 32]`, `Z[i + 1] = H(Z[i] ‖ Z[i])`, the root of
//!   an all-zero subtree of height `i`, from a table built once.
//! - [`merkleize`]: SSZ `merkleize(chunks, limit)`, padding with zero subtrees.
//! - [`hash_page`]: `hash_tree_root` of a page as `ByteVector[4096]`
//!   (128 chunks, depth [`PAGE_DEPTH`]).
//! - [`uint64_root`]: `hash_tree_root` of a `uint64` (little-endian, padded).
//!
//! Every hash here is SHA-256 of exactly 64 bytes. The `sha2` crate's
//! compression function (which selects SHA-NI at run time when the CPU has
//! it) does the work, except for pages on x86-64 CPUs with the SHA
//! extensions, which hash two independent nodes at a time with a precomputed
//! padding schedule.

use std::sync::LazyLock;

mod sha;

use crate::CapHash;

/// Bytes per SSZ chunk.
pub const CHUNK_SIZE: usize = 32;

/// Height of a page's chunk tree: `2^7 = 128` chunks of 32 bytes.
pub const PAGE_DEPTH: usize = 7;

/// Heights the zero-hash table covers (`Z[0] ..= Z[ZERO_LEVELS - 1]`).
pub const ZERO_LEVELS: usize = 64;

/// SHA-256 of exactly one 64-byte block.
#[inline]
pub fn hash_block(block: &[u8; 64]) -> CapHash {
    sha::hash_block(block)
}

/// The SSZ inner-node hash `SHA-256(left ‖ right)`.
#[inline]
pub fn hash_pair(left: &CapHash, right: &CapHash) -> CapHash {
    hash_block(&concat(left, right))
}

static ZERO_HASHES: LazyLock<[CapHash; ZERO_LEVELS]> = LazyLock::new(|| {
    let mut table = [[0u8; 32]; ZERO_LEVELS];
    for level in 1..ZERO_LEVELS {
        table[level] = hash_pair(&table[level - 1], &table[level - 1]);
    }
    table
});

/// Root of an all-zero subtree of height `level` (`Z[level]`).
///
/// # Panics
///
/// Panics if `level >= ZERO_LEVELS`; no tree in this crate is that deep.
#[inline]
pub fn zero_hash(level: usize) -> &'static CapHash {
    &ZERO_HASHES[level]
}

/// Smallest `d` with `2^d >= n` (0 for `n <= 1`).
#[inline]
pub fn ceil_log2(n: u64) -> u32 {
    if n <= 1 { 0 } else { u64::BITS - (n - 1).leading_zeros() }
}

/// SSZ `merkleize(chunks, limit)`: the root of `chunks` padded with zero
/// chunks to the next power of two of `limit` (at least one leaf). A
/// subtree of padding only is the zero hash of its height, so the work is
/// proportional to `chunks.len() + ceil_log2(limit)`.
///
/// # Panics
///
/// Panics if `chunks.len() > max(limit, 1)`.
pub fn merkleize(chunks: &[CapHash], limit: u64) -> CapHash {
    assert!(chunks.len() as u64 <= limit.max(1), "merkleize: {} chunks exceed limit {limit}", chunks.len());
    let depth = ceil_log2(limit) as usize;
    if chunks.is_empty() {
        return *zero_hash(depth);
    }
    let mut level: Vec<CapHash> = chunks.to_vec();
    for height in 0..depth {
        let zero = zero_hash(height);
        let parents = level.len().div_ceil(2);
        for i in 0..parents {
            let left = level[2 * i];
            let right = *level.get(2 * i + 1).unwrap_or(zero);
            level[i] = hash_pair(&left, &right);
        }
        level.truncate(parents);
    }
    level[0]
}

/// `hash_tree_root` of a `uint64`: its little-endian bytes in a zero chunk.
#[inline]
pub fn uint64_root(value: u64) -> CapHash {
    let mut chunk = [0u8; 32];
    chunk[..8].copy_from_slice(&value.to_le_bytes());
    chunk
}

/// `hash_tree_root` of a page as SSZ `ByteVector[4096]`: the 128 32-byte
/// chunks merkleized at depth [`PAGE_DEPTH`]. Costs 127 block hashes.
pub fn hash_page(page: &[u8; 4096]) -> CapHash {
    let blocks = page.as_chunks::<64>().0;
    let mut level = [[0u8; 32]; 64];
    for (out, pair) in level.chunks_exact_mut(2).zip(blocks.chunks_exact(2)) {
        let [a, b] = sha::hash_blocks_x2(&pair[0], &pair[1]);
        out[0] = a;
        out[1] = b;
    }
    root_of_level(&mut level)
}

/// Root of a complete tree whose bottom level is `level` (its length a power
/// of two); overwrites `level` as scratch space.
///
/// # Panics
///
/// Panics if `level` is empty or its length is not a power of two.
pub fn root_of_level(level: &mut [CapHash]) -> CapHash {
    assert!(level.len().is_power_of_two(), "root_of_level: {} nodes do not form a complete level", level.len());
    let mut width = level.len();
    while width > 2 {
        width /= 2;
        for i in (0..width).step_by(2) {
            let left = concat(&level[2 * i], &level[2 * i + 1]);
            let right = concat(&level[2 * i + 2], &level[2 * i + 3]);
            [level[i], level[i + 1]] = sha::hash_blocks_x2(&left, &right);
        }
    }
    match &level[..width] {
        [only] => *only,
        [left, right] => hash_pair(left, right),
        _ => unreachable!("width is 1 or 2 here"),
    }
}

/// `left ‖ right` as one block.
#[inline]
fn concat(left: &CapHash, right: &CapHash) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(left);
    block[32..].copy_from_slice(right);
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha(data: &[u8]) -> CapHash {
        Sha256::digest(data).into()
    }

    #[test]
    fn hash_pair_is_sha256_of_concatenation() {
        let a = [0x11u8; 32];
        let mut b = [0u8; 32];
        b[31] = 0xFE;
        let mut cat = Vec::new();
        cat.extend_from_slice(&a);
        cat.extend_from_slice(&b);
        assert_eq!(hash_pair(&a, &b), sha(&cat));
    }

    #[test]
    fn zero_hashes_match_known_values() {
        assert_eq!(zero_hash(0), &[0u8; 32]);
        // SHA-256 of 64 zero bytes.
        assert_eq!(hex(zero_hash(1)), "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b");
        assert_eq!(zero_hash(2), &sha(&[zero_hash(1).as_slice(); 2].concat()));
    }

    fn hex(h: &CapHash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn ceil_log2_values() {
        let cases = [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1 << 20, 20)];
        for (n, d) in cases {
            assert_eq!(ceil_log2(n), d, "ceil_log2({n})");
        }
        assert_eq!(ceil_log2((1 << 20) + 1), 21);
    }

    #[test]
    fn merkleize_pads_with_zero_chunks() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        assert_eq!(merkleize(&[a], 1), a);
        assert_eq!(merkleize(&[], 1), [0u8; 32]);
        assert_eq!(merkleize(&[a, b], 2), hash_pair(&a, &b));
        let expect = hash_pair(&hash_pair(&a, &b), &hash_pair(&c, &[0u8; 32]));
        assert_eq!(merkleize(&[a, b, c], 3), expect);
        assert_eq!(merkleize(&[a, b, c], 4), expect);
        let wide = hash_pair(&expect, zero_hash(2));
        assert_eq!(merkleize(&[a, b, c], 5), wide);
        assert_eq!(merkleize(&[], 8), *zero_hash(3));
    }

    #[test]
    fn page_root_equals_generic_merkleize() {
        let mut page = [0u8; 4096];
        for (i, b) in page.iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        let chunks: Vec<CapHash> = page.chunks_exact(32).map(|c| c.try_into().unwrap()).collect();
        assert_eq!(hash_page(&page), merkleize(&chunks, 128));
        assert_eq!(hash_page(&[0u8; 4096]), *zero_hash(PAGE_DEPTH));
    }

    #[test]
    fn level_roots_equal_generic_merkleize() {
        let leaves: Vec<CapHash> = (0..16u8).map(|i| [i; 32]).collect();
        for width in [1, 2, 4, 8, 16] {
            let mut level = leaves[..width].to_vec();
            assert_eq!(root_of_level(&mut level), merkleize(&leaves[..width], width as u64), "width {width}");
        }
    }

    #[test]
    fn uint64_root_is_little_endian() {
        let r = uint64_root(0x0102_0304_0506_0708);
        assert_eq!(&r[..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert!(r[8..].iter().all(|&b| b == 0));
    }
}
