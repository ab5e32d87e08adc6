//! Standard programs, service blobs with metadata and `.polkavm` containers
//! through `StandardProgram::load`: no panic, no unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    javm::testing::hostile::parse_standard(data);
});
