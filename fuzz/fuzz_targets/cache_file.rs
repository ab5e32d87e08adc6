//! Module cache files: `disk_cache` decoding (header, length, checksum,
//! bytecheck, then the tables against the program) rejects or loads any
//! bytes, never a panic; resealed payloads reach the archive and table
//! checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    javm::testing::hostile::cache_file(data);
});
