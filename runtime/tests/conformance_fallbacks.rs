//! The conformance checks on the recompiler's baseline x86-64 paths (no
//! BMI1/BMI2/LZCNT/POPCNT): a separate binary because the choice is made
//! process-wide before any module is compiled.

mod common;

use javm::EngineKind;

/// Runs `check` on the recompiler without its BMI1/BMI2/LZCNT/POPCNT paths.
fn on_the_fallback_recompiler(check: impl FnOnce(EngineKind)) {
    javm_recompiler::set_default_force_fallbacks(true);
    check(EngineKind::Recompiler);
}

conformance_tests!(on_the_fallback_recompiler);
