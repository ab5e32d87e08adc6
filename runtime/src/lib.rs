//! javm: a JIT-backed runtime for JAM's PVM.
