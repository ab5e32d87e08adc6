//! Running guests on javm with the reference host: `gas` (0) and `log` (100)
//! both charge 10 gas; `gas` sets r7 to the gas left. PolkaVM is given the
//! same host, so gas used is comparable.

use javm::{Config, Engine, EngineKind, Error, Exit, GasModel, Instance, Module, Profile};
use std::time::{Duration, Instant};

/// Gas given to every run: far more than any guest uses.
pub const GAS: i64 = 1 << 50;

/// The reference host (the guests' own, shared with javm's tests).
pub use javm::testing::GuestHost as BenchHost;

/// javm's configuration for P8 blobs under `gas_model`.
pub fn config(engine: EngineKind, gas_model: GasModel) -> Config {
    Config { engine, profile: Profile::P8, gas_model: Some(gas_model) }
}

/// An engine without a module cache, so that every load decodes and
/// compiles (what the load benches measure).
pub fn uncached_engine(engine: EngineKind, gas_model: GasModel) -> Engine {
    Engine::with_cache_capacity(config(engine, gas_model), 0)
}

/// Loads a `.jam` (or `.polkavm`) blob, decoding and compiling it.
pub fn load(engine: EngineKind, gas_model: GasModel, bytes: &[u8]) -> Result<Module, Error> {
    uncached_engine(engine, gas_model).load(bytes)
}

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The output bytes (`r8` bytes at `r7` after a halt).
    pub output: Vec<u8>,
    /// Gas used, host calls included.
    pub gas_used: i64,
    /// Host calls made.
    pub host_calls: u64,
}

/// A fresh instance of `module` for `args`, with [`GAS`].
///
/// # Panics
///
/// If it cannot be instantiated.
pub fn instance(module: &Module, args: &[u8]) -> Instance {
    let mut instance = module.instantiate_standard(args, 0).expect("instantiate");
    instance.set_gas(GAS);
    instance
}

/// Runs a fresh instance to the end; `Err` for anything but a halt.
pub fn run_once(module: &Module, args: &[u8]) -> Result<Outcome, String> {
    let mut instance = instance(module, args);
    let mut host = BenchHost::default();
    let exit = instance.run_with(&mut host);
    finish(&mut instance, exit, host.calls)
}

/// Milliseconds per run over `runs` fresh runs of `case` (instantiation
/// included), each checked against the case's expected output.
///
/// # Panics
///
/// If a run does not halt with that output.
pub fn checked_ms_per_run(module: &Module, case: &crate::guests::Case, runs: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..runs {
        let outcome = run_once(module, &case.args).expect("the guest halts");
        assert_eq!(outcome.output, case.output, "{} output", case.name);
    }
    start.elapsed().as_secs_f64() * 1e3 / f64::from(runs)
}

/// The outcome of a run that stopped with `exit`.
pub fn finish(instance: &mut Instance, exit: Exit, host_calls: u64) -> Result<Outcome, String> {
    if exit != Exit::Halt {
        return Err(format!("exit {exit:?} at pc {}", instance.pc()));
    }
    let mut output = vec![0u8; instance.reg(8) as usize];
    instance.read_memory(instance.reg(7) as u32, &mut output).map_err(|e| format!("output unreadable: {e:?}"))?;
    Ok(Outcome { output, gas_used: GAS - instance.gas(), host_calls })
}

/// Time of `iters` runs on fresh instances: instantiation (and dropping the
/// instance) are not timed, `run_with` is (host calls included).
pub fn time_runs(module: &Module, args: &[u8], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut instance = instance(module, args);
        let mut host = BenchHost::default();
        let start = Instant::now();
        let exit = instance.run_with(&mut host);
        total += start.elapsed();
        debug_assert_eq!(exit, Exit::Halt);
        std::hint::black_box(&instance);
    }
    total
}
