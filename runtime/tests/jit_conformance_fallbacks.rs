//! The official PVM vectors and the JIP-6 trace on the recompiler's
//! baseline x86-64 paths (no BMI1/BMI2/LZCNT/POPCNT).

mod jit_common;

use jit_common::{assert_all_pass, replay_jip6, run_vectors};

fn fallbacks() {
    javm_recompiler::set_default_force_fallbacks(true);
}

#[test]
fn v04_vectors() {
    fallbacks();
    assert_all_pass(&run_vectors("pvm-v0.4", None), 307);
}

#[test]
fn v05_vectors() {
    fallbacks();
    assert_all_pass(&run_vectors("pvm-v0.5", None), 364);
}

#[test]
fn jip6_trace() {
    fallbacks();
    replay_jip6();
}
