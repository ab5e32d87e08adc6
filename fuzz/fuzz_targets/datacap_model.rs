//! DataCap against a plain byte model: random sequences of cap operations,
//! every observation and root compared with a from-scratch recompute.
#![no_main]

#[path = "../../cap/tests/support/cap_model.rs"]
mod cap_model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = cap_model::run(&mut arbitrary::Unstructured::new(data));
});
