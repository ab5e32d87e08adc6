//! Changing the access of a live instance's pages between runs, with the
//! modes of the JAM inner-VM `pages` host call as the model.

use super::Instance;
use javm_cap::space::{Access, SpaceError};

/// What [`Instance::set_page_access`] makes of a range of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageAccess {
    /// Inaccessible; the contents are dropped.
    Inaccessible,
    /// Zero-filled and read-only.
    ZeroedReadOnly,
    /// Zero-filled and writable.
    ZeroedWritable,
    /// Read-only with the contents kept (every page must be accessible).
    ReadOnly,
    /// Writable with the contents kept (every page must be accessible).
    Writable,
}

impl Instance {
    /// Gives pages `[address, address + length)` (whole pages, at or above
    /// 0x10000) the access `mode` says, on either engine: the recompiler
    /// folds the pages it has written back into the memory first and maps
    /// the new layout on its next run. A bad range, or a page that is not
    /// accessible for a mode that keeps contents, is an error and changes
    /// nothing.
    pub fn set_page_access(&mut self, address: u64, length: u64, mode: PageAccess) -> Result<(), SpaceError> {
        let space = self.address_space();
        match mode {
            PageAccess::Inaccessible => space.unmap(address, length),
            PageAccess::ZeroedReadOnly => space.map_zeroed(address, length, Access::Read),
            PageAccess::ZeroedWritable => space.map_zeroed(address, length, Access::Write),
            PageAccess::ReadOnly => space.protect(address, length, Access::Read),
            PageAccess::Writable => space.protect(address, length, Access::Write),
        }
    }
}
