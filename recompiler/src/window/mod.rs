//! The guest window of an instance and the pages mapped into it.
//!
//! A [`Window`] is one reservation of address space:
//!
//! ```text
//! [page states: 1 MiB][context page][guest: 4 GiB][guard: 64 KiB]
//!                                   ^ base (guest address 0)
//! ```
//!
//! The guest part starts `PROT_NONE`. Pages are mapped on demand by the
//! [`Pager`], from the fault handler or from host-side accesses:
//!
//! - a readable page is mapped read-only straight from its frame's memfd
//!   (`MAP_SHARED|MAP_FIXED`; runs of consecutive frames in one `mmap`), an
//!   empty page as anonymous read-only zeros, 16-page aligned groups at a
//!   time;
//! - the first store to a writable page copies it into a frame taken from a
//!   pre-reserved stock (an empty page gets a zeroed one) and maps that
//!   frame read-write in its place; the page is then *dirty* and its frame
//!   becomes the cap's overlay page at the next sync. A store beside a
//!   dirty page, or any fault on an empty page beside one, gives the rest
//!   of its group frames too (a sequential fill); a page touched alone gets
//!   one frame, so sparse access commits only what it writes.
//!
//! Nothing is mapped when an instance is created, so instantiation does not
//! depend on the image size.
//!
//! A window outlives the space it shows. When the host takes the space (a
//! host call that writes memory, a snapshot) a few dirty pages are copied
//! into their caps and stay mapped; when an instance ends its window goes
//! to a pool of its module, with what it maps. Before the window is used
//! again it is checked against the space: read-only runs that no longer
//! show the space's frames are made inaccessible (a few are shown as
//! copies in frames of the window's own instead, refreshed by a copy from
//! then on), kept dirty frames get the space's bytes. So a short run of a module maps and faults nothing
//! that the run before it already did. Windows with much mapped are reset
//! (one `mmap` over each touched range) instead.
//!
//! Live instances' windows are registered, so that a window short of
//! kernel mappings can empty idle ones; they map their pages again when
//! they next run.
//!
//! Four parts: `reserve` (the reservation, its layout, and the pool of
//! clean windows), `pager` (mapping pages and groups into one window, and
//! keeping them from one use to the next), `live` (the registry of live
//! windows and taking mappings back from idle ones) and `policy` (how much
//! is mapped, kept and taken back at a time, with the measurements behind
//! each choice).

mod live;
mod pager;
mod policy;
mod reserve;

pub use live::release_idle_mappings;
pub(crate) use live::{LivePager, map_scarce, still_scarce};
pub use pager::release_kept_windows;
pub(crate) use pager::{Pager, PagerPool, PrepareError};
pub(crate) use reserve::Window;

#[cfg(test)]
pub(crate) mod tests;
