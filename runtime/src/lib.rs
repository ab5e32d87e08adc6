//! javm: a JIT-backed runtime for JAM's PVM.

pub mod interp;
