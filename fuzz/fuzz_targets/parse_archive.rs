//! rkyv archives: `Image::from_archive` and `DataCap::from_archive` reject
//! malformed bytes with an error, never a panic or a huge allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    javm::testing::hostile::parse_archives(data);
});
