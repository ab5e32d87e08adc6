//! Shared helpers for javm's criterion benches (see `benches/benches/`).
