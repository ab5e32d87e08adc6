//! Two engines side by side: equal runs agree to the end, and a difference
//! is narrowed down to the block where it starts.

use javm::harness::cross_check::cross_check;
use javm::testing::GuestHost;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Instance, Profile};
use javm_cap::program::Opcode;
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::space::Access;
use std::path::Path;

const PAGE: u32 = 0x2_0000;

/// Folds the 100 bytes at `PAGE` into r9 with `op` (`add_64`: their sum):
/// `r7 = PAGE; r8 = PAGE + 100; loop: r10 = u8 [r7]; r9 = r9 op r10;
/// r7 += 1; if r7 <u r8 goto loop; trap`. Returns the blob and the loop's pc.
fn folding_loop(op: Opcode) -> (Vec<u8>, u32) {
    let mut a = Assembler::new(Profile::P8);
    a.push(Opcode::LoadImm, Operands { ra: 7, imm: u64::from(PAGE), ..Default::default() });
    a.push(Opcode::LoadImm, Operands { ra: 8, imm: u64::from(PAGE + 100), ..Default::default() });
    a.push(Opcode::Fallthrough, Operands::default());
    let head = a.label();
    a.bind(head);
    let head_pc = a.pc();
    a.push(Opcode::LoadIndU8, Operands { ra: 10, rb: 7, imm: 0, ..Default::default() });
    a.push(op, Operands { ra: 9, rb: 10, rd: 9, ..Default::default() });
    a.push(Opcode::AddImm64, Operands { ra: 7, rb: 7, imm: 1, ..Default::default() });
    a.push(Opcode::BranchLtU, Operands { ra: 7, rb: 8, target: Target::Label(head), ..Default::default() });
    a.push(Opcode::Trap, Operands::default());
    (a.finish().to_bytes(), head_pc)
}

fn instance(engine: EngineKind, blob: &[u8], pokes: &[u32]) -> Instance {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Block) };
    let module = Engine::new(config).load_blob(blob).unwrap();
    let mut instance = module.instantiate_empty(0);
    instance.address_space().map_zeroed(u64::from(PAGE), 4096, Access::Write).unwrap();
    for &address in pokes {
        instance.write_memory(address, &[1]).unwrap();
    }
    instance.set_gas(1_000_000);
    instance
}

#[test]
fn equal_engines_agree_to_the_end() {
    let (blob, _) = folding_loop(Opcode::Add64);
    let mut a = instance(EngineKind::Interpreter, &blob, &[PAGE + 7, PAGE + 9]);
    let mut b = instance(EngineKind::Recompiler, &blob, &[PAGE + 7, PAGE + 9]);
    assert_eq!(cross_check(&mut a, &mut b, &mut GuestHost::default(), &mut GuestHost::default()), Ok(Exit::Panic));
    assert_eq!((a.reg(9), b.reg(9)), (2, 2));

    let guest = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin/hostcall.jam")).unwrap();
    let start = |engine| {
        let config = Config { engine, profile: Profile::P8, gas_model: None };
        let mut i =
            Engine::new(config).load(&guest).unwrap().instantiate_standard(&[10, 0, 0, 0, 3, 0, 0, 0], 0).unwrap();
        i.set_gas(1 << 40);
        i
    };
    let (mut a, mut b) = (start(EngineKind::Interpreter), start(EngineKind::Recompiler));
    assert_eq!(cross_check(&mut a, &mut b, &mut GuestHost::default(), &mut GuestHost::default()), Ok(Exit::Halt));
}

#[test]
fn a_difference_is_found_in_the_block_where_it_starts() {
    // The second program xors where the first adds: with bytes 60 and 61
    // set, both hold 1 after byte 60 and part at byte 61 (2 against 0) —
    // an engine bug that shows only when the code runs.
    let (sum, head) = folding_loop(Opcode::Add64);
    let (xor, _) = folding_loop(Opcode::Xor);
    let pokes = [PAGE + 60, PAGE + 61];
    for second in EngineKind::ALL {
        let mut a = instance(EngineKind::Interpreter, &sum, &pokes);
        let mut b = instance(second, &xor, &pokes);
        let divergence = cross_check(&mut a, &mut b, &mut GuestHost::default(), &mut GuestHost::default()).unwrap_err();
        assert_eq!(divergence.exits_agreed, 0);
        assert_eq!(divergence.block_pc, head);
        let [x, y] = divergence.observed;
        // Out of gas right after that iteration: r7 has moved past byte 61.
        assert_eq!((x.exit, y.exit), (Exit::OutOfGas, Exit::OutOfGas));
        assert_eq!((x.state.regs[7], x.state.regs[9], y.state.regs[9]), (u64::from(PAGE) + 62, 2, 0));
        assert!(divergence.disassembly.contains(&format!(">{head:>6}: load_ind_u8")), "{}", divergence.disassembly);
        let text = divergence.to_string();
        assert!(text.contains("r9: 0x2 vs 0x0"), "{text}");
    }
}
