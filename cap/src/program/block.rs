//! [`Block`]: a basic block of a decoded program, as the program build
//! makes them and [`Program`](super::Program) hands them out.

/// Marks "no instruction / no block" in index tables.
pub const NO_INDEX: u32 = u32::MAX;

/// A basic block: a block start through the first terminator after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Code offset of the first instruction.
    pub pc: u32,
    /// Index of the first instruction in
    /// [`Program::instructions`](super::Program::instructions).
    pub first: u32,
    /// Index one past the terminator.
    pub end: u32,
    /// Whether jumps and branches may target it (false only for the
    /// synthetic segment covering a P7 program that starts with non-code).
    pub is_target: bool,
}
