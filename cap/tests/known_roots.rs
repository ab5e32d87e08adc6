//! Cap roots checked against the SSZ definition computed by hand here with
//! plain SHA-256 calls, and against pinned values from an independent SHA-256
//! implementation.

use javm_cap::{DataCap, MAX_CAP_SIZE, PAGE_SIZE};
use sha2::{Digest, Sha256};

type Hash = [u8; 32];

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// `hash_tree_root(ByteVector[4096])`: 128 chunks, reduced pairwise 7 times.
fn page_root_by_hand(content: &[u8]) -> Hash {
    let mut page = content.to_vec();
    page.resize(PAGE_SIZE, 0);
    let mut level: Vec<Hash> = page.chunks(32).map(|c| c.try_into().unwrap()).collect();
    assert_eq!(level.len(), 128);
    while level.len() > 1 {
        level = level.chunks(2).map(|p| sha(&[&p[0], &p[1]])).collect();
    }
    level[0]
}

fn size_chunk(size: u64) -> Hash {
    let mut c = [0u8; 32];
    c[..8].copy_from_slice(&size.to_le_bytes());
    c
}

fn zero_page_root_by_hand() -> Hash {
    let mut z = [0u8; 32];
    for _ in 0..7 {
        z = sha(&[&z, &z]);
    }
    z
}

#[test]
fn zero_page_root_is_z7() {
    let z7 = zero_page_root_by_hand();
    assert_eq!(page_root_by_hand(&[]), z7);
    assert_eq!(hex(&z7), "87eb0ddba57e35f6d286673802a4af5975e22506c7cf4c64bb6be5ee11527f2c");
    assert_eq!(javm_cap::page::zero_page_root(), z7);
}

#[test]
fn one_page_caps() {
    let empty = DataCap::from_bytes(&[]).unwrap();
    let expect = sha(&[&size_chunk(4096), &zero_page_root_by_hand()]);
    assert_eq!(empty.hash_tree_root().unwrap(), expect);
    assert_eq!(hex(&expect), "a5ff93be1ea89fb9de4da00f68945d5ac18a678be4f0406e4374bdb05428cff4");

    let hello = DataCap::from_bytes(b"hello").unwrap();
    let expect = sha(&[&size_chunk(4096), &page_root_by_hand(b"hello")]);
    assert_eq!(hello.hash_tree_root().unwrap(), expect);
    assert_eq!(hex(&expect), "2d474b7f7fbf564a4343cd9191b9738ff54d0b9757a8c96df0a85807d1e88826");
}

#[test]
fn three_page_cap() {
    let p0: Vec<u8> = (0..=255u8).cycle().take(PAGE_SIZE).collect();
    let p2 = [0xFFu8; 10];
    let mut content = p0.clone();
    content.resize(2 * PAGE_SIZE, 0);
    content.extend_from_slice(&p2);
    let cap = DataCap::from_bytes(&content).unwrap();
    assert_eq!(cap.content_len(), 3 * PAGE_SIZE as u64);

    // Depth ceil_log2(3) = 2: the fourth leaf is padding, a zero page.
    let z = zero_page_root_by_hand();
    let pages_root = sha(&[&sha(&[&page_root_by_hand(&p0), &z]), &sha(&[&page_root_by_hand(&p2), &z])]);
    let expect = sha(&[&size_chunk(3 * PAGE_SIZE as u64), &pages_root]);
    assert_eq!(cap.hash_tree_root().unwrap(), expect);
    assert_eq!(cap.hash_tree_root_uncached().unwrap(), expect);
    assert_eq!(hex(&expect), "fdcbcb71558560da87ec2217c2a7dbd9b1d0d18aaa6c2047abf09952126b1cbf");
}

#[test]
fn five_page_cap_pads_to_eight_leaves() {
    let cap = DataCap::from_sparse_pages(5 * PAGE_SIZE as u64, [(4, &b"tail"[..])]).unwrap();
    let z = zero_page_root_by_hand();
    let zz = sha(&[&z, &z]);
    let zzzz = sha(&[&zz, &zz]);
    let right = sha(&[&sha(&[&page_root_by_hand(b"tail"), &z]), &zz]);
    let expect = sha(&[&size_chunk(5 * PAGE_SIZE as u64), &sha(&[&zzzz, &right])]);
    assert_eq!(cap.hash_tree_root().unwrap(), expect);
}

#[test]
fn all_zero_max_cap() {
    let cap = DataCap::zeroed(MAX_CAP_SIZE).unwrap();
    assert_eq!(hex(&cap.hash_tree_root().unwrap()), "ffb84edb83ebc4b6e44c4eb1b2b42d36dcc41643ffe518421bc1d6f73a60e0d2");
}
