//! Placeholder: filled in by the javm-cap foundation work.
