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

#[test]
fn sbrk_of_a_huge_size_fails_without_moving_the_heap() {
    // Regression: the heap top plus a guest-chosen size overflowed u64 (a
    // panic in debug builds; in release the wrapped sum passed the limit
    // check, sbrk returned the old top and the heap shrank by one byte).
    use javm_cap::program::Opcode;
    use javm_cap::program::StandardProgram;
    use javm_cap::program::asm::{Assembler, Operands};
    let mut asm = Assembler::new(Profile::P7);
    let ops = |rd: u8, ra: u8, imm: u64| Operands { rd, ra, imm, ..Operands::default() };
    asm.push(Opcode::LoadImm64, ops(0, 2, u64::MAX));
    asm.push(Opcode::Sbrk, ops(7, 2, 0)); // r7 ← sbrk(2^64 − 1)
    asm.push(Opcode::LoadImm64, ops(0, 2, 0xFFFF_FFFF_FFFF_F000));
    asm.push(Opcode::Sbrk, ops(8, 2, 0)); // r8 ← sbrk(2^64 − 4096)
    asm.push(Opcode::Sbrk, ops(9, 3, 0)); // r9 ← sbrk(0): the top
    asm.push(Opcode::Trap, Operands::default());
    let program = StandardProgram {
        metadata: None,
        ro_data: vec![],
        rw_data: vec![1; 10],
        heap_pages: 0,
        stack_size: 4096,
        code: asm.finish().to_bytes(),
    };
    for kind in engines() {
        let module = engine(kind, Profile::P7, GasModel::Instruction).load(&program.to_bytes()).unwrap();
        let mut instance = module.instantiate_standard(&[], 0).unwrap();
        instance.set_gas(100);
        assert_eq!(instance.run(), Exit::Panic);
        assert_eq!(instance.reg(7), 0, "{kind:?}");
        assert_eq!(instance.reg(8), 0, "{kind:?}");
        // The heap starts after the rw data at 0x20000 + P(10) = 0x21000.
        assert_eq!(instance.reg(9), 0x2_1000, "{kind:?}");
    }
}
