//! javm's x86-64 recompiler. Not built yet: every entry point reports that
//! clearly, so `--engine jit` fails with a readable message.

use javm_cap::program::Program;
use javm_cap::space::AddressSpace;
use javm_cap::vm::{Exit, GuestMemory, MemFault, VmState};
use std::sync::Arc;

/// Recompiler options.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions {
    /// Avoid BMI/LZCNT/POPCNT even where the CPU has them.
    pub force_fallbacks: bool,
}

/// Why compilation failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The recompiler is not part of this build.
    #[error("the x86-64 recompiler is not available in this build yet; use --engine interp")]
    Unavailable,
}

/// Why an instance could not be created.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The recompiler is not part of this build.
    #[error("the x86-64 recompiler is not available in this build yet")]
    Unavailable,
}

/// A compiled program.
#[derive(Debug)]
pub struct CompiledModule {
    _private: (),
}

impl CompiledModule {
    /// Compiles `program`.
    pub fn compile(program: Arc<Program>, options: &CompileOptions) -> Result<CompiledModule, CompileError> {
        let _ = (program, options);
        Err(CompileError::Unavailable)
    }

    /// The generated x86-64, per guest instruction.
    pub fn native_disasm(&self) -> String {
        String::new()
    }
}

/// How a recompiled run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitExit {
    /// The guest exited.
    Exit(Exit),
    /// The runtime must interpret from the state's pc to the block end.
    Interpret,
}

/// One guest instance.
#[derive(Debug)]
pub struct JitInstance {
    space: AddressSpace,
}

impl JitInstance {
    /// A new instance.
    pub fn new(module: Arc<CompiledModule>, space: AddressSpace) -> Result<JitInstance, JitError> {
        let _ = (module, space);
        Err(JitError::Unavailable)
    }

    /// Runs until an exit.
    pub fn run(&mut self, state: &mut VmState) -> JitExit {
        let _ = state;
        JitExit::Exit(Exit::Panic)
    }

    /// Guest memory.
    pub fn memory(&mut self) -> impl GuestMemory + '_ {
        Unavailable
    }

    /// The address space.
    pub fn address_space(&mut self) -> &mut AddressSpace {
        &mut self.space
    }
}

struct Unavailable;

impl GuestMemory for Unavailable {
    fn read_bytes(&mut self, _: u32, _: &mut [u8]) -> Result<(), MemFault> {
        Err(MemFault::Panic)
    }
    fn write_bytes(&mut self, _: u32, _: &[u8]) -> Result<(), MemFault> {
        Err(MemFault::Panic)
    }
}
