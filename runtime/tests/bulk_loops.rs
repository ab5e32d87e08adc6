//! Copy and fill loops that the recompiler runs in bulk
//! (`javm_cap::program::bulk`): the same exits, states and memory as the
//! interpreter's, which runs every iteration itself.
//!
//! Triggers in this test binary fire with one iteration left, so that the
//! short loops of generated cases take the bulk path too.

use arbitrary::Unstructured;
use javm::EngineKind;
use javm::testing::generate::{GenCase, GenMapping, gen_bulk_case};
use javm::testing::{Outcome, memory_pages, run_case, run_case_with, seeded_bytes};
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::program::bulk::{iterations_run, set_trigger_iterations};
use javm_cap::program::{GasModel, HALT_ADDRESS, Opcode, Profile};
use javm_cap::space::Access;
use javm_cap::vm::Exit;

/// `r7 += 8` per iteration, storing r11 at r7, `r9 -= 8` until it is 0,
/// then return: a fill of r9 bytes at r7, under the block gas model (a
/// block costs its instruction count).
fn fill_case(gas: i64, bytes: u64, mappings: Vec<GenMapping>) -> GenCase {
    let mut asm = Assembler::new(Profile::P8);
    let body = asm.label();
    let ops = |ra: u8, rb: u8, imm: u64| Operands { ra, rb, imm, ..Operands::default() };
    asm.push(Opcode::Fallthrough, Operands::default());
    asm.bind(body);
    asm.push(Opcode::StoreIndU64, ops(11, 7, 0));
    asm.push(Opcode::AddImm64, ops(7, 7, 8));
    asm.push(Opcode::AddImm64, ops(9, 9, (-8i64) as u64));
    asm.push(Opcode::BranchNeImm, Operands { ra: 9, imm: 0, target: Target::Label(body), ..Operands::default() });
    asm.push(Opcode::JumpInd, ops(0, 0, 0));
    let mut regs = [0u64; 13];
    regs[0] = u64::from(HALT_ADDRESS);
    regs[7] = 0x2_0000;
    regs[9] = bytes;
    regs[11] = 0x0123_4567_89AB_CDEF;
    GenCase {
        profile: Profile::P8,
        gas_model: GasModel::Block,
        blob: asm.finish().to_bytes(),
        entry: 0,
        regs,
        gas,
        mappings,
        heap: None,
    }
}

fn writable(start_page: u32, pages: u32) -> GenMapping {
    GenMapping { start_page, pages, access: Access::Write, content: Vec::new() }
}

fn exits(outcome: &Outcome) -> &[(Exit, javm_cap::vm::VmState)] {
    match outcome {
        Outcome::Ran { exits, .. } => exits,
        Outcome::Rejected(why) => panic!("rejected: {why}"),
    }
}

#[test]
fn a_fill_runs_in_bulk_up_to_its_last_iteration() {
    set_trigger_iterations(1);
    // 4096 bytes: 512 iterations. The bulk run stops before the last, which
    // leaves the loop, so 511 of them run in bulk.
    let case = fill_case(1_000_000, 4096, vec![writable(32, 2)]);
    let before = iterations_run();
    let mut pages = Vec::new();
    let jit = run_case_with(&case, EngineKind::Recompiler, |i| pages = memory_pages(i));
    assert_eq!(iterations_run() - before, 511);
    let (exit, state) = exits(&jit)[0];
    assert_eq!(exit, Exit::Halt);
    assert_eq!((state.regs[7], state.regs[9]), (0x2_1000, 0));
    // 1 (the fall-through) + 512 × 4 (the loop) + 1 (the return).
    assert_eq!(1_000_000 - state.gas, 2050);
    let pattern: Vec<u8> = 0x0123_4567_89AB_CDEFu64.to_le_bytes().repeat(512);
    assert_eq!(pages[0], (0x2_0000, true, pattern));
    assert_eq!(pages[1], (0x2_1000, true, vec![0; 4096]));
    assert_eq!(jit, run_case(&case, EngineKind::Interpreter));
}

#[test]
fn a_fill_stops_where_the_gas_or_the_pages_end() {
    set_trigger_iterations(1);
    // Gas for the fall-through and 100 iterations and a bit: the 101st
    // iteration cannot be paid.
    let case = fill_case(1 + 100 * 4 + 3, 4096, vec![writable(32, 2)]);
    let before = iterations_run();
    let jit = run_case(&case, EngineKind::Recompiler);
    assert_eq!(iterations_run() - before, 100);
    let (exit, state) = exits(&jit)[0];
    assert_eq!((exit, state.regs[7], state.gas), (Exit::OutOfGas, 0x2_0000 + 800, 3));
    assert_eq!(jit, run_case(&case, EngineKind::Interpreter));

    // 8192 bytes over one writable page: the iterations on the first page
    // run in bulk, the first store on the next faults.
    let case = fill_case(1_000_000, 8192, vec![writable(32, 1)]);
    let before = iterations_run();
    let jit = run_case(&case, EngineKind::Recompiler);
    assert_eq!(iterations_run() - before, 512);
    let (exit, state) = exits(&jit)[0];
    assert_eq!((exit, state.regs[7], state.regs[9]), (Exit::PageFault(0x2_1000), 0x2_1000, 4096));
    assert_eq!(jit, run_case(&case, EngineKind::Interpreter));
}

#[test]
fn generated_loops_run_alike_on_both_engines() {
    set_trigger_iterations(1);
    let (mut cases, mut in_bulk, mut iterations) = (0, 0, 0);
    for seed in 0..10_000u64 {
        let Ok(case) = gen_bulk_case(&mut Unstructured::new(&seeded_bytes(seed, 1024))) else { continue };
        let interp = run_case(&case, EngineKind::Interpreter);
        let before = iterations_run();
        let jit = run_case(&case, EngineKind::Recompiler);
        assert_eq!(interp, jit, "seed {seed}: {case:#?}");
        let ran = iterations_run() - before;
        cases += 1;
        in_bulk += usize::from(ran > 0);
        iterations += ran;
    }
    eprintln!("{cases} cases, {in_bulk} ran iterations in bulk, {iterations} iterations in all");
    assert!(cases > 9_900);
    assert!(in_bulk > cases / 5, "only {in_bulk} of {cases} cases ran iterations in bulk");
}
