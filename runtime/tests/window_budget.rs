//! The recompiler with no or almost no kernel mappings to spare (a separate
//! binary: the budget is process-wide). Its windows are reset all the time,
//! or every memory access is handed to the interpreter; every result must
//! stay exactly the interpreter's. The tests may change the budget under
//! each other's feet: results must not depend on it.

mod common;

use javm::harness::decode_hex;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};
use serde_json::Value;
use std::path::Path;

/// Runs `check` on the recompiler with no mapping at all: every access is
/// interpreted.
fn on_the_starved_recompiler(check: impl FnOnce(EngineKind)) {
    javm::set_window_mapping_budget(0);
    check(EngineKind::Recompiler);
}

conformance_tests!(on_the_starved_recompiler);

/// Every committed guest, on its smallest workload, on both engines, with
/// no mappings, room for two `mmap`s (a reset at almost every fault), and
/// room for 32.
#[test]
fn guests_match_the_interpreter() {
    let guests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(guests.join("expected.json")).unwrap()).unwrap();
    for guest in expected["guests"].as_array().unwrap() {
        let blob = std::fs::read(guests.join(guest["jam"].as_str().unwrap())).unwrap();
        let case = guest["cases"].as_array().unwrap().iter().find(|c| c["name"] != "default").unwrap();
        let args = decode_hex(case["args"].as_str().unwrap()).unwrap();
        let outcome = |engine| {
            let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
            let mut instance = Engine::new(config).load(&blob).unwrap().instantiate_standard(&args, 0).unwrap();
            instance.set_gas(1 << 40);
            let mut exits = Vec::new();
            // Host calls (gas, log) simply continue.
            loop {
                let exit = instance.run();
                exits.push(exit);
                if !matches!(exit, Exit::Host(_)) || exits.len() > 10_000 {
                    break;
                }
            }
            let root = instance.memory_root();
            (exits, instance.pc(), instance.gas(), *instance.regs(), root)
        };
        let name = guest["name"].as_str().unwrap();
        let interp = outcome(EngineKind::Interpreter);
        assert_eq!(interp.0.last(), Some(&Exit::Halt), "{name}");
        for budget in [0, 4, 64] {
            javm::set_window_mapping_budget(budget);
            assert_eq!(outcome(EngineKind::Recompiler), interp, "{name} with a budget of {budget}");
        }
    }
}

/// The seeded generated programs of `differential.rs` (their first 600),
/// alternating between no mappings and room for two `mmap`s.
#[test]
fn generated_programs_match_the_interpreter() {
    use arbitrary::Unstructured;
    use javm::testing::generate::gen_case;
    use javm::testing::{run_case, seeded_bytes};
    let mut compared = 0;
    for seed in 0..600 {
        let Ok(case) = gen_case(&mut Unstructured::new(&seeded_bytes(seed, 4096))) else { continue };
        let interp = run_case(&case, EngineKind::Interpreter);
        javm::set_window_mapping_budget(if seed % 2 == 0 { 0 } else { 4 });
        assert_eq!(run_case(&case, EngineKind::Recompiler), interp, "seed {seed}: {case:#?}");
        compared += 1;
    }
    assert!(compared > 300);
}
