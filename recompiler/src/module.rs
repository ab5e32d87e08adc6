//! [`CompiledModule`]: a program's native code and the tables that connect
//! it to the guest program, compiled in one piece or region by region on
//! first entry (see [`crate::lazy`]).

use crate::code::CodeMemory;
use crate::codegen::{self, CompileContext, Placement, Trampolines};
use crate::codemap::CodeMap;
use crate::cpu::Features;
use crate::error::CompileError;
use crate::options::CompileOptions;
use crate::window::PagerPool;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use javm_cap::program::Program;
use javm_cap::program::decoded::NO_INDEX;
use javm_cap::program::disasm::format_instruction;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

/// A program compiled to x86-64. Shareable between threads and instances.
/// Aligned to two cache lines so that, in an `Arc`, the reference counts
/// that instances on other threads write are not on a line with what every
/// run reads.
#[repr(align(128))]
pub struct CompiledModule {
    program: Arc<Program>,
    code: CodeMemory,
    features: Features,
    pub(crate) shared: Trampolines,
    pub(crate) map: CodeMap,
    /// Absolute native addresses of the jump-table targets: the panic stub
    /// for invalid entries, the compile stub for targets not compiled yet.
    pub(crate) jump_table: Box<[AtomicU64]>,
    /// The jump-table targets, sorted.
    pub(crate) dynamic_targets: Box<[u32]>,
    /// Code generation still to come, and the bytes used.
    pub(crate) lazy: Mutex<Lazy>,
    /// Instructions a lazily compiled region grows to.
    pub(crate) region: u32,
    /// Where lazily compiled regions are assembled.
    pub(crate) context: Arc<CompileContext>,
    /// Windows of ended instances, kept for the next ones.
    pub(crate) pagers: Arc<PagerPool>,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("instructions", &self.map.len())
            .field("code_size", &self.code_size())
            .field("features", &self.features)
            .finish()
    }
}

impl CompiledModule {
    /// Compiles `program` for this CPU (or baseline x86-64 with
    /// `force_fallbacks`): in one piece, or, with `lazy`, only the shared
    /// code now and each region on its first entry. Assembles in a context
    /// of its own; [`CompiledModule::compile_in`] shares one.
    pub fn compile(program: Arc<Program>, options: &CompileOptions) -> Result<CompiledModule, CompileError> {
        Self::compile_in(program, options, &Arc::default())
    }

    /// [`CompiledModule::compile`], assembling in `context`'s buffers (a
    /// lazy module keeps the context for its regions).
    pub fn compile_in(
        program: Arc<Program>,
        options: &CompileOptions,
        context: &Arc<CompileContext>,
    ) -> Result<CompiledModule, CompileError> {
        if options.lazy {
            Self::lazy_for(program, options.features(), options.region, context)
        } else {
            Self::compile_for(program, options.features(), context)
        }
    }

    /// Compiles all of `program` in `context` using exactly the extensions
    /// in `features` (the code must only run where they are available).
    pub(crate) fn compile_for(
        program: Arc<Program>,
        features: Features,
        context: &Arc<CompileContext>,
    ) -> Result<CompiledModule, CompileError> {
        codegen::check_size(&program)?;
        let (shared_code, shared) = codegen::trampolines(features)?;
        let n = program.instruction_count() as u32;
        let dynamic_targets = sorted_targets(&program);
        let place =
            Placement { base: shared.len, exit: shared.exit, compiled: &|_| None, dynamic_targets: &dynamic_targets };
        let (region, code) = context.with_scratch(|scratch| {
            codegen::compile_region(scratch, &program, features, (0, n), &place, |bytes| {
                let code = CodeMemory::reserve(shared_code.len() + bytes.len())
                    .map_err(|e| CompileError::Memory(e.to_string()))?;
                // SAFETY: a fresh block; nothing runs or reads it yet.
                unsafe {
                    code.write(0, &shared_code);
                    code.write(shared_code.len(), bytes);
                }
                Ok(code)
            })
        })?;
        debug_assert!(region.patches.is_empty(), "one region jumps only inside itself");
        let used = shared.len + region.len;
        Ok(Self::from_parts(program, code, features, shared, &region.tables, used))
    }

    /// A module of `program` for `features` that compiles each region (of
    /// `region` instructions or more) on first entry, in `context`; only
    /// the shared code is generated now.
    pub(crate) fn lazy_for(
        program: Arc<Program>,
        features: Features,
        region: u32,
        context: &Arc<CompileContext>,
    ) -> Result<CompiledModule, CompileError> {
        codegen::check_size(&program)?;
        let (shared_code, shared) = codegen::trampolines(features)?;
        let code =
            CodeMemory::reserve(capacity(&program, shared.len)).map_err(|e| CompileError::Memory(e.to_string()))?;
        // SAFETY: a fresh block; nothing runs or reads it yet.
        unsafe { code.write(0, &shared_code) };
        let map = CodeMap::new(program.instruction_count(), program.blocks().len() + 1);
        // Valid entries reach the compile stub until their target is.
        let module = Self::assemble(program, code, features, shared, map, shared.len, |_, _| shared.compile_jump);
        Ok(CompiledModule { region: region.max(1), context: context.clone(), ..module })
    }

    /// The module of `code` (already in executable memory, `used` bytes of
    /// it) holding `shared` and one region covering all of `program`
    /// (`tables`), made with `features`. The tables must be consistent with
    /// the program and the code (see [`crate::persist`] for the checks).
    pub(crate) fn from_parts(
        program: Arc<Program>,
        code: CodeMemory,
        features: Features,
        shared: Trampolines,
        tables: &codegen::Tables,
        used: u32,
    ) -> CompiledModule {
        let map = CodeMap::new(program.instruction_count(), 1);
        map.publish(tables);
        Self::assemble(program, code, features, shared, map, used, |map, t| {
            map.prologue(t).expect("checked: every jump target has a prologue")
        })
    }

    /// The module of these parts, with `used` bytes of code written; valid
    /// jump-table entries point at `entry(map, target)` (an offset), invalid
    /// ones at the panic stub. Regions as large as the program.
    fn assemble(
        program: Arc<Program>,
        code: CodeMemory,
        features: Features,
        shared: Trampolines,
        map: CodeMap,
        used: u32,
        entry: impl Fn(&CodeMap, u32) -> u32,
    ) -> CompiledModule {
        let base = code.addr() as u64;
        let jump_table = program
            .jump_targets()
            .iter()
            .map(|&t| AtomicU64::new(base + u64::from(if t == NO_INDEX { shared.dyn_panic } else { entry(&map, t) })))
            .collect();
        CompiledModule {
            dynamic_targets: sorted_targets(&program),
            program,
            code,
            features,
            shared,
            map,
            jump_table,
            lazy: Mutex::new(Lazy::new(used)),
            region: u32::MAX,
            context: Arc::default(),
            pagers: PagerPool::new(),
        }
    }

    /// The code generation state (poison is harmless: it is updated only
    /// after each step succeeds).
    pub(crate) fn lazy(&self) -> MutexGuard<'_, Lazy> {
        self.lazy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The native code generated so far.
    pub(crate) fn code(&self) -> Vec<u8> {
        let lazy = self.lazy();
        // SAFETY: code is written and patched only under the lock we hold.
        unsafe { self.code.bytes(lazy.used as usize) }.to_vec()
    }

    /// The executable memory.
    pub(crate) fn code_memory(&self) -> &CodeMemory {
        &self.code
    }

    /// The program it was compiled from.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// The CPU extensions the code uses.
    pub fn features(&self) -> Features {
        self.features
    }

    /// Bytes of native code generated so far (shared code, instructions and
    /// stubs).
    pub fn code_size(&self) -> usize {
        self.lazy().used as usize
    }

    /// Guest instructions compiled so far.
    pub fn compiled_instructions(&self) -> usize {
        self.map.regions().map(|r| (r.end - r.first) as usize).sum()
    }

    pub(crate) fn code_base(&self) -> usize {
        self.code.addr()
    }

    /// The entry trampoline.
    pub(crate) fn enter_fn(&self) -> unsafe extern "sysv64" fn(*mut u8) -> u32 {
        let ptr = (self.code_base() + self.shared.enter as usize) as *const u8;
        // SAFETY: the trampoline at `enter` follows the sysv64 convention
        // with this signature (see `codegen::trampoline`).
        unsafe { std::mem::transmute::<*const u8, unsafe extern "sysv64" fn(*mut u8) -> u32>(ptr) }
    }

    /// Absolute address of the exit trampoline.
    pub(crate) fn exit_addr(&self) -> usize {
        self.code_base() + self.shared.exit as usize
    }

    /// Whether a run may start at instruction `index`, once compiled (else
    /// the runtime interprets to the end of its block).
    pub(crate) fn is_entry(&self, index: u32) -> bool {
        !self.map.is_fused(index)
    }

    /// Absolute address of instruction `index`'s body (compiled).
    pub(crate) fn entry_addr(&self, index: u32) -> u64 {
        (self.code_base() + self.map.body(index).expect("compiled") as usize) as u64
    }

    /// Absolute address of the gas prologue of segment start `index`
    /// (compiled).
    pub(crate) fn prologue_addr(&self, index: u32) -> u64 {
        (self.code_base() + self.map.prologue(index).expect("a compiled segment start") as usize) as u64
    }

    /// The guest instruction whose body contains native address `rip`, if
    /// it lies in instruction code. Lock-free: the fault handler calls it.
    pub(crate) fn index_at(&self, rip: usize) -> Option<u32> {
        let offset = rip.checked_sub(self.code_base())?;
        if offset >= self.code.capacity() {
            return None;
        }
        self.map.index_at(offset as u32)
    }

    /// The generated x86-64 per guest instruction: its pc and PVM text, then
    /// its native code (Intel syntax), then the out-of-line stubs, region
    /// by region in address order (a module compiling lazily lists only
    /// what it compiled so far).
    pub fn native_disasm(&self) -> String {
        let code = self.code();
        let mut out = String::new();
        let _ = writeln!(out, "; trampolines");
        disasm_range(&mut out, &code, 0, self.shared.len as usize, Listing::ABSOLUTE);
        self.write_code(&mut out, &code, Listing::ABSOLUTE);
        out
    }

    /// As [`native_disasm`](Self::native_disasm) without the shared code,
    /// with each native instruction's bytes, at offsets from the first
    /// instruction's code: a listing that does not move when the trampolines
    /// change (the golden encoding tests compare it).
    #[cfg(test)]
    pub(crate) fn code_listing(&self) -> String {
        let code = self.code();
        let mut out = String::new();
        let origin = self.map.regions().next().map_or(code.len(), |r| {
            self.map.prologue(r.first).unwrap_or_else(|| self.map.body(r.first).expect("compiled")) as usize
        });
        self.write_code(&mut out, &code, Listing { origin, bytes: true });
        out
    }

    /// The code of every compiled guest instruction, then its region's
    /// stubs.
    fn write_code(&self, out: &mut String, code: &[u8], listing: Listing) {
        let regions: Vec<_> = self.map.regions().collect();
        for (r, region) in regions.iter().enumerate() {
            let start_of = |i: u32| self.map.prologue(i).unwrap_or_else(|| self.map.body(i).expect("compiled"));
            for i in region.first..region.end {
                let start = start_of(i);
                let end = if i + 1 < region.end { start_of(i + 1) } else { region.code_end };
                let ins = self.program.instruction(i);
                let _ = writeln!(out, "{:>6}: {}", ins.pc, format_instruction(ins));
                disasm_range(out, code, start as usize, end as usize, listing);
            }
            let stubs_end = regions.get(r + 1).map_or(code.len(), |next| next.start as usize);
            let _ = writeln!(out, "; exit stubs");
            disasm_range(out, code, region.code_end as usize, stubs_end, listing);
        }
    }
}

/// Code generation state of a module, under its lock (see [`crate::lazy`]).
#[derive(Debug)]
pub(crate) struct Lazy {
    /// Bytes of the code block written (the next region goes there).
    pub used: u32,
    /// Per segment start not compiled yet: the module offsets of the thunk
    /// displacements waiting for it.
    pub(crate) pending: HashMap<u32, Vec<u32>>,
    /// A region could not be compiled (the block is full): nothing more
    /// will be.
    pub(crate) failed: bool,
}

impl Lazy {
    /// `used` bytes written (the shared code, or a whole module).
    pub(crate) fn new(used: u32) -> Lazy {
        Lazy { used, pending: HashMap::new(), failed: false }
    }
}

/// Bytes of code block a lazy module of `program` reserves: a bound on
/// what all its regions can need (address space only until written; a
/// region that would not fit is interpreted instead).
pub(crate) fn capacity(program: &Program, shared: u32) -> usize {
    // Generous per code byte (no instruction's code comes near) and per
    // segment (prologue, 64-byte alignment, stubs, thunks).
    shared as usize + 4096 + 64 * program.code().len() + 256 * (program.blocks().len() + 1)
}

/// The jump-table targets of `program`, sorted, without invalid entries.
fn sorted_targets(program: &Program) -> Box<[u32]> {
    let mut targets: Vec<u32> = program.jump_targets().iter().copied().filter(|&t| t != NO_INDEX).collect();
    targets.sort_unstable();
    targets.dedup();
    targets.into_boxed_slice()
}

/// Disassembles `code[start..end]`.
fn disasm_range(out: &mut String, code: &[u8], start: usize, end: usize, listing: Listing) {
    let code = &code[start..end];
    let ip = start.wrapping_sub(listing.origin) as u64;
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    let mut text = String::new();
    for instruction in &mut decoder {
        text.clear();
        formatter.format(&instruction, &mut text);
        let _ = write!(out, "        {:06x}  ", instruction.ip());
        if listing.bytes {
            let at = (instruction.ip() - ip) as usize;
            let hex: Vec<String> = code[at..at + instruction.len()].iter().map(|b| format!("{b:02X}")).collect();
            let _ = write!(out, "{:<33} ", hex.join(" "));
        }
        let _ = writeln!(out, "{text}");
    }
}

/// How a disassembly is written.
#[derive(Clone, Copy)]
struct Listing {
    /// Module offset shown as address 0 (jump targets are relative to it).
    origin: usize,
    /// Whether each instruction's bytes are shown.
    bytes: bool,
}

impl Listing {
    /// Module offsets, no bytes.
    const ABSOLUTE: Listing = Listing { origin: 0, bytes: false };
}
