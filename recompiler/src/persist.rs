//! Compiled modules as rkyv archives, for a persistent module cache: the
//! native code (position-independent) and its tables, loaded back without
//! code generation.
//!
//! Loading validates the archive (bytecheck), then checks every table
//! against the program being loaded and the code: lengths equal the
//! instruction count, offsets lie inside the code, registers are guest
//! registers. An archive that passes can
//! therefore never make the runtime index out of bounds. The native code
//! itself cannot be checked: whoever can write an archive can run code in
//! the process, so archives must come from a place as trusted as the
//! binary.

use crate::code::CodeMemory;
use crate::codegen::{CODE_LIMIT, MemAccess, NO_BASE, Tables, Trampolines};
use crate::cpu::Features;
use crate::module::CompiledModule;
use javm_cap::program::Program;
use javm_cap::program::decoded::NO_INDEX;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Serialize};
use std::sync::Arc;
use thiserror::Error;

/// Version of the archived layout and of the code's conventions; any change
/// to either must change it, so that older archives are rebuilt.
pub const ARCHIVE_FORMAT: u32 = 3;

/// SHA-256 (hex) of the sources that decide the generated code and its
/// tables — this crate's and the program decoder's — computed at build
/// time: a persistent cache keys its files by it, so that code built from
/// other sources under the same version number is never reused.
pub const CODEGEN_FINGERPRINT: &str = env!("JAVM_CODEGEN_FINGERPRINT");

/// Alignment an archive is read in place at.
pub const ARCHIVE_ALIGN: usize = 16;

/// Why an archive cannot be loaded.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// The bytes are not a valid archive (bytecheck).
    #[error("malformed archive: {0}")]
    Malformed(String),
    /// Another archive format.
    #[error("archive format {found}, expected {expected}")]
    Format {
        /// The archive's.
        found: u32,
        /// This build's ([`ARCHIVE_FORMAT`]).
        expected: u32,
    },
    /// The code uses other CPU extensions than this process compiles for.
    #[error("code for CPU features {found:#x}, this process uses {expected:#x}")]
    Features {
        /// The archive's ([`Features::bits`]).
        found: u32,
        /// This process's.
        expected: u32,
    },
    /// A table does not fit the program or the code.
    #[error("inconsistent tables: {0}")]
    Tables(String),
    /// The code could not be placed in executable memory.
    #[error("executable memory: {0}")]
    Memory(String),
}

/// The archived form of a [`CompiledModule`] (without its program).
#[derive(Archive, Serialize)]
struct ModuleDesc {
    format: u32,
    features: u32,
    instructions: u32,
    jump_targets: u32,
    code: Vec<u8>,
    body: Vec<u32>,
    prologue: Vec<u32>,
    fused: Vec<bool>,
    accesses: Vec<MemAccess>,
    enter: u32,
    exit: u32,
    dyn_panic: u32,
    compile_jump: u32,
    shared_len: u32,
    start: u32,
    code_end: u32,
}

fn malformed(e: rancor::Error) -> ArchiveError {
    ArchiveError::Malformed(e.to_string())
}

fn inconsistent(what: String) -> ArchiveError {
    ArchiveError::Tables(what)
}

impl CompiledModule {
    /// The module as an archive ([`CompiledModule::from_archive`] loads it),
    /// if it is compiled in one piece (not lazily: see
    /// [`CompileOptions::lazy`](crate::CompileOptions::lazy)).
    pub fn to_archive(&self) -> Option<Vec<u8>> {
        let t = self.map.whole()?;
        let shared = self.shared;
        let desc = ModuleDesc {
            format: ARCHIVE_FORMAT,
            features: self.features().bits(),
            instructions: t.body.len() as u32,
            jump_targets: self.program().jump_targets().len() as u32,
            code: self.code(),
            body: t.body,
            prologue: t.prologue,
            fused: t.fused,
            accesses: t.accesses,
            enter: shared.enter,
            exit: shared.exit,
            dyn_panic: shared.dyn_panic,
            compile_jump: shared.compile_jump,
            shared_len: shared.len,
            start: t.start,
            code_end: t.code_end,
        };
        Some(rkyv::to_bytes::<rancor::Error>(&desc).expect("plain vectors and integers archive").to_vec())
    }

    /// Loads an archive of `program` compiled for `features` (what
    /// [`CompileOptions::features`](crate::CompileOptions::features) gives):
    /// validates it, checks its tables against `program` and copies the
    /// code into executable memory. The archive is read in place when
    /// `bytes` start at an address aligned to [`ARCHIVE_ALIGN`], else from
    /// an aligned copy.
    pub fn from_archive(
        program: Arc<Program>,
        features: Features,
        bytes: &[u8],
    ) -> Result<CompiledModule, ArchiveError> {
        if !(bytes.as_ptr() as usize).is_multiple_of(ARCHIVE_ALIGN) {
            let mut aligned = AlignedVec::<ARCHIVE_ALIGN>::with_capacity(bytes.len());
            aligned.extend_from_slice(bytes);
            return Self::from_archive(program, features, &aligned);
        }
        let desc = rkyv::access::<ArchivedModuleDesc, rancor::Error>(bytes).map_err(malformed)?;
        let format = desc.format.to_native();
        if format != ARCHIVE_FORMAT {
            return Err(ArchiveError::Format { found: format, expected: ARCHIVE_FORMAT });
        }
        let found = desc.features.to_native();
        if found != features.bits() {
            return Err(ArchiveError::Features { found, expected: features.bits() });
        }
        let shared = Trampolines {
            enter: desc.enter.to_native(),
            exit: desc.exit.to_native(),
            dyn_panic: desc.dyn_panic.to_native(),
            compile_jump: desc.compile_jump.to_native(),
            len: desc.shared_len.to_native(),
        };
        let tables = Tables {
            start: desc.start.to_native(),
            first: 0,
            body: desc.body.iter().map(|b| b.to_native()).collect(),
            prologue: desc.prologue.iter().map(|p| p.to_native()).collect(),
            code_end: desc.code_end.to_native(),
            accesses: rkyv::deserialize::<_, rancor::Error>(&desc.accesses).map_err(malformed)?,
            fused: desc.fused.to_vec(),
        };
        let counts = (desc.instructions.to_native(), desc.jump_targets.to_native());
        if counts != (program.instruction_count() as u32, program.jump_targets().len() as u32) {
            return Err(inconsistent(format!(
                "made for {} instructions and {} jump targets, the program has {} and {}",
                counts.0,
                counts.1,
                program.instruction_count(),
                program.jump_targets().len()
            )));
        }
        check(&program, desc.code.len(), &shared, &tables)?;
        let code = CodeMemory::new(&desc.code).map_err(|e| ArchiveError::Memory(e.to_string()))?;
        Ok(CompiledModule::from_parts(program, code, features, shared, &tables, desc.code.len() as u32))
    }
}

/// Checks that `shared` and `t` fit `program` and `code_len` bytes of
/// code: everything the runtime indexes or jumps to through the tables is
/// in range.
pub(crate) fn check(program: &Program, code_len: usize, shared: &Trampolines, t: &Tables) -> Result<(), ArchiveError> {
    let n = program.instruction_count();
    for (name, len) in [("body", t.body.len()), ("prologue", t.prologue.len()), ("fused", t.fused.len())] {
        if len != n {
            return Err(inconsistent(format!("{name} has {len} entries for {n} instructions")));
        }
    }
    if t.accesses.len() != n {
        return Err(inconsistent(format!("accesses has {} entries for {n} instructions", t.accesses.len())));
    }
    if code_len >= CODE_LIMIT as usize {
        return Err(inconsistent(format!("{code_len} bytes of code, over the limit")));
    }
    let code_end = t.code_end as usize;
    if code_end > code_len {
        return Err(inconsistent(format!("code end {code_end} beyond the {code_len} bytes of code")));
    }
    if shared.len > t.start || t.start > t.code_end {
        return Err(inconsistent(format!(
            "instruction code from {} to {}, overlapping the {} bytes of shared code",
            t.start, t.code_end, shared.len
        )));
    }
    for (name, at) in [
        ("enter", shared.enter),
        ("exit", shared.exit),
        ("dynamic-jump panic", shared.dyn_panic),
        ("dynamic-jump compile", shared.compile_jump),
    ] {
        if at >= shared.len {
            return Err(inconsistent(format!(
                "{name} trampoline at {at}, beyond the {} bytes of shared code",
                shared.len
            )));
        }
    }
    let mut previous = t.start;
    for (i, (&body, &prologue)) in t.body.iter().zip(&t.prologue).enumerate() {
        if body < previous || body > t.code_end || body as usize >= code_len {
            return Err(inconsistent(format!("instruction {i}'s code at {body}, out of order or past the code end")));
        }
        if prologue != u32::MAX && (prologue > body || prologue < t.start) {
            return Err(inconsistent(format!("instruction {i}'s prologue at {prologue}, after its code at {body}")));
        }
        previous = body;
    }
    if t.fused.first() == Some(&true) {
        return Err(inconsistent("the first instruction is marked fused".into()));
    }
    for (j, &target) in program.jump_targets().iter().enumerate() {
        if target != NO_INDEX && t.prologue.get(target as usize).is_none_or(|&p| p == u32::MAX) {
            return Err(inconsistent(format!(
                "jump-table entry {j} targets instruction {target}, which has no prologue"
            )));
        }
    }
    let register = |g: u8| g < 13 || g == NO_BASE;
    if let Some((i, _)) = t.accesses.iter().enumerate().find(|(_, a)| {
        let operands = register(a.base) && register(a.index) && register(a.sum);
        // A fused sum is of two registers.
        let sum = a.sum == NO_BASE || (a.base != NO_BASE && a.index != NO_BASE);
        !(operands && sum && matches!(a.len, 0 | 1 | 2 | 4 | 8))
    }) {
        return Err(inconsistent(format!("instruction {i}'s memory access names no guest register or width")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JitInstance;
    use crate::tests::program;
    use javm_cap::program::{GasModel, Opcode};
    use javm_cap::space::AddressSpace;
    use javm_cap::vm::VmState;
    use std::sync::atomic::Ordering;

    /// Memory accesses, a fused pair, a host call and a dynamic jump
    /// through a table (offsets 14, 0 and 5: the trap, the store and the
    /// middle of the add, which is no instruction).
    fn sample() -> Arc<Program> {
        program(
            &[
                (Opcode::StoreIndU64, &[0x12]),
                (Opcode::LoadIndU64, &[0x43]),
                (Opcode::Add64, &[0x23, 3]),
                (Opcode::SetLtU, &[0x23, 4]),
                (Opcode::JumpInd, &[0x05]),
                (Opcode::Ecalli, &[7]),
            ],
            &[14, 0, 5],
            GasModel::Block,
        )
    }

    fn aligned(bytes: &[u8]) -> AlignedVec<ARCHIVE_ALIGN> {
        let mut out = AlignedVec::with_capacity(bytes.len());
        out.extend_from_slice(bytes);
        out
    }

    fn archive(module: &CompiledModule) -> Vec<u8> {
        module.to_archive().expect("compiled in one piece")
    }

    #[test]
    fn lazy_modules_archive_once_compiled_in_one_region() {
        let lazy = CompiledModule::lazy_for(sample(), Features::NONE, 64, &Arc::default()).unwrap();
        assert!(lazy.to_archive().is_none(), "nothing compiled");
        // All 8 instructions make one region.
        lazy.ensure_compiled(3).unwrap();
        let eager = CompiledModule::compile_for(sample(), Features::NONE, &Arc::default()).unwrap();
        let loaded = load(sample(), Features::NONE, &archive(&lazy)).unwrap();
        assert_eq!(loaded.map.whole(), lazy.map.whole());
        assert_eq!(loaded.code(), eager.code());
    }

    fn load(program: Arc<Program>, features: Features, bytes: &[u8]) -> Result<CompiledModule, ArchiveError> {
        CompiledModule::from_archive(program, features, &aligned(bytes))
    }

    fn run(module: CompiledModule, state: &mut VmState) -> crate::JitExit {
        let mut jit = JitInstance::new(Arc::new(module), AddressSpace::new()).unwrap();
        jit.run(state)
    }

    #[test]
    fn an_archive_loads_back_as_the_same_module() {
        for features in [Features::NONE, Features::detect()] {
            let fresh = CompiledModule::compile_for(sample(), features, &Arc::default()).unwrap();
            let loaded = load(sample(), features, &archive(&fresh)).unwrap();
            assert_eq!(loaded.map.whole(), fresh.map.whole());
            assert_eq!(loaded.shared, fresh.shared);
            assert_eq!(loaded.code(), fresh.code());
            let relative = |m: &CompiledModule| {
                m.jump_table.iter().map(|a| a.load(Ordering::Relaxed) - m.code_base() as u64).collect::<Vec<_>>()
            };
            assert_eq!(relative(&loaded), relative(&fresh));
            assert_eq!(loaded.native_disasm(), fresh.native_disasm());
            // Unaligned bytes are read from an aligned copy.
            let mut shifted = vec![0u8];
            shifted.extend_from_slice(&archive(&fresh));
            let unaligned = CompiledModule::from_archive(sample(), features, &shifted[1..]).unwrap();
            assert_eq!(unaligned.map.whole(), fresh.map.whole());
            // From 0 the store faults (the fault handler reads the access
            // table); from 12 the host call exits.
            for (pc, exit_pc) in [(0, 0), (12, 12)] {
                let start = VmState { pc, gas: 100, ..VmState::default() };
                let (mut a, mut b) = (start, start);
                let fresh = CompiledModule::compile_for(sample(), features, &Arc::default()).unwrap();
                let again = load(sample(), features, &archive(&fresh)).unwrap();
                assert_eq!(run(fresh, &mut a), run(again, &mut b));
                assert_eq!((a, a.pc), (b, exit_pc));
            }
        }
    }

    #[test]
    fn other_formats_features_and_programs_are_refused() {
        let fresh = CompiledModule::compile_for(sample(), Features::NONE, &Arc::default()).unwrap();
        let archive = archive(&fresh);
        let other = Features { popcnt: true, ..Features::NONE };
        assert!(matches!(load(sample(), other, &archive), Err(ArchiveError::Features { found: 0, expected: 8 })));
        let smaller = program(&[(Opcode::Fallthrough, &[])], &[], GasModel::Block);
        let e = load(smaller, Features::NONE, &archive).unwrap_err();
        assert!(e.to_string().contains("made for 8 instructions and 3 jump targets"), "{e}");
        let e = load(sample(), Features::NONE, &archive[..archive.len() - 1]).unwrap_err();
        assert!(matches!(e, ArchiveError::Malformed(_)), "{e}");
        // The format is the first field of the root, which ends the archive.
        let mut future = archive.clone();
        let root = archive.len() - std::mem::size_of::<ArchivedModuleDesc>();
        future[root..root + 4].copy_from_slice(&(ARCHIVE_FORMAT + 1).to_le_bytes());
        assert!(matches!(load(sample(), Features::NONE, &future), Err(ArchiveError::Format { .. })));
    }

    #[test]
    fn tables_that_do_not_fit_are_refused() {
        let program = sample();
        let module = CompiledModule::compile_for(program.clone(), Features::NONE, &Arc::default()).unwrap();
        let code_len = module.code().len();
        let (shared, tables) = (module.shared, module.map.whole().unwrap());
        check(&program, code_len, &shared, &tables).unwrap();
        type Breakage = fn(&mut Trampolines, &mut Tables);
        let cases: [(&str, Breakage); 14] = [
            ("body has 7 entries", |_, t| t.body.truncate(7)),
            ("prologue has 9 entries", |_, t| t.prologue.push(0)),
            ("accesses has 0 entries", |_, t| t.accesses.clear()),
            ("code end", |_, t| t.code_end = u32::MAX),
            ("enter trampoline", |s, _| s.enter = 1 << 30),
            ("dynamic-jump panic trampoline", |s, _| s.dyn_panic = s.len),
            ("overlapping the", |s, t| s.len = t.start + 1),
            ("instruction 7's code", |_, t| t.body[7] = t.code_end + 1),
            ("instruction 2's code", |_, t| t.body[2] = 0),
            ("instruction 0's code", |_, t| t.body[0] = t.start - 1),
            ("instruction 0's prologue", |_, t| t.prologue[0] = t.body[0] + 1),
            ("jump-table entry 1 targets instruction 0", |_, t| t.prologue[0] = u32::MAX),
            ("the first instruction is marked fused", |_, t| t.fused[0] = true),
            ("instruction 1's memory access", |_, t| t.accesses[1].base = 13),
        ];
        for (message, break_it) in cases {
            let (mut s, mut t) = (shared, tables.clone());
            break_it(&mut s, &mut t);
            let e = check(&program, code_len, &s, &t).unwrap_err().to_string();
            assert!(e.contains(message), "{message}: {e}");
        }
        for break_access in [|a: &mut MemAccess| a.len = 3, |a: &mut MemAccess| a.sum = 2] {
            let mut t = tables.clone();
            break_access(&mut t.accesses[0]);
            assert!(check(&program, code_len, &shared, &t).is_err());
        }
        assert!(check(&program, tables.code_end as usize - 1, &shared, &tables).is_err());
    }
}
