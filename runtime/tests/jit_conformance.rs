//! The official PVM vectors and the JIP-6 trace on the recompiler, using
//! BMI1/BMI2/LZCNT/POPCNT where the CPU has them.

mod jit_common;

use jit_common::{assert_all_pass, replay_jip6, run_vectors};

#[test]
fn v04_vectors() {
    assert_all_pass(&run_vectors("pvm-v0.4", None), 307);
}

#[test]
fn v05_vectors() {
    assert_all_pass(&run_vectors("pvm-v0.5", None), 364);
}

#[test]
fn jip6_trace() {
    replay_jip6();
}
