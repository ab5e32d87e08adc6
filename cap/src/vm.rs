//! Engine-neutral machine state: registers, program counter, gas and how a
//! run ended. Both engines read and return exactly these values.

use std::fmt;

/// Number of guest registers.
pub const NUM_REGS: usize = 13;

/// The 13 guest registers `r0..r12`.
pub type Regs = [u64; NUM_REGS];

/// Why a run stopped (spec §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// A dynamic jump to `0xFFFF0000`. Final.
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
