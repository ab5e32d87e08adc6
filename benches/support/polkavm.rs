//! Running the guests on PolkaVM 0.37 with GP conventions, shared by the
//! `compare` bench and the gas-equivalence test.
//!
//! 4 KiB pages and a 16 MiB aux area give the GP standard layout; the
//! arguments go in the aux area at 0xFEFF0000, r0 = 0xFFFF0000 (halt),
//! r1 = 0xFEFE0000, r7 = argument pointer, r8 = length, entry at code offset
//! 0. Gas is metered synchronously. Host calls 0 (`gas`: r7 = gas left) and
//! 100 (`log`) charge 10, like javm's bench host.

#![allow(dead_code)]

use javm_cap::program::StandardProgram;
use polkavm::program::InstructionSetKind;
use polkavm::{
    BackendKind, CacheModel, CostModel, CostModelKind, Engine, GasMeteringKind, InterruptKind, Module, ModuleConfig,
    ProgramBlob, ProgramCounter, ProgramParts, RawInstance, Reg, SandboxKind,
};

/// Halt address (initial `ra`).
pub const HALT_ADDR: u64 = javm_cap::program::HALT_ADDRESS as u64;
/// Stack top (initial `sp`).
pub const STACK_TOP: u32 = 0xFEFE_0000;
/// Argument address.
pub const ARGS_ADDR: u32 = 0xFEFF_0000;
/// Gas given to every run (the same as javm's).
pub const GAS: i64 = 1 << 50;

/// PolkaVM backend and sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The interpreter.
    Interpreter,
    /// The recompiler, in-process (`generic-sandbox`, experimental).
    CompilerGeneric,
    /// The recompiler in its default Linux sandbox (a worker process).
    CompilerLinux,
}

impl Backend {
    /// All three.
    pub const ALL: [Backend; 3] = [Backend::Interpreter, Backend::CompilerGeneric, Backend::CompilerLinux];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Interpreter => "pvm-interp",
            Backend::CompilerGeneric => "pvm-jit-generic",
            Backend::CompilerLinux => "pvm-jit-linux",
        }
    }
}

/// PolkaVM's cost models, as javm's gas models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Costs {
    /// One unit per instruction, charged per block (javm's block model).
    Naive,
    /// GP 0.8 pipeline model, every access an L2 hit (javm's pipeline model).
    FullL2Hit,
}

/// Whether this CPU can run the Full cost model (it needs AVX2).
pub fn full_model_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// An engine for one backend.
pub struct Pvm {
    engine: Engine,
    /// The backend it runs.
    pub backend: Backend,
}

impl Pvm {
    /// An engine for `backend`.
    pub fn new(backend: Backend) -> Result<Pvm, String> {
        let mut config = polkavm::Config::new();
        match backend {
            Backend::Interpreter => {
                config.set_backend(Some(BackendKind::Interpreter));
            }
            Backend::CompilerGeneric => {
                config.set_backend(Some(BackendKind::Compiler));
                config.set_sandbox(Some(SandboxKind::Generic));
                config.set_allow_experimental(true);
            }
            Backend::CompilerLinux => {
                config.set_backend(Some(BackendKind::Compiler));
                config.set_sandbox(Some(SandboxKind::Linux));
            }
        }
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        Ok(Pvm { engine, backend })
    }

    fn module_config(costs: Costs) -> ModuleConfig {
        let mut config = ModuleConfig::new();
        config.set_page_size(4096);
        config.set_aux_data_size(1 << 24);
        config.set_gas_metering(Some(GasMeteringKind::Sync));
        config.set_cost_model(Some(match costs {
            Costs::Naive => CostModelKind::Simple(CostModel::naive_ref()),
            Costs::FullL2Hit => CostModelKind::Full(CacheModel::L2Hit),
        }));
        config
    }

    /// Parses a `.polkavm` container and compiles it: what "blob to
    /// runnable module" means for PolkaVM.
    pub fn load(&self, polkavm_blob: &[u8], costs: Costs) -> Result<Module, String> {
        let blob = ProgramBlob::parse(polkavm_blob.to_vec().into()).map_err(|e| e.to_string())?;
        self.load_blob(blob, costs)
    }

    /// A GP standard program's fields as a PolkaVM program: ro area P(|o|),
    /// rw area P(|w|) + 4096·z, stack s, code c.
    pub fn load_standard(&self, program: &StandardProgram, costs: Costs) -> Result<Module, String> {
        let page_up = |x: usize| x.div_ceil(4096) * 4096;
        let mut parts = ProgramParts::empty(InstructionSetKind::JamV1);
        parts.ro_data_size = page_up(program.ro_data.len()) as u32;
        parts.rw_data_size = (page_up(program.rw_data.len()) + usize::from(program.heap_pages) * 4096) as u32;
        parts.stack_size = program.stack_size;
        parts.ro_data = program.ro_data.clone().into();
        parts.rw_data = program.rw_data.clone().into();
        parts.code_and_jump_table = program.code.clone().into();
        let blob = ProgramBlob::from_parts(parts).map_err(|e| e.to_string())?;
        self.load_blob(blob, costs)
    }

    fn load_blob(&self, blob: ProgramBlob, costs: Costs) -> Result<Module, String> {
        let module = Module::from_blob(&self.engine, &Self::module_config(costs), blob).map_err(|e| e.to_string())?;
        let map = module.memory_map();
        if map.stack_address_high() != STACK_TOP || map.aux_data_address() != ARGS_ADDR {
            return Err(format!(
                "PolkaVM memory map differs from GP: stack top {:#x}, aux {:#x}",
                map.stack_address_high(),
                map.aux_data_address()
            ));
        }
        Ok(module)
    }
}

/// Puts `instance` at the start of a GP invocation with `args`: memory
/// reset to the module's initial state, arguments written, registers,
/// gas and pc set.
pub fn prepare(instance: &mut RawInstance, args: &[u8]) -> Result<(), String> {
    instance.reset_memory().map_err(|e| e.to_string())?;
    instance.set_accessible_aux_size(args.len() as u32).map_err(|e| e.to_string())?;
    instance.write_memory(ARGS_ADDR, args).map_err(|e| e.to_string())?;
    instance.clear_regs();
    instance.set_reg(Reg::RA, HALT_ADDR);
    instance.set_reg(Reg::SP, u64::from(STACK_TOP));
    instance.set_reg(Reg::A0, u64::from(ARGS_ADDR));
    instance.set_reg(Reg::A1, args.len() as u64);
    instance.set_gas(GAS);
    instance.set_next_program_counter(ProgramCounter(0));
    Ok(())
}

/// Runs a prepared instance to its end, handling host calls; returns the
/// number of host calls. `Err` for anything but a halt.
pub fn run(instance: &mut RawInstance) -> Result<u64, String> {
    let mut calls = 0;
    loop {
        match instance.run().map_err(|e| e.to_string())? {
            InterruptKind::Finished => return Ok(calls),
            InterruptKind::Ecalli(id) => {
                calls += 1;
                let gas = instance.gas();
                if gas < 10 {
                    return Err("out of gas in a host call".into());
                }
                instance.set_gas(gas - 10);
                match id {
                    0 => instance.set_reg(Reg::A0, (gas - 10) as u64),
                    100 => {}
                    other => return Err(format!("unsupported host call {other}")),
                }
            }
            InterruptKind::Trap => return Err(format!("trap at {:?}", instance.program_counter())),
            InterruptKind::NotEnoughGas => return Err("out of gas".into()),
            other => return Err(format!("unexpected interrupt {other:?}")),
        }
    }
}

/// The output of a halted instance (`r8` bytes at `r7`).
pub fn output(instance: &mut RawInstance) -> Result<Vec<u8>, String> {
    let (ptr, len) = (instance.reg(Reg::A0), instance.reg(Reg::A1));
    instance.read_memory(ptr as u32, len as u32).map_err(|e| format!("output {ptr:#x}+{len}: {e}"))
}

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Output bytes.
    pub output: Vec<u8>,
    /// Gas used, host calls included.
    pub gas_used: i64,
    /// Host calls made.
    pub host_calls: u64,
}

/// Runs `args` once on `instance` (prepared first).
pub fn run_on(instance: &mut RawInstance, args: &[u8]) -> Result<Outcome, String> {
    prepare(instance, args)?;
    let host_calls = run(instance)?;
    Ok(Outcome { output: output(instance)?, gas_used: GAS - instance.gas(), host_calls })
}

/// Runs `args` once on a fresh instance of `module`.
pub fn run_once(module: &Module, args: &[u8]) -> Result<Outcome, String> {
    let mut instance = module.instantiate().map_err(|e| e.to_string())?;
    run_on(&mut instance, args)
}
