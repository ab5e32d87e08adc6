//! The GP standard program (spec §11): read-only data, read-write data,
//! heap and stack sizes, and the code blob; optionally behind a JAM service's
//! metadata prefix. Also the standard memory layout and initial registers.

use super::decoded::HALT_ADDRESS;
use super::error::ProgramError;
use super::reader::Reader;
use crate::PAGE_SIZE;

/// Zone size of the standard layout (`ZZ`).
pub const ZONE: u64 = 1 << 16;
/// Largest argument blob (`ZI`).
pub const MAX_ARGS: u64 = 1 << 24;
/// Start of read-only data.
pub const RO_START: u32 = 0x1_0000;
/// End of the stack (exclusive): `2^32 − 2·ZZ − ZI`.
pub const STACK_END: u32 = 0xFEFE_0000;
/// Start of the argument area: `2^32 − ZZ − ZI`.
pub const ARGS_START: u32 = 0xFEFF_0000;

/// `P(x)`: `x` rounded up to a page.
pub const fn page_align(x: u64) -> u64 {
    x.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64
}

/// `Q(x)`: `x` rounded up to a zone.
pub const fn zone_align(x: u64) -> u64 {
    x.div_ceil(ZONE) * ZONE
}

/// A parsed standard program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StandardProgram {
    /// Service metadata, when the input had the prefix.
    pub metadata: Option<Vec<u8>>,
    /// Read-only data `o`.
    pub ro_data: Vec<u8>,
    /// Read-write data `w`.
    pub rw_data: Vec<u8>,
    /// Extra zeroed heap pages `z`.
    pub heap_pages: u16,
    /// Stack size `s` in bytes.
    pub stack_size: u32,
    /// The raw code blob `c` (spec §4).
    pub code: Vec<u8>,
}

/// One region of the standard memory layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address (page-aligned).
    pub start: u32,
    /// Length in bytes (a page multiple).
    pub len: u32,
    /// Whether the guest may write it.
    pub writable: bool,
}

impl StandardProgram {
    /// Parses a standard program without a metadata prefix.
    pub fn parse(bytes: &[u8]) -> Result<StandardProgram, ProgramError> {
        let mut r = Reader::new(bytes);
        let ro_len = r.le(3, "ro data length")? as usize;
        let rw_len = r.le(3, "rw data length")? as usize;
        let heap_pages = r.le(2, "heap pages")? as u16;
        let stack_size = r.le(3, "stack size")? as u32;
        let ro_data = r.take(ro_len, "ro data")?.to_vec();
        let rw_data = r.take(rw_len, "rw data")?.to_vec();
        let code_len = r.le(4, "code length")? as usize;
        let code = r.take(code_len, "code")?.to_vec();
        r.finish()?;
        let program = StandardProgram { metadata: None, ro_data, rw_data, heap_pages, stack_size, code };
        // With 3-byte lengths this always holds; kept because the spec
        // states it and the fields may widen.
        let footprint = program.footprint();
        if footprint > 1 << 32 {
            return Err(ProgramError::TooLarge {
                field: "memory layout (5·ZZ + Q(|o|) + Q(|w| + z·ZP) + Q(s) + ZI)",
                offset: 0,
                value: footprint,
                limit: 1 << 32,
            });
        }
        Ok(program)
    }

    /// Parses a JAM service code blob: `varint(|m|) ++ m ++` standard program.
    pub fn parse_with_metadata(bytes: &[u8]) -> Result<StandardProgram, ProgramError> {
        let mut r = Reader::new(bytes);
        let meta_len = r.varint_at_most("metadata length", bytes.len() as u64)? as usize;
        let metadata = r.take(meta_len, "metadata")?.to_vec();
        let base = r.offset();
        let mut program = StandardProgram::parse(&bytes[base..]).map_err(|e| e.offset_by(base))?;
        program.metadata = Some(metadata);
        Ok(program)
    }

    /// Serialises (without metadata prefix).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(15 + self.ro_data.len() + self.rw_data.len() + self.code.len());
        out.extend_from_slice(&(self.ro_data.len() as u32).to_le_bytes()[..3]);
        out.extend_from_slice(&(self.rw_data.len() as u32).to_le_bytes()[..3]);
        out.extend_from_slice(&self.heap_pages.to_le_bytes());
        out.extend_from_slice(&self.stack_size.to_le_bytes()[..3]);
        out.extend_from_slice(&self.ro_data);
        out.extend_from_slice(&self.rw_data);
        out.extend_from_slice(&(self.code.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.code);
        out
    }

    /// `5·ZZ + Q(|o|) + Q(|w| + z·ZP) + Q(s) + ZI`, which must not exceed 2^32.
    pub fn footprint(&self) -> u64 {
        5 * ZONE
            + zone_align(self.ro_data.len() as u64)
            + zone_align(self.rw_data.len() as u64 + u64::from(self.heap_pages) * PAGE_SIZE as u64)
            + zone_align(u64::from(self.stack_size))
            + MAX_ARGS
    }

    /// The read-only data region.
    pub fn ro_region(&self) -> Region {
        Region { start: RO_START, len: page_align(self.ro_data.len() as u64) as u32, writable: false }
    }

    /// The read-write data + heap region, starting at `H = 2·ZZ + Q(|o|)`.
    pub fn rw_region(&self) -> Region {
        let start = 2 * ZONE + zone_align(self.ro_data.len() as u64);
        let len = page_align(self.rw_data.len() as u64) + u64::from(self.heap_pages) * PAGE_SIZE as u64;
        Region { start: start as u32, len: len as u32, writable: true }
    }

    /// The stack region, ending at [`STACK_END`].
    pub fn stack_region(&self) -> Region {
        let len = page_align(u64::from(self.stack_size));
        Region { start: (u64::from(STACK_END) - len) as u32, len: len as u32, writable: true }
    }

    /// The argument region for `args_len` bytes of arguments.
    pub fn args_region(args_len: usize) -> Region {
        Region { start: ARGS_START, len: page_align(args_len as u64) as u32, writable: false }
    }

    /// First page of the heap growth area and the growth limit page, for
    /// `grow_heap` (spec §10): `(a, b)`.
    pub fn heap_bounds(&self) -> (u32, u32) {
        let a = (2 * ZONE + zone_align(self.ro_data.len() as u64)) / PAGE_SIZE as u64;
        let b = ((1u64 << 32) - 3 * ZONE - MAX_ARGS - page_align(u64::from(self.stack_size))) / PAGE_SIZE as u64;
        (a as u32, b as u32)
    }
}

/// Initial registers for a standard-program invocation (spec §11.3).
pub fn initial_registers(args_len: usize) -> [u64; 13] {
    let mut regs = [0u64; 13];
    regs[0] = u64::from(HALT_ADDRESS);
    regs[1] = u64::from(STACK_END);
    regs[7] = u64::from(ARGS_START);
    regs[8] = args_len as u64;
    regs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StandardProgram {
        StandardProgram {
            metadata: None,
            ro_data: vec![1, 2, 3],
            rw_data: vec![4; 5000],
            heap_pages: 2,
            stack_size: 8192,
            code: vec![0, 0, 1, 0, 1],
        }
    }

    #[test]
    fn round_trips_and_lays_out_memory() {
        let p = sample();
        let bytes = p.to_bytes();
        assert_eq!(StandardProgram::parse(&bytes).unwrap(), p);
        assert_eq!(p.ro_region(), Region { start: 0x10000, len: 4096, writable: false });
        assert_eq!(p.rw_region(), Region { start: 0x30000, len: 8192 + 8192, writable: true });
        assert_eq!(p.stack_region(), Region { start: 0xFEFD_E000, len: 8192, writable: true });
        assert_eq!(StandardProgram::args_region(1), Region { start: 0xFEFF_0000, len: 4096, writable: false });
    }

    #[test]
    fn metadata_prefix_is_stripped() {
        let p = sample();
        let mut bytes = vec![3, b'a', b'b', b'c'];
        bytes.extend(p.to_bytes());
        let parsed = StandardProgram::parse_with_metadata(&bytes).unwrap();
        assert_eq!(parsed.metadata.as_deref(), Some(&b"abc"[..]));
        assert_eq!(StandardProgram::load(&bytes).unwrap().code, p.code);
    }

    #[test]
    fn errors_name_field_and_offset() {
        let mut bytes = sample().to_bytes();
        bytes.push(9);
        assert_eq!(
            StandardProgram::parse(&bytes),
            Err(ProgramError::TrailingBytes { offset: bytes.len() - 1, count: 1 })
        );
        let bytes = sample().to_bytes();
        assert!(matches!(StandardProgram::parse(&bytes[..20]), Err(ProgramError::Truncated { field: "rw data", .. })));
    }
}
