//! A large program for load-time benches: the code of every guest, repeated
//! until the code reaches a size, as one raw code blob (spec §4).
//!
//! Branch offsets are relative, so each copy keeps its control flow; the
//! jump-table entries of a copy are moved by the copy's code offset. The
//! result decodes like real compiler output (it is real compiler output),
//! which matters for the pipeline gas model, whose cost depends on the
//! instruction mix.

use crate::guests::Guest;
use javm_cap::program::{CodeBlob, StandardProgram};

/// A raw code blob of at least `min_code_len` code bytes built from
/// `guests`' code.
///
/// # Panics
///
/// If a guest's `.jam` does not parse or `guests` is empty.
pub fn code_blob(guests: &[Guest], min_code_len: usize) -> Vec<u8> {
    assert!(!guests.is_empty(), "no guests");
    let parts: Vec<CodeBlob> = guests
        .iter()
        .map(|g| {
            let standard = StandardProgram::load(&g.jam).expect("a standard program");
            CodeBlob::parse(&standard.code).expect("a code blob")
        })
        .collect();
    let mut code = Vec::with_capacity(min_code_len + 4096);
    let mut starts = Vec::new();
    let mut table = Vec::new();
    'fill: loop {
        for part in &parts {
            let base = code.len();
            starts.extend((0..part.code.len()).filter(|&i| part.is_start_bit(i)).map(|i| base + i));
            table.extend(part.jump_table.iter().map(|&t| t + base as u32));
            code.extend_from_slice(&part.code);
            if code.len() >= min_code_len {
                break 'fill;
            }
        }
    }
    CodeBlob::from_parts(code, starts, table).to_bytes()
}

/// Code length of a raw code blob.
///
/// # Panics
///
/// If it does not parse.
pub fn code_len(blob: &[u8]) -> usize {
    CodeBlob::parse(blob).expect("a code blob").code.len()
}
