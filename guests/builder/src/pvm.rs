//! Running a `.polkavm` guest on PolkaVM with the GP standard-program
//! conventions: 4 KiB pages, the arguments in the aux area at 0xFEFF0000,
//! r0 = 0xFFFF0000, r1 = 0xFEFE0000, r7 = argument pointer, r8 = length,
//! entry at code offset 0; on halt the output is the r8 bytes at r7.
//!
//! Host calls: 0 (`gas`: charge 10, r7 = gas left) and 100 (JIP-1 `log`:
//! charge 10, read level r7, target r8/r9, message r10/r11; registers are
//! left as they are). Any other id stops the run with an error.

use std::time::{Duration, Instant};

use javm_cap::program::StandardProgram;
use polkavm::program::InstructionSetKind;
use polkavm::{
    BackendKind, CacheModel, CostModel, CostModelKind, Engine, GasMeteringKind, InterruptKind, Module, ModuleConfig,
    ProgramBlob, ProgramCounter, ProgramParts, Reg, SandboxKind,
};

pub const HALT_ADDR: u64 = javm_cap::program::HALT_ADDRESS as u64;
pub const STACK_TOP: u32 = 0xFEFE_0000;
pub const ARGS_ADDR: u32 = 0xFEFF_0000;
pub const INITIAL_GAS: i64 = 1 << 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Costs {
    /// One unit per instruction, charged per basic block.
    Naive,
    /// The GP 0.8 pipeline model with every memory access an L2 hit.
    FullL2Hit,
}

pub struct Vm {
    engine: Engine,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub output: Vec<u8>,
    pub gas_used: i64,
    pub host_calls: u64,
    pub logs: Vec<(u64, String, String)>,
    /// Time spent in `run()` calls (instantiation and argument setup excluded).
    pub elapsed: Duration,
}

impl Vm {
    /// `sandbox` matters for the recompiler only: `Generic` runs the code
    /// in-process, `Linux` in PolkaVM's worker process.
    pub fn new(backend: BackendKind, sandbox: SandboxKind) -> Result<Self, String> {
        let mut config = polkavm::Config::from_env().map_err(|e| e.to_string())?;
        config.set_backend(Some(backend));
        if backend == BackendKind::Compiler {
            config.set_sandbox(Some(sandbox));
            config.set_allow_experimental(sandbox == SandboxKind::Generic);
        }
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        Ok(Vm { engine })
    }

    pub fn load(&self, polkavm_blob: &[u8], costs: Costs) -> Result<Module, String> {
        let blob = ProgramBlob::parse(polkavm_blob.to_vec().into()).map_err(|e| e.to_string())?;
        self.load_blob(blob, costs)
    }

    /// Load a GP standard program (`.jam`) by handing its fields to PolkaVM:
    /// ro area P(|o|), rw area P(|w|) + 4096 z, stack s, code blob c.
    pub fn load_jam(&self, jam: &[u8], costs: Costs) -> Result<Module, String> {
        let sp = StandardProgram::parse(jam).map_err(|e| e.to_string())?;
        let page_up = |x: usize| x.div_ceil(4096) * 4096;
        let mut parts = ProgramParts::empty(InstructionSetKind::JamV1);
        parts.ro_data_size = page_up(sp.ro_data.len()) as u32;
        parts.rw_data_size = (page_up(sp.rw_data.len()) + usize::from(sp.heap_pages) * 4096) as u32;
        parts.stack_size = sp.stack_size;
        parts.ro_data = sp.ro_data.into();
        parts.rw_data = sp.rw_data.into();
        parts.code_and_jump_table = sp.code.into();
        let blob = ProgramBlob::from_parts(parts).map_err(|e| e.to_string())?;
        self.load_blob(blob, costs)
    }

    fn load_blob(&self, blob: ProgramBlob, costs: Costs) -> Result<Module, String> {
        let mut config = ModuleConfig::new();
        config.set_page_size(4096);
        config.set_aux_data_size(1 << 24);
        config.set_gas_metering(Some(GasMeteringKind::Sync));
        config.set_cost_model(Some(match costs {
            Costs::Naive => CostModelKind::Simple(CostModel::naive_ref()),
            Costs::FullL2Hit => CostModelKind::Full(CacheModel::L2Hit),
        }));
        let module = Module::from_blob(&self.engine, &config, blob).map_err(|e| e.to_string())?;
        let map = module.memory_map();
        if map.stack_address_high() != STACK_TOP || map.aux_data_address() != ARGS_ADDR {
            return Err(format!(
                "unexpected PolkaVM memory map: stack top 0x{:x}, aux 0x{:x}",
                map.stack_address_high(),
                map.aux_data_address()
            ));
        }
        Ok(module)
    }
}

/// Run the program from code offset 0 with `args`; `Err` for anything but a halt.
pub fn run(module: &Module, args: &[u8]) -> Result<RunOutcome, String> {
    let mut inst = module.instantiate().map_err(|e| e.to_string())?;
    inst.set_accessible_aux_size(args.len() as u32).map_err(|e| e.to_string())?;
    inst.write_memory(ARGS_ADDR, args).map_err(|e| e.to_string())?;
    inst.clear_regs();
    inst.set_reg(Reg::RA, HALT_ADDR);
    inst.set_reg(Reg::SP, u64::from(STACK_TOP));
    inst.set_reg(Reg::A0, u64::from(ARGS_ADDR));
    inst.set_reg(Reg::A1, args.len() as u64);
    inst.set_gas(INITIAL_GAS);
    inst.set_next_program_counter(ProgramCounter(0));

    let mut host_calls = 0u64;
    let mut logs = Vec::new();
    let mut elapsed = Duration::ZERO;
    loop {
        let t = Instant::now();
        let interrupt = inst.run().map_err(|e| e.to_string())?;
        elapsed += t.elapsed();
        match interrupt {
            InterruptKind::Finished => break,
            InterruptKind::Ecalli(id) => {
                host_calls += 1;
                let gas = inst.gas();
                if gas < 10 {
                    return Err("out of gas in a host call".into());
                }
                inst.set_gas(gas - 10);
                match id {
                    0 => inst.set_reg(Reg::A0, (gas - 10) as u64),
                    100 => {
                        let level = inst.reg(Reg::A0);
                        let read = |inst: &mut polkavm::RawInstance, p: Reg, l: Reg| {
                            let (p, l) = (inst.reg(p), inst.reg(l));
                            inst.read_memory(p as u32, l as u32)
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                                .map_err(|e| format!("log: bad pointer 0x{p:x}+{l}: {e}"))
                        };
                        let target = read(&mut inst, Reg::A1, Reg::A2)?;
                        let msg = read(&mut inst, Reg::A3, Reg::A4)?;
                        logs.push((level, target, msg));
                    }
                    other => return Err(format!("unsupported host call {other}")),
                }
            }
            InterruptKind::Trap => {
                return Err(format!("panic (trap) at pc {:?}", inst.program_counter()));
            }
            InterruptKind::NotEnoughGas => return Err("out of gas".into()),
            other => return Err(format!("unexpected interrupt {other:?}")),
        }
    }
    let ptr = inst.reg(Reg::A0);
    let len = inst.reg(Reg::A1);
    let output =
        inst.read_memory(ptr as u32, len as u32).map_err(|e| format!("output 0x{ptr:x}+{len} unreadable: {e}"))?;
    Ok(RunOutcome { output, gas_used: INITIAL_GAS - inst.gas().max(0), host_calls, logs, elapsed })
}
