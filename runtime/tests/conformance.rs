//! The official PVM test vectors and the JIP-6 example trace, on every
//! engine.

use javm::harness::trace::{parse_traces, replay};
use javm::harness::vectors::{Vector, run_vector};
use javm::harness::{Summary, collect_files};
use javm::{Config, EngineKind};
use std::path::{Path, PathBuf};

fn vectors_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(sub)
}

fn run_vectors(engine: EngineKind, dirs: &[&str]) -> Summary {
    let paths: Vec<PathBuf> = dirs.iter().map(|d| vectors_dir(d)).collect();
    let mut summary = Summary::default();
    for file in collect_files(&paths, "json").unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        if !Vector::is_vector(&text) {
            continue;
        }
        let vector = Vector::parse(&text).unwrap();
        let (profile, gas_model) = vector.default_config();
        let config = Config { engine, profile, gas_model: Some(gas_model) };
        summary.record(vector.name(), run_vector(&vector, config).map_err(|m| m.to_string()));
    }
    summary
}

fn assert_all_pass(summary: &Summary, count: usize) {
    assert!(summary.failures.is_empty(), "{}\n{:#?}", summary.line(), summary.failures);
    assert_eq!(summary.passed, count);
}

macro_rules! per_engine {
    ($($engine:ident => $kind:expr),* $(,)?) => {$(
        mod $engine {
            use super::*;

            #[test]
            fn v04_vectors() {
                assert_all_pass(&run_vectors($kind, &["pvm-v0.4"]), 307);
            }

            #[test]
            fn v05_vectors() {
                assert_all_pass(&run_vectors($kind, &["pvm-v0.5"]), 364);
            }

            #[test]
            fn jip6_trace() {
                let log = std::fs::read_to_string(vectors_dir("jip6/test-service-accumulate.log")).unwrap();
                let traces = parse_traces(&log).unwrap();
                assert!(!traces.is_empty());
                for trace in &traces {
                    assert_eq!(trace.calls.len(), 6);
                    // The recording PVM charged gas per instruction (GP 0.7.2):
                    // the instruction model replays it exactly ...
                    let exact = Config {
                        engine: $kind,
                        profile: javm::Profile::P7,
                        gas_model: Some(javm::GasModel::Instruction),
                    };
                    replay(trace, exact).unwrap();
                    // ... while block pre-charging is already off at the first call.
                    let block = Config { gas_model: Some(javm::GasModel::Block), ..exact };
                    let mismatch = replay(trace, block).unwrap_err();
                    assert_eq!(mismatch.field, "ecalli #0 (1) gas");
                }
            }
        }
    )*};
}

per_engine! {
    interpreter => EngineKind::Interpreter,
}
