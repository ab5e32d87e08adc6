//! Hostile inputs never make the host panic: seeded fuzzing of every parser
//! and of the public API, implementation limits enforced with errors, guest
//! accesses at the extremes of the address space, and regression tests for
//! what the fuzz targets found.

use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};

/// Engines that can run code in this build (the recompiler joins once it is
/// built in).
fn engines() -> Vec<EngineKind> {
    [EngineKind::Interpreter, EngineKind::Recompiler]
        .into_iter()
        .filter(|&e| javm::testing::engine_available(e))
        .collect()
}

fn engine(kind: EngineKind, profile: Profile, gas_model: GasModel) -> Engine {
    Engine::new(Config { engine: kind, profile, gas_model: Some(gas_model) })
}

/// `trap` alone.
const TRAP: [u8; 5] = [0x00, 0x00, 0x01, 0x00, 0x01];

#[test]
fn extreme_gas_never_overflows() {
    // Regression: under the instruction model, out-of-gas subtracts one from
    // the gas a host set; i64::MIN overflowed.
    for kind in engines() {
        for profile in Profile::ALL {
            let module = engine(kind, profile, GasModel::Instruction).load_blob(&TRAP).unwrap();
            for (gas, exit, after) in [
                (i64::MIN, Exit::OutOfGas, i64::MIN),
                (i64::MIN + 1, Exit::OutOfGas, i64::MIN),
                (-1, Exit::OutOfGas, -2),
                (0, Exit::OutOfGas, -1),
                (i64::MAX, Exit::Panic, i64::MAX - 1),
            ] {
                let mut instance = module.instantiate_empty(0);
                instance.set_gas(gas);
                assert_eq!(instance.run(), exit, "{kind:?} {profile:?} gas {gas}");
                assert_eq!(instance.gas(), after, "{kind:?} {profile:?} gas {gas}");
            }
            // A pc outside the instruction stream (P7 only) takes the same path.
            if profile == Profile::P7 {
                let mut instance = module.instantiate_empty(1000);
                instance.set_gas(i64::MIN);
                assert_eq!(instance.run(), Exit::OutOfGas);
                assert_eq!(instance.gas(), i64::MIN);
            }
            for model in [GasModel::Pipeline, GasModel::Block] {
                let module = engine(kind, profile, model).load_blob(&TRAP).unwrap();
                let mut instance = module.instantiate_empty(0);
                instance.set_gas(i64::MIN);
                assert_eq!(instance.run(), Exit::OutOfGas);
                assert_eq!(instance.gas(), i64::MIN, "gas is unchanged on out-of-gas");
            }
        }
    }
}
