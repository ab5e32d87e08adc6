//! Support for differential testing and fuzzing: a program generator over
//! the ISA table ([`generate`]), a driver that runs a generated case on an
//! engine and records everything observable ([`run_case`]), drivers that
//! feed hostile bytes and values to the parsers and the public API
//! ([`hostile`]), the runner of a test on every engine
//! ([`on_every_engine`]), and a guest that touches memory sparsely
//! ([`sparse_touch_program`]).

mod engines;
pub mod generate;
mod guest_host;
pub mod hostile;
mod sparse;

pub use engines::on_every_engine;
pub use guest_host::{GUEST_HOST_CALL_GAS, GuestHost, run_guest};
pub use sparse::sparse_touch_program;

use crate::api::{Config, Engine, EngineKind, Instance};
use generate::GenCase;
use javm_cap::CapHash;
use javm_cap::PAGE_SIZE;
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

/// Sets the recompiler's window mapping budget for one fuzz input: room
/// for one more window and no mapping for one input length in eight, room
/// for 12 `mmap`s besides for another (a reset at almost every fault), the
/// process default otherwise, so that fuzzing reaches the window resets
/// and the hand-offs to the interpreter.
pub fn vary_window_budget(data: &[u8]) {
    static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let default = *DEFAULT.get_or_init(crate::window_mapping_budget);
    // Room for the windows a fuzz input keeps at once (an instance, one
    // loaded again from its image, a fork, the other engine's).
    match data.len() % 8 {
        0 => spare_mappings_for(FUZZ_WINDOWS, 0),
        1 => spare_mappings_for(FUZZ_WINDOWS, 24),
        _ => crate::set_window_mapping_budget(default),
    }
}

/// Windows a fuzz input may hold at once.
const FUZZ_WINDOWS: usize = 4;

/// Sets the recompiler's window mapping budget to what windows hold now,
/// plus room for one more window (a reservation takes two) and `spare`
/// mappings: the next instance runs with (almost) no mappings to spare.
pub fn spare_window_mappings(spare: usize) {
    spare_mappings_for(1, spare);
}

/// As [`spare_window_mappings`], with room for `windows` more windows.
fn spare_mappings_for(windows: usize, spare: usize) {
    crate::set_window_mapping_budget(crate::window_mappings_held() + 2 * windows + spare);
}

/// How the recompiler compiles for one fuzz input, chosen by its second
/// byte: block by block, in regions of a few blocks, the default regions,
/// or the whole program at load.
pub fn compilation_for(data: &[u8]) -> crate::Compilation {
    match data.get(1).map_or(0, |b| b % 4) {
        0 => crate::Compilation::Lazy { region: 1 },
        1 => crate::Compilation::Lazy { region: 8 },
        2 => crate::Compilation::default(),
        _ => crate::Compilation::Eager,
    }
}

/// Gas a recompiler module runs interpreted first
/// ([`Engine::with_tier_up`]) for one fuzz input, chosen by its third
/// byte: none for most inputs, else a little, so that runs switch to
/// compiled code at all kinds of points.
pub fn tier_up_for(data: &[u8]) -> u64 {
    match data.get(2).map_or(0, |b| b % 8) {
        5 => 1,
        6 => 7,
        7 => 60,
        _ => 0,
    }
}

/// A fixed-seed byte stream (splitmix64) of `len` bytes: input for the
/// generator and drivers in seeded tests.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// How many exits a case may take before the driver stops it.
pub const MAX_EXITS: usize = 12;

/// Gas a handled host call costs in the driver.
pub const HOST_CALL_GAS: i64 = 3;

/// Gas the driver adds after an out-of-gas exit.
pub const OOG_REFILL: i64 = 50;

/// The driver's host call: the new `r7` for call `id` (a mix of the old
/// value and the id, so a skipped or repeated call shows).
pub fn host_call_r7(r7: u64, id: u32) -> u64 {
    r7.wrapping_mul(31) ^ u64::from(id)
}

/// The driver's host call: gas after the call (charges at most
/// [`HOST_CALL_GAS`], never below zero).
pub fn host_call_gas(gas: i64) -> i64 {
    gas - gas.clamp(0, HOST_CALL_GAS)
}

/// Runs `case` on `engine`, resuming deterministically after host calls
/// ([`host_call_r7`], [`host_call_gas`]), page faults (the page mapped
/// writable) and out-of-gas ([`OOG_REFILL`] added), up to [`MAX_EXITS`]
/// exits.
///
/// # Panics
///
/// If the engine fails for a reason other than the program being invalid.
pub fn run_case(case: &GenCase, engine: EngineKind) -> Outcome {
    run_case_with(case, engine, |_| ())
}

/// Like [`run_case`], also handing the final instance to `inspect` (for
/// comparisons that need more than the memory root).
pub fn run_case_with(case: &GenCase, engine: EngineKind, inspect: impl FnOnce(&mut Instance)) -> Outcome {
    drive_case(case, &Engine::new(case_config(case, engine)), 0, 0, inspect)
}

/// Like [`run_case`], loading through `engine` (whose profile and gas model
/// must be the case's), e.g. one with a persistent module cache.
pub fn run_case_on(case: &GenCase, engine: &Engine) -> Outcome {
    drive_case(case, engine, 0, 0, |_| ())
}

/// The configuration `case` runs under on `engine`.
pub fn case_config(case: &GenCase, engine: EngineKind) -> Config {
    Config { engine, profile: case.profile, gas_model: Some(case.gas_model) }
}

/// What [`run_case_lifecycle`] does to the instance at one exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleStep {
    /// Go on with the same instance.
    Continue,
    /// Go on with a fork; the original is dropped.
    Fork,
    /// Snapshot, then go on with an instance of the other engine started
    /// from the snapshot.
    CrossEngine,
    /// Snapshot, scribble over registers, pc and gas, write the first
    /// writable page, then return to the snapshot with `reset_to`.
    ResetTo,
    /// Make the first writable mapping read-only, then writable again, both
    /// keeping contents ([`Instance::set_page_access`]).
    AccessRoundTrip,
}

impl LifecycleStep {
    /// The step for exit `index` under `plan` (three bits per exit).
    pub fn of(plan: u64, index: usize) -> LifecycleStep {
        match (plan >> (3 * (index % 21))) & 7 {
            1 => LifecycleStep::Fork,
            2 => LifecycleStep::CrossEngine,
            3 => LifecycleStep::ResetTo,
            4 => LifecycleStep::AccessRoundTrip,
            _ => LifecycleStep::Continue,
        }
    }
}

/// Like [`run_case`], with a fork, a snapshot moved to the other engine or
/// a reset to a snapshot at the exits `plan` chooses ([`LifecycleStep::of`]):
/// the outcome must be the same as [`run_case`]'s.
pub fn run_case_lifecycle(case: &GenCase, engine: EngineKind, plan: u64) -> Outcome {
    drive_case(case, &Engine::new(case_config(case, engine)), plan, 0, |_| ())
}

/// Like [`run_case`], with `steps` single steps ([`Instance::step`]) at the
/// start and after every exit before the run goes on (`u32::MAX`: the whole
/// case one instruction at a time): the outcome must be the same as
/// [`run_case`]'s.
pub fn run_case_stepping(case: &GenCase, engine: EngineKind, steps: u32) -> Outcome {
    drive_case(case, &Engine::new(case_config(case, engine)), 0, steps, |_| ())
}

/// `steps` single steps, then a run, until the first exit.
fn advance(instance: &mut Instance, steps: u32) -> Exit {
    for _ in 0..steps {
        if let Some(exit) = instance.step() {
            return exit;
        }
    }
    instance.run()
}

/// Applies `step` to `instance` (the driver's resume already done).
fn lifecycle_step(step: LifecycleStep, instance: &mut Instance, other: &crate::api::Module) {
    fn lifecycle<T>(step: LifecycleStep, result: Result<T, crate::api::Error>) -> T {
        result.unwrap_or_else(|e| panic!("lifecycle step {step:?} failed: {e}"))
    }
    match step {
        LifecycleStep::Continue => {}
        LifecycleStep::Fork => *instance = lifecycle(step, instance.fork()),
        LifecycleStep::CrossEngine => {
            let snapshot = instance.snapshot();
            *instance = lifecycle(step, other.instantiate_from(&snapshot));
        }
        LifecycleStep::ResetTo => {
            let snapshot = instance.snapshot();
            for i in 0..13 {
                instance.set_reg(i, 0xDEAD_0000 + i as u64);
            }
            instance.set_pc(0);
            instance.set_gas(7);
            if let Some((address, _)) = first_writable(instance) {
                let _ = instance.write_memory(address as u32, &[0xA5; 64]);
            }
            lifecycle(step, instance.reset_to(&snapshot));
        }
        LifecycleStep::AccessRoundTrip => {
            if let Some((address, length)) = first_writable(instance) {
                use crate::api::PageAccess;
                let ok = |r: Result<(), javm_cap::space::SpaceError>| r.expect("a mapped range changes access");
                ok(instance.set_page_access(address, length, PageAccess::ReadOnly));
                ok(instance.set_page_access(address, length, PageAccess::Writable));
            }
        }
    }
}

/// The address and length of `instance`'s first writable mapping.
fn first_writable(instance: &mut Instance) -> Option<(u64, u64)> {
    let page = PAGE_SIZE as u64;
    let m = instance.address_space().mappings().iter().find(|m| m.access == Access::Write)?;
    Some((u64::from(m.start_page) * page, u64::from(m.cap.page_count()) * page))
}

fn drive_case(case: &GenCase, loader: &Engine, plan: u64, steps: u32, inspect: impl FnOnce(&mut Instance)) -> Outcome {
    let config = *loader.config();
    let engine = config.engine;
    let module = match loader.load_blob(&case.blob) {
        Ok(m) => m,
        Err(crate::api::Error::Program(e)) => return Outcome::Rejected(e.to_string()),
        Err(e) => panic!("engine failure, not a program error: {e}"),
    };
    let other_kind = engine.other();
    let other = match plan {
        0 => None,
        _ => Some(
            Engine::new(Config { engine: other_kind, ..config })
                .load_blob(&case.blob)
                .unwrap_or_else(|e| panic!("the {other_kind} refused a program the {engine} loads: {e}")),
        ),
    };
    let mut instance = module.instantiate_empty(case.entry);
    for m in &case.mappings {
        let space = instance.address_space();
        let start = u64::from(m.start_page) * PAGE_SIZE as u64;
        space.map_zeroed(start, u64::from(m.pages) * PAGE_SIZE as u64, m.access).expect("generated mappings are valid");
        space.poke(start as u32, &m.content).expect("content fits its mapping");
    }
    instance.address_space().set_heap(case.heap);
    for (i, &r) in case.regs.iter().enumerate() {
        instance.set_reg(i, r);
    }
    instance.set_gas(case.gas);
    let mut exits = Vec::new();
    while exits.len() < MAX_EXITS {
        let exit = advance(&mut instance, steps);
        exits.push((exit, *instance.state()));
        match exit {
            Exit::Halt | Exit::Panic => break,
            Exit::Host(id) => {
                let r7 = instance.reg(7);
                instance.set_reg(7, host_call_r7(r7, id));
                let gas = instance.gas();
                instance.set_gas(host_call_gas(gas));
            }
            Exit::PageFault(address) => {
                instance
                    .address_space()
                    .map_zeroed(u64::from(address), PAGE_SIZE as u64, Access::Write)
                    .expect("a faulting page is mappable");
            }
            Exit::OutOfGas => {
                let gas = instance.gas();
                instance.set_gas(gas.max(0) + OOG_REFILL);
            }
        }
        if let Some(other) = &other {
            lifecycle_step(LifecycleStep::of(plan, exits.len() - 1), &mut instance, other);
        }
    }
    inspect(&mut instance);
    Outcome::Ran { exits, root: instance.memory_root() }
}

/// Every mapped page of `instance` as `(guest address, writable, bytes)`, in
/// address order.
pub fn memory_pages(instance: &mut Instance) -> Vec<(u32, bool, Vec<u8>)> {
    let space = instance.address_space();
    let mut out = Vec::new();
    for m in space.mappings() {
        for page in m.start_page..m.end_page() {
            let mut bytes = vec![0u8; PAGE_SIZE];
            m.cap
                .copy_into(u64::from(page - m.start_page) * PAGE_SIZE as u64, &mut bytes)
                .expect("mapped pages are loaded");
            out.push((page * PAGE_SIZE as u32, m.access == Access::Write, bytes));
        }
    }
    out
}
