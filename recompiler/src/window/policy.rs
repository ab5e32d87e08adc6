//! The mapping policy: how much the pager maps on one fault, when it takes
//! a run to be filling memory, and how many frames it keeps at hand.
//!
//! The costs these choices trade, measured on the development VM (2 shared
//! cores; a small C program, see the crate README): a fault that `mmap`s
//! costs ≈ 14.6 µs round trip, of which the signal ≈ 4 µs and a `MAP_FIXED`
//! `mmap` ≈ 3.4 µs whatever its length; a plain minor page fault ≈ 3.5 µs;
//! filling page tables ≈ 0.3 µs per page with `MAP_POPULATE` and ≈ 0.2 µs
//! by reading each page (the kernel's fault-around). So a fault should map
//! many pages, with few `mmap`s, and page tables are filled up front only
//! where the pages are about to be touched.

/// Pages mapped together on a fault (a 64 KiB aligned group). One fault and
/// one `mmap` per group instead of per page: sequential first writes to
/// pages with content cost ≈ 10 µs per page with a fault and an `mmap`
/// each, 0.6–0.8 µs per page by group.
///
/// Frames are committed a group at a time only once the faults prove a
/// sequential fill: a first write gets a group of frames only when a
/// neighbouring page already has one, else one frame; a read maps its
/// group read-only (zeros for empty pages) and commits no frame. A guest
/// that grows its heap by 3 GiB and reads a byte every 256 KiB peaked at
/// 3.1 GiB resident (every read committed a group of zeroed frames, 12 s)
/// and now at 3.2 MiB (the interpreter: 8.5 MiB; 0.27 s); one that reads
/// every 16 KiB and writes every 1 MiB of a 256 MiB heap at 260 MiB, now
/// 3.4 MiB (interpreter 4.1 MiB). A sequential fill pays one more fault
/// per run: 21 instead of 20 signals for 1,024 heap pages.
pub(super) const GROUP: u32 = 16;

/// Zero pages materialized together once a run fills memory (see
/// [`LAZY_GROUPS`]; a 256 KiB aligned group). With these groups the guests
/// `sieve` and `memops` ran 10 % and 20 % faster than with 16-page groups
/// whose page tables are filled at once (7 % and 14 % faster than filling
/// them by minor faults).
const LARGE_GROUP: u32 = 64;

/// Most `mmap`s a group is mapped with straight from its frames; scattered
/// frames are copied into one private mapping instead. When each page of a
/// scattered group was its own `mmap` (and kernel mapping), a first write
/// cost 6–8 µs.
const MAX_SHARED_RUNS: u32 = 4;

/// Page states cleared with a store rather than `madvise` up to this many
/// pages (16 KiB of states): a store over a few KiB costs less than the
/// system call; not measured on its own.
const STATE_CLEAR_LIMIT: usize = 1 << 14;

/// Mappings up to this many pages are mapped whole on the first fault: a
/// program that touches memory at all usually reads its data, arguments
/// and stack soon, and one `mmap` (≈ 3.4 µs) per small mapping is cheaper
/// than a fault (≈ 14.6 µs) per group. Runs that touch no memory pay
/// nothing (instantiate + trivial run + drop: 110–190 ns).
const WARM_PAGES: u32 = 64;

/// Frames taken from the pool per refill of the stock (enough for several
/// groups): the handler never allocates, so a refill is an exit to the
/// host and back, paid once per batch under one pool lock.
const STOCK: usize = 64;

/// The same once groups are large (two large groups).
const LARGE_STOCK: usize = 128;

/// Zero groups materialized lazily (page tables filled by minor faults, as
/// most of a first stack or heap group is often never touched) before
/// later groups are large and get their page tables filled at once: a run
/// that has touched this many is filling memory. Filling them at once made
/// `sieve` 7 % and `memops` 14 % faster; reading each page does it 30–50 %
/// cheaper than `MAP_POPULATE`.
const LAZY_GROUPS: u32 = 4;

/// Whether a run that has materialized `groups` zero groups since the last
/// reset is filling memory: its groups are large and their page tables are
/// filled at once.
pub(super) fn fills_memory(groups: u32) -> bool {
    groups >= LAZY_GROUPS
}

/// Pages of a group made private at once, after `groups` zero groups.
pub(super) fn group_pages(groups: u32) -> u32 {
    if fills_memory(groups) { LARGE_GROUP } else { GROUP }
}

/// Frames to top the stock up to after `refills` refills and `groups` zero
/// groups: one group's worth the first time, so a run that writes little
/// allocates little.
pub(super) fn stock_target(refills: u32, groups: u32) -> usize {
    match (refills, fills_memory(groups)) {
        (0, _) => GROUP as usize,
        (_, false) => STOCK,
        (_, true) => LARGE_STOCK,
    }
}

/// Whether `pages` pages that take `runs` `mmap`s straight from their
/// frames are mapped that way (else as a private copy).
pub(super) fn shares_frames(runs: u32, pages: u32) -> bool {
    runs <= MAX_SHARED_RUNS * pages.div_ceil(GROUP)
}

/// Whether a mapping of `pages` pages is mapped whole on the first fault.
pub(super) fn maps_whole(pages: u32) -> bool {
    pages <= WARM_PAGES
}

/// Whether the states of `pages` pages are cleared with a store (else with
/// `madvise`).
pub(super) fn clears_by_store(pages: usize) -> bool {
    pages <= STATE_CLEAR_LIMIT
}

/// Read-only runs a window records, to check them against a changed space
/// (one record per `mmap`; past this the window is reset instead).
pub(super) const SHOWN_RUNS: usize = 64;

/// Dirty pages up to this many are copied into their caps at a sync, and
/// their frames kept mapped read-write in the window (refreshed from the
/// space before the next run); more are moved into the caps and the window
/// reset. A copy and a refresh cost ≈ 0.2 µs per page, a fault that maps a
/// page again ≈ 10 µs; keeping many would double the memory of a run that
/// writes much.
const KEEP_DIRTY: usize = 64;

/// Windows kept per module for its next instances (one per thread running
/// it is enough), whatever share of the kernel mappings budget they hold:
/// a window short of mappings takes back those of kept windows first
/// ([`reclaim_target`]), so they never starve running ones. (Kept only
/// while holding at most 1/64 of the budget, a window whose guest needs 7
/// mappings was not kept under a budget of 66, and every run of sieve
/// small re-faulted them: 50 µs a run instead of 1 µs.) Each holds at most
/// [`KEEP_DIRTY`] + [`KEPT_COPIES`] + [`KEPT_STOCK`] frames (384 KiB), so
/// a module keeps at most 1.5 MiB; `release_kept_windows` drops them all.
pub(super) const KEPT_WINDOWS: usize = 4;

/// Read-only pages a window shows as copies in frames of its own when their
/// frames change from one use to the next (an instance's arguments, which
/// get new frames every time): a copy per use instead of two `mmap`s, which
/// with two threads in one process cost each other TLB shootdowns and the
/// address-space lock (short runs from two threads: 0.23–0.29 M runs/s
/// against 0.51–0.57 M from one, before).
pub(super) const KEPT_COPIES: usize = 16;

/// Stock frames a kept window holds on to (a first refill's worth).
pub(super) const KEPT_STOCK: usize = GROUP as usize;

/// Whether `pages` dirty pages are copied at a sync (and kept by a window
/// that is pooled), rather than moved.
pub(super) fn keeps_dirty(pages: usize) -> bool {
    pages <= KEEP_DIRTY
}

/// Share of the budget a reclaim gives back from idle windows (an eighth)
/// when a window is short of mappings: enough that the windows that run
/// next map without another reclaim for a while, and few windows emptied
/// at a time (each re-faults what it needs when it runs again).
const RECLAIM_SHARE: usize = 8;

/// Mappings a reclaim gives back, at least (see [`RECLAIM_SHARE`]).
pub(super) fn reclaim_target(budget: usize) -> usize {
    (budget / RECLAIM_SHARE).max(crate::budget::PER_MAP)
}

/// Fewest mappings a window short of them must be able to hold once it has
/// emptied itself for the reset to be worth it; with less room it hands
/// the access to the interpreter, which runs to the next exit on the caps.
/// sieve small (instantiation included) with room for two `mmap`s reset at
/// nearly every fault: 110–150 µs per run, against 22–26 µs interpreted
/// to the next exit with no room at all (the interpreter alone: 3–5 µs).
const MIN_ROOM: usize = 16;

/// Whether a window that would have `room` mappings of the budget once
/// emptied resets itself to go on (else the interpreter takes over).
pub(super) fn resets_with_room(room: usize) -> bool {
    room >= MIN_ROOM
}
