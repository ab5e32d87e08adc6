//! The conformance checks on the recompiler's baseline x86-64 paths (no
//! BMI1/BMI2/LZCNT/POPCNT): a separate binary because the choice is made
//! process-wide before any module is compiled.

mod common;

conformance_tests! {
    recompiler_fallbacks => {
        javm_recompiler::set_default_force_fallbacks(true);
        javm::EngineKind::Recompiler
    },
}
