//! ELF (RV64E shared object) -> `.polkavm` (ISA jam_v1) with the PolkaVM
//! linker, then -> GP standard program.

use crate::container::{CodeBlob, ISA_JAM_V1, PolkavmParts, StandardProgram, parse_polkavm};

/// The symbol every guest exports; dispatch-table entry 0 (code offset 0).
pub const ENTRY_SYMBOL: &str = "guest_main";

/// GP opcode of `jump` (an unconditional static jump).
const OPCODE_JUMP: u8 = 40;

pub struct Linked {
    pub polkavm: Vec<u8>,
    pub parts: PolkavmParts,
    pub jam: Vec<u8>,
    pub program: StandardProgram,
}

pub fn link_elf(elf: &[u8]) -> Result<Linked, String> {
    let mut config = polkavm_linker::Config::default();
    config.set_strip(true);
    config.set_optimize(true);
    config.set_dispatch_table(vec![ENTRY_SYMBOL.as_bytes().to_vec()]);
    let polkavm =
        polkavm_linker::program_from_elf(config, polkavm_linker::TargetInstructionSet::JamV1, elf)
            .map_err(|e| format!("polkavm-linker: {e}"))?;
    convert(polkavm)
}

/// Parse a `.polkavm` blob, check the entry convention and build the `.jam`.
pub fn convert(polkavm: Vec<u8>) -> Result<Linked, String> {
    let parts = parse_polkavm(&polkavm).map_err(|e| e.to_string())?;
    if parts.isa != ISA_JAM_V1 {
        return Err("not a jam_v1 blob".into());
    }
    if !parts.exports.iter().any(|e| e.symbol == ENTRY_SYMBOL) {
        return Err(format!("no `{ENTRY_SYMBOL}` export"));
    }
    let code = CodeBlob::parse(&parts.code).map_err(|e| e.to_string())?;
    if code.code.first() != Some(&OPCODE_JUMP) {
        return Err("code offset 0 is not the dispatch jump to the entry point".into());
    }
    let program = StandardProgram::from_polkavm(&parts).map_err(|e| e.to_string())?;
    let jam = program.encode();
    Ok(Linked {
        polkavm,
        parts,
        jam,
        program,
    })
}
