//! The recompiler with no or almost no kernel mappings to spare (a separate
//! binary, one test at a time: the budget is process-wide, and set from
//! what windows hold). Its windows are reset all the time, or every memory
//! access is handed to the interpreter; every result must stay exactly the
//! interpreter's.

mod common;

use javm::harness::decode_hex;
use javm::testing::spare_window_mappings;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Instance, Profile};
use serde_json::Value;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `check` on the recompiler with no mapping to spare: every access
/// is interpreted.
fn on_the_starved_recompiler(check: impl FnOnce(EngineKind)) {
    let _serial = serial();
    spare_window_mappings(0);
    check(EngineKind::Recompiler);
}

conformance_tests!(on_the_starved_recompiler);

/// What a run of a guest ends with: its exits (host calls, gas and log,
/// simply continue), pc, gas, registers and memory root.
type Outcome = (Vec<Exit>, u32, i64, [u64; 13], javm_cap::CapHash);

/// Every committed guest with the arguments of its smallest workload.
fn committed_guests() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let guests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(guests.join("expected.json")).unwrap()).unwrap();
    let all = expected["guests"].as_array().unwrap().iter().map(|guest| {
        let blob = std::fs::read(guests.join(guest["jam"].as_str().unwrap())).unwrap();
        let case = guest["cases"].as_array().unwrap().iter().find(|c| c["name"] != "default").unwrap();
        let args = decode_hex(case["args"].as_str().unwrap()).unwrap();
        (guest["name"].as_str().unwrap().to_string(), blob, args)
    });
    all.collect()
}

/// A fresh instance of the guest `blob` with `args` on `engine`.
fn instance(engine: EngineKind, blob: &[u8], args: &[u8]) -> Instance {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
    let mut instance = Engine::new(config).load(blob).unwrap().instantiate_standard(args, 0).unwrap();
    instance.set_gas(1 << 40);
    instance
}

/// Runs `instance` on from after `exits` to its end.
fn finish(mut instance: Instance, mut exits: Vec<Exit>) -> Outcome {
    while exits.last().is_none_or(|exit| matches!(exit, Exit::Host(_))) && exits.len() <= 10_000 {
        exits.push(instance.run());
    }
    let root = instance.memory_root();
    (exits, instance.pc(), instance.gas(), *instance.regs(), root)
}

/// Runs `instance` to its end.
fn outcome(instance: Instance) -> Outcome {
    finish(instance, Vec::new())
}

/// Every committed guest, on its smallest workload, on both engines, with
/// no mappings to spare, room for two `mmap`s (too little to reset: the
/// interpreter takes over), for 12 (a reset at almost every fault), and
/// for 32.
#[test]
fn guests_match_the_interpreter() {
    let _serial = serial();
    for (name, blob, args) in committed_guests() {
        let interp = outcome(instance(EngineKind::Interpreter, &blob, &args));
        assert_eq!(interp.0.last(), Some(&Exit::Halt), "{name}");
        for spare in [0, 4, 24, 64] {
            spare_window_mappings(spare);
            assert_eq!(outcome(instance(EngineKind::Recompiler, &blob, &args)), interp, "{name} with {spare} to spare");
        }
    }
}

/// Every committed guest on the recompiler while 200 idle live instances
/// of it, stopped at their first exit, hold their windows' mappings and no
/// mapping is to spare: the idle windows give theirs back (their pages
/// move into their caps), a fresh instance runs as the interpreter does,
/// and so do the idle ones when they run on to their end.
#[test]
fn guests_match_the_interpreter_beside_idle_instances() {
    const IDLE: usize = 200;
    let _serial = serial();
    for (name, blob, args) in committed_guests() {
        // Room for the idle instances.
        javm::set_window_mapping_budget(usize::MAX);
        let interp = outcome(instance(EngineKind::Interpreter, &blob, &args));
        let idle: Vec<(Instance, Exit)> = (0..IDLE)
            .map(|_| {
                let mut instance = instance(EngineKind::Recompiler, &blob, &args);
                let first = instance.run();
                (instance, first)
            })
            .collect();
        javm::set_window_mapping_budget(javm::window_mappings_held());
        assert_eq!(outcome(instance(EngineKind::Recompiler, &blob, &args)), interp, "{name}, beside idle instances");
        for (k, (idle, first)) in idle.into_iter().enumerate() {
            assert_eq!(finish(idle, vec![first]), interp, "{name}, idle instance {k} run on");
        }
    }
}

/// The seeded generated programs of `differential.rs` (their first 600),
/// alternating between no mappings to spare and room for 12 `mmap`s.
#[test]
fn generated_programs_match_the_interpreter() {
    use arbitrary::Unstructured;
    use javm::testing::generate::gen_case;
    use javm::testing::{run_case, seeded_bytes};
    let _serial = serial();
    let mut compared = 0;
    for seed in 0..600 {
        let Ok(case) = gen_case(&mut Unstructured::new(&seeded_bytes(seed, 4096))) else { continue };
        let interp = run_case(&case, EngineKind::Interpreter);
        spare_window_mappings(if seed % 2 == 0 { 0 } else { 24 });
        assert_eq!(run_case(&case, EngineKind::Recompiler), interp, "seed {seed}: {case:#?}");
        compared += 1;
    }
    assert!(compared > 300);
}

/// The hostile API driver of the `api_hostile` fuzz target with the fuzz
/// target's budgets: with no mapping to spare beyond the windows an input
/// keeps at once (instance, image reload, fork), nothing fails or panics;
/// the empty input among them.
#[test]
fn hostile_api_inputs_run_with_no_mappings_to_spare() {
    use javm::testing::{seeded_bytes, vary_window_budget};
    let _serial = serial();
    let mut inputs = vec![Vec::new()];
    inputs.extend((0..300u64).map(|seed| seeded_bytes(seed ^ 0xB0D6, 4096 + (seed % 2) as usize)));
    for data in &inputs {
        vary_window_budget(data);
        for engine in EngineKind::ALL {
            let _ = javm::testing::hostile::drive_api(&mut arbitrary::Unstructured::new(data), engine);
        }
    }
    javm::set_window_mapping_budget(usize::MAX);
}
