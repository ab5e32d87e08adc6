//! Replays the JIP-6 trace of a real service (as the `cold` bench group
//! does) many times through a warm module cache, for profiling the fixed
//! cost of one invocation outside criterion:
//!
//! ```sh
//! cargo build --release -p javm-benches --example replay_jip6
//! strace -c -f target/release/examples/replay_jip6 jit 1000
//! valgrind --tool=callgrind target/release/examples/replay_jip6 jit 100
//! ```
//!
//! Arguments: engine (`interp` or `jit`), number of replays (default 1000),
//! how the recompiler compiles (`lazy`, `lazy:N` or `eager`; default
//! lazy), `cold` to replay without a module cache (every replay decodes
//! and compiles the program, as a node without a cache does) or `warm`,
//! and the gas to interpret before compiling (default 0).

use javm::harness::trace::{parse_traces, replay_with};
use javm::{Compilation, Config, DEFAULT_CACHE_BYTES, Engine, EngineKind, GasModel, Profile};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let kind: EngineKind = args.next().as_deref().unwrap_or("jit").parse().expect("engine: interp or jit");
    let replays: u32 = args.next().map_or(1000, |n| n.parse().expect("number of replays"));
    let compilation: Compilation = args.next().as_deref().unwrap_or("lazy").parse().expect("compilation");
    let capacity = if args.next().as_deref() == Some("cold") { 0 } else { DEFAULT_CACHE_BYTES };
    let tier_up: u64 = args.next().map_or(0, |n| n.parse().expect("gas to interpret first"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/tests/vectors/jip6/test-service-accumulate.log");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let traces = parse_traces(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let trace = traces.first().unwrap_or_else(|| panic!("{path}: no trace"));
    let config = Config { engine: kind, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
    let engine = Engine::with_cache_capacity(config, capacity).with_compilation(compilation).with_tier_up(tier_up);
    replay_with(trace, &engine).expect("the trace replays");
    let start = Instant::now();
    for _ in 0..replays {
        replay_with(trace, &engine).expect("the trace replays");
    }
    let each = start.elapsed() / replays;
    // Through the module cache, the module a replay ran (without one,
    // each replay loads a module of its own).
    let module = engine.load(&trace.program).expect("the program loads");
    replay_with(trace, &engine).expect("the trace replays");
    if let Some(compiled) = module.compiled_instructions().filter(|_| capacity > 0) {
        let program = module.program();
        let (all, decoded) = (program.instruction_count(), program.decoded_instructions());
        let (code, blocks) = (program.code().len(), program.blocks().len());
        println!(
            "compiled {compiled} and decoded {decoded} of {all} instructions ({code} bytes of code, {blocks} \
             blocks; a replay through the module cache)"
        );
    }
    // The load alone, which every replay pays first: through the module
    // cache, a lookup and a comparison with the cached copy of the bytes.
    let start = Instant::now();
    for _ in 0..replays {
        drop(engine.load(&trace.program).expect("the program loads"));
    }
    let load = start.elapsed() / replays;
    println!("{kind:?} ({compilation:?}): {each:?} per replay, of which {load:?} the load");
}
