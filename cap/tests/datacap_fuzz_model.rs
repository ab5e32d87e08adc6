//! Seeded runs of the DataCap model (`support/cap_model.rs`, shared with the
//! `datacap_model` fuzz target): random operation sequences against a plain
//! byte model, roots against from-scratch recomputes.

#[path = "support/cap_model.rs"]
mod cap_model;

use arbitrary::Unstructured;

/// A fixed-seed byte stream (splitmix64).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

#[test]
fn datacap_matches_the_byte_model() {
    for seed in 0..1500u64 {
        let data = bytes(seed, 2048);
        cap_model::run(&mut Unstructured::new(&data)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}
