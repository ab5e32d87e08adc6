//! Errors for malformed programs. Every variant names the field and the byte
//! offset (within the input it was read from) where the problem is.

use thiserror::Error;

/// A program (raw blob, standard program or `.polkavm` container) that cannot
/// be loaded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProgramError {
    /// The input ends inside a field.
    #[error("{field}: input ends at byte {offset}, {needed} more byte(s) needed")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Offset where the field starts or where input ran out.
        offset: usize,
        /// How many more bytes the field needs.
        needed: usize,
    },
    /// A variable-length number is not in its shortest form.
    #[error("{field}: non-canonical varint at byte {offset}")]
    NonCanonicalVarint {
        /// The field being read.
        field: &'static str,
        /// Offset of the varint.
        offset: usize,
    },
    /// Bytes remain after the last field.
    #[error("{count} unexpected trailing byte(s) at byte {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// How many extra bytes there are.
        count: usize,
    },
    /// A field's value exceeds what javm (or the format) allows.
    #[error("{field} at byte {offset} is {value}, above the limit of {limit}")]
    TooLarge {
        /// The field being read.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// The value found.
        value: u64,
        /// The largest value accepted.
        limit: u64,
    },
    /// The opcode bitmask has a bit set past the end of the code.
    #[error("bitmask: padding bit set for code offset {code_offset} (mask byte at {offset})")]
    MaskPadding {
        /// Offset of the offending mask byte.
        offset: usize,
        /// The code offset the bit stands for.
        code_offset: usize,
    },
    /// P8 validation: the code is empty.
    #[error("code: empty (P8 requires at least one instruction)")]
    EmptyCode,
    /// P8 validation: an instruction boundary lands on a byte the bitmask
    /// does not mark as an instruction start.
    #[error("code: offset {pc} is reached as an instruction start but its bitmask bit is 0")]
    NotInstructionStart {
        /// Code offset.
        pc: u32,
    },
    /// P8 validation: an instruction start holds a byte that is not an
    /// opcode of the profile.
    #[error("code: invalid opcode 0x{byte:02x} at code offset {pc}")]
    InvalidOpcode {
        /// Code offset.
        pc: u32,
        /// The byte found.
        byte: u8,
    },
    /// A container or header field holds a value the format forbids.
    #[error("{field} at byte {offset}: {reason}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The `.polkavm` container targets an instruction set other than jam_v1.
    #[error("container: instruction set {name} (byte {isa} at offset 4) is not supported; only jam_v1 is")]
    UnsupportedIsa {
        /// The ISA byte.
        isa: u8,
        /// Its name.
        name: &'static str,
    },
    /// The input is not any program format javm knows.
    #[error("unrecognised program format: {0}")]
    UnknownFormat(String),
}

impl ProgramError {
    /// Shifts every offset by `base`, for errors from a nested field (e.g. the
    /// code blob inside a standard program).
    pub fn offset_by(mut self, base: usize) -> Self {
        match &mut self {
            ProgramError::Truncated { offset, .. }
            | ProgramError::NonCanonicalVarint { offset, .. }
            | ProgramError::TrailingBytes { offset, .. }
            | ProgramError::TooLarge { offset, .. }
            | ProgramError::MaskPadding { offset, .. }
            | ProgramError::Invalid { offset, .. } => *offset += base,
            ProgramError::EmptyCode
            | ProgramError::NotInstructionStart { .. }
            | ProgramError::InvalidOpcode { .. }
            | ProgramError::UnsupportedIsa { .. }
            | ProgramError::UnknownFormat(_) => {}
        }
        self
    }
}
