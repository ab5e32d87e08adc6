//! interp ≡ JIT: a generated program (both profiles, all three gas models,
//! host calls, faults, out-of-gas, resumes) runs on the interpreter and the
//! recompiler; every exit, pc, gas, register set and the memory root must be
//! equal. One input in eight runs the recompiler with no kernel mappings to
//! spare (every access interpreted), one in eight with room for two `mmap`s
//! (a window reset at almost every fault). The second byte chooses how it
//! compiles: lazily block by block (every jump between blocks reaches code
//! not compiled yet the first time), in regions of a few blocks or the
//! default ones, or the whole program up front; the third, for some inputs,
//! that the module runs interpreted for its first few gas and switches to
//! compiled code mid-run. Then each engine runs the case
//! again with forks, snapshots moved to the other engine and resets to
//! snapshots at the exits the input's last bytes choose, and with single
//! steps at the start and after every exit (as many as the ninth byte from
//! the end says; 255: the whole case): same outcome. One input in four is
//! a case around a copy or fill loop (`gen_bulk_case`), and for half the
//! inputs (the tenth byte from the end) the recompiler's bulk-loop
//! triggers fire with one iteration left, so that short loops run in bulk.
#![no_main]

use arbitrary::Unstructured;
use javm::Engine;
use javm::EngineKind;
use javm::testing::generate::{gen_bulk_case, gen_case};
use javm::testing::{
    case_config, compilation_for, run_case, run_case_lifecycle, run_case_on, run_case_stepping, tier_up_for,
};
use javm_cap::program::bulk::set_trigger_iterations;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let generate = if data.first().is_some_and(|b| b % 4 == 0) { gen_bulk_case } else { gen_case };
    let Ok(case) = generate(&mut Unstructured::new(data)) else { return };
    let eager_triggers = data.len().checked_sub(10).is_some_and(|i| data[i] & 1 == 1);
    set_trigger_iterations(u32::from(eager_triggers));
    let interp = run_case(&case, EngineKind::Interpreter);
    javm::testing::vary_window_budget(data);
    let engine = Engine::new(case_config(&case, EngineKind::Recompiler))
        .with_compilation(compilation_for(data))
        .with_tier_up(tier_up_for(data));
    let jit = run_case_on(&case, &engine);
    assert_eq!(interp, jit, "interpreter vs recompiler on {case:#?}");
    let tail: [u8; 8] = std::array::from_fn(|i| data.get(data.len().wrapping_sub(i + 1)).copied().unwrap_or(0));
    let plan = u64::from_le_bytes(tail);
    if plan != 0 {
        for engine in EngineKind::ALL {
            assert_eq!(
                run_case_lifecycle(&case, engine, plan),
                interp,
                "lifecycle plan {plan:#x} on the {engine}: {case:#?}"
            );
        }
    }
    let steps = match data.len().checked_sub(9).map(|i| data[i]) {
        None | Some(0) => return,
        Some(255) => u32::MAX,
        Some(n) => u32::from(n),
    };
    for engine in EngineKind::ALL {
        assert_eq!(run_case_stepping(&case, engine, steps), interp, "{steps} single steps on the {engine}: {case:#?}");
    }
});
