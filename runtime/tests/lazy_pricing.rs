//! Block costs under the pipeline model are priced when a block is first
//! entered (or compiled), not at load: a load prices nothing, a run prices
//! what it reaches, and the gas every guest pays is its recorded one on
//! both engines, whichever way the recompiler compiles (a lazily compiled
//! module has compiled part of the program after a small run). The
//! interpreter and a lazily compiled module also decode their program as
//! they run it: nothing at load, after a small run part of it, and at
//! least what has been compiled.

use javm::harness::{decode_hex, encode_hex};
use javm::testing::run_guest;
use javm::{Compilation, Config, Engine, EngineKind, Exit, GasModel, Profile};
use serde_json::Value;
use std::path::Path;

const GAS: i64 = 1 << 40;

#[test]
fn runs_price_the_blocks_they_reach_and_pay_the_recorded_gas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let engines = [
        (EngineKind::Interpreter, Compilation::Eager),
        (EngineKind::Recompiler, Compilation::Lazy { region: 1 }),
        (EngineKind::Recompiler, Compilation::Eager),
    ];
    for guest in expected["guests"].as_array().unwrap() {
        let blob = std::fs::read(dir.join(guest["jam"].as_str().unwrap())).unwrap();
        let case = guest["cases"].as_array().unwrap().iter().find(|c| c["name"] == "small").unwrap();
        let args = decode_hex(case["args"].as_str().unwrap()).unwrap();
        let (output, gas_used) = (case["output"].as_str().unwrap(), case["gas_l2hit"].as_i64().unwrap());
        for (kind, compilation) in engines {
            let what = format!("{} on {kind} ({compilation:?})", guest["name"]);
            let config = Config { engine: kind, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
            let module = Engine::new(config).with_compilation(compilation).load(&blob).unwrap();
            let (program, blocks) = (module.program(), module.program().blocks().len());
            let whole = kind == EngineKind::Recompiler && compilation == Compilation::Eager;
            assert_eq!(program.priced_blocks(), if whole { blocks } else { 0 }, "{what}: priced at load");
            let all = program.instruction_count();
            let lazy = !whole;
            assert_eq!(program.decoded_instructions(), if lazy { 0 } else { all }, "{what}: decoded at load");
            let (exit, out, used) = run_guest(&module, &args, GAS);
            assert_eq!((exit, encode_hex(&out), used), (Exit::Halt, output.to_owned(), gas_used), "{what}");
            let compiled = module.compiled_instructions();
            let decoded = program.decoded_instructions();
            if lazy {
                let at_least = compiled.unwrap_or(0);
                assert!(
                    decoded >= at_least && decoded <= all,
                    "{what}: {decoded} of {all} decoded, {at_least} compiled"
                );
            }
            match (kind, whole) {
                (EngineKind::Interpreter, _) => assert_eq!(compiled, None, "{what}"),
                (_, true) => assert_eq!(compiled, Some(all), "{what}"),
                (_, false) => assert!(compiled.is_some_and(|n| n > 0 && n < all), "{what}: {compiled:?} of {all}"),
            }
            let priced = program.priced_blocks();
            assert!(priced > 0 && priced <= blocks, "{what}: {priced} of {blocks} priced");
            if !whole {
                assert!(priced < blocks, "{what}: every one of {blocks} blocks priced by one small run");
            }
        }
    }
}

#[test]
fn unit_models_need_no_pricing() {
    let blob = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin/sort.jam")).unwrap();
    for model in [GasModel::Block, GasModel::Instruction] {
        let config = Config { engine: EngineKind::Interpreter, profile: Profile::P8, gas_model: Some(model) };
        let module = Engine::new(config).load(&blob).unwrap();
        let program = module.program();
        assert_eq!(program.priced_blocks(), program.blocks().len(), "{model}");
        let lengths: Vec<u32> = program.blocks().iter().map(|b| b.end - b.first).collect();
        assert_eq!(program.blocks_with_costs().map(|(_, cost)| cost).collect::<Vec<_>>(), lengths, "{model}");
    }
}
