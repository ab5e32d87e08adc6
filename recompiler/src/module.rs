//! [`CompiledModule`]: a program's native code and the tables that connect
//! it to the guest program.

use crate::code::CodeMemory;
use crate::codegen::{self, Output, Tables};
use crate::cpu::Features;
use crate::error::CompileError;
use crate::options::CompileOptions;
use crate::window::PagerPool;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use javm_cap::program::Program;
use javm_cap::program::decoded::NO_INDEX;
use javm_cap::program::disasm::format_instruction;
use std::fmt::Write;
use std::sync::Arc;

/// A program compiled to x86-64. Shareable between threads and instances.
pub struct CompiledModule {
    program: Arc<Program>,
    code: CodeMemory,
    features: Features,
    pub(crate) tables: Tables,
    /// Absolute native addresses of the jump-table targets (the panic
    /// stub for invalid entries).
    pub(crate) jump_table: Box<[u64]>,
    /// Windows of ended instances, kept for the next ones.
    pub(crate) pagers: Arc<PagerPool>,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("instructions", &self.tables.body.len())
            .field("code_size", &self.code_size())
            .field("features", &self.features)
            .finish()
    }
}

impl CompiledModule {
    /// Compiles `program` for this CPU (or baseline x86-64 with
    /// `force_fallbacks`).
    pub fn compile(program: Arc<Program>, options: &CompileOptions) -> Result<CompiledModule, CompileError> {
        Self::compile_for(program, options.features())
    }

    /// Compiles `program` using exactly the extensions in `features` (the
    /// code must only run where they are available).
    pub(crate) fn compile_for(program: Arc<Program>, features: Features) -> Result<CompiledModule, CompileError> {
        let Output { code, tables } = codegen::compile(&program, features)?;
        Ok(Self::from_parts(program, code, features, tables))
    }

    /// The module of `code` (already in executable memory) and `tables`
    /// made for `program` with `features`: computes the jump table's
    /// absolute addresses. The tables must be consistent with the program
    /// and the code (see [`crate::persist`] for the checks).
    pub(crate) fn from_parts(
        program: Arc<Program>,
        code: CodeMemory,
        features: Features,
        tables: Tables,
    ) -> CompiledModule {
        let base = code.addr() as u64;
        let jump_table = program
            .jump_targets()
            .iter()
            .map(|&t| {
                base + if t == NO_INDEX { tables.dyn_panic as u64 } else { u64::from(tables.prologue[t as usize]) }
            })
            .collect();
        CompiledModule { program, code, features, tables, jump_table, pagers: PagerPool::new() }
    }

    /// The native code.
    pub(crate) fn code(&self) -> &[u8] {
        self.code.bytes()
    }

    /// The program it was compiled from.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// The CPU extensions the code uses.
    pub fn features(&self) -> Features {
        self.features
    }

    /// Bytes of native code (trampolines, instructions and stubs).
    pub fn code_size(&self) -> usize {
        self.code.bytes().len()
    }

    pub(crate) fn code_base(&self) -> usize {
        self.code.addr()
    }

    /// The entry trampoline.
    pub(crate) fn enter_fn(&self) -> unsafe extern "sysv64" fn(*mut u8) -> u32 {
        let ptr = (self.code_base() + self.tables.enter) as *const u8;
        // SAFETY: the trampoline at `enter` follows the sysv64 convention
        // with this signature (see `codegen::trampoline`).
        unsafe { std::mem::transmute::<*const u8, unsafe extern "sysv64" fn(*mut u8) -> u32>(ptr) }
    }

    /// Absolute address of the exit trampoline.
    pub(crate) fn exit_addr(&self) -> usize {
        self.code_base() + self.tables.exit
    }

    /// Whether a run may start at instruction `index` (else the runtime
    /// interprets to the end of its block).
    pub(crate) fn is_entry(&self, index: u32) -> bool {
        !self.tables.fused[index as usize]
    }

    /// Absolute address of instruction `index`'s body.
    pub(crate) fn entry_addr(&self, index: u32) -> u64 {
        (self.code_base() + self.tables.body[index as usize] as usize) as u64
    }

    /// The guest instruction whose body contains native address `rip`, if
    /// it lies in instruction code.
    pub(crate) fn index_at(&self, rip: usize) -> Option<u32> {
        let offset = u32::try_from(rip.checked_sub(self.code_base())?).ok()?;
        if offset >= self.tables.code_end {
            return None;
        }
        let i = self.tables.body.partition_point(|&b| b <= offset);
        i.checked_sub(1).map(|i| i as u32)
    }

    /// The generated x86-64 per guest instruction: its pc and PVM text, then
    /// its native code (Intel syntax), then the out-of-line stubs.
    pub fn native_disasm(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "; trampolines");
        self.disasm_range(&mut out, 0, self.first_code_offset(), Listing::ABSOLUTE);
        self.write_code(&mut out, Listing::ABSOLUTE);
        out
    }

    /// As [`native_disasm`](Self::native_disasm) without the trampolines,
    /// with each native instruction's bytes, at offsets from the first
    /// instruction's code: a listing that does not move when the
    /// trampolines change (the golden encoding tests compare it).
    #[cfg(test)]
    pub(crate) fn code_listing(&self) -> String {
        let mut out = String::new();
        self.write_code(&mut out, Listing { origin: self.first_code_offset(), bytes: true });
        out
    }

    /// The code of every guest instruction, then the exit stubs.
    fn write_code(&self, out: &mut String, listing: Listing) {
        let ins = self.program.instructions();
        for (i, instruction) in ins.iter().enumerate() {
            let start = if self.tables.prologue[i] != u32::MAX { self.tables.prologue[i] } else { self.tables.body[i] };
            let end = match ins.get(i + 1) {
                Some(_) if self.tables.prologue[i + 1] != u32::MAX => self.tables.prologue[i + 1],
                Some(_) => self.tables.body[i + 1],
                None => self.tables.code_end,
            };
            let _ = writeln!(out, "{:>6}: {}", instruction.pc, format_instruction(instruction));
            self.disasm_range(out, start as usize, end as usize, listing);
        }
        let _ = writeln!(out, "; exit stubs");
        self.disasm_range(out, self.tables.code_end as usize, self.code.bytes().len(), listing);
    }

    fn first_code_offset(&self) -> usize {
        match (self.tables.prologue.first(), self.tables.body.first()) {
            (Some(&p), _) if p != u32::MAX => p as usize,
            (_, Some(&b)) => b as usize,
            _ => self.tables.code_end as usize,
        }
    }

    /// Disassembles the module's `code[start..end]`.
    fn disasm_range(&self, out: &mut String, start: usize, end: usize, listing: Listing) {
        let code = &self.code.bytes()[start..end];
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
