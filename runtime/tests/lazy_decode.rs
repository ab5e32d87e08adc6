//! A recompiler module that compiles lazily decodes its program as it
//! compiles: a load decodes nothing, a replay of a real service's JIP-6
//! trace decodes what it compiles and not the whole program, and every
//! invocation ends as recorded. The interpreter and a whole-program compile
//! decode everything at load.

use javm::harness::trace::{parse_traces, replay_with};
use javm::{Compilation, Config, Engine, EngineKind, GasModel, Profile};
use std::path::Path;

#[test]
fn a_replay_decodes_what_it_compiles_and_ends_as_recorded() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jip6/test-service-accumulate.log");
    let traces = parse_traces(&std::fs::read_to_string(path).unwrap()).unwrap();
    let trace = &traces[0];
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
        let lazy = kind == EngineKind::Recompiler && compilation != Compilation::Eager;
        assert_eq!(program.decoded_instructions(), if lazy { 0 } else { all }, "{what}: decoded at load");
        for replay in 0..2 {
            replay_with(trace, &engine).unwrap_or_else(|m| panic!("{what}, replay {replay}: {m:?}"));
        }
        let decoded = program.decoded_instructions();
        if lazy {
            let compiled = module.compiled_instructions().unwrap();
            assert!(compiled > 0 && decoded >= compiled, "{what}: {decoded} decoded, {compiled} compiled");
            assert!(decoded < all, "{what}: all {all} instructions decoded");
        } else {
            assert_eq!(decoded, all, "{what}");
        }
    }
}
