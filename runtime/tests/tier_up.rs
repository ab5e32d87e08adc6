//! Tier-up (`Engine::with_tier_up`): a recompiler module interpreted until
//! it has run a given amount of gas, then compiled, switching in the middle
//! of a run. The switch is exact: outputs and gas equal the guests'
//! recorded ones, and generated programs end as on the interpreter, for
//! thresholds that switch at all kinds of points.

use arbitrary::Unstructured;
use javm::harness::{decode_hex, encode_hex};
use javm::testing::generate::gen_case;
use javm::testing::{GuestHost, case_config, run_case, run_case_on, run_guest, seeded_bytes};
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};
use serde_json::Value;
use std::path::Path;

const GAS: i64 = 1 << 40;

#[test]
fn guests_switch_to_compiled_code_mid_run_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let config = Config { engine: EngineKind::Recompiler, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
    let mut switched = 0;
    for guest in expected["guests"].as_array().unwrap() {
        let blob = std::fs::read(dir.join(guest["jam"].as_str().unwrap())).unwrap();
        for case in guest["cases"].as_array().unwrap().iter().filter(|c| c["name"] != "default") {
            let args = decode_hex(case["args"].as_str().unwrap()).unwrap();
            let (output, gas_used) = (case["output"].as_str().unwrap(), case["gas_l2hit"].as_i64().unwrap());
            let host_calls = case["host_calls"].as_i64().unwrap();
            for after in [1, 37, 1000, 100_000] {
                let module = Engine::new(config).with_tier_up(after).load(&blob).unwrap();
                let what = format!("{} {} after {after}", guest["name"], case["name"]);
                // Twice: tiering up in the first run, compiled in the second
                // (if the first made it hot).
                for run in 0..2 {
                    let (exit, out, used) = run_guest(&module, &args, GAS);
                    assert_eq!((exit, encode_hex(&out), used), (Exit::Halt, output.to_owned(), gas_used), "{what}");
                    if run == 0 && host_calls == 0 {
                        // Everything it ran until the threshold, which a
                        // block it cannot pay reaches at once.
                        assert_eq!(module.gas_interpreted(), after.min(gas_used as u64), "{what}");
                        switched += usize::from(after < gas_used as u64);
                    }
                }
                assert!(module.gas_interpreted() <= after.max(gas_used as u64 * 2), "{what}");
            }
        }
    }
    assert!(switched > 40, "{switched} runs switched mid-run");
}

#[test]
fn generated_programs_end_as_on_the_interpreter() {
    let mut compared = 0;
    for seed in 0..400u64 {
        let data = seeded_bytes(seed ^ 0x7135, 4096);
        let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
        let expected = run_case(&case, EngineKind::Interpreter);
        let after = [1, 3, 20, 200][(seed % 4) as usize];
        let engine = Engine::new(case_config(&case, EngineKind::Recompiler)).with_tier_up(after);
        assert_eq!(run_case_on(&case, &engine), expected, "seed {seed}, tier-up after {after}: {case:#?}");
        compared += 1;
    }
    assert!(compared > 300);
}

#[test]
fn interpreter_modules_and_no_threshold_never_count() {
    let blob = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin/sieve.jam")).unwrap();
    for (engine, after) in [(EngineKind::Interpreter, 1000), (EngineKind::Recompiler, 0)] {
        let config = Config { engine, profile: Profile::P8, gas_model: None };
        let module = Engine::new(config).with_tier_up(after).load(&blob).unwrap();
        let mut instance = module.instantiate_standard(&decode_hex("64000000").unwrap(), 0).unwrap();
        instance.set_gas(GAS);
        assert_eq!(instance.run_with(&mut GuestHost::default()), Exit::Halt);
        assert_eq!(module.gas_interpreted(), 0, "{engine} after {after}");
    }
}
