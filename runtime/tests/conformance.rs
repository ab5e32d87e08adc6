//! The official PVM test vectors and the JIP-6 example trace, on every
//! engine.

mod common;

conformance_tests!(javm::testing::on_every_engine);
