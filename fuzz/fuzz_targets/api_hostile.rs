//! The public API under hostile values: `Engine::load`, `load_blob`,
//! `instantiate_standard` and `run` with arbitrary programs, entry pcs,
//! registers, gas and host actions between runs (memory, heap, forks,
//! snapshots, resets, single steps and page access changes among them). Nothing may panic. One
//! input in eight runs the recompiler with no kernel mappings to spare, one
//! in eight with room for two `mmap`s.
#![no_main]

use arbitrary::Unstructured;
use javm::EngineKind;
use javm::testing::hostile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    javm::testing::vary_window_budget(data);
    for engine in EngineKind::ALL {
        let _ = hostile::drive_api(&mut Unstructured::new(data), engine);
    }
});
