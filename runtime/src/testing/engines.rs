//! Tests written once for every engine.

use crate::api::EngineKind;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `test` on each engine of [`EngineKind::ALL`] in turn, stopping at
/// the first failure.
///
/// # Panics
///
/// When `test` panics, again with the engine's name before its message.
pub fn on_every_engine(mut test: impl FnMut(EngineKind)) {
    for engine in EngineKind::ALL {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| test(engine))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("on the {engine}: {message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_engine_in_order() {
        let mut seen = Vec::new();
        on_every_engine(|engine| seen.push(engine));
        assert_eq!(seen, EngineKind::ALL);
    }

    #[test]
    #[should_panic(expected = "on the recompiler: boom")]
    fn a_failure_names_its_engine() {
        on_every_engine(|engine| assert!(engine != EngineKind::Recompiler, "boom"));
    }
}
