//! Program containers: PolkaVM's `.polkavm` blob (read) and the GP standard
//! program `.jam` (write and read back).
//!
//! `.polkavm` layout: magic `PVM\0`, one ISA byte, u64 LE total length, then
//! sections `id: u8, len: varint, payload` ending with section 0. Section
//! 1 (memory config) holds three varints: ro size, rw size, stack size.
//! Sections 2/3 are the ro/rw initial data, 4 imports, 5 exports, 6 the
//! code + jump table (for ISA `jam_v1` exactly the GP `deblob` input);
//! ids >= 128 are optional and skipped.
//!
//! GP standard program (`.jam`): `E3(|o|) E3(|w|) E2(z) E3(s) o w E4(|c|) c`.

use std::fmt;

/// ISA byte value of `jam_v1` in a `.polkavm` container.
pub const ISA_JAM_V1: u8 = 3;
const PAGE: u64 = 4096;

#[derive(Debug)]
pub struct ContainerError(pub String);

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContainerError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ContainerError> {
    Err(ContainerError(msg.into()))
}

/// An export of a `.polkavm` blob: code offset and symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub pc: u32,
    pub symbol: String,
}

/// The parts of a `.polkavm` container this project uses.
#[derive(Clone, Debug, Default)]
pub struct PolkavmParts {
    pub isa: u8,
    pub ro_size: u32,
    pub rw_size: u32,
    pub stack_size: u32,
    pub ro_data: Vec<u8>,
    pub rw_data: Vec<u8>,
    pub import_count: u32,
    pub exports: Vec<Export>,
    pub code: Vec<u8>,
}

/// GP natural-number code as used by both formats (the PolkaVM container
/// only ever stores values below 2^32 this way).
pub fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, ContainerError> {
    let Some(&first) = bytes.get(*pos) else {
        return err("truncated varint");
    };
    *pos += 1;
    let extra = first.leading_ones() as usize;
    if extra == 8 {
        let Some(raw) = bytes.get(*pos..*pos + 8) else {
            return err("truncated varint");
        };
        *pos += 8;
        return Ok(u64::from_le_bytes(raw.try_into().unwrap()));
    }
    let Some(raw) = bytes.get(*pos..*pos + extra) else {
        return err("truncated varint");
    };
    *pos += extra;
    let mut low = 0u64;
    for (i, b) in raw.iter().enumerate() {
        low |= u64::from(*b) << (8 * i);
    }
    let high_mask = (0xFFu32 >> (extra + 1)) as u8; // bits below the 0 marker
    let high = u64::from(first & high_mask);
    Ok(low | (high << (8 * extra)))
}

#[cfg_attr(not(test), allow(dead_code))] // only the tests encode varints
pub fn write_varint(out: &mut Vec<u8>, x: u64) {
    for l in 0..8u32 {
        if x < 1u64 << (7 * (l + 1)) {
            let prefix = !(0xFFu32 >> l) as u8; // l leading 1 bits
            out.push(prefix | (x >> (8 * l)) as u8);
            out.extend_from_slice(&x.to_le_bytes()[..l as usize]);
            return;
        }
    }
    out.push(0xFF);
    out.extend_from_slice(&x.to_le_bytes());
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], ContainerError> {
    let Some(s) = bytes.get(*pos..pos.saturating_add(n)) else {
        return err("truncated section");
    };
    *pos += n;
    Ok(s)
}

fn u32_of(x: u64, what: &str) -> Result<u32, ContainerError> {
    u32::try_from(x).or_else(|_| err(format!("{what} does not fit in 32 bits")))
}

pub fn parse_polkavm(bytes: &[u8]) -> Result<PolkavmParts, ContainerError> {
    if bytes.len() < 13 || &bytes[..4] != b"PVM\0" {
        return err("not a .polkavm blob (bad magic)");
    }
    let mut parts = PolkavmParts {
        isa: bytes[4],
        ..Default::default()
    };
    match parts.isa {
        ISA_JAM_V1 => {}
        2 => {
            return err("ISA latest64 is PolkaVM's own encoding, not GP PVM code; link for jam_v1");
        }
        other => {
            return err(format!(
                "unsupported ISA byte {other}; expected {ISA_JAM_V1} (jam_v1)"
            ));
        }
    }
    let total = u64::from_le_bytes(bytes[5..13].try_into().unwrap());
    if total != bytes.len() as u64 {
        return err(format!(
            "length field {total} does not match blob size {}",
            bytes.len()
        ));
    }
    let mut pos = 13;
    let mut last_id = 0u8;
    loop {
        let Some(&id) = bytes.get(pos) else {
            return err("missing end-of-file section");
        };
        pos += 1;
        if id == 0 {
            break;
        }
        if id < 128 && id <= last_id {
            return err(format!("section {id} out of order"));
        }
        last_id = last_id.max(id);
        let len = read_varint(bytes, &mut pos)? as usize;
        let payload = take(bytes, &mut pos, len)?;
        match id {
            1 => {
                let mut p = 0;
                parts.ro_size = u32_of(read_varint(payload, &mut p)?, "ro size")?;
                parts.rw_size = u32_of(read_varint(payload, &mut p)?, "rw size")?;
                parts.stack_size = u32_of(read_varint(payload, &mut p)?, "stack size")?;
                if p != payload.len() {
                    return err("memory config section has trailing bytes");
                }
            }
            2 => parts.ro_data = payload.to_vec(),
            3 => parts.rw_data = payload.to_vec(),
            4 => {
                let mut p = 0;
                parts.import_count = u32_of(read_varint(payload, &mut p)?, "import count")?;
            }
            5 => {
                let mut p = 0;
                let count = read_varint(payload, &mut p)?;
                for _ in 0..count {
                    let pc = u32_of(read_varint(payload, &mut p)?, "export pc")?;
                    let len = read_varint(payload, &mut p)? as usize;
                    let sym = take(payload, &mut p, len)?;
                    parts.exports.push(Export {
                        pc,
                        symbol: String::from_utf8_lossy(sym).into_owned(),
                    });
                }
            }
            6 => parts.code = payload.to_vec(),
            id if id >= 128 => {} // optional: debug info, metadata hash
            other => return err(format!("unknown mandatory section {other}")),
        }
    }
    if pos != bytes.len() {
        return err("trailing bytes after end-of-file section");
    }
    if parts.code.is_empty() {
        return err("no code section");
    }
    Ok(parts)
}

fn page_up(x: u64) -> u64 {
    x.div_ceil(PAGE) * PAGE
}

fn zone_up(x: u64) -> u64 {
    x.div_ceil(1 << 16) << 16
}

/// The fields of a GP standard program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandardProgram {
    pub ro: Vec<u8>,
    pub rw: Vec<u8>,
    pub heap_pages: u16,
    pub stack_size: u32,
    pub code: Vec<u8>,
}

impl StandardProgram {
    /// Move the fields of a `.polkavm` container into a standard program.
    pub fn from_polkavm(p: &PolkavmParts) -> Result<Self, ContainerError> {
        let mut ro = p.ro_data.clone();
        // The GP read-only area is P(|o|) bytes; a larger declared ro size
        // (trailing zeros trimmed by the linker) is kept by padding `o`.
        if u64::from(p.ro_size) > page_up(ro.len() as u64) {
            ro.resize(p.ro_size as usize, 0);
        }
        let rw = p.rw_data.clone();
        let rw_area = page_up(u64::from(p.rw_size));
        let w_pages = page_up(rw.len() as u64);
        let z = rw_area.saturating_sub(w_pages) / PAGE;
        let heap_pages = u16::try_from(z)
            .or_else(|_| err(format!("{z} heap pages do not fit the 2-byte field")))?;
        let sp = StandardProgram {
            ro,
            rw,
            heap_pages,
            stack_size: p.stack_size,
            code: p.code.clone(),
        };
        sp.check_layout()?;
        Ok(sp)
    }

    fn check_layout(&self) -> Result<(), ContainerError> {
        const ZZ: u64 = 1 << 16;
        const ZI: u64 = 1 << 24;
        for (len, what, max) in [
            (self.ro.len() as u64, "o", 1u64 << 24),
            (self.rw.len() as u64, "w", 1 << 24),
            (u64::from(self.stack_size), "s", 1 << 24),
        ] {
            if len >= max {
                return err(format!("field {what} too large for its 3-byte length"));
            }
        }
        let need = 5 * ZZ
            + zone_up(self.ro.len() as u64)
            + zone_up(self.rw.len() as u64 + u64::from(self.heap_pages) * PAGE)
            + zone_up(u64::from(self.stack_size))
            + ZI;
        if need > 1 << 32 {
            return err("memory layout does not fit in 4 GiB");
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(15 + self.ro.len() + self.rw.len() + self.code.len());
        out.extend_from_slice(&(self.ro.len() as u32).to_le_bytes()[..3]);
        out.extend_from_slice(&(self.rw.len() as u32).to_le_bytes()[..3]);
        out.extend_from_slice(&self.heap_pages.to_le_bytes());
        out.extend_from_slice(&self.stack_size.to_le_bytes()[..3]);
        out.extend_from_slice(&self.ro);
        out.extend_from_slice(&self.rw);
        out.extend_from_slice(&(self.code.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.code);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ContainerError> {
        let mut pos = 0;
        let int = |n: usize, pos: &mut usize| -> Result<u64, ContainerError> {
            let raw = take(bytes, pos, n)?;
            Ok(raw
                .iter()
                .rev()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        };
        let o_len = int(3, &mut pos)? as usize;
        let w_len = int(3, &mut pos)? as usize;
        let heap_pages = int(2, &mut pos)? as u16;
        let stack_size = int(3, &mut pos)? as u32;
        let ro = take(bytes, &mut pos, o_len)?.to_vec();
        let rw = take(bytes, &mut pos, w_len)?.to_vec();
        let c_len = int(4, &mut pos)? as usize;
        let code = take(bytes, &mut pos, c_len)?.to_vec();
        if pos != bytes.len() {
            return err("trailing bytes after the code blob");
        }
        let sp = StandardProgram {
            ro,
            rw,
            heap_pages,
            stack_size,
            code,
        };
        sp.check_layout()?;
        Ok(sp)
    }
}

/// The raw PVM blob (`deblob` input): jump table, code and opcode mask.
#[derive(Clone, Debug)]
pub struct CodeBlob {
    pub jump_table: Vec<u64>,
    pub code: Vec<u8>,
    pub mask: Vec<u8>,
}

impl CodeBlob {
    pub fn parse(blob: &[u8]) -> Result<Self, ContainerError> {
        let mut pos = 0;
        let n = read_varint(blob, &mut pos)? as usize;
        let Some(&z) = blob.get(pos) else {
            return err("truncated blob");
        };
        pos += 1;
        let c_len = read_varint(blob, &mut pos)? as usize;
        let mut jump_table = Vec::with_capacity(n);
        for _ in 0..n {
            let raw = take(blob, &mut pos, usize::from(z))?;
            jump_table.push(
                raw.iter()
                    .rev()
                    .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
            );
        }
        let code = take(blob, &mut pos, c_len)?.to_vec();
        let mask = take(blob, &mut pos, c_len.div_ceil(8))?.to_vec();
        if pos != blob.len() {
            return err("trailing bytes after the opcode mask");
        }
        Ok(CodeBlob {
            jump_table,
            code,
            mask,
        })
    }

    fn is_start(&self, i: usize) -> bool {
        self.mask.get(i / 8).is_none_or(|b| b & (1 << (i % 8)) != 0)
    }

    /// Offsets of all instruction starts, walking the mask as GP's skip does.
    pub fn instruction_starts(&self) -> Vec<usize> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i < self.code.len() {
            starts.push(i);
            let mut skip = 0;
            while skip < 24 && !self.is_start(i + 1 + skip) {
                skip += 1;
            }
            i += 1 + skip;
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_examples() {
        for (x, enc) in [
            (0u64, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x80]),
            (300, vec![0x81, 0x2c]),
            (16384, vec![0xc0, 0x00, 0x40]),
            (1 << 21, vec![0xe0, 0x00, 0x00, 0x20]),
            (u64::MAX, vec![0xff; 9]),
        ] {
            let mut out = Vec::new();
            write_varint(&mut out, x);
            assert_eq!(out, enc, "encoding {x}");
            let mut pos = 0;
            assert_eq!(read_varint(&enc, &mut pos).unwrap(), x);
            assert_eq!(pos, enc.len());
        }
    }

    #[test]
    fn standard_program_roundtrip() {
        let sp = StandardProgram {
            ro: vec![1, 2, 3],
            rw: vec![4; 5000],
            heap_pages: 7,
            stack_size: 65536,
            code: vec![0, 1, 1, 0, 1],
        };
        assert_eq!(StandardProgram::decode(&sp.encode()).unwrap(), sp);
    }
}
