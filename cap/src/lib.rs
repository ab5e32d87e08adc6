//! `javm-cap`: the data model of the javm PVM runtime.
//!
//! Everything both engines share lives here and nothing engine-specific does:
//! guest memory as [`data::DataCap`]s of memfd-backed [`frames`], their SSZ
//! roots ([`ssz`]), [`image`]s, the engine-neutral machine state ([`vm`]) and
//! the PVM instruction set, program formats and gas models ([`program`]).

pub mod data;
pub mod frames;
pub mod image;
pub mod page;
pub mod program;
pub mod recycle;
pub mod space;
pub mod ssz;
pub mod vm;

pub use data::{CapError, DataCap, MAX_CAP_SIZE, PageResolution, PageSlab};
pub use frames::{Frame, FrameError, FramePool};
pub use page::{PageBytes, PageSlot};

/// A 32-byte content hash (SHA-256 based SSZ `hash_tree_root`).
pub type CapHash = [u8; 32];

/// Bytes per page (GP `Z_P`): of guest memory, of a cap, of a frame. The
/// one page size every engine, cap and tool uses.
pub const PAGE_SIZE: usize = 4096;
