//! A bounds-checked cursor over untrusted bytes that reports errors with the
//! field name and offset.

use super::error::ProgramError;
use super::varint::{self, VarintError};

/// Reads fields from a byte slice, front to back.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// The current offset.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ProgramError> {
        if n > self.remaining() {
            return Err(ProgramError::Truncated { field, offset: self.bytes.len(), needed: n - self.remaining() });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads an `n`-byte little-endian unsigned number (`n ≤ 8`).
    pub(crate) fn le(&mut self, n: usize, field: &'static str) -> Result<u64, ProgramError> {
        debug_assert!(n <= 8);
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(self.take(n, field)?);
        Ok(u64::from_le_bytes(buf))
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ProgramError> {
        Ok(self.take(1, field)?[0])
    }

    /// Reads a canonical GP varint.
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u64, ProgramError> {
        let offset = self.pos;
        match varint::decode(&self.bytes[self.pos..]) {
            Ok((value, used)) => {
                self.pos += used;
                Ok(value)
            }
            Err(VarintError::NonCanonical) => Err(ProgramError::NonCanonicalVarint { field, offset }),
            Err(VarintError::Truncated) => Err(ProgramError::Truncated { field, offset: self.bytes.len(), needed: 1 }),
        }
    }

    /// Reads a varint that must not exceed `limit`.
    pub(crate) fn varint_at_most(&mut self, field: &'static str, limit: u64) -> Result<u64, ProgramError> {
        let offset = self.pos;
        let value = self.varint(field)?;
        if value > limit {
            return Err(ProgramError::TooLarge { field, offset, value, limit });
        }
        Ok(value)
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(&self) -> Result<(), ProgramError> {
        if self.remaining() != 0 {
            return Err(ProgramError::TrailingBytes { offset: self.pos, count: self.remaining() });
        }
        Ok(())
    }
}
