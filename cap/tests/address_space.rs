//! Address-space layout changes: access changes that keep contents split
//! mappings exactly at the range's edges; refused changes change nothing.

use javm_cap::space::{Access, AddressSpace, SpaceError};

const PAGE: u64 = 4096;
const BASE: u64 = 0x2_0000;

/// Four writable pages at `BASE`, page `i` filled with `i + 1`.
fn four_pages() -> AddressSpace {
    let mut space = AddressSpace::new();
    space.map_zeroed(BASE, 4 * PAGE, Access::Write).unwrap();
    for i in 0..4u8 {
        space.write((BASE + u64::from(i) * PAGE) as u32, &[i + 1; 4096]).unwrap();
    }
    space
}

fn layout(space: &AddressSpace) -> Vec<(u32, u32, Access)> {
    space.mappings().iter().map(|m| (m.start_page, m.cap.page_count(), m.access)).collect()
}

#[test]
fn protect_splits_at_the_edges_and_keeps_contents() {
    let mut space = four_pages();
    let (root, generation) = (space.root(), space.generation());
    space.protect(BASE + PAGE, 2 * PAGE, Access::Read).unwrap();
    let first = (BASE / PAGE) as u32;
    assert_eq!(
        layout(&space),
        [(first, 1, Access::Write), (first + 1, 2, Access::Read), (first + 3, 1, Access::Write)]
    );
    assert!(space.generation() > generation);
    for i in 0..4u32 {
        let mut byte = [0];
        space.read(BASE as u32 + i * PAGE as u32 + 17, &mut byte).unwrap();
        assert_eq!(byte, [i as u8 + 1]);
    }
    assert!(space.write(BASE as u32 + PAGE as u32, &[0]).is_err(), "a read-only page refuses writes");
    assert!(space.write(BASE as u32 + 3 * PAGE as u32, &[0]).is_ok());
    space.write(BASE as u32 + 3 * PAGE as u32, &[4]).unwrap();
    // Writable again: the same contents and access, still in three
    // mappings (the root commits to the layout, so it is not the first one).
    space.protect(BASE + PAGE, 2 * PAGE, Access::Write).unwrap();
    assert_eq!(
        layout(&space),
        [(first, 1, Access::Write), (first + 1, 2, Access::Write), (first + 3, 1, Access::Write)]
    );
    assert_ne!(space.root(), root);
    // A whole mapping round trip keeps the layout, and so the root.
    let mut whole = four_pages();
    let root = whole.root();
    whole.protect(BASE, 4 * PAGE, Access::Read).unwrap();
    whole.protect(BASE, 4 * PAGE, Access::Write).unwrap();
    assert_eq!(whole.root(), root);
}

#[test]
fn protect_of_a_range_with_a_hole_is_refused_whole() {
    let mut space = four_pages();
    space.unmap(BASE + 2 * PAGE, PAGE).unwrap();
    let before = layout(&space);
    let err = space.protect(BASE, 4 * PAGE, Access::Read).unwrap_err();
    assert!(matches!(err, SpaceError::Unmapped { address } if u64::from(address) == BASE + 2 * PAGE), "{err:?}");
    assert_eq!(layout(&space), before);
    // Past the end, and across two mappings that touch: the latter is fine.
    assert!(space.protect(BASE + 3 * PAGE, 2 * PAGE, Access::Read).is_err());
    space.map_zeroed(BASE + 2 * PAGE, PAGE, Access::Read).unwrap();
    space.protect(BASE, 4 * PAGE, Access::Read).unwrap();
    assert!(layout(&space).iter().all(|&(_, _, access)| access == Access::Read));
    assert_eq!(layout(&space).iter().map(|&(_, n, _)| n).sum::<u32>(), 4);
}
