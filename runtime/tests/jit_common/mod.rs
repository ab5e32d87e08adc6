//! Shared by the recompiler's integration tests: the test vectors and the
//! JIP-6 trace on the recompiler engine.

use javm::harness::trace::{parse_traces, replay};
use javm::harness::vectors::{Vector, run_vector};
use javm::harness::{Summary, collect_files};
use javm::{Config, EngineKind, GasModel, Profile};
use std::path::{Path, PathBuf};

/// A folder of the vendored vectors.
pub fn vectors_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(sub)
}

/// Runs every vector under `dir` on the recompiler, with the gas model its
/// format implies (or `gas_model` when given).
pub fn run_vectors(dir: &str, gas_model: Option<GasModel>) -> Summary {
    let mut summary = Summary::default();
    for file in collect_files(&[vectors_dir(dir)], "json").unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        if !Vector::is_vector(&text) {
            continue;
        }
        let vector = Vector::parse(&text).unwrap();
        let (profile, default_model) = vector.default_config();
        let config =
            Config { engine: EngineKind::Recompiler, profile, gas_model: Some(gas_model.unwrap_or(default_model)) };
        summary.record(vector.name(), run_vector(&vector, config).map_err(|m| m.to_string()));
    }
    summary
}

/// Asserts that every vector passed and that there were `count`.
pub fn assert_all_pass(summary: &Summary, count: usize) {
    assert!(summary.failures.is_empty(), "{}\n{:#?}", summary.line(), summary.failures);
    assert_eq!(summary.passed, count);
}

/// Replays the JIP-6 example trace on the recompiler with per-instruction
/// gas (the recording's model).
pub fn replay_jip6() {
    let log = std::fs::read_to_string(vectors_dir("jip6/test-service-accumulate.log")).unwrap();
    let traces = parse_traces(&log).unwrap();
    assert!(!traces.is_empty());
    for trace in &traces {
        assert_eq!(trace.calls.len(), 6);
        let config =
            Config { engine: EngineKind::Recompiler, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
        replay(trace, config).unwrap();
        let block = Config { gas_model: Some(GasModel::Block), ..config };
        assert_eq!(replay(trace, block).unwrap_err().field, "ecalli #0 (1) gas");
    }
}
