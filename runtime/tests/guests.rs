//! The committed C guests (`guests/bin`) on every engine: outputs equal the
//! native build's (recorded in `guests/expected.json`), and the gas used
//! equals PolkaVM 0.37's under both of its cost models (naive ≡ our block
//! model, full L2-hit ≡ our pipeline model), also recorded there.

use javm::harness::{decode_hex, encode_hex};
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn guests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests")
}

const GAS: i64 = 1 << 40;

fn run(engine: EngineKind, gas_model: GasModel, blob: &[u8], args: &[u8]) -> (Vec<u8>, i64) {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(gas_model) };
    let module = Engine::new(config).load(blob).unwrap();
    let (exit, out, used) = javm::testing::run_guest(&module, args, GAS);
    assert_eq!(exit, Exit::Halt);
    (out, used)
}

/// Runs every case whose default workload is allowed by `full`.
fn check_guests(engine: EngineKind, full: bool) {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(guests_dir().join("expected.json")).unwrap()).unwrap();
    let mut checked = 0;
    for guest in expected["guests"].as_array().unwrap() {
        let name = guest["name"].as_str().unwrap();
        for container in ["jam", "polkavm"] {
            let blob = std::fs::read(guests_dir().join(guest[container].as_str().unwrap())).unwrap();
            for case in guest["cases"].as_array().unwrap() {
                let case_name = case["name"].as_str().unwrap();
                // The long default workloads run once, from the `.jam`.
                if case_name == "default" && !(full && container == "jam") {
                    continue;
                }
                let args = decode_hex(case["args"].as_str().unwrap()).unwrap();
                let what = format!("{name}.{container} {case_name}");
                for (model, key) in [(GasModel::Pipeline, "gas_l2hit"), (GasModel::Block, "gas_naive")] {
                    let (output, gas_used) = run(engine, model, &blob, &args);
                    assert_eq!(encode_hex(&output), case["output"].as_str().unwrap(), "{what} output");
                    assert_eq!(gas_used, case[key].as_i64().unwrap(), "{what} gas under {model}");
                }
                checked += 1;
            }
        }
    }
    // 32 cases × 2 containers, less the 9 default workloads skipped on the
    // `.polkavm` (and on the `.jam` too in debug builds).
    assert_eq!(checked, if full { 64 - 9 } else { 64 - 18 }, "cases run");
}

#[test]
fn guests_match_native_outputs_and_polkavm_gas() {
    javm::testing::on_every_engine(|engine| check_guests(engine, cfg!(not(debug_assertions))));
}

/// The committed `.jam` of every guest is exactly what javm's container
/// conversion makes of its `.polkavm` (the builder uses the same code).
#[test]
fn every_jam_is_the_conversion_of_its_polkavm() {
    use javm_cap::program::container::Container;
    let mut checked = 0;
    for entry in std::fs::read_dir(guests_dir().join("bin")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "polkavm") {
            continue;
        }
        let container = Container::parse(&std::fs::read(&path).unwrap()).unwrap();
        let jam = std::fs::read(path.with_extension("jam")).unwrap();
        assert_eq!(container.to_standard().unwrap().to_bytes(), jam, "{}", path.display());
        let exports = container.exports().unwrap();
        assert!(exports.iter().any(|e| e.symbol == b"guest_main"), "{}: exports guest_main", path.display());
        checked += 1;
    }
    assert_eq!(checked, 9);
}
