//! Support for differential testing and fuzzing: a program generator over
//! the ISA table ([`generate`]) and a driver that runs a generated case on
//! an engine and records everything observable ([`run_case`]).

pub mod generate;

use crate::api::{Config, Engine, EngineKind};
use generate::GenCase;
use javm_cap::CapHash;
use javm_cap::space::Access;
use javm_cap::vm::{Exit, VmState};

/// Everything a run of a case shows: each exit with the state it reported,
/// and the final memory root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The program did not load (both engines must refuse it alike).
    Rejected(String),
    /// The exits in order and the final memory root.
    Ran {
        /// `(exit, state at the exit)` for every exit.
        exits: Vec<(Exit, VmState)>,
        /// Memory root after the last exit.
        root: CapHash,
    },
}

/// How many exits a case may take before the driver stops it.
pub const MAX_EXITS: usize = 12;

/// Runs `case` on `engine`, resuming deterministically after host calls (r7
/// and gas changed), page faults (the page mapped writable) and out-of-gas
/// (gas added), up to [`MAX_EXITS`] exits.
pub fn run_case(case: &GenCase, engine: EngineKind) -> Outcome {
    let config = Config { engine, profile: case.profile, gas_model: Some(case.gas_model) };
    let module = match Engine::new(config).load_blob(&case.blob) {
        Ok(m) => m,
        Err(crate::api::Error::Program(e)) => return Outcome::Rejected(e.to_string()),
        Err(e) => panic!("engine failure, not a program error: {e}"),
    };
    let mut instance = module.instantiate_empty(case.entry);
    for m in &case.mappings {
        let space = instance.address_space();
        let start = u64::from(m.start_page) * 4096;
        space.map_zeroed(start, u64::from(m.pages) * 4096, m.access).expect("generated mappings are valid");
        space.poke(start as u32, &m.content).expect("content fits its mapping");
    }
    for (i, &r) in case.regs.iter().enumerate() {
        instance.set_reg(i, r);
    }
    instance.set_gas(case.gas);
    let mut exits = Vec::new();
    while exits.len() < MAX_EXITS {
        let exit = instance.run();
        exits.push((exit, *instance.state()));
        match exit {
            Exit::Halt | Exit::Panic => break,
            Exit::Host(id) => {
                let r7 = instance.reg(7);
                instance.set_reg(7, r7.wrapping_mul(31) ^ u64::from(id));
                let gas = instance.gas();
                instance.set_gas(gas - gas.clamp(0, 3));
            }
            Exit::PageFault(address) => {
                instance
                    .address_space()
                    .map_zeroed(u64::from(address), 4096, Access::Write)
                    .expect("a faulting page is mappable");
            }
            Exit::OutOfGas => {
                let gas = instance.gas();
                instance.set_gas(gas.max(0) + 50);
            }
        }
    }
    Outcome::Ran { exits, root: instance.memory_root() }
}
