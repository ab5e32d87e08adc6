//! Engine-neutral machine state: registers, program counter, gas and how a
//! run ended. Both engines read and return exactly these values.

use crate::PAGE_SIZE;
use std::fmt;

/// Number of guest registers.
pub const NUM_REGS: usize = 13;

/// The 13 guest registers `r0..r12`.
pub type Regs = [u64; NUM_REGS];

/// Why a run stopped (spec §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// A dynamic jump to [`HALT_ADDRESS`](crate::program::HALT_ADDRESS). Final.
    Halt,
    /// `trap`, an invalid jump, a memory access below `0x10000`, or an
    /// invalid program or entry point. Final.
    Panic,
    /// Not enough gas for the next charge. Add gas and run again.
    OutOfGas,
    /// A load or store touched a page it may not; carries the page-aligned
    /// address of the lowest bad byte. Fix memory and run again.
    PageFault(u32),
    /// `ecalli` with this id (the low 32 bits of its immediate, open question
    /// Q9). Handle the call and run again; execution resumes after the
    /// `ecalli`.
    Host(u32),
}

impl Exit {
    /// The status name used by the CLI's JSON and the test vectors.
    pub const fn status(self) -> &'static str {
        match self {
            Exit::Halt => "halt",
            Exit::Panic => "panic",
            Exit::OutOfGas => "out-of-gas",
            Exit::PageFault(_) => "page-fault",
            Exit::Host(_) => "host",
        }
    }

    /// Whether the run can continue after this exit.
    pub const fn is_resumable(self) -> bool {
        matches!(self, Exit::OutOfGas | Exit::PageFault(_) | Exit::Host(_))
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::PageFault(addr) => write!(f, "page-fault at 0x{addr:08x}"),
            Exit::Host(id) => write!(f, "host call {id}"),
            other => f.write_str(other.status()),
        }
    }
}

/// The resumable state of a guest (besides its memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VmState {
    /// Registers.
    pub regs: Regs,
    /// Program counter: where the next run starts, or, after an exit, the pc
    /// the exit reports.
    pub pc: u32,
    /// Gas left. Never negative under the pipeline and block models; the
    /// instruction model reports −1 on out-of-gas (spec §8.3).
    pub gas: i64,
    /// P8: the current block is already paid for (spec §8.1).
    pub charged: bool,
}

/// Accesses whose lowest bad byte is below this address panic (spec §3).
pub const LOW_GUARD: u32 = 0x1_0000;

/// A load or store that cannot complete (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemFault {
    /// The lowest bad byte is below [`LOW_GUARD`] (including every access
    /// that wraps past 2^32).
    Panic,
    /// The page-aligned address of the lowest bad byte.
    PageFault(u32),
}

impl MemFault {
    /// The exit this fault causes.
    pub const fn exit(self) -> Exit {
        match self {
            MemFault::Panic => Exit::Panic,
            MemFault::PageFault(addr) => Exit::PageFault(addr),
        }
    }
}

/// Finds the fault of an access of `len` bytes at `addr` (wrapping at 2^32),
/// given which pages allow it. Returns `None` when every byte is accessible.
///
/// The fault is determined by the *lowest* bad address among the bytes, not
/// the first one in access order, so a wrapping access always panics (its
/// byte at address 0 is below the low guard and never accessible).
pub fn find_fault(addr: u32, len: u32, mut page_ok: impl FnMut(u32) -> bool) -> Option<MemFault> {
    if len == 0 {
        // No byte is accessed, so none can be bad.
        return None;
    }
    let end = u64::from(addr) + u64::from(len);
    if end > 1 << 32 {
        return Some(MemFault::Panic);
    }
    let mut page = addr / PAGE_SIZE as u32;
    let last = ((end - 1) / PAGE_SIZE as u64) as u32;
    while page <= last {
        if !page_ok(page) {
            let lowest = (page * PAGE_SIZE as u32).max(addr);
            return Some(if lowest < LOW_GUARD {
                MemFault::Panic
            } else {
                MemFault::PageFault(page * PAGE_SIZE as u32)
            });
        }
        page += 1;
    }
    None
}

/// One page's part of a multi-byte access (see [`page_chunks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageChunk {
    /// Guest page.
    pub page: u32,
    /// Offset of the chunk inside the page.
    pub in_page: usize,
    /// Offset of the chunk inside the caller's buffer.
    pub at: usize,
    /// Length of the chunk.
    pub len: usize,
}

/// Splits an access of `len` bytes at `address` into its per-page chunks, in
/// address order (addresses wrap at 2^32).
pub fn page_chunks(address: u32, len: usize) -> impl Iterator<Item = PageChunk> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let addr = address.wrapping_add(at as u32);
        let in_page = (addr % PAGE_SIZE as u32) as usize;
        let chunk = PageChunk { page: addr / PAGE_SIZE as u32, in_page, at, len: (PAGE_SIZE - in_page).min(len - at) };
        at += chunk.len;
        Some(chunk)
    })
}

/// Guest memory as the engines see it: loads and stores that either complete
/// or report the fault, leaving memory unchanged.
pub trait GuestMemory {
    /// Reads `out.len()` bytes at `addr`.
    fn read_bytes(&mut self, addr: u32, out: &mut [u8]) -> Result<(), MemFault>;

    /// Writes `data` at `addr`, all or nothing.
    fn write_bytes(&mut self, addr: u32, data: &[u8]) -> Result<(), MemFault>;

    /// Reads an `N`-byte little-endian value. Implementations override this
    /// with a fast path.
    #[inline]
    fn load<const N: usize>(&mut self, addr: u32) -> Result<[u8; N], MemFault> {
        let mut out = [0u8; N];
        self.read_bytes(addr, &mut out)?;
        Ok(out)
    }

    /// Writes an `N`-byte value. Implementations override this with a fast
    /// path.
    #[inline]
    fn store<const N: usize>(&mut self, addr: u32, bytes: [u8; N]) -> Result<(), MemFault> {
        self.write_bytes(addr, &bytes)
    }

    /// P7 `sbrk`: makes `size` more bytes writable at the heap top and returns
    /// the address where they start, or 0 when the heap cannot grow. The
    /// default has no heap.
    fn sbrk(&mut self, size: u64) -> u64 {
        let _ = size;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_is_the_lowest_bad_byte() {
        let mapped = |p: u32| (0x10..0x20).contains(&p);
        assert_eq!(find_fault(0x10000, 8, mapped), None);
        assert_eq!(find_fault(0x1FFFC, 8, mapped), Some(MemFault::PageFault(0x20000)));
        assert_eq!(find_fault(0x20001, 1, mapped), Some(MemFault::PageFault(0x20000)));
        assert_eq!(find_fault(0xFFFF, 2, mapped), Some(MemFault::Panic));
        assert_eq!(find_fault(0xFFFFFFFE, 4, |_| true), Some(MemFault::Panic));
        assert_eq!(find_fault(0x100, 1, |_| true), None);
    }

    #[test]
    fn empty_access_never_faults() {
        // Regression: address 0 with length 0 underflowed computing the last
        // page (a panic in debug builds, a spurious panic exit in release).
        assert_eq!(find_fault(0, 0, |_| false), None);
        assert_eq!(find_fault(0xFFFF_FFFF, 0, |_| false), None);
        assert_eq!(find_fault(0x2_0000, 0, |_| false), None);
    }

    #[test]
    fn chunks_split_at_page_boundaries() {
        let chunks: Vec<_> = page_chunks(0x1FFE, 4100).map(|c| (c.page, c.in_page, c.at, c.len)).collect();
        assert_eq!(chunks, [(1, 0xFFE, 0, 2), (2, 0, 2, 4096), (3, 0, 4098, 2)]);
        assert_eq!(page_chunks(0x10, 0).count(), 0);
    }
}
