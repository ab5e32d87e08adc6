//! Every committed guest, with small arguments, on PolkaVM 0.37's
//! interpreter and on javm's interpreter: equal output and equal total gas
//! used, under PolkaVM's Full L2-hit cost model against javm's pipeline
//! model and under PolkaVM's naive model against javm's block model.

#[path = "../support/polkavm.rs"]
mod pvm;

use javm::{EngineKind, GasModel};
use javm_benches::{guests, run};
use pvm::{Backend, Costs, Pvm};

/// Cases cheaper than this (naive gas) are run; the rest are bench
/// workloads.
const SMALL: i64 = 1_000_000;

#[test]
fn polkavm_and_javm_agree_on_gas_and_output() {
    let all = guests::load();
    let on_disk = std::fs::read_dir(guests::guests_dir().join("bin"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "polkavm"))
        .count();
    assert_eq!(all.len(), on_disk, "every blob in guests/bin has expectations");

    let mut models = vec![(Costs::Naive, GasModel::Block)];
    if pvm::full_model_supported() {
        models.push((Costs::FullL2Hit, GasModel::Pipeline));
    } else {
        eprintln!("skipping PolkaVM's Full cost model: this CPU has no AVX2");
    }
    let polkavm = Pvm::new(Backend::Interpreter).unwrap();
    let mut checked = 0;
    for guest in &all {
        for case in guest.cases.iter().filter(|c| c.gas_naive < SMALL) {
            for &(costs, model) in &models {
                let what = format!("{} {} ({model})", guest.name, case.name);
                let module = polkavm.load(&guest.polkavm, costs).unwrap_or_else(|e| panic!("{what}: PolkaVM: {e}"));
                let theirs = pvm::run_once(&module, &case.args).unwrap_or_else(|e| panic!("{what}: PolkaVM: {e}"));
                let module = run::load(EngineKind::Interpreter, model, &guest.jam).unwrap();
                let ours = run::run_once(&module, &case.args).unwrap_or_else(|e| panic!("{what}: javm: {e}"));
                assert_eq!(ours.output, theirs.output, "{what}: output");
                assert_eq!(ours.output, case.output, "{what}: output against expected.json");
                assert_eq!(ours.gas_used, theirs.gas_used, "{what}: gas used");
                assert_eq!(ours.host_calls, theirs.host_calls, "{what}: host calls");
                checked += 1;
            }
        }
    }
    assert!(checked >= all.len() * models.len(), "only {checked} runs");
}
