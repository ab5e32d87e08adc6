//! Per-thread copies of the memory instances start from, and per-thread
//! handles on a module for its instances to hold.
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

use super::Module;
use javm_cap::space::AddressSpace;
use javm_cap::{DataCap, PageSlab};
use javm_recompiler::ThreadHandle;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

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

/// A module as one thread's instances hold it: each instance counts on
/// the thread's handle instead of on the module (or on its compiled code),
/// so that instances made and dropped on several threads at once do not
/// all write one count. Alone on its cache lines (in an `Arc`, the count's
/// line is its own).
#[repr(align(128))]
pub(super) struct ThreadModule {
    pub(super) module: Module,
    /// The recompiler's handle on the compiled code, for the same reason.
    pub(super) jit: Option<Arc<ThreadHandle>>,
}

impl ThreadModule {
    /// A handle on `module`.
    pub(super) fn new(module: Module) -> ThreadModule {
        let jit = module.parts.jit.clone().map(ThreadHandle::new);
        ThreadModule { module, jit }
    }
}

/// One slot of [`ThreadModules`], alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct HandleSlot(OnceLock<Arc<ThreadModule>>);

/// The per-thread handles on one module, made on each thread's first use.
/// The module's clones that the embedder holds hold them (so they live as
/// long as those clones, and an instance keeps only its handle); the
/// handles' modules hold none, which keeps the ownership free of cycles.
#[derive(Default)]
pub(super) struct ThreadModules(OnceLock<Box<[HandleSlot; SLOTS]>>);

impl ThreadModules {
    /// The calling thread's handle, made from `module` the first time.
    pub(super) fn get(&self, module: impl FnOnce() -> Module) -> Arc<ThreadModule> {
        let slots = self.0.get_or_init(Box::default);
        slots[thread_slot()].0.get_or_init(|| Arc::new(ThreadModule::new(module()))).clone()
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
    fn instances_count_on_their_threads_handle_and_outlive_the_module() {
        use crate::{Config, Engine, EngineKind, Exit};
        let blob = include_bytes!("../../../guests/bin/sieve.jam");
        let args = 100u32.to_le_bytes();
        for engine in EngineKind::ALL {
            let module = Engine::new(Config { engine, ..Config::default() }).load(blob).unwrap();
            let parts = Arc::downgrade(&module.parts);
            assert_eq!(parts.strong_count(), 1, "{engine}: the embedder's module alone");
            let mut instances: Vec<_> = (0..3).map(|_| module.instantiate_standard(&args, 0).unwrap()).collect();
            assert_eq!(parts.strong_count(), 2, "{engine}: one handle for this thread's instances");
            // Threads past the slots share them: another thread has a handle
            // of its own unless it took this thread's slot.
            let here = thread_slot();
            let (other, its_slot) = std::thread::scope(|s| {
                s.spawn(|| (module.instantiate_standard(&args, 0).unwrap(), thread_slot())).join().unwrap()
            });
            let handles = if its_slot == here { 1 } else { 2 };
            assert_eq!(parts.strong_count(), 1 + handles, "{engine}: another for the other thread's");
            // A fork counts on its original's handle.
            let fork = instances[0].fork().unwrap();
            assert_eq!(parts.strong_count(), 1 + handles, "{engine}: no count of the fork's own");
            if let Some(jit) = &module.parts.jit {
                assert_eq!(Arc::strong_count(jit), 1 + handles, "the compiled code's count, with a fork");
            }
            // A module taken from an instance has no handles: each of its
            // instances makes its own.
            let taken = instances[0].module().clone();
            let more = taken.instantiate_standard(&args, 0).unwrap();
            assert_eq!(parts.strong_count(), 3 + handles, "{engine}: the taken module and its instance's own handle");
            if let Some(jit) = &module.parts.jit {
                // The module's own, the thread handles' and the taken
                // module's instance's handle's.
                assert_eq!(Arc::strong_count(jit), 2 + handles, "the compiled code's count");
            }
            drop((fork, taken, more, other, module));
            // The instances keep their thread's handle, and it the module.
            assert_eq!(parts.strong_count(), 1, "{engine}: this thread's handle");
            for instance in &mut instances {
                instance.set_gas(100_000_000);
                assert_eq!(instance.run(), Exit::Halt, "{engine}");
            }
            drop(instances);
            assert_eq!(parts.strong_count(), 0, "{engine}: all freed, no cycle");
        }
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
        let (other, its_slot) =
            std::thread::scope(|s| s.spawn(|| (copies.clone_of(&original, 0), thread_slot())).join().unwrap());
        // Unless it took this thread's slot (threads past the slots share).
        let made = if its_slot == thread_slot() { 1 } else { 2 };
        assert_eq!(copies.copies(), made, "another thread made its own");
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
