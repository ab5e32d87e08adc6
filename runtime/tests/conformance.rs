//! The official PVM test vectors and the JIP-6 example trace, on every
//! engine.

mod common;

conformance_tests! {
    interpreter => javm::EngineKind::Interpreter,
    recompiler => javm::EngineKind::Recompiler,
}
