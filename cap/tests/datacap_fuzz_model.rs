//! Seeded runs of the DataCap model (`support/cap_model.rs`, shared with the
//! `datacap_model` fuzz target): random operation sequences against a plain
//! byte model, roots against from-scratch recomputes.

#[path = "support/cap_model.rs"]
mod cap_model;

use arbitrary::Unstructured;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// A fixed-seed byte stream.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    use proptest::prelude::Rng;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut out = vec![0u8; len];
    rng.fill_bytes(&mut out);
    out
}

#[test]
fn datacap_matches_the_byte_model() {
    for seed in 0..1500u64 {
        let data = bytes(seed, 2048);
        cap_model::run(&mut Unstructured::new(&data)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}
