//! Per-thread copies of the memory instances start from.
//!
//! Cloning an address space adds a reference to each mapping's cap, and
//! dropping the clone takes it away again. Instances made on several
//! threads from one address space (a module's template, a snapshot) would
//! all write the same counters, moving their cache lines from core to core
//! on every short run. [`LocalCopies`] gives each thread a copy of its own
//! to clone from instead: the same pages (the copy's caps share them with
//! the original), behind caps whose counters only that thread's instances
//! touch. A copy is made on a thread's first use and lives as long as the
//! original's owner.

use javm_cap::space::AddressSpace;
use javm_cap::{DataCap, PageSlab};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Copies per original: threads past this many share copies (still
/// correct, and still fewer writers per counter).
const SLOTS: usize = 8;

/// One slot, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Slot(OnceLock<AddressSpace>);

/// Per-thread copies of one address space, made on first use.
#[derive(Default)]
pub(super) struct LocalCopies(OnceLock<Box<[Slot; SLOTS]>>);

impl LocalCopies {
    /// A clone of `original` (which must be the same space on every call)
    /// made from the calling thread's copy of it, with room for `room` more
    /// mappings.
    pub(super) fn clone_of(&self, original: &AddressSpace, room: usize) -> AddressSpace {
        let slots = self.0.get_or_init(Box::default);
        slots[thread_slot()].0.get_or_init(|| private_copy(original)).clone_with_room(room)
    }

    /// How many copies were made.
    #[cfg(test)]
    pub(super) fn copies(&self) -> usize {
        self.0.get().map_or(0, |slots| slots.iter().filter(|slot| slot.0.get().is_some()).count())
    }
}

/// The calling thread's slot: threads take slots in the order they first
/// ask, so the first [`SLOTS`] threads have one each.
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }
    SLOT.with(|slot| *slot)
}

/// `space` with each clean cap behind a backing of its own (holding the
/// same pages). A cap with changed pages stays shared: its overlay is the
/// cap's own.
fn private_copy(space: &AddressSpace) -> AddressSpace {
    let mut copy = space.clone();
    for mapping in copy.mappings_mut() {
        if mapping.cap.overlay().is_empty() {
            mapping.cap = DataCap::from_slab(PageSlab::clone(mapping.cap.backing()));
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use javm_cap::space::Access;
    use std::sync::Arc;

    fn space() -> AddressSpace {
        let mut space = AddressSpace::new();
        space.map_cap(0x10, DataCap::from_bytes(&[7; 5000]).unwrap(), Access::Write).unwrap();
        space
    }

    #[test]
    fn clones_hold_the_same_pages_behind_a_backing_per_thread() {
        let original = space();
        let copies = LocalCopies::default();
        let a = copies.clone_of(&original, 0);
        let b = copies.clone_of(&original, 0);
        assert_eq!(copies.copies(), 1, "one copy for this thread");
        let (cap, a_cap, b_cap) = (&original.mappings()[0].cap, &a.mappings()[0].cap, &b.mappings()[0].cap);
        assert!(!Arc::ptr_eq(cap.backing(), a_cap.backing()), "not the original's counter");
        assert!(Arc::ptr_eq(a_cap.backing(), b_cap.backing()), "this thread's copy");
        assert_eq!(a_cap.hash_tree_root().unwrap(), cap.hash_tree_root().unwrap());
        for (x, y) in cap.backing().pages().iter().zip(a_cap.backing().pages()) {
            assert!(x.same_storage(y), "the pages themselves are shared");
        }
        let other = std::thread::scope(|s| s.spawn(|| copies.clone_of(&original, 0)).join().unwrap());
        assert_eq!(copies.copies(), 2, "another thread made its own");
        assert_eq!(other.mappings()[0].cap.hash_tree_root().unwrap(), cap.hash_tree_root().unwrap());
    }

    #[test]
    fn changed_caps_stay_shared() {
        let mut original = space();
        original.write(0x10 * 4096, &[1]).unwrap();
        let copies = LocalCopies::default();
        let a = copies.clone_of(&original, 0);
        assert!(Arc::ptr_eq(original.mappings()[0].cap.backing(), a.mappings()[0].cap.backing()));
        assert_eq!(a.clone().root(), original.clone().root());
    }
}
