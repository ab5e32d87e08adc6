//! Generated programs (seeded, bounded; the `diff_engines` fuzz target runs
//! the same generator coverage-guided): the engines agree on every exit,
//! state and memory root, and each engine is deterministic.

use arbitrary::Unstructured;
use javm::EngineKind;
use javm::testing::generate::gen_case;
use javm::testing::{Outcome, on_every_engine, run_case, seeded_bytes};

const CASES: u64 = 3000;

#[test]
fn interpreter_is_deterministic_and_total() {
    let mut ran = 0;
    let mut exits = std::collections::BTreeMap::<&str, usize>::new();
    for seed in 0..CASES {
        let data = seeded_bytes(seed, 4096);
        let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
        let first = run_case(&case, EngineKind::Interpreter);
        assert_eq!(first, run_case(&case, EngineKind::Interpreter), "seed {seed}");
        if let Outcome::Ran { exits: e, .. } = &first {
            ran += 1;
            for (exit, _) in e {
                *exits.entry(exit.status()).or_default() += 1;
            }
        }
    }
    // The generator must exercise every kind of exit.
    assert!(ran > CASES as usize / 2, "only {ran} cases ran");
    for status in ["halt", "panic", "out-of-gas", "page-fault", "host"] {
        assert!(exits.get(status).copied().unwrap_or(0) > 10, "{status}: {exits:?}");
    }
}

/// interp ≡ JIT: every exit, pc, gas, register set and the final memory
/// root agree, including after resuming from host calls, faults and
/// out-of-gas.
#[test]
fn interpreter_and_recompiler_agree() {
    let mut compared = 0;
    for seed in 0..CASES {
        let data = seeded_bytes(seed, 4096);
        let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
        let interp = run_case(&case, EngineKind::Interpreter);
        let jit = run_case(&case, EngineKind::Recompiler);
        assert_eq!(interp, jit, "seed {seed}: {case:#?}");
        compared += 1;
    }
    assert!(compared > CASES as usize / 2);
}

/// The minimized programs on which PolkaVM 0.37 and GP disagree (Q14–Q16 in
/// `fuzz/README.md`): javm keeps the GP behaviour.
#[test]
fn three_way_findings_keep_the_gp_behaviour() {
    use javm::{Config, Engine, Exit, GasModel, Profile};
    use javm_cap::space::Access;
    let load = |blob: &[u8], engine| {
        Engine::new(Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) })
            .load_blob(blob)
            .unwrap()
    };
    on_every_engine(|engine| {
        // Q14: `branch_gt_u_imm r12, 0, 255` (255 is no block start) is not
        // taken, so execution falls through four `fallthrough`s to the trap.
        let module = load(&[0, 0, 11, 86, 13, 255, 0, 0, 0, 1, 1, 1, 1, 0, 193, 7], engine);
        let mut inst = module.instantiate_empty(0);
        inst.set_gas(100);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.pc(), 10);

        // Q15: `store_imm_u64 0xFFFFFFF8, 0` ends exactly at 2^32: with the
        // top page mapped it completes (PolkaVM traps).
        let module = load(&[0, 0, 5, 33, 1, 248, 1, 0, 25], engine);
        let mut inst = module.instantiate_empty(0);
        inst.address_space().map_zeroed(0xFFFF_F000, 4096, Access::Write).unwrap();
        inst.address_space().poke(0xFFFF_FFF8, &[0xEE; 8]).unwrap();
        inst.set_gas(100);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.pc(), 4, "the store completed and the trap ran");
        let mut top = [0xAA; 8];
        inst.read_memory(0xFFFF_FFF8, &mut top).unwrap();
        assert_eq!(top, [0; 8]);

        // Q16: GP §8.2 prices [ctz32 r0←r12; ctz64 r3←r12; rem_s_32
        // r9←r9,r6; fallthrough] at 61 (PolkaVM 0.37: 62).
        let module = load(&[0, 0, 9, 106, 224, 105, 211, 196, 105, 9, 1, 0, 149, 1], engine);
        assert_eq!(module.program().block_cost(0), 61);
    });
}

/// Fork, snapshot-to-the-other-engine and reset-to-snapshot at generated
/// exits (after host calls, faults and out-of-gas) change nothing: every
/// exit, state and the memory root are those of the plain run.
#[test]
fn lifecycle_steps_change_nothing() {
    use javm::testing::run_case_lifecycle;
    let mut compared = 0;
    for seed in 0..CASES / 3 {
        let data = seeded_bytes(seed ^ 0x5eed, 4096);
        let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
        let plan = u64::from_le_bytes(data[..8].try_into().unwrap()) | 1;
        for engine in EngineKind::ALL {
            let plain = run_case(&case, engine);
            assert_eq!(
                run_case_lifecycle(&case, engine, plan),
                plain,
                "seed {seed}, plan {plan:#x}, {engine}: {case:#?}"
            );
        }
        compared += 1;
    }
    assert!(compared > CASES as usize / 6);
}

/// Single steps — at the start and after every exit, or the whole run —
/// change nothing: every exit, state and the memory root are those of the
/// plain run, on both engines and under every gas model the generator
/// picks (a step enters a block, leaves the recompiler mid-block, or
/// resumes after a host call, a fault or out-of-gas).
#[test]
fn single_steps_change_nothing() {
    use javm::testing::run_case_stepping;
    let mut compared = 0;
    for seed in 0..CASES / 3 {
        let data = seeded_bytes(seed ^ 0x57e9, 4096);
        let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
        let plain = run_case(&case, EngineKind::Interpreter);
        for engine in EngineKind::ALL {
            for steps in [1, 1 + seed as u32 % 13, u32::MAX] {
                assert_eq!(
                    run_case_stepping(&case, engine, steps),
                    plain,
                    "seed {seed}, {steps} steps, {engine}: {case:#?}"
                );
            }
        }
        compared += 1;
    }
    assert!(compared > CASES as usize / 6);
}
