//! The `.polkavm` program container: magic `PVM\0`, an instruction-set byte,
//! the total length, then sections `id, varint length, payload` in
//! increasing id order, ending with section 0. Only the `jam_v1` instruction
//! set is GP code; the others are rejected by name.

use super::error::ProgramError;
use super::reader::Reader;
use super::standard::{StandardProgram, page_align};
use crate::PAGE_SIZE;

/// The container's magic bytes.
pub const MAGIC: [u8; 4] = *b"PVM\0";

const SECTION_END: u8 = 0;
const SECTION_MEMORY_CONFIG: u8 = 1;
const SECTION_RO_DATA: u8 = 2;
const SECTION_RW_DATA: u8 = 3;
const SECTION_IMPORTS: u8 = 4;
const SECTION_EXPORTS: u8 = 5;
const SECTION_CODE: u8 = 6;
/// Sections with this bit set are optional and skipped.
const SECTION_OPTIONAL: u8 = 0x80;
const ISA_JAM_V1: u8 = 3;

/// One exported entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// Code offset.
    pub pc: u32,
    /// Symbol name (bytes as stored).
    pub symbol: Vec<u8>,
}

/// The parts of a `.polkavm` container javm uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    /// Declared read-only data size.
    pub ro_size: u32,
    /// Declared read-write data size.
    pub rw_size: u32,
    /// Declared stack size.
    pub stack_size: u32,
    /// Read-only data payload.
    pub ro_data: Vec<u8>,
    /// Read-write data payload.
    pub rw_data: Vec<u8>,
    /// Raw imports section (unused by jam_v1 code, which calls `ecalli`).
    pub imports: Vec<u8>,
    /// Raw exports section.
    pub exports: Vec<u8>,
    /// Section 6: the GP code blob (jump table, code, bitmask).
    pub code: Vec<u8>,
}

fn isa_name(isa: u8) -> &'static str {
    match isa {
        0 => "revive_v1",
        1 => "latest32",
        2 => "latest64",
        3 => "jam_v1",
        _ => "unknown",
    }
}

impl Container {
    /// Parses a container, rejecting every instruction set but jam_v1.
    pub fn parse(bytes: &[u8]) -> Result<Container, ProgramError> {
        let mut r = Reader::new(bytes);
        if r.take(4, "magic")? != MAGIC {
            return Err(ProgramError::Invalid { field: "magic", offset: 0, reason: "expected \"PVM\\0\"".into() });
        }
        let isa = r.u8("instruction set")?;
        if isa != ISA_JAM_V1 {
            return Err(ProgramError::UnsupportedIsa { isa, name: isa_name(isa) });
        }
        let declared = r.le(8, "total length")?;
        if declared != bytes.len() as u64 {
            return Err(ProgramError::Invalid {
                field: "total length",
                offset: 5,
                reason: format!("says {declared} bytes, the input has {}", bytes.len()),
            });
        }
        let mut out = Container::default();
        let mut last_id = 0u8;
        loop {
            let id_offset = r.offset();
            let id = r.u8("section id")?;
            if id == SECTION_END {
                break;
            }
            if id & SECTION_OPTIONAL == 0 && id <= last_id {
                return Err(ProgramError::Invalid {
                    field: "section id",
                    offset: id_offset,
                    reason: format!("section {id} out of order or repeated"),
                });
            }
            let len = r.varint_at_most("section length", r.remaining() as u64)? as usize;
            let payload_offset = r.offset();
            let payload = r.take(len, "section payload")?;
            match id {
                SECTION_MEMORY_CONFIG => {
                    let mut m = Reader::new(payload);
                    let limit = u64::from(u32::MAX);
                    out.ro_size =
                        m.varint_at_most("ro data size", limit).map_err(|e| e.offset_by(payload_offset))? as u32;
                    out.rw_size =
                        m.varint_at_most("rw data size", limit).map_err(|e| e.offset_by(payload_offset))? as u32;
                    out.stack_size =
                        m.varint_at_most("stack size", limit).map_err(|e| e.offset_by(payload_offset))? as u32;
                    m.finish().map_err(|e| e.offset_by(payload_offset))?;
                }
                SECTION_RO_DATA => out.ro_data = payload.to_vec(),
                SECTION_RW_DATA => out.rw_data = payload.to_vec(),
                SECTION_IMPORTS => out.imports = payload.to_vec(),
                SECTION_EXPORTS => out.exports = payload.to_vec(),
                SECTION_CODE => out.code = payload.to_vec(),
                id if id & SECTION_OPTIONAL != 0 => {}
                _ => {
                    return Err(ProgramError::Invalid {
                        field: "section id",
                        offset: id_offset,
                        reason: format!("unknown required section {id}"),
                    });
                }
            }
            if id & SECTION_OPTIONAL == 0 {
                last_id = id;
            }
        }
        r.finish()?;
        Ok(out)
    }

    /// The exports section: `(code offset, symbol)` of each export.
    pub fn exports(&self) -> Result<Vec<Export>, ProgramError> {
        let mut r = Reader::new(&self.exports);
        let limit = u64::from(u32::MAX);
        let count = r.varint_at_most("export count", self.exports.len() as u64)?;
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let pc = r.varint_at_most("export code offset", limit)? as u32;
            let len = r.varint_at_most("export symbol length", r.remaining() as u64)? as usize;
            let symbol = r.take(len, "export symbol")?.to_vec();
            out.push(Export { pc, symbol });
        }
        r.finish()?;
        Ok(out)
    }

    /// Converts to a GP standard program: `o` = ro payload padded to the
    /// declared ro size, `w` = rw payload, `z` = the declared rw pages beyond
    /// the payload, `s` = stack size, `c` = section 6.
    pub fn to_standard(&self) -> Result<StandardProgram, ProgramError> {
        let too_large = |field, value: u64, limit: u64| ProgramError::TooLarge { field, offset: 0, value, limit };
        const MAX_3: u64 = 0xFF_FFFF;
        // The GP read-only area is P(|o|) bytes: `o` is padded only when the
        // declared size reaches past the payload's last page, so the layout
        // is the declared one and `o` stays as short as it can. Checked
        // before padding, so a declared size cannot drive allocation.
        let payload = self.ro_data.len() as u64;
        let ro_len = if u64::from(self.ro_size) > page_align(payload) { u64::from(self.ro_size) } else { payload };
        if ro_len > MAX_3 {
            return Err(too_large("ro data size", ro_len, MAX_3));
        }
        let mut ro_data = self.ro_data.clone();
        ro_data.resize(ro_len as usize, 0);
        if self.rw_data.len() as u64 > MAX_3 {
            return Err(too_large("rw data payload", self.rw_data.len() as u64, MAX_3));
        }
        if u64::from(self.stack_size) > MAX_3 {
            return Err(too_large("stack size", u64::from(self.stack_size), MAX_3));
        }
        let rw_total = page_align(u64::from(self.rw_size)).max(page_align(self.rw_data.len() as u64));
        let heap_pages = (rw_total - page_align(self.rw_data.len() as u64)) / PAGE_SIZE as u64;
        if heap_pages > u64::from(u16::MAX) {
            return Err(too_large("rw data size (heap pages)", heap_pages, u64::from(u16::MAX)));
        }
        Ok(StandardProgram {
            metadata: None,
            ro_data,
            rw_data: self.rw_data.clone(),
            heap_pages: heap_pages as u16,
            stack_size: self.stack_size,
            code: self.code.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::varint;

    fn build(isa: u8, sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, payload) in sections {
            body.push(*id);
            varint::encode(payload.len() as u64, &mut body);
            body.extend(payload);
        }
        body.push(0);
        let mut out = MAGIC.to_vec();
        out.push(isa);
        out.extend(((13 + body.len()) as u64).to_le_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn converts_to_a_standard_program() {
        let mut mem = Vec::new();
        for v in [10u64, 5000, 4096] {
            varint::encode(v, &mut mem);
        }
        let bytes =
            build(3, &[(1, mem), (2, vec![7; 3]), (3, vec![9; 100]), (6, vec![0, 0, 1, 0, 1]), (0x81, vec![1, 2])]);
        let c = Container::parse(&bytes).unwrap();
        let p = c.to_standard().unwrap();
        assert_eq!(p.ro_data, [7, 7, 7], "a declared size inside the payload's page adds nothing");
        assert_eq!(p.rw_data.len(), 100);
        assert_eq!(p.heap_pages, 1);
        assert_eq!(p.stack_size, 4096);
        assert_eq!(p.code, [0, 0, 1, 0, 1]);
        assert_eq!(StandardProgram::load(&bytes).unwrap(), p);
    }

    #[test]
    fn huge_declared_ro_size_is_refused_before_allocating() {
        // Regression: the ro payload was padded to the declared size (up to
        // 4 GiB) before the size was checked.
        let mut mem = Vec::new();
        for v in [u64::from(u32::MAX), 0, 0] {
            varint::encode(v, &mut mem);
        }
        let c = Container::parse(&build(3, &[(1, mem)])).unwrap();
        assert_eq!(
            c.to_standard(),
            Err(ProgramError::TooLarge {
                field: "ro data size",
                offset: 0,
                value: u64::from(u32::MAX),
                limit: 0xFF_FFFF
            })
        );
    }

    #[test]
    fn pads_read_only_data_to_a_larger_declared_size_and_lists_exports() {
        let mut mem = Vec::new();
        for v in [5000u64, 0, 0] {
            varint::encode(v, &mut mem);
        }
        let exports = vec![1, 5, 4, b'm', b'a', b'i', b'n'];
        let bytes = build(3, &[(1, mem), (2, vec![7; 3]), (5, exports), (6, vec![0, 0, 1, 0, 1])]);
        let c = Container::parse(&bytes).unwrap();
        assert_eq!(c.to_standard().unwrap().ro_data.len(), 5000);
        assert_eq!(c.exports().unwrap(), [Export { pc: 5, symbol: b"main".to_vec() }]);
        let truncated = Container { exports: vec![1, 5, 9, b'x'], ..c };
        assert!(matches!(truncated.exports(), Err(ProgramError::TooLarge { field: "export symbol length", .. })));
    }

    #[test]
    fn rejects_other_isas_by_name() {
        let bytes = build(2, &[]);
        assert_eq!(Container::parse(&bytes), Err(ProgramError::UnsupportedIsa { isa: 2, name: "latest64" }));
    }

    #[test]
    fn rejects_bad_length_and_order() {
        let mut bytes = build(3, &[]);
        bytes[5] += 1;
        assert!(matches!(Container::parse(&bytes), Err(ProgramError::Invalid { field: "total length", .. })));
        let bytes = build(3, &[(3, vec![]), (2, vec![])]);
        assert!(matches!(Container::parse(&bytes), Err(ProgramError::Invalid { field: "section id", .. })));
    }
}
