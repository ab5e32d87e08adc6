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
//!   pre-reserved stock and maps that frame read-write in its place; the
//!   page is then *dirty* and its frame becomes the cap's overlay page at the
//!   next sync, without a copy. A store beside a dirty page copies the rest
//!   of its group too (a sequential fill), and empty writable pages get
//!   zeroed frames a group at a time on their first fault.
//!
//! Nothing is mapped when an instance is created, so instantiation does not
//! depend on the image size; windows are pooled and reset (one `mmap` over
//! the touched range) when released.
//!
//! Three parts: `reserve` (the reservation, its layout, and the pool of
//! windows), `pager` (mapping pages and groups into one window) and
//! `policy` (how much is mapped at a time, with the measurements behind
//! each choice).

mod pager;
mod policy;
mod reserve;

pub(crate) use pager::{Pager, PrepareError};
pub(crate) use reserve::Window;

#[cfg(test)]
pub(crate) mod tests;
