//! The interpreter and a recompiler module that compiles lazily decode
//! their program as they run or compile it: a load decodes nothing, a
//! replay of a real service's JIP-6 trace decodes what it compiles and not
//! the whole program, and every invocation ends as recorded. A
//! whole-program compile decodes everything at load. Under the block models
//! too the interpreter decodes (and builds its ops for) the spans it runs,
//! and ends where a whole-program compile does.

use javm::harness::trace::{Trace, parse_traces, replay_with};
use javm::{Compilation, Config, Engine, EngineKind, Exit, GasModel, Profile};
use javm_cap::program::standard::ARGS_START;
use std::path::Path;

fn trace() -> Trace {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jip6/test-service-accumulate.log");
    parse_traces(&std::fs::read_to_string(path).unwrap()).unwrap().swap_remove(0)
}

#[test]
fn a_replay_decodes_what_it_compiles_and_ends_as_recorded() {
    let trace = &trace();
    for (kind, compilation) in [
        (EngineKind::Recompiler, Compilation::default()),
        (EngineKind::Recompiler, Compilation::Lazy { region: 1 }),
        (EngineKind::Recompiler, Compilation::Eager),
        (EngineKind::Interpreter, Compilation::default()),
    ] {
        let what = format!("{kind} ({compilation:?})");
        let config = Config { engine: kind, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
        let engine = Engine::new(config).with_compilation(compilation);
        // The module the replays get from the engine's cache.
        let module = engine.load(&trace.program).unwrap();
        let program = module.program();
        let all = program.instruction_count();
        let lazy = kind == EngineKind::Interpreter || compilation != Compilation::Eager;
        assert_eq!(program.decoded_instructions(), if lazy { 0 } else { all }, "{what}: decoded at load");
        for replay in 0..2 {
            replay_with(trace, &engine).unwrap_or_else(|m| panic!("{what}, replay {replay}: {m:?}"));
        }
        let decoded = program.decoded_instructions();
        if lazy {
            let compiled = module.compiled_instructions().unwrap_or(0);
            assert!(decoded > 0 && decoded >= compiled, "{what}: {decoded} decoded, {compiled} compiled");
            assert!(decoded < all, "{what}: all {all} instructions decoded");
        } else {
            assert_eq!(decoded, all, "{what}");
        }
    }
}

/// What the trace's program does from its recorded start under `engine`,
/// its host calls doing nothing: the state at each of its first exits.
fn exits(trace: &Trace, engine: &Engine) -> Vec<(Exit, u32, i64, [u64; 13], String)> {
    let module = engine.load(&trace.program).unwrap();
    let args = trace.pre_writes.iter().find(|(a, _)| *a == ARGS_START).map_or(&[][..], |(_, b)| b);
    let mut instance = module.instantiate_standard(args, trace.start.pc).unwrap();
    for (i, &r) in trace.start.regs.iter().enumerate() {
        instance.set_reg(i, r);
    }
    instance.set_gas(trace.start.gas);
    let mut seen = Vec::new();
    for _ in 0..8 {
        let exit = instance.run();
        seen.push((exit, instance.pc(), instance.gas(), *instance.regs(), format!("{:?}", instance.memory_root())));
        if !matches!(exit, Exit::Host(_)) {
            break;
        }
    }
    seen
}

#[test]
fn the_interpreter_decodes_what_it_runs_under_the_block_models() {
    let trace = &trace();
    for model in [GasModel::Block, GasModel::Pipeline] {
        let config = |engine| Config { engine, profile: Profile::P7, gas_model: Some(model) };
        let whole = Engine::new(config(EngineKind::Recompiler)).with_compilation(Compilation::Eager);
        let expected = exits(trace, &whole);
        assert!(expected.len() > 2, "{model}: runs through host calls: {expected:?}");
        let engine = Engine::new(config(EngineKind::Interpreter));
        let module = engine.load(&trace.program).unwrap();
        let program = module.program();
        assert_eq!(program.decoded_instructions(), 0, "{model}: decoded at load");
        assert_eq!(exits(trace, &engine), expected, "{model}");
        let (decoded, all) = (program.decoded_instructions(), program.instruction_count());
        assert!(decoded > 0 && decoded < all, "{model}: {decoded} of {all} decoded");
    }
}
