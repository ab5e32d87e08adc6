//! The raw PVM code blob (`deblob`, spec §4): jump table, code and opcode
//! bitmask.

use super::error::ProgramError;
use super::reader::Reader;
use super::varint;

/// Largest code length javm loads (an implementation limit; GP sets none).
pub const MAX_CODE_LEN: usize = 32 << 20;
/// Largest number of jump-table entries javm loads (an implementation limit).
pub const MAX_JUMP_TABLE_LEN: usize = 16 << 20;

/// A jump-table entry that cannot be a code offset (its value does not fit
/// in 32 bits). Jumping through it panics.
pub const INVALID_JUMP_ENTRY: u32 = u32::MAX;

/// The parts of a raw code blob.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeBlob {
    /// Jump-table entries (code offsets); entries too large for 32 bits are
    /// [`INVALID_JUMP_ENTRY`].
    pub jump_table: Vec<u32>,
    /// The code bytes `c`.
    pub code: Vec<u8>,
    /// The opcode bitmask `k`, `ceil(len(c)/8)` bytes, LSB first.
    pub mask: Vec<u8>,
}

impl CodeBlob {
    /// Parses a raw blob. It must be consumed exactly; padding bits of the
    /// mask must be zero.
    pub fn parse(blob: &[u8]) -> Result<CodeBlob, ProgramError> {
        let mut r = Reader::new(blob);
        let jump_len = r.varint_at_most("jump table length", MAX_JUMP_TABLE_LEN as u64)? as usize;
        let width = r.u8("jump table entry width")? as usize;
        let code_len = r.varint_at_most("code length", MAX_CODE_LEN as u64)? as usize;
        let table_bytes = jump_len.saturating_mul(width);
        if table_bytes > r.remaining() {
            return Err(ProgramError::Truncated {
                field: "jump table",
                offset: blob.len(),
                needed: table_bytes - r.remaining(),
            });
        }
        let mut jump_table = Vec::with_capacity(jump_len);
        for _ in 0..jump_len {
            let entry = r.take(width, "jump table entry")?;
            jump_table.push(jump_entry_value(entry));
        }
        let code = r.take(code_len, "code")?.to_vec();
        let mask_offset = r.offset();
        let mask = r.take(code_len.div_ceil(8), "bitmask")?.to_vec();
        r.finish()?;
        if !code_len.is_multiple_of(8) {
            let last = mask[mask.len() - 1];
            let padding = last >> (code_len % 8);
            if padding != 0 {
                return Err(ProgramError::MaskPadding {
                    offset: mask_offset + mask.len() - 1,
                    code_offset: code_len + padding.trailing_zeros() as usize,
                });
            }
        }
        Ok(CodeBlob { jump_table, code, mask })
    }

    /// Builds a blob from code and instruction starts (for generators and
    /// tests).
    pub fn from_parts(code: Vec<u8>, starts: impl IntoIterator<Item = usize>, jump_table: Vec<u32>) -> CodeBlob {
        let mut mask = vec![0u8; code.len().div_ceil(8)];
        for s in starts {
            if s < code.len() {
                mask[s / 8] |= 1 << (s % 8);
            }
        }
        CodeBlob { jump_table, code, mask }
    }

    /// Serialises the blob (entries 4 bytes wide, or 0 when the table is
    /// empty).
    pub fn to_bytes(&self) -> Vec<u8> {
        let width = if self.jump_table.is_empty() { 0 } else { 4 };
        let mut out = Vec::with_capacity(16 + self.jump_table.len() * 4 + self.code.len() + self.mask.len());
        varint::encode(self.jump_table.len() as u64, &mut out);
        out.push(width);
        varint::encode(self.code.len() as u64, &mut out);
        for entry in &self.jump_table {
            out.extend_from_slice(&entry.to_le_bytes());
        }
        out.extend_from_slice(&self.code);
        out.extend_from_slice(&self.mask);
        out
    }

    /// Whether the bitmask marks `offset` as an instruction start. Offsets at
    /// or past the end of the code read as 1 (spec §4.1).
    #[inline]
    pub fn is_start_bit(&self, offset: usize) -> bool {
        offset >= self.code.len() || self.mask[offset / 8] & (1 << (offset % 8)) != 0
    }

    /// `skip(offset)`: the distance to the next instruction start minus one,
    /// capped at 24 (spec §4.1).
    #[inline]
    pub fn skip(&self, offset: usize) -> u32 {
        let mut j = 0;
        while j < MAX_SKIP && !self.is_start_bit(offset + 1 + j as usize) {
            j += 1;
        }
        j
    }
}

/// Largest skip (instruction length − 1).
pub const MAX_SKIP: u32 = 24;

fn jump_entry_value(bytes: &[u8]) -> u32 {
    let (low, high) = bytes.split_at(bytes.len().min(4));
    if high.iter().any(|&b| b != 0) {
        return INVALID_JUMP_ENTRY;
    }
    let mut buf = [0u8; 4];
    buf[..low.len()].copy_from_slice(low);
    u32::from_le_bytes(buf)
}

/// Up to 8 bytes of the bitmask as one little-endian word.
#[inline]
pub(super) fn word(chunk: &[u8]) -> u64 {
    match chunk.try_into() {
        Ok(bytes) => u64::from_le_bytes(bytes),
        Err(_) => {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let blob = CodeBlob::parse(&[0x00, 0x00, 0x03, 0xbe, 0x87, 0x09, 0x01]).unwrap();
        assert_eq!(blob.code, [0xbe, 0x87, 0x09]);
        assert_eq!(blob.mask, [0x01]);
        assert!(blob.jump_table.is_empty());
        assert_eq!(blob.skip(0), 2);
        assert_eq!(CodeBlob::parse(&blob.to_bytes()).unwrap(), blob);
    }

    #[test]
    fn rejects_trailing_bytes_padding_and_truncation() {
        assert_eq!(
            CodeBlob::parse(&[0, 0, 3, 0xbe, 0x87, 0x09, 0x01, 0x00]),
            Err(ProgramError::TrailingBytes { offset: 7, count: 1 })
        );
        assert_eq!(
            CodeBlob::parse(&[0, 0, 3, 0xbe, 0x87, 0x09, 0x09]),
            Err(ProgramError::MaskPadding { offset: 6, code_offset: 3 })
        );
        assert!(matches!(CodeBlob::parse(&[0, 0, 3, 0xbe]), Err(ProgramError::Truncated { field: "code", .. })));
        assert!(matches!(
            CodeBlob::parse(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(ProgramError::TooLarge { field: "jump table length", .. })
        ));
    }

    #[test]
    fn wide_jump_entries_beyond_u32_are_invalid() {
        // |j| = 2, z = 5: entries 0x0000000010 and 0x0100000000.
        let bytes = [2, 5, 1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x01];
        let blob = CodeBlob::parse(&bytes).unwrap();
        assert_eq!(blob.jump_table, [0x10, INVALID_JUMP_ENTRY]);
    }

    #[test]
    fn skip_is_capped_and_treats_past_end_as_start() {
        let blob = CodeBlob::from_parts(vec![0; 40], [0], vec![]);
        assert_eq!(blob.skip(0), 24);
        let blob = CodeBlob::from_parts(vec![0; 3], [0], vec![]);
        assert_eq!(blob.skip(0), 2);
    }
}
