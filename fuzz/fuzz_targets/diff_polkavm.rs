//! Three-way: generated P8 programs on javm's interpreter and on PolkaVM
//! 0.37's interpreter (GP-compatible configuration). Documented spec/PolkaVM
//! disagreements (spec §15) are filtered; any other difference panics.
#![no_main]

use arbitrary::Unstructured;
use javm::GasModel;
use javm::Profile;
use javm::testing::generate::gen_case;
use javm_fuzz::polkavm_side::compare;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(mut case) = gen_case(&mut Unstructured::new(data)) else { return };
    if case.profile != Profile::P8 {
        return;
    }
    if case.gas_model == GasModel::Instruction {
        case.gas_model = GasModel::Pipeline;
    }
    // P8 gas is never negative (a host never sets it so).
    case.gas = case.gas.max(0);
    // Keep the top page unmapped (Q15, see `Known`).
    case.mappings.retain(|m| m.start_page + m.pages <= 0xF_FFFF);
    if let Err(report) = compare(&case) {
        panic!("javm vs PolkaVM: {report}\ncase: {case:#?}");
    }
});
