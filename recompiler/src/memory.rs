//! [`WindowMemory`]: an instance's guest memory as the host and the
//! interpreter fallback see it, backed by the same frames as the window.

use crate::window::LivePager;
use javm_cap::vm::{GuestMemory, MemFault, find_fault};

/// Guest memory of a [`crate::JitInstance`] with guest access rules: reads
/// of readable pages, writes to writable pages (copy-on-write as the guest
/// would do it), faults reported like the guest's. When it is dropped the
/// instance is idle again (see [`crate::JitInstance::run`]).
pub struct WindowMemory<'a> {
    pager: &'a mut LivePager,
}

impl<'a> WindowMemory<'a> {
    pub(crate) fn new(pager: &'a mut LivePager) -> WindowMemory<'a> {
        WindowMemory { pager }
    }
}

impl Drop for WindowMemory<'_> {
    fn drop(&mut self) {
        self.pager.park();
    }
}

impl GuestMemory for WindowMemory<'_> {
    fn read_bytes(&mut self, addr: u32, out: &mut [u8]) -> Result<(), MemFault> {
        if out.is_empty() {
            return Ok(());
        }
        if let Some(fault) = find_fault(addr, out.len() as u32, |p| self.pager.allows(p, false)) {
            return Err(fault);
        }
        self.pager.copy_out(addr, out);
        Ok(())
    }

    fn write_bytes(&mut self, addr: u32, data: &[u8]) -> Result<(), MemFault> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some(fault) = find_fault(addr, data.len() as u32, |p| self.pager.allows(p, true)) {
            return Err(fault);
        }
        self.pager.copy_in(addr, data);
        Ok(())
    }

    fn sbrk(&mut self, size: u64) -> u64 {
        // Growing the heap only adds a fresh writable mapping where nothing
        // was mapped; pages already in the window are unaffected.
        self.pager.space.grow_heap_by(size)
    }
}
