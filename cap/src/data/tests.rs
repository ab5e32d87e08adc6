use std::sync::Arc;

use super::*;
use crate::ssz;

const P: u64 = PAGE_SIZE as u64;

fn page_of(byte: u8) -> Vec<u8> {
    vec![byte; PAGE_SIZE]
}

fn contents(cap: &DataCap) -> Vec<u8> {
    let mut out = vec![0u8; cap.content_len() as usize];
    cap.copy_into(0, &mut out).unwrap();
    out
}

#[test]
fn sizes_round_up_to_whole_pages() {
    assert_eq!(DataCap::empty().content_len(), 0);
    assert_eq!(DataCap::empty().page_count(), 0);
    assert_eq!(DataCap::from_bytes(&[]).unwrap().content_len(), P);
    assert_eq!(DataCap::from_bytes(&[1; 5000]).unwrap().page_count(), 2);
    let cap = DataCap::from_bytes_sized(&[1; 10], 3 * P + 1).unwrap();
    assert_eq!(cap.page_count(), 4);
    assert_eq!(cap.backing().pages().len(), 1);
    assert_eq!(DataCap::zeroed(0).unwrap().content_len(), P);
}

#[test]
fn size_limit_is_enforced() {
    let max = DataCap::zeroed(MAX_CAP_SIZE).unwrap();
    assert_eq!(max.page_count(), 1 << 20);
    let err = DataCap::from_bytes_sized(&[], MAX_CAP_SIZE + 1).unwrap_err();
    assert_eq!(err, CapError::TooLarge { size: MAX_CAP_SIZE + 1 });
    assert!(DataCap::from_sparse_pages(u64::MAX, []).is_err());
    assert!(DataCap::zeroed(u64::MAX).is_err());
}

#[test]
fn zero_pages_are_empty_and_tail_is_trimmed() {
    let mut bytes = vec![0u8; 5 * PAGE_SIZE];
    bytes[PAGE_SIZE + 3] = 9;
    let cap = DataCap::from_bytes(&bytes).unwrap();
    let slots = cap.backing().pages();
    assert_eq!(slots.len(), 2);
    assert!(slots[0].is_empty());
    assert!(matches!(slots[1], PageSlot::Loaded(_)));
    assert_eq!(cap.page_count(), 5);
    assert_eq!(contents(&cap), bytes);
}

#[test]
fn sparse_pages_are_checked() {
    assert_eq!(
        DataCap::from_sparse_pages(2 * P, [(2, &[1u8][..])]).unwrap_err(),
        CapError::PageOutOfRange { page: 2, page_count: 2 }
    );
    let long = vec![1u8; PAGE_SIZE + 1];
    assert_eq!(
        DataCap::from_sparse_pages(2 * P, [(0, &long[..])]).unwrap_err(),
        CapError::ContentTooLong { len: PAGE_SIZE + 1 }
    );
    // Later entries win, zero content is dropped.
    let cap = DataCap::from_sparse_pages(3 * P, [(1, &[1u8][..]), (1, &[2u8][..]), (2, &[0u8; 9][..])]).unwrap();
    assert_eq!(cap.backing().pages().len(), 2);
    assert_eq!(contents(&cap)[PAGE_SIZE], 2);
}

#[test]
fn page_at_resolves_overlay_then_backing() {
    let mut cap = DataCap::from_bytes(&[page_of(1), page_of(0), page_of(3)].concat()).unwrap();
    cap.write_page(P, &[7]).unwrap();
    assert!(matches!(cap.page_at(0), PageResolution::Bytes(b) if b[0] == 1));
    assert!(matches!(cap.page_at(P + 100), PageResolution::Bytes(b) if b[0] == 7));
    assert!(matches!(cap.page_at(2 * P), PageResolution::Bytes(b) if b[5] == 3));
    assert_eq!(cap.page_at(10 * P), PageResolution::Zero);
    assert_eq!(cap.page_at(u64::MAX), PageResolution::Zero);
    assert!(cap.is_dirty(1));
    assert!(!cap.is_dirty(0));
    assert_eq!(cap.page_frame(1).unwrap().fd_offset(), cap.overlay()[&1].page().unwrap().fd_offset());
    assert!(cap.page_frame(3).is_none());
}

#[test]
fn copy_into_checks_bounds() {
    let cap = DataCap::from_bytes(&[5u8; 100]).unwrap();
    let mut out = [0u8; 8];
    cap.copy_into(P - 8, &mut out).unwrap();
    assert_eq!(out, [0; 8]);
    cap.copy_into(96, &mut out[..4]).unwrap();
    assert_eq!(out[..4], [5; 4]);
    assert_eq!(cap.copy_into(P - 7, &mut out).unwrap_err(), CapError::OutOfBounds { start: P - 7, len: 8, size: P });
    assert!(cap.copy_into(u64::MAX, &mut out).is_err());
    cap.copy_into(P, &mut []).unwrap();
}

#[test]
fn missing_pages_are_errors_not_zeros() {
    let mut cap = DataCap::zeroed(2 * P).unwrap();
    let hash = [0xAA; 32];
    cap.insert_overlay_page(1, PageSlot::Missing(hash)).unwrap();
    let mut out = [0u8; 16];
    cap.copy_into(0, &mut out).unwrap();
    assert_eq!(cap.copy_into(P - 8, &mut out).unwrap_err(), CapError::MissingPage { page: 1, hash });
    assert_eq!(cap.page_at(P), PageResolution::Missing(hash));
    assert!(matches!(cap.page_mut(1), Err(CapError::MissingPage { page: 1, .. })));
    // A flushed missing page keeps its hash as the leaf.
    let flushed = cap.flush();
    let expect = ssz::hash_pair(&ssz::uint64_root(2 * P), &ssz::hash_pair(&[0; 32], &hash));
    assert_eq!(flushed.hash_tree_root().unwrap(), expect);
    assert_eq!(flushed.hash_tree_root_uncached().unwrap(), expect);
}

#[test]
fn writes_go_to_the_overlay() {
    let base = DataCap::from_bytes(&page_of(4)).unwrap();
    let mut cap = base.clone();
    cap.write_page(0, &[]).unwrap();
    assert_eq!(contents(&cap), vec![0; PAGE_SIZE]);
    assert_eq!(contents(&base), page_of(4));
    assert!(cap.write_page(P, &[1]).is_err());
    assert!(cap.write_page(0, &page_of(1)[..]).is_ok());
    let too_long = vec![1u8; PAGE_SIZE + 1];
    assert!(matches!(cap.write_page(0, &too_long), Err(CapError::ContentTooLong { .. })));
}

#[test]
fn page_mut_copies_once_and_respects_sharing() {
    let base = DataCap::from_bytes(&page_of(4)).unwrap();
    let mut cap = base.clone();
    cap.page_mut(0).unwrap()[0] = 1;
    let first = cap.page_frame(0).unwrap().fd_offset();
    cap.page_mut(0).unwrap()[1] = 2;
    assert_eq!(cap.page_frame(0).unwrap().fd_offset(), first);
    let snapshot = cap.clone();
    cap.page_mut(0).unwrap()[2] = 3;
    assert_ne!(cap.page_frame(0).unwrap().fd_offset(), first);
    assert_eq!(&contents(&snapshot)[..4], &[1, 2, 4, 4]);
    assert_eq!(&contents(&cap)[..4], &[1, 2, 3, 4]);
    assert_eq!(contents(&base), page_of(4));
    assert!(cap.page_mut(1).is_err());
}

#[test]
fn write_bytes_spans_pages() {
    let mut cap = DataCap::zeroed(3 * P).unwrap();
    let data: Vec<u8> = (0..=255).cycle().take(PAGE_SIZE + 20).map(|b| b as u8).collect();
    cap.write_bytes(P - 10, &data).unwrap();
    let all = contents(&cap);
    assert_eq!(&all[PAGE_SIZE - 10..2 * PAGE_SIZE + 10], &data[..]);
    assert_eq!(cap.dirty_pages().map(|(p, _)| p).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(cap.write_bytes(3 * P - 1, &[1, 2]).is_err());
    assert_eq!(cap.overlay().len(), 3);
}

#[test]
fn inserting_empty_reverts_to_backing() {
    let mut cap = DataCap::from_bytes(&page_of(4)).unwrap();
    cap.write_page(0, &[1]).unwrap();
    let old = cap.insert_overlay_page(0, PageSlot::Empty).unwrap();
    assert!(old.is_some());
    assert!(cap.is_clean());
    assert_eq!(contents(&cap), page_of(4));
    assert!(cap.insert_overlay_page(1, PageSlot::Empty).is_err());
}

#[test]
fn flush_canonicalizes_zero_overlay_pages() {
    let mut cap = DataCap::from_bytes(&[page_of(1), page_of(2)].concat()).unwrap();
    cap.write_page(P, &[]).unwrap();
    assert_eq!(cap.hash_tree_root().unwrap_err(), CapError::DirtyOverlay { pages: 1 });
    let flushed = cap.flush();
    assert!(flushed.is_clean());
    assert_eq!(flushed.backing().pages().len(), 1);
    let direct = DataCap::from_bytes(&[page_of(1), page_of(0)].concat()).unwrap();
    assert_eq!(flushed.hash_tree_root().unwrap(), direct.hash_tree_root().unwrap());
    // The source cap keeps its overlay and backing.
    assert_eq!(cap.overlay().len(), 1);
    assert_eq!(cap.backing().pages().len(), 2);
}

#[test]
fn flush_moves_overlay_pages_without_copying() {
    let mut cap = DataCap::zeroed(4 * P).unwrap();
    let frame = {
        let mut f = crate::frames::Frame::alloc_zeroed();
        f.as_mut_slice()[0] = 0x5A;
        f
    };
    let offset = frame.fd_offset();
    cap.insert_overlay_page(2, PageSlot::Loaded(Arc::new(PageBytes::from_frame(frame)))).unwrap();
    cap.flush_in_place();
    assert!(cap.is_clean());
    assert_eq!(cap.backing().page(2).page().unwrap().fd_offset(), offset);
}

#[test]
fn root_is_cached_per_backing() {
    let cap = DataCap::from_bytes(&[7u8; 3 * PAGE_SIZE]).unwrap();
    assert!(!cap.backing().root_is_cached());
    let root = cap.hash_tree_root().unwrap();
    assert!(cap.backing().root_is_cached());
    let clone = cap.clone();
    assert!(clone.backing().root_is_cached());
    assert_eq!(clone.hash_tree_root().unwrap(), root);
    assert_eq!(cap.hash_tree_root_uncached().unwrap(), root);
}

#[test]
fn empty_cap_hashes_as_one_empty_page() {
    let root = DataCap::empty().hash_tree_root().unwrap();
    assert_eq!(root, ssz::hash_pair(&ssz::uint64_root(0), &[0; 32]));
    assert_eq!(DataCap::empty().hash_tree_root_uncached().unwrap(), root);
}

#[test]
fn sparse_max_cap_root_is_fast_and_correct() {
    let pages: Vec<(u32, Vec<u8>)> = (0..50u32).map(|i| (i * 20_011, vec![i as u8 + 1; 64])).collect();
    let cap = DataCap::from_sparse_pages(MAX_CAP_SIZE, pages.iter().map(|(i, b)| (*i, b.as_slice()))).unwrap();
    let root = cap.hash_tree_root().unwrap();
    assert_eq!(cap.hash_tree_root_uncached().unwrap(), root);
    // An all-zero 4 GiB cap: 2^20 empty leaves fold to Z[20] under the size.
    let zero = DataCap::zeroed(MAX_CAP_SIZE).unwrap();
    assert_eq!(zero.hash_tree_root().unwrap(), ssz::hash_pair(&ssz::uint64_root(MAX_CAP_SIZE), ssz::zero_hash(20)));
}

#[test]
fn incremental_root_after_flush_matches_full_recompute() {
    let mut cap = DataCap::from_bytes(&vec![3u8; 100 * PAGE_SIZE]).unwrap();
    let _ = cap.hash_tree_root().unwrap();
    for round in 0..4u8 {
        for page in [0u32, 17, 63, 64, 99].iter().map(|p| (p + u32::from(round)) % 100) {
            cap.page_mut(page).unwrap()[usize::from(round)] ^= 0xFF;
        }
        if round == 2 {
            cap.write_page(50 * P, &[]).unwrap();
        }
        let before = cap.backing().clone();
        cap.flush_in_place();
        assert!(!cap.backing().root_is_cached());
        let root = cap.hash_tree_root().unwrap();
        assert_eq!(root, cap.hash_tree_root_uncached().unwrap(), "round {round}");
        assert_eq!(root, DataCap::from_bytes(&contents(&cap)).unwrap().hash_tree_root().unwrap());
        // The previous version's root is untouched.
        assert_eq!(before.cap_root(), before.cap_root_uncached());
    }
}

#[test]
fn pending_updates_accumulate_across_flushes() {
    let mut cap = DataCap::from_bytes(&vec![1u8; 40 * PAGE_SIZE]).unwrap();
    let _ = cap.hash_tree_root().unwrap();
    for page in [3u32, 30, 39] {
        cap.page_mut(page).unwrap()[0] = 0;
        cap.flush_in_place();
    }
    cap.put_page(20 * P, &[]).unwrap();
    assert_eq!(cap.hash_tree_root().unwrap(), cap.hash_tree_root_uncached().unwrap());
}

#[test]
fn place_shared_shares_and_clamps() {
    let src = DataCap::from_bytes(&[page_of(1), page_of(0), page_of(3)].concat()).unwrap();
    let mut dst = DataCap::from_bytes(&page_of(9).repeat(4)).unwrap();
    dst.place_shared(2 * P, &src).unwrap();
    assert!(dst.backing().page(2).same_storage(src.backing().page(0)));
    assert!(dst.backing().page(3).is_empty());
    assert_eq!(contents(&dst), [page_of(9), page_of(9), page_of(1), page_of(0)].concat());
    assert_eq!(dst.place_shared(1, &src).unwrap_err(), CapError::Misaligned { offset: 1 });
    let before = contents(&dst);
    dst.place_shared(4 * P, &src).unwrap();
    assert_eq!(contents(&dst), before);
}

#[test]
fn place_shared_uses_effective_source_pages() {
    let mut src = DataCap::from_bytes(&page_of(1)).unwrap();
    src.write_page(0, &[2]).unwrap();
    let mut dst = DataCap::zeroed(2 * P).unwrap();
    dst.place_shared(P, &src).unwrap();
    assert!(dst.backing().page(1).same_storage(&src.overlay()[&0]));
    assert_eq!(contents(&dst)[PAGE_SIZE], 2);
}

#[test]
fn pages_iterator_merges_overlay() {
    let mut cap = DataCap::from_bytes(&[page_of(1), page_of(0), page_of(3)].concat()).unwrap();
    cap.write_page(P, &[5]).unwrap();
    cap.write_page(2 * P, &[6]).unwrap();
    let got: Vec<(u32, u8)> = cap.pages().map(|(i, s)| (i, s.page().unwrap().bytes()[0])).collect();
    assert_eq!(got, [(0, 1), (1, 5), (2, 6)]);
}

#[test]
fn slice_past_the_last_page_index_reads_zero() {
    // Regression: `first + i` wrapped past u32::MAX, so the slice's tail
    // showed the cap's first pages (a panic in debug builds).
    let mut cap = DataCap::zeroed(2 * PAGE_SIZE as u64).unwrap();
    cap.put_page(0, &[7; 16]).unwrap();
    let slice = cap.slice_pages(u32::MAX, 2).unwrap();
    assert_eq!(slice.page_count(), 2);
    assert!(slice.page_slot(0).is_empty());
    assert!(slice.page_slot(1).is_empty());
    assert_eq!(
        slice.hash_tree_root().unwrap(),
        DataCap::zeroed(2 * PAGE_SIZE as u64).unwrap().hash_tree_root().unwrap()
    );
}
