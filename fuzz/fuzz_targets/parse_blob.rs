//! Raw code blobs: `CodeBlob::parse` and `Program::new` for both profiles and
//! every gas model never panic, hang or allocate without bound; what loads
//! satisfies the decoder's invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    javm::testing::hostile::parse_blob(data);
});
