//! interp ≡ JIT: a generated program (both profiles, all three gas models,
//! host calls, faults, out-of-gas, resumes) runs on the interpreter and the
//! recompiler; every exit, pc, gas, register set and the memory root must be
//! equal. One input in eight runs the recompiler with no kernel mappings to
//! spare (every access interpreted), one in eight with room for two `mmap`s
//! (a window reset at almost every fault).
#![no_main]

use arbitrary::Unstructured;
use javm::EngineKind;
use javm::testing::generate::gen_case;
use javm::testing::run_case;
use std::sync::OnceLock;

static DEFAULT_BUDGET: OnceLock<usize> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let default = *DEFAULT_BUDGET.get_or_init(javm::window_mapping_budget);
    let Ok(case) = gen_case(&mut Unstructured::new(data)) else { return };
    let interp = run_case(&case, EngineKind::Interpreter);
    javm::set_window_mapping_budget(match data.len() % 8 {
        0 => 0,
        1 => 4,
        _ => default,
    });
    let jit = run_case(&case, EngineKind::Recompiler);
    assert_eq!(interp, jit, "interpreter vs recompiler on {case:#?}");
});
