//! Every `block-gas-costs` entry of the v0.5 vectors equals the pipeline
//! model's cost of that block (spec §8.2), and the blocks are exactly the
//! vectors' block starts.

use javm_cap::program::{GasModel, Profile, Program};
use std::path::Path;

fn check_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let blob: Vec<u8> = json["program"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
    let program = Program::from_blob(&blob, Profile::P8, GasModel::Pipeline).unwrap();
    let expected: Vec<(u32, u32)> = json["block-gas-costs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["pc"].as_u64().unwrap() as u32, e["cost"].as_u64().unwrap() as u32))
        .collect();
    let actual: Vec<(u32, u32)> =
        program.blocks_with_costs().filter(|(b, _)| b.is_target).map(|(b, cost)| (b.pc, cost)).collect();
    assert_eq!(actual, expected, "{}", path.display());
    expected.len()
}

#[test]
fn v05_block_gas_costs_match_the_pipeline_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pvm-v0.5");
    let mut files: Vec<_> = std::fs::read_dir(root.join("programs")).unwrap().map(|e| e.unwrap().path()).collect();
    files.push(root.join("extra/inst_cmov_destination_is_part_of_the_dependency_chain.json"));
    let total: usize = files.iter().map(|f| check_file(f)).sum();
    assert_eq!(files.len(), 364);
    assert_eq!(total, 5122 + 1, "5122 block costs in programs/ plus 1 in extra/");
}
