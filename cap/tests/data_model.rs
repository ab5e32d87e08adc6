//! Property tests: `DataCap` against a plain byte model, constructor
//! equivalence, flush against folding by hand, incremental roots against
//! full recomputation, and page sharing.

#[path = "support/root_definition.rs"]
mod definition;

use std::collections::BTreeMap;

use javm_cap::{DataCap, PAGE_SIZE, PageSlot};
use proptest::prelude::*;

const P: u64 = PAGE_SIZE as u64;

/// Page content: empty (zeros), a run of one byte, or a few scattered bytes.
fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(vec![0u8; 100]),
        2 => (any::<u8>(), 1..=PAGE_SIZE).prop_map(|(b, n)| vec![b; n]),
        4 => prop::collection::vec((0..PAGE_SIZE, 1..=255u8), 1..6).prop_map(|bytes| {
            let len = bytes.iter().map(|&(i, _)| i + 1).max().unwrap_or(0);
            let mut page = vec![0u8; len];
            for (i, b) in bytes {
                page[i] = b;
            }
            page
        }),
    ]
}

fn page_count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 1..=40u32, 1 => 100..=300u32]
}

/// Effective bytes of a cap.
fn contents(cap: &DataCap) -> Vec<u8> {
    let mut out = vec![0u8; cap.content_len() as usize];
    cap.copy_into(0, &mut out).unwrap();
    out
}

/// Same slot kinds with the same bytes, slot for slot.
fn assert_same_layout(a: &DataCap, b: &DataCap) {
    let (a, b) = (a.backing(), b.backing());
    assert_eq!(a.size(), b.size());
    assert_eq!(a.pages().len(), b.pages().len(), "stored slot counts differ");
    for (i, (x, y)) in a.pages().iter().zip(b.pages()).enumerate() {
        match (x, y) {
            (PageSlot::Empty, PageSlot::Empty) => {}
            (PageSlot::Loaded(x), PageSlot::Loaded(y)) => assert_eq!(x.bytes(), y.bytes()),
            (PageSlot::Missing(x), PageSlot::Missing(y)) => assert_eq!(x, y),
            _ => panic!("slot {i}: {x:?} vs {y:?}"),
        }
    }
}

fn padded(content: &[u8]) -> Vec<u8> {
    let mut page = content.to_vec();
    page.resize(PAGE_SIZE, 0);
    page
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn constructors_agree(
        pages in page_count(),
        writes in prop::collection::vec((0..400u32, content()), 0..12),
        extra_size in 0..3 * P,
    ) {
        let size = u64::from(pages) * P;
        let writes: Vec<(u32, Vec<u8>)> =
            writes.into_iter().map(|(i, c)| (i % pages, c)).collect();
        let mut model = vec![0u8; size as usize];
        for (i, c) in &writes {
            let at = *i as usize * PAGE_SIZE;
            model[at..at + PAGE_SIZE].copy_from_slice(&padded(c));
        }
        let a = DataCap::from_bytes(&model).unwrap();
        let trimmed = &model[..model.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)];
        let b = DataCap::from_bytes_sized(trimmed, size).unwrap();
        let c = DataCap::from_sparse_pages(size, writes.iter().map(|(i, c)| (*i, c.as_slice())))
            .unwrap();
        // An unaligned request rounds up to the same size.
        let d = DataCap::from_sparse_pages(
            size - P + 1,
            writes.iter().map(|(i, c)| (*i, c.as_slice())),
        )
        .unwrap();
        for other in [&b, &c, &d] {
            assert_same_layout(&a, other);
            prop_assert_eq!(contents(other), model.clone());
        }
        let root = a.hash_tree_root().unwrap();
        prop_assert_eq!(a.hash_tree_root_uncached().unwrap(), root);
        for other in [&b, &c, &d] {
            prop_assert_eq!(other.hash_tree_root().unwrap(), root);
        }
        // A larger size is a different cap.
        let bigger = DataCap::from_bytes_sized(trimmed, size + extra_size).unwrap();
        if bigger.content_len() != size {
            prop_assert_ne!(bigger.hash_tree_root().unwrap(), root);
        }
    }

    #[test]
    fn zero_layout_does_not_change_the_root(
        pages in page_count(),
        nonzero in prop::collection::btree_set(0..300u32, 0..6),
        zero_loaded in prop::collection::btree_set(0..300u32, 1..6),
    ) {
        let size = u64::from(pages) * P;
        let canonical = DataCap::from_sparse_pages(
            size,
            nonzero.iter().map(|&i| (i % pages, &b"x"[..])),
        )
        .unwrap();
        // The same content with some zero pages written as loaded overlay
        // pages, then placed into another cap's backing.
        let mut spelled = DataCap::zeroed(size).unwrap();
        for &i in &zero_loaded {
            spelled.write_page(u64::from(i % pages) * P, &[]).unwrap();
        }
        let mut zeros = DataCap::zeroed(size).unwrap();
        zeros.place_shared(0, &spelled).unwrap();
        for &i in &nonzero {
            zeros.put_page(u64::from(i % pages) * P, b"x").unwrap();
        }
        let nonzero_pages: Vec<u32> = nonzero.iter().map(|i| i % pages).collect();
        for i in zero_loaded.iter().map(|i| i % pages).filter(|i| !nonzero_pages.contains(i)) {
            // Placing canonicalizes: the backing never holds a loaded zero page.
            prop_assert!(zeros.backing().page(i).is_empty(), "page {} is not stored as Empty", i);
        }
        prop_assert_eq!(contents(&zeros), contents(&canonical));
        prop_assert_eq!(zeros.hash_tree_root().unwrap(), canonical.hash_tree_root().unwrap());
        prop_assert_eq!(zeros.hash_tree_root_uncached().unwrap(), canonical.hash_tree_root().unwrap());
    }
}

/// The cap as two layers of plain bytes.
#[derive(Clone, Debug)]
struct Model {
    backing: Vec<u8>,
    overlay: BTreeMap<u32, Vec<u8>>,
}

impl Model {
    fn page_count(&self) -> u32 {
        (self.backing.len() / PAGE_SIZE) as u32
    }

    fn effective(&self) -> Vec<u8> {
        let mut bytes = self.backing.clone();
        for (&p, page) in &self.overlay {
            let at = p as usize * PAGE_SIZE;
            bytes[at..at + PAGE_SIZE].copy_from_slice(page);
        }
        bytes
    }

    fn page(&self, p: u32) -> Vec<u8> {
        let at = p as usize * PAGE_SIZE;
        self.effective()[at..at + PAGE_SIZE].to_vec()
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// `write_bytes` at a fraction of the size (may run past the end).
    WriteBytes {
        at: u16,
        data: Vec<u8>,
    },
    WritePage {
        page: u32,
        content: Vec<u8>,
    },
    /// `page_mut` and flip one byte.
    Poke {
        page: u32,
        byte: u16,
    },
    PutPage {
        page: u32,
        content: Vec<u8>,
    },
    Revert {
        page: u32,
    },
    Flush,
    Root,
    Snapshot,
    Place {
        dst: u32,
        src: Vec<(u32, Vec<u8>)>,
        src_pages: u32,
        overwrite: Option<(u32, Vec<u8>)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<u16>(), prop::collection::vec(any::<u8>(), 0..2 * PAGE_SIZE))
            .prop_map(|(at, data)| Op::WriteBytes { at, data }),
        3 => (0..300u32, content()).prop_map(|(page, content)| Op::WritePage { page, content }),
        3 => (0..300u32, 0..PAGE_SIZE as u16).prop_map(|(page, byte)| Op::Poke { page, byte }),
        2 => (0..300u32, content()).prop_map(|(page, content)| Op::PutPage { page, content }),
        1 => (0..300u32).prop_map(|page| Op::Revert { page }),
        3 => Just(Op::Flush),
        3 => Just(Op::Root),
        1 => Just(Op::Snapshot),
        1 => (
            0..310u32,
            prop::collection::vec((0..40u32, content()), 0..5),
            1..40u32,
            prop::option::of((0..40u32, content())),
        )
            .prop_map(|(dst, src, src_pages, overwrite)| Op::Place { dst, src, src_pages, overwrite }),
    ]
}

/// Apply `op` to both; panics on any divergence.
fn step(cap: &mut DataCap, model: &mut Model, snapshots: &mut Vec<(DataCap, Model)>, op: Op) {
    let pages = model.page_count();
    let size = model.backing.len() as u64;
    match op {
        Op::WriteBytes { at, data } => {
            let start = size * u64::from(at) / u64::from(u16::MAX);
            let result = cap.write_bytes(start, &data);
            if start + data.len() as u64 > size {
                assert!(result.is_err());
            } else {
                result.unwrap();
                let mut eff = model.effective();
                eff[start as usize..start as usize + data.len()].copy_from_slice(&data);
                // An empty write touches (and dirties) no page.
                let first = (start / P) as u32;
                let last = if data.is_empty() { first } else { (start + data.len() as u64).div_ceil(P) as u32 };
                for p in first..last {
                    let at = p as usize * PAGE_SIZE;
                    model.overlay.insert(p, eff[at..at + PAGE_SIZE].to_vec());
                }
            }
        }
        Op::WritePage { page, content } => {
            let page = page % pages;
            cap.write_page(u64::from(page) * P + 17, &content).unwrap();
            model.overlay.insert(page, padded(&content));
        }
        Op::Poke { page, byte } => {
            let page = page % pages;
            let mut bytes = model.page(page);
            bytes[byte as usize] ^= 0xA5;
            cap.page_mut(page).unwrap()[byte as usize] ^= 0xA5;
            model.overlay.insert(page, bytes);
        }
        Op::PutPage { page, content } => {
            let page = page % pages;
            cap.put_page(u64::from(page) * P, &content).unwrap();
            let at = page as usize * PAGE_SIZE;
            model.backing[at..at + PAGE_SIZE].copy_from_slice(&padded(&content));
        }
        Op::Revert { page } => {
            let page = page % pages;
            let old = cap.insert_overlay_page(page, PageSlot::Empty).unwrap();
            assert_eq!(old.is_some(), model.overlay.remove(&page).is_some());
        }
        Op::Flush => {
            // Folding by hand: put every overlay page into the old backing.
            let mut by_hand = DataCap::from_slab((**cap.backing()).clone());
            for (p, slot) in cap.dirty_pages() {
                by_hand.put_page(u64::from(p) * P, slot.page().unwrap().bytes()).unwrap();
            }
            let flushed = cap.flush();
            assert_same_layout(&flushed, &by_hand);
            assert_eq!(flushed.hash_tree_root().unwrap(), by_hand.hash_tree_root_uncached().unwrap());
            cap.flush_in_place();
            assert_same_layout(cap, &flushed);
            model.backing = model.effective();
            model.overlay.clear();
        }
        Op::Root => match cap.hash_tree_root() {
            Ok(root) => {
                assert!(model.overlay.is_empty());
                assert_eq!(cap.hash_tree_root_uncached().unwrap(), root);
                let fresh = DataCap::from_bytes(&model.backing).unwrap();
                assert_eq!(fresh.hash_tree_root().unwrap(), root);
                assert_eq!(cap.hash_tree_root().unwrap(), root);
            }
            Err(_) => assert!(!model.overlay.is_empty()),
        },
        Op::Snapshot => snapshots.push((cap.clone(), model.clone())),
        Op::Place { dst, src, src_pages, overwrite } => {
            let src_size = u64::from(src_pages) * P;
            let mut src_cap =
                DataCap::from_sparse_pages(src_size, src.iter().map(|(i, c)| (i % src_pages, c.as_slice()))).unwrap();
            if let Some((i, c)) = &overwrite {
                src_cap.write_page(u64::from(i % src_pages) * P, c).unwrap();
            }
            let src_bytes = contents(&src_cap);
            cap.place_shared(u64::from(dst) * P, &src_cap).unwrap();
            for i in 0..src_pages {
                let d = dst + i;
                if d >= pages {
                    break;
                }
                let at = d as usize * PAGE_SIZE;
                let from = i as usize * PAGE_SIZE;
                model.backing[at..at + PAGE_SIZE].copy_from_slice(&src_bytes[from..from + PAGE_SIZE]);
                // Shared by reference, except zero content, which is stored
                // as Empty.
                let placed = cap.backing().page(d);
                let source = src_cap.page_slot(i).canonical();
                assert!(placed.same_storage(&source), "page {d} not shared");
            }
        }
    }
    assert_eq!(contents(cap), model.effective());
    let dirty: Vec<u32> = cap.dirty_pages().map(|(p, _)| p).collect();
    assert_eq!(dirty, model.overlay.keys().copied().collect::<Vec<_>>());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cap_matches_byte_model(
        pages in page_count(),
        initial in prop::collection::vec((0..300u32, content()), 0..8),
        ops in prop::collection::vec(op(), 1..30),
        probe in (any::<u16>(), 0..3 * PAGE_SIZE),
    ) {
        let size = u64::from(pages) * P;
        let mut cap = DataCap::from_sparse_pages(
            size,
            initial.iter().map(|(i, c)| (i % pages, c.as_slice())),
        )
        .unwrap();
        let mut model = Model { backing: contents(&cap), overlay: BTreeMap::new() };
        let mut snapshots = Vec::new();
        for op in ops {
            step(&mut cap, &mut model, &mut snapshots, op);
        }
        // A random sub-range read agrees with the model (or is rejected).
        let start = size * u64::from(probe.0) / u64::from(u16::MAX);
        let mut out = vec![0u8; probe.1];
        match cap.copy_into(start, &mut out) {
            Ok(()) => prop_assert_eq!(&out[..], &model.effective()[start as usize..start as usize + probe.1]),
            Err(_) => prop_assert!(start + probe.1 as u64 > size),
        }
        // Older versions are unaffected by later changes.
        for (snap, snap_model) in snapshots {
            prop_assert_eq!(contents(&snap), snap_model.effective());
            if snap.is_clean() {
                prop_assert_eq!(snap.hash_tree_root().unwrap(), snap.hash_tree_root_uncached().unwrap());
            }
        }
        // The incremental root after the writes is the design's root of the
        // bytes, computed from its definition.
        let flushed = cap.flush();
        let effective = model.effective();
        prop_assert_eq!(flushed.hash_tree_root().unwrap(), definition::cap_root_of_bytes(&effective));
        prop_assert_eq!(
            flushed.hash_tree_root().unwrap(),
            DataCap::from_bytes(&effective).unwrap().hash_tree_root().unwrap()
        );
    }
}
