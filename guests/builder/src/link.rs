//! ELF (RV64E shared object) -> `.polkavm` (ISA jam_v1) with the PolkaVM
//! linker, then -> GP standard program with javm's own container conversion.

use javm_cap::program::CodeBlob;
use javm_cap::program::StandardProgram;
use javm_cap::program::container::Container;

/// The symbol every guest exports; dispatch-table entry 0 (code offset 0).
pub const ENTRY_SYMBOL: &str = "guest_main";

/// GP opcode of `jump` (an unconditional static jump).
const OPCODE_JUMP: u8 = 40;

pub struct Linked {
    pub polkavm: Vec<u8>,
    pub code: CodeBlob,
    pub jam: Vec<u8>,
    pub program: StandardProgram,
}

pub fn link_elf(elf: &[u8]) -> Result<Linked, String> {
    let mut config = polkavm_linker::Config::default();
    config.set_strip(true);
    config.set_optimize(true);
    config.set_dispatch_table(vec![ENTRY_SYMBOL.as_bytes().to_vec()]);
    let polkavm = polkavm_linker::program_from_elf(config, polkavm_linker::TargetInstructionSet::JamV1, elf)
        .map_err(|e| format!("polkavm-linker: {e}"))?;
    convert(polkavm)
}

/// Parse a `.polkavm` blob, check the entry convention and build the `.jam`.
pub fn convert(polkavm: Vec<u8>) -> Result<Linked, String> {
    let container = Container::parse(&polkavm).map_err(|e| e.to_string())?;
    let exports = container.exports().map_err(|e| e.to_string())?;
    if !exports.iter().any(|e| e.symbol == ENTRY_SYMBOL.as_bytes()) {
        return Err(format!("no `{ENTRY_SYMBOL}` export"));
    }
    let code = CodeBlob::parse(&container.code).map_err(|e| e.to_string())?;
    if code.code.first() != Some(&OPCODE_JUMP) {
        return Err("code offset 0 is not the dispatch jump to the entry point".into());
    }
    let program = container.to_standard().map_err(|e| e.to_string())?;
    let jam = program.to_bytes();
    Ok(Linked { polkavm, code, jam, program })
}
