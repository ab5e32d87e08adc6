//! javm's x86-64 recompiler.
