//! Cap roots checked against the DataCap design's definition, computed here
//! with plain SHA-256 calls (`support/root_definition.rs`), and against
//! pinned values computed independently of this crate (a short script of the
//! same definition over Python's `hashlib`).
//!
//! The rule under test: an empty page is the zero chunk `[0; 32]`, padding
//! and absent subtrees are `Z[h]`, and a non-empty page is the SSZ root of
//! its 4096 bytes.

#[path = "support/root_definition.rs"]
mod definition;

use std::collections::BTreeMap;

use definition::{cap_root, cap_root_of_bytes, hex, page_root, sha, size_chunk, zero_subtree};
use javm_cap::{DataCap, MAX_CAP_SIZE, PAGE_SIZE};

const P: u64 = PAGE_SIZE as u64;

/// The bytes of test page `i`: the text `page {i}`.
fn content(i: u32) -> Vec<u8> {
    format!("page {i}").into_bytes()
}

fn sparse(size: u64, indexes: &[u32]) -> (DataCap, BTreeMap<u32, Vec<u8>>) {
    let pages: BTreeMap<u32, Vec<u8>> = indexes.iter().map(|&i| (i, content(i))).collect();
    let cap = DataCap::from_sparse_pages(size, pages.iter().map(|(&i, c)| (i, c.as_slice()))).unwrap();
    (cap, pages)
}

/// The root both ways javm computes it (cached tree, from scratch), which
/// must agree.
fn javm_root(cap: &DataCap) -> String {
    let root = cap.hash_tree_root().unwrap();
    assert_eq!(cap.hash_tree_root_uncached().unwrap(), root, "cached and uncached roots differ");
    hex(&root)
}

#[test]
fn zero_subtrees_are_the_standard_table() {
    assert_eq!(zero_subtree(0), [0; 32]);
    assert_eq!(hex(&zero_subtree(1)), "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b");
    // The content root of a zero page is Z[7]; its leaf is Z[0].
    assert_eq!(page_root(&[]), zero_subtree(7));
    assert_eq!(javm_cap::page::zero_page_root(), zero_subtree(7));
    assert_eq!(javm_cap::PageSlot::Empty.leaf(), [0; 32]);
}

#[test]
fn empty_cap_is_one_empty_page() {
    // One page, depth 0: the pages root is the zero chunk itself.
    let expect = sha(&[&size_chunk(P), &[0; 32]]);
    let cap = DataCap::from_bytes(&[]).unwrap();
    assert_eq!(cap.content_len(), P);
    assert_eq!(cap.hash_tree_root().unwrap(), expect);
    assert_eq!(javm_root(&cap), "ed5f4ed0d6617d50abd49d4c84281e175b48a7e1edf550a89bf2c9b5c4ce01f0");
    // The size-0 cap hashes its size 0 over the same empty leaf.
    assert_eq!(DataCap::empty().hash_tree_root().unwrap(), sha(&[&size_chunk(0), &[0; 32]]));
    assert_eq!(
        hex(&DataCap::empty().hash_tree_root().unwrap()),
        "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
    );
}

#[test]
fn one_byte_cap() {
    let cap = DataCap::from_bytes(&[0x2a]).unwrap();
    assert_eq!(cap.hash_tree_root().unwrap(), sha(&[&size_chunk(P), &page_root(&[0x2a])]));
    assert_eq!(javm_root(&cap), "11b217847a14c3f69a45854084acda243ea842e370a1e26344073b7710d8da88");
    let hello = DataCap::from_bytes(b"hello").unwrap();
    assert_eq!(javm_root(&hello), "2d474b7f7fbf564a4343cd9191b9738ff54d0b9757a8c96df0a85807d1e88826");
}

#[test]
fn zero_pages_are_zero_leaves() {
    // Three zero pages: depth 2, four zero leaves, so the pages root is Z[2].
    let cap = DataCap::from_bytes(&vec![0; 3 * PAGE_SIZE]).unwrap();
    assert_eq!(cap.hash_tree_root().unwrap(), sha(&[&size_chunk(3 * P), &zero_subtree(2)]));
    assert_eq!(javm_root(&cap), "e96bc703ba6bd014213bf5ec96f3fe6a2181e9c05aa12c211558829fd4778500");

    // Content on pages 0, 2 and 4, zeros on 1 and 3; depth 3 with 3 leaves of
    // padding.
    let mut bytes = vec![0u8; 5 * PAGE_SIZE];
    for i in [0u32, 2, 4] {
        let c = content(i);
        bytes[i as usize * PAGE_SIZE..][..c.len()].copy_from_slice(&c);
    }
    let cap = DataCap::from_bytes(&bytes).unwrap();
    let [a, b, c] = [0, 2, 4].map(|i| page_root(&content(i)));
    let z = [0u8; 32];
    let left = sha(&[&sha(&[&a, &z]), &sha(&[&b, &z])]);
    let right = sha(&[&sha(&[&c, &z]), &zero_subtree(1)]);
    assert_eq!(cap.hash_tree_root().unwrap(), sha(&[&size_chunk(5 * P), &sha(&[&left, &right])]));
    assert_eq!(cap.hash_tree_root().unwrap(), cap_root_of_bytes(&bytes));
    assert_eq!(javm_root(&cap), "27bfe322a36394c51967e25f35fb5ac17e19b48e085f5a5b4dd741234c9f533c");

    // Zeros written through the overlay and flushed give the same root.
    let mut written = DataCap::from_bytes(&bytes).unwrap();
    written.write_page(0, &[]).unwrap();
    written.write_page(0, &content(0)).unwrap();
    written.write_page(P, &[0; 10]).unwrap();
    written.flush_in_place();
    assert!(written.backing().page(1).is_empty(), "zero content is stored as Empty after a flush");
    assert_eq!(javm_root(&written), "27bfe322a36394c51967e25f35fb5ac17e19b48e085f5a5b4dd741234c9f533c");
}

#[test]
fn page_counts_that_are_not_powers_of_two() {
    let p0: Vec<u8> = (0..=255u8).cycle().take(PAGE_SIZE).collect();
    let mut bytes = p0.clone();
    bytes.resize(2 * PAGE_SIZE, 0);
    bytes.extend_from_slice(&[0xFF; 10]);
    let cap = DataCap::from_bytes(&bytes).unwrap();
    // Depth ceil_log2(3) = 2: page 1 and the padding leaf are zero chunks.
    let z = [0u8; 32];
    let pages_root = sha(&[&sha(&[&page_root(&p0), &z]), &sha(&[&page_root(&[0xFF; 10]), &z])]);
    assert_eq!(cap.hash_tree_root().unwrap(), sha(&[&size_chunk(3 * P), &pages_root]));
    assert_eq!(javm_root(&cap), "175e9f6f01eb6f41fb4bca4470aa9f89581936fcd8086a8ac9a24a8aeb7f2e92");

    // Five pages pad to eight leaves; only page 4 has content.
    let cap = DataCap::from_sparse_pages(5 * P, [(4, &b"tail"[..])]).unwrap();
    let right = sha(&[&sha(&[&page_root(b"tail"), &z]), &zero_subtree(1)]);
    assert_eq!(cap.hash_tree_root().unwrap(), sha(&[&size_chunk(5 * P), &sha(&[&zero_subtree(2), &right])]));
    assert_eq!(javm_root(&cap), "18b6fe8fa4009981b55e9a9391f92db4b80116691f48424dcb37c60e876200d5");

    // 1,000 pages: depth 10, 24 leaves of padding.
    let (cap, pages) = sparse(1000 * P, &[1, 500, 999]);
    assert_eq!(cap.hash_tree_root().unwrap(), cap_root(1000 * P, &pages));
    assert_eq!(javm_root(&cap), "2aadb2e9ce722def8eb116a07e17953614b2b0906f8a357d6280d2fe1171a404");
}

#[test]
fn sparse_multi_mib_cap() {
    let (cap, pages) = sparse(8 << 20, &[0, 7, 513, 1000, 2047]);
    assert_eq!(cap.hash_tree_root().unwrap(), cap_root(8 << 20, &pages));
    assert_eq!(javm_root(&cap), "62ac6127c6c24dba9f709463a52307596fafcdf859d2bafc2dff9ed357cf2aff");
}

#[test]
fn four_gib_caps() {
    let zero = DataCap::zeroed(MAX_CAP_SIZE).unwrap();
    assert_eq!(zero.hash_tree_root().unwrap(), sha(&[&size_chunk(MAX_CAP_SIZE), &zero_subtree(20)]));
    assert_eq!(
        hex(&zero.hash_tree_root().unwrap()),
        "09f7ec0568f0dc95de434cd9e7a3a4f4150dd2913c45cbd54657dea499afecf6"
    );

    let (cap, pages) = sparse(MAX_CAP_SIZE, &[0, 1, 65_535, 524_288, 1_048_575]);
    assert_eq!(cap.hash_tree_root().unwrap(), cap_root(MAX_CAP_SIZE, &pages));
    assert_eq!(hex(&cap.hash_tree_root().unwrap()), "52a5c14271db897620325eb96642111d34363f84c68f5bb85af6e6f751ad1023");
}

#[test]
fn incremental_root_tracks_writes_page_by_page() {
    // Writes to a 4 GiB cap, one flush each: the cached tree is updated along
    // the changed paths, and each version equals the definition.
    let (mut cap, mut pages) = sparse(MAX_CAP_SIZE, &[3, 70_000]);
    let _ = cap.hash_tree_root().unwrap();
    for (page, bytes) in [(70_000u32, vec![]), (3, b"three".to_vec()), (1_048_575, vec![9; 4096]), (3, vec![0; 7])] {
        cap.write_page(u64::from(page) * P, &bytes).unwrap();
        cap.flush_in_place();
        pages.insert(page, bytes);
        assert_eq!(cap.hash_tree_root().unwrap(), cap_root(MAX_CAP_SIZE, &pages), "after writing page {page}");
    }
}
