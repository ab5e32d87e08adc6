//! The public API under hostile values: `Engine::load`, `load_blob`,
//! `instantiate_standard` and `run` with arbitrary programs, entry pcs,
//! registers, gas and host actions between runs. Nothing may panic. One
//! input in eight runs the recompiler with no kernel mappings to spare, one
//! in eight with room for two `mmap`s.
#![no_main]

use arbitrary::Unstructured;
use javm::EngineKind;
use javm::testing::hostile;
use std::sync::OnceLock;

static DEFAULT_BUDGET: OnceLock<usize> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let default = *DEFAULT_BUDGET.get_or_init(javm::window_mapping_budget);
    javm::set_window_mapping_budget(match data.len() % 8 {
        0 => 0,
        1 => 4,
        _ => default,
    });
    let _ = hostile::drive_api(&mut Unstructured::new(data), EngineKind::Interpreter);
    let _ = hostile::drive_api(&mut Unstructured::new(data), EngineKind::Recompiler);
});
