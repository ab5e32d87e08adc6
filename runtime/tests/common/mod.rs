//! Shared by the conformance test binaries: the official vectors and the
//! JIP-6 trace on a given engine.

use javm::harness::trace::{parse_traces, replay};
use javm::harness::vectors::{Vector, run_vector};
use javm::harness::{Summary, collect_files};
use javm::{Config, EngineKind, GasModel, Profile};
use std::path::{Path, PathBuf};

/// A folder of the vendored test material.
pub fn vectors_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(sub)
}

/// Runs every vector under `dir` on `engine`, with the profile and gas model
/// its format implies.
pub fn run_vectors(engine: EngineKind, dir: &str) -> Summary {
    let mut summary = Summary::default();
    for file in collect_files(&[vectors_dir(dir)], "json").unwrap() {
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

/// Asserts that every vector passed and that there were `count`.
pub fn assert_all_pass(summary: &Summary, count: usize) {
    assert!(summary.failures.is_empty(), "{}\n{:#?}", summary.line(), summary.failures);
    assert_eq!(summary.passed, count);
}

/// Replays the JIP-6 example trace on `engine`.
pub fn replay_jip6(engine: EngineKind) {
    let log = std::fs::read_to_string(vectors_dir("jip6/test-service-accumulate.log")).unwrap();
    let traces = parse_traces(&log).unwrap();
    assert!(!traces.is_empty());
    for trace in &traces {
        assert_eq!(trace.calls.len(), 6);
        // The recording PVM charged gas per instruction (GP 0.7.2): the
        // instruction model replays it exactly ...
        let exact = Config { engine, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
        replay(trace, exact).unwrap();
        // ... while block pre-charging is already off at the first call.
        let block = Config { gas_model: Some(GasModel::Block), ..exact };
        assert_eq!(replay(trace, block).unwrap_err().field, "ecalli #0 (1) gas");
    }
}

/// The three checks as tests, each handed to `$on_engines`: a function that
/// calls the check with every engine to test
/// ([`javm::testing::on_every_engine`], or one engine set up a special way).
#[macro_export]
macro_rules! conformance_tests {
    ($on_engines:path) => {
        #[test]
        fn v04_vectors() {
            $on_engines(|engine| common::assert_all_pass(&common::run_vectors(engine, "pvm-v0.4"), 307));
        }

        #[test]
        fn v05_vectors() {
            $on_engines(|engine| common::assert_all_pass(&common::run_vectors(engine, "pvm-v0.5"), 364));
        }

        #[test]
        fn jip6_trace() {
            $on_engines(common::replay_jip6);
        }
    };
}
