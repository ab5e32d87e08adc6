//! The windows of live instances, and taking kernel mappings back from the
//! idle ones.
//!
//! Every live instance's [`Pager`] sits in a [`LivePager`], registered in
//! a process-wide list, sharded by the thread that created the instance
//! (threads instantiating at once then take locks of their own). The instance *parks* it whenever it stops using
//! it (at the end of each run and of each host access through its memory,
//! and on `JitInstance::park`) and claims it back on its next use: every
//! access to the pager claims it first. A window short of mappings empties parked windows that hold some
//! ([`reclaim_idle`]): their dirty pages move into their caps and they are
//! reserved-only again; they map pages again, lazily, when they next run.
//!
//! A claimed pager (a running instance's, or one whose space the host has
//! borrowed) is never touched by another thread: the reclaimer only tries
//! to claim a parked pager, and skips it if that fails. Claims are atomics,
//! so the fault handler, which reaches the pager only while its instance
//! runs (claimed), neither waits nor allocates.

use super::Window;
use super::pager::{Pager, PagerPool, release_kept_windows};
use super::policy;
use crate::budget;
use crate::error::WindowError;
use javm_cap::space::AddressSpace;
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Claim: the instance uses its pager.
const BUSY: u8 = 0;
/// Claim: nobody uses the pager; the reclaimer may claim it.
const PARKED: u8 = 1;
/// Claim: the reclaimer empties the window.
const RECLAIMING: u8 = 2;

/// A live pager and what the reclaimer reads of it without claiming it.
struct Slot {
    claim: AtomicU8,
    /// Mappings the pager held when it was last parked: slots holding none
    /// are skipped without a claim.
    held: AtomicUsize,
    /// Where the slot is in its shard of [`LIVE`] (changed under the
    /// shard's lock).
    index: AtomicUsize,
    /// Its shard of [`LIVE`].
    shard: usize,
    /// Reached only by whoever holds the claim.
    pager: UnsafeCell<Pager>,
}

// SAFETY: the pager is `Send`, and it is reached only by the one thread
// that holds the claim (an atomic acquired with `Acquire` and handed back
// with `Release`); the other fields are atomics.
unsafe impl Sync for Slot {}

/// A slot in [`LIVE`].
struct Registered(NonNull<Slot>);

// SAFETY: a slot is `Sync` (see above); the pointer stays valid while it is
// registered: a slot is freed only after it was removed under its shard's lock.
unsafe impl Send for Registered {}

/// Every live pager, and where the next reclaim starts (round robin, so
/// that the same windows are not emptied every time).
struct Registry {
    slots: Vec<Registered>,
    cursor: usize,
}

/// Shards of the registry.
const SHARDS: usize = 8;

/// One shard, alone on its cache lines.
#[repr(align(128))]
struct Shard(Mutex<Registry>);

static LIVE: [Shard; SHARDS] = [const { Shard(Mutex::new(Registry { slots: Vec::new(), cursor: 0 })) }; SHARDS];

/// The shard the next reclaim starts with.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// Shard `shard` of the registry, locked.
fn live(shard: usize) -> std::sync::MutexGuard<'static, Registry> {
    LIVE[shard].0.lock().unwrap_or_else(|p| p.into_inner())
}

/// The calling thread's shard: threads take shards in the order they first
/// register an instance, so the first [`SHARDS`] threads have one each.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// The pager of a live instance, registered for [`reclaim_idle`]. Derefs
/// to the pager, claiming it; [`LivePager::park`] lets it go.
pub(crate) struct LivePager(NonNull<Slot>);

// SAFETY: the slot is owned by this handle (the registry only borrows it
// under a claim) and is `Sync`.
unsafe impl Send for LivePager {}

impl LivePager {
    /// A pager for `space` in a window kept by `pool` (see
    /// [`Pager::from_pool`]), or in a clean one, registered and claimed.
    pub(crate) fn from_pool(pool: &PagerPool, space: AddressSpace) -> Result<LivePager, WindowError> {
        let pager = match Pager::from_pool(pool, space) {
            Ok(kept) => kept,
            Err(space) => Pager::new(take_window()?, space),
        };
        let slot = Box::new(Slot {
            claim: AtomicU8::new(BUSY),
            held: AtomicUsize::new(0),
            index: AtomicUsize::new(0),
            shard: thread_shard(),
            pager: UnsafeCell::new(pager),
        });
        let slot = NonNull::from(Box::leak(slot));
        // SAFETY: just allocated; freed only in `drop`.
        let mut live = live(unsafe { slot.as_ref() }.shard);
        // SAFETY: just allocated; freed only in `drop`.
        unsafe { slot.as_ref() }.index.store(live.slots.len(), Ordering::Relaxed);
        live.slots.push(Registered(slot));
        Ok(LivePager(slot))
    }

    fn slot(&self) -> &Slot {
        // SAFETY: the slot lives as long as this handle.
        unsafe { self.0.as_ref() }
    }

    /// Claims the pager, waiting for a reclaim of it to end.
    /// Async-signal-safe when it is claimed already (as it is while the
    /// instance runs).
    fn claim(&self) {
        let claim = &self.slot().claim;
        // Only this handle sets `BUSY`: no ordering needed to see its own.
        if claim.load(Ordering::Relaxed) == BUSY {
            return;
        }
        while claim.compare_exchange_weak(PARKED, BUSY, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::thread::yield_now();
        }
    }

    /// Lets the reclaimer empty the window until the pager's next use.
    pub(crate) fn park(&mut self) {
        let slot = self.slot();
        if slot.claim.load(Ordering::Relaxed) != BUSY {
            return;
        }
        // SAFETY: claimed by this handle.
        let held = unsafe { &*slot.pager.get() }.charged();
        slot.held.store(held, Ordering::Relaxed);
        slot.claim.store(PARKED, Ordering::Release);
    }
}

impl Deref for LivePager {
    type Target = Pager;

    fn deref(&self) -> &Pager {
        self.claim();
        // SAFETY: claimed: no other thread reaches the pager until it is
        // parked, which takes `&mut self`.
        unsafe { &*self.slot().pager.get() }
    }
}

impl DerefMut for LivePager {
    fn deref_mut(&mut self) -> &mut Pager {
        self.claim();
        // SAFETY: as in `deref`.
        unsafe { &mut *self.slot().pager.get() }
    }
}

impl Drop for LivePager {
    fn drop(&mut self) {
        self.claim();
        {
            let mut live = live(self.slot().shard);
            let at = self.slot().index.load(Ordering::Relaxed);
            live.slots.swap_remove(at);
            if let Some(moved) = live.slots.get(at) {
                // SAFETY: registered slots are alive (freed only after
                // their removal under this lock).
                unsafe { moved.0.as_ref() }.index.store(at, Ordering::Relaxed);
            }
        }
        // SAFETY: allocated by `from_pool`; unregistered and claimed, so
        // nothing else can reach it.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// What a reclaim gave back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reclaimed {
    /// Mappings given back to the budget.
    pub(crate) mappings: usize,
    /// Windows emptied.
    pub(crate) windows: usize,
}

/// Empties parked windows that hold mappings, round robin from where the
/// last reclaim stopped (shard by shard), until `want` mappings are given
/// back or every window was visited.
pub(crate) fn reclaim_idle(want: usize) -> Reclaimed {
    let first = NEXT_SHARD.load(Ordering::Relaxed);
    let mut got = Reclaimed::default();
    for step in 0..SHARDS {
        let shard = (first + step) % SHARDS;
        if reclaim_in(&mut live(shard), want, &mut got) {
            NEXT_SHARD.store(shard, Ordering::Relaxed);
            break;
        }
    }
    got
}

/// [`reclaim_idle`] in one shard, from its cursor, adding to `got`: true
/// once it holds `want` mappings.
fn reclaim_in(live: &mut Registry, want: usize, got: &mut Reclaimed) -> bool {
    let n = live.slots.len();
    for step in 0..n {
        let at = (live.cursor + step) % n;
        // SAFETY: registered slots are alive while the lock is held.
        let slot = unsafe { live.slots[at].0.as_ref() };
        if slot.held.load(Ordering::Relaxed) == 0
            || slot.claim.compare_exchange(PARKED, RECLAIMING, Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            continue;
        }
        // SAFETY: claimed for the reclaim just above.
        let pager = unsafe { &mut *slot.pager.get() };
        got.mappings += pager.charged();
        got.windows += 1;
        // Dirty pages move into their caps, and every page is inaccessible
        // again, to be mapped on demand when the instance runs next.
        pager.flush();
        slot.held.store(0, Ordering::Relaxed);
        slot.claim.store(PARKED, Ordering::Release);
        if got.mappings >= want {
            live.cursor = at + 1;
            return true;
        }
    }
    false
}

/// Empties every idle live instance's window (the instances map their
/// pages again when they next run) and drops the windows kept for modules'
/// next instances, giving their kernel mappings back. Returns how many
/// windows were emptied or dropped.
pub fn release_idle_mappings() -> usize {
    release_kept_windows() + reclaim_idle(usize::MAX).windows
}

/// Takes back mappings from windows that do not run: drops those kept for
/// modules' next instances, then empties idle ones until
/// [`policy::reclaim_target`] mappings are given back. True if anything
/// was given back.
fn reclaim_for_others() -> bool {
    let before = budget::window_mappings_held();
    release_kept_windows();
    reclaim_idle(policy::reclaim_target(budget::window_mapping_budget()));
    budget::window_mappings_held() < before
}

/// A clean window, with mappings taken back from windows that do not run
/// when the budget has no room for another reservation.
pub(super) fn take_window() -> Result<Window, WindowError> {
    match Window::take() {
        Err(WindowError::Budget { .. }) if reclaim_for_others() => Window::take(),
        taken => taken,
    }
}

/// Whether `pager`, whose last access could not be mapped, still could not
/// map enough to go on: too little room in the budget even once it
/// emptied itself, and too little held by other windows to be worth
/// taking back. Atomics only.
pub(crate) fn still_scarce(pager: &Pager) -> bool {
    let budget = budget::window_mapping_budget();
    let others = budget::page_mappings_held().saturating_sub(pager.charged());
    let room = budget.saturating_sub(budget::window_mappings_held().saturating_sub(pager.charged()));
    !policy::resets_with_room(room) && others < policy::reclaim_target(budget)
}

/// Maps pages `first..=last` for an access of `pager` that could not be
/// mapped (out of kernel mappings, of the budget, or of frames). When
/// windows that do not run hold a fair share of the budget, they give
/// their mappings back first and the access is retried; else, or if that
/// fails, `pager` empties its own window ([`Pager::remap`]), if that
/// leaves it room enough to go on (see [`policy::resets_with_room`];
/// windows that do not run give back whatever they hold to make room).
/// False if the access still cannot be mapped: the caller hands it to the
/// interpreter.
pub(crate) fn map_scarce(pager: &mut Pager, first: u32, last: u32, write: bool) -> bool {
    let budget = budget::window_mapping_budget();
    let others = budget::page_mappings_held().saturating_sub(pager.charged());
    if others >= policy::reclaim_target(budget) && reclaim_for_others() && pager.map_again(first, last, write) {
        return true;
    }
    // Others' mappings, if any, are given back only where that helps.
    let give_back = || others > 0 && reclaim_for_others();
    let room = || budget.saturating_sub(budget::window_mappings_held().saturating_sub(pager.charged()));
    let roomy = || policy::resets_with_room(room());
    if !(roomy() || (give_back() && roomy())) {
        return false;
    }
    pager.remap(first, last, write).is_ok() || (give_back() && pager.remap(first, last, write).is_ok())
}
