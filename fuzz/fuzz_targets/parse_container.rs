//! `.polkavm` containers: `Container::parse` and the conversion to a standard
//! program. Inputs start with the container magic so the fuzzer spends its
//! time past it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut bytes = javm_cap::program::container::MAGIC.to_vec();
    bytes.push(3);
    // The total length field, made right half of the time.
    let fix = data.first().is_some_and(|b| b & 1 == 0);
    let rest = data.get(1..).unwrap_or_default();
    let total = (13 + rest.len()) as u64;
    bytes.extend_from_slice(&if fix { total.to_le_bytes() } else { [0xFF; 8] });
    bytes.extend_from_slice(rest);
    javm::testing::hostile::parse_container(&bytes);
    javm::testing::hostile::parse_standard(&bytes);
});
