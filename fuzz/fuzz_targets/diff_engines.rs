//! interp ≡ JIT: a generated program (both profiles, all three gas models,
//! host calls, faults, out-of-gas, resumes) runs on the interpreter and the
//! recompiler; every exit, pc, gas, register set and the memory root must be
//! equal. Until the recompiler is built in, the interpreter is checked
//! against itself (determinism) and the target still explores the generator.
#![no_main]

use arbitrary::Unstructured;
use javm::EngineKind;
use javm::testing::generate::gen_case;
use javm::testing::{engine_available, run_case};
use std::sync::OnceLock;

static JIT: OnceLock<bool> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(case) = gen_case(&mut Unstructured::new(data)) else { return };
    let interp = run_case(&case, EngineKind::Interpreter);
    let other = if *JIT.get_or_init(|| engine_available(EngineKind::Recompiler)) {
        EngineKind::Recompiler
    } else {
        EngineKind::Interpreter
    };
    let jit = run_case(&case, other);
    assert_eq!(interp, jit, "interpreter vs {other:?} on {case:#?}");
});
