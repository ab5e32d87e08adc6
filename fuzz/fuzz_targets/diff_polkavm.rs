//! Three-way: generated P8 programs on javm's interpreter and on PolkaVM
//! 0.37's interpreter (GP-compatible configuration). Documented spec/PolkaVM
//! disagreements (spec §15, and Q14–Q16 found here, see the README) are
//! filtered and counted; any other difference panics.
#![no_main]

use arbitrary::Unstructured;
use javm::GasModel;
use javm::Profile;
use javm::testing::generate::gen_case;
use javm_fuzz::polkavm_side::{Known, compare};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static CASES: AtomicU64 = AtomicU64::new(0);
static KNOWN: Mutex<Vec<(Known, u64)>> = Mutex::new(Vec::new());

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
    match compare(&case) {
        Ok(known) => {
            let n = CASES.fetch_add(1, Ordering::Relaxed) + 1;
            let mut counts = KNOWN.lock().unwrap();
            if let Some(k) = known {
                match counts.iter_mut().find(|(c, _)| *c == k) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((k, 1)),
                }
            }
            if n.is_power_of_two() || n.is_multiple_of(100_000) {
                eprintln!("diff_polkavm: {n} P8 cases compared; known disagreements: {counts:?}");
            }
        }
        Err(report) => panic!("javm vs PolkaVM: {report}\ncase: {case:#?}"),
    }
});
