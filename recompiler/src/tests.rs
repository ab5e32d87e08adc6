//! Unit tests of generated code with explicit expected values, on both the
//! BMI and the baseline code paths.

use crate::{CompileOptions, CompiledModule, JitExit, JitInstance};
use javm_cap::DataCap;
use javm_cap::page::PageSlot;
use javm_cap::program::{CodeBlob, GasModel, HALT_ADDRESS, Opcode, Profile, Program};
use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, GuestMemory, VmState};
use std::sync::Arc;

const MIN32: u64 = 0xFFFF_FFFF_8000_0000;
const MIN64: u64 = 1 << 63;

/// Assembles `(opcode, operand bytes)` pairs followed by a `trap`.
pub(crate) fn program(ins: &[(Opcode, &[u8])], table: &[u32], model: GasModel) -> Arc<Program> {
    let mut code = Vec::new();
    let mut starts = Vec::new();
    for (op, operands) in ins.iter().copied().chain([(Opcode::Trap, &[][..])]) {
        starts.push(code.len());
        code.push(op.code(Profile::P8).unwrap());
        code.extend_from_slice(operands);
    }
    Arc::new(Program::new(CodeBlob::from_parts(code, starts, table.to_vec()), Profile::P8, model).unwrap())
}

/// An instance on the baseline code paths compiled in one piece, or on this
/// CPU's compiled lazily segment by segment (so that both compilations run
/// every test).
pub(crate) fn instance(program: Arc<Program>, fallbacks: bool, space: AddressSpace) -> JitInstance {
    let options = CompileOptions { force_fallbacks: fallbacks, lazy: !fallbacks, region: 1 };
    let module = CompiledModule::compile(program, &options).unwrap();
    JitInstance::new(Arc::new(module), space).unwrap()
}

pub(crate) fn run(jit: &mut JitInstance, state: &mut VmState) -> Exit {
    match jit.run(state) {
        JitExit::Exit(e) => e,
        JitExit::Interpret => panic!("unexpected interpreter hand-off at pc {}", state.pc),
    }
}

/// Runs one instruction with operand bytes `operands` from registers
/// `inputs` on both code paths; returns `r3` after it (both must agree).
fn one(op: Opcode, operands: &[u8], inputs: &[(usize, u64)]) -> u64 {
    let results: Vec<u64> = [false, true]
        .into_iter()
        .map(|fallbacks| {
            let p = program(&[(op, operands)], &[], GasModel::Pipeline);
            let mut jit = instance(p, fallbacks, AddressSpace::new());
            let mut regs = [0; 13];
            for &(r, v) in inputs {
                regs[r] = v;
            }
            let mut state = VmState { regs, gas: 1000, ..VmState::default() };
            assert_eq!(run(&mut jit, &mut state), Exit::Panic);
            state.regs[3]
        })
        .collect();
    assert_eq!(results[0], results[1], "{op} paths disagree");
    results[0]
}

/// `rD = op(rA = a, rB = b)` for a REG_REG_REG instruction.
fn rrr(op: Opcode, a: u64, b: u64) -> u64 {
    one(op, &[0x21, 3], &[(1, a), (2, b)])
}

/// `rD = op(rA = a)` for a REG_REG instruction.
fn rr(op: Opcode, a: u64) -> u64 {
    one(op, &[0x13], &[(1, a)])
}

#[test]
fn division_edge_cases_never_trap() {
    assert_eq!(rrr(Opcode::DivU64, 9, 0), u64::MAX);
    assert_eq!(rrr(Opcode::DivS64, 9, 0), u64::MAX);
    assert_eq!(rrr(Opcode::DivS64, MIN64, u64::MAX), MIN64);
    assert_eq!(rrr(Opcode::RemS64, MIN64, u64::MAX), 0);
    assert_eq!(rrr(Opcode::RemU64, 9, 0), 9);
    assert_eq!(rrr(Opcode::RemS64, -9i64 as u64, 0), -9i64 as u64);
    assert_eq!(rrr(Opcode::RemS64, -9i64 as u64, 4), -1i64 as u64);
    assert_eq!(rrr(Opcode::DivS64, -9i64 as u64, 2), -4i64 as u64);
    assert_eq!(rrr(Opcode::DivU32, 7, 0x1_0000_0000), u64::MAX);
    assert_eq!(rrr(Opcode::DivU32, 0xFFFF_FFFF, 1), u64::MAX);
    assert_eq!(rrr(Opcode::DivS32, MIN32, u64::MAX), MIN32);
    assert_eq!(rrr(Opcode::DivS32, -7i64 as u64, 2), -3i64 as u64);
    assert_eq!(rrr(Opcode::RemU32, 0x1_8000_0001, 0), MIN32 | 1);
    assert_eq!(rrr(Opcode::RemS32, MIN32, u64::MAX), 0);
    assert_eq!(rrr(Opcode::RemS32, -7i64 as u64, 0), -7i64 as u64);
    assert_eq!(rrr(Opcode::RemS32, 7, -2i64 as u64), 1);
}

#[test]
fn upper_multiplies() {
    assert_eq!(rrr(Opcode::MulUpperUU, u64::MAX, u64::MAX), u64::MAX - 1);
    assert_eq!(rrr(Opcode::MulUpperSS, MIN64, MIN64), 1 << 62);
    assert_eq!(rrr(Opcode::MulUpperSU, u64::MAX, u64::MAX), u64::MAX);
    assert_eq!(rrr(Opcode::MulUpperSU, u64::MAX, 1), u64::MAX);
    assert_eq!(rrr(Opcode::MulUpperSU, 2, u64::MAX), 1);
}

#[test]
fn shifts_and_rotates_take_the_amount_modulo_width() {
    assert_eq!(rrr(Opcode::ShloL32, 1, 33), 2);
    assert_eq!(rrr(Opcode::ShloL32, 1, 31), MIN32);
    assert_eq!(rrr(Opcode::ShloR32, MIN32, 0), MIN32);
    assert_eq!(rrr(Opcode::SharR32, 0x8000_0000, 35), 0xFFFF_FFFF_F000_0000);
    assert_eq!(rrr(Opcode::ShloL64, 1, 64), 1);
    assert_eq!(rrr(Opcode::ShloR64, MIN64, 127), 1);
    assert_eq!(rrr(Opcode::SharR64, MIN64, 63), u64::MAX);
    assert_eq!(rrr(Opcode::RotR32, 0x1_0000_0001, 33), MIN32);
    assert_eq!(rrr(Opcode::RotL32, 0x4000_0000, 1), MIN32);
    assert_eq!(rrr(Opcode::RotL64, MIN64, 65), 1);
    assert_eq!(rrr(Opcode::RotR64, 1, 1), MIN64);
}

#[test]
fn counts_and_extensions() {
    assert_eq!(rr(Opcode::LeadingZeroBits64, 0), 64);
    assert_eq!(rr(Opcode::LeadingZeroBits64, 1), 63);
    assert_eq!(rr(Opcode::LeadingZeroBits32, 0xFFFF_FFFF_0000_0000), 32);
    assert_eq!(rr(Opcode::LeadingZeroBits32, 0x10), 27);
    assert_eq!(rr(Opcode::TrailingZeroBits64, 0), 64);
    assert_eq!(rr(Opcode::TrailingZeroBits64, MIN64), 63);
    assert_eq!(rr(Opcode::TrailingZeroBits32, 0xFFFF_FFFF_0000_0000), 32);
    assert_eq!(rr(Opcode::CountSetBits64, u64::MAX), 64);
    assert_eq!(rr(Opcode::CountSetBits32, u64::MAX), 32);
    assert_eq!(rr(Opcode::CountSetBits64, 0x8000_0000_0000_0101), 3);
    assert_eq!(rr(Opcode::SignExtend8, 0x80), 0xFFFF_FFFF_FFFF_FF80);
    assert_eq!(rr(Opcode::SignExtend16, 0x1_7FFF), 0x7FFF);
    assert_eq!(rr(Opcode::ZeroExtend16, u64::MAX), 0xFFFF);
    assert_eq!(rr(Opcode::ReverseBytes, 0x0102_0304_0506_0708), 0x0807_0605_0403_0201);
}

#[test]
fn logic_and_min_max() {
    assert_eq!(rrr(Opcode::AndInv, 0b1100, 0b1010), 0b0100);
    assert_eq!(rrr(Opcode::OrInv, 0, u64::MAX - 1), 1);
    assert_eq!(rrr(Opcode::Xnor, 0, 0), u64::MAX);
    assert_eq!(rrr(Opcode::Max, u64::MAX, 1), 1);
    assert_eq!(rrr(Opcode::MaxU, u64::MAX, 1), u64::MAX);
    assert_eq!(rrr(Opcode::Min, u64::MAX, 1), u64::MAX);
    assert_eq!(rrr(Opcode::MinU, u64::MAX, 1), 1);
}

/// A writable page at 0x20000 (zeros) and a read-only page at 0x30000
/// holding `1..=8`.
pub(crate) fn memory() -> AddressSpace {
    let mut space = AddressSpace::new();
    space.map_zeroed(0x20000, 0x1000, Access::Write).unwrap();
    space.map_cap(0x30, DataCap::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(), Access::Read).unwrap();
    space
}

#[test]
fn stores_copy_on_write_and_faults_report_the_lowest_bad_page() {
    // store_ind_u64 [r1 + 0], r2
    let p = program(&[(Opcode::StoreIndU64, &[0x12])], &[], GasModel::Pipeline);
    for (addr, expected) in [
        (0x20010u64, Exit::Panic),
        (0x20FFC, Exit::PageFault(0x21000)),
        (0x30000, Exit::PageFault(0x30000)),
        (0xFFFC, Exit::Panic),
        (0xFFFF_FFFC, Exit::Panic),
    ] {
        let mut jit = instance(p.clone(), false, memory());
        let mut regs = [0; 13];
        regs[1] = addr;
        regs[2] = 0x1122_3344_5566_7788;
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        assert_eq!(run(&mut jit, &mut state), expected, "address {addr:#x}");
        let stored = expected == Exit::Panic && state.pc == 2;
        assert_eq!(state.pc, if stored { 2 } else { 0 }, "address {addr:#x}");
        assert!(state.charged);
        let mut out = [0u8; 8];
        if stored {
            jit.memory().read_bytes(addr as u32, &mut out).unwrap();
            assert_eq!(u64::from_le_bytes(out), 0x1122_3344_5566_7788);
        }
        // The source cap was not touched; the page moved into the overlay.
        let space = jit.address_space();
        let dirty: Vec<u32> = space.mappings().iter().flat_map(|m| m.cap.dirty_pages().map(|(p, _)| p)).collect();
        assert_eq!(dirty, if stored { vec![0] } else { vec![] });
    }
}

/// Stores one byte at offset 8 of every page of a 40-page writable cap with
/// content (page `i` holds `i + 1`), in order, one run per store; page 5 is
/// known only by hash and faults. Every page keeps its content, the image
/// too (the overlay is synced once midway).
#[test]
fn sequential_stores_copy_whole_groups_and_keep_every_page() {
    // store_ind_u8 [r1 + 0], r2
    let p = program(&[(Opcode::StoreIndU8, &[0x12])], &[], GasModel::Pipeline);
    const PAGES: u32 = 40;
    const MISSING: u32 = 5;
    let bytes: Vec<u8> = (0..PAGES * 4096).map(|i| (i / 4096 + 1) as u8).collect();
    let mut space = AddressSpace::new();
    space.map_cap(0x20, DataCap::from_bytes(&bytes).unwrap(), Access::Write).unwrap();
    space.mappings_mut()[0].cap.insert_overlay_page(MISSING, PageSlot::Missing([7; 32])).unwrap();
    let image = space.clone();
    let mut jit = instance(p, false, space);
    for page in 0..PAGES {
        let addr = 0x20000 + page * 4096 + 8;
        let mut regs = [0; 13];
        regs[1] = u64::from(addr);
        regs[2] = 0xEE;
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        let expected = if page == MISSING { Exit::PageFault(addr - 8) } else { Exit::Panic };
        assert_eq!(run(&mut jit, &mut state), expected, "page {page}");
        if page == 1 {
            // The second store copied the rest of its 16-page group (but
            // the missing page); only the two pages written changed.
            assert_eq!(jit.private_pages(), 15);
            let cap = &jit.address_space().mappings()[0].cap;
            let dirty = cap.dirty_pages().filter(|(_, s)| matches!(s, PageSlot::Loaded(_))).count();
            assert_eq!(dirty, 2);
        }
    }
    let after = jit.address_space();
    let mut out = vec![0u8; 4096];
    for page in 0..PAGES {
        let at = 0x20000 + page * 4096;
        if page == MISSING {
            assert!(after.read(at, &mut out).is_err());
            continue;
        }
        after.read(at, &mut out).unwrap();
        let mut want = vec![(page + 1) as u8; 4096];
        want[8] = 0xEE;
        assert!(out == want, "page {page} after the run");
        image.read(at, &mut out).unwrap();
        assert!(out.iter().all(|&b| b == (page + 1) as u8), "page {page} of the image");
    }
}

/// Frames come back to the pool holding a previous owner's bytes; an empty
/// page given one (lazily, when the handler uses it) still reads as zeros.
#[test]
fn recycled_frames_read_as_zeros_in_empty_pages() {
    // load_ind_u64 r3, [r1 + 0]
    let p = program(&[(Opcode::LoadIndU64, &[0x13])], &[], GasModel::Pipeline);
    const PAGES: u32 = 256;
    for round in 0..3 {
        let mut space = AddressSpace::new();
        space.map_zeroed(0x20000, u64::from(PAGES) * 4096, Access::Write).unwrap();
        let mut jit = instance(p.clone(), false, space);
        for page in (0..PAGES).step_by(5) {
            let mut regs = [0; 13];
            regs[1] = u64::from(0x20000 + page * 4096 + 8 * page);
            regs[3] = 1;
            let mut state = VmState { regs, gas: 100, ..VmState::default() };
            assert_eq!(run(&mut jit, &mut state), Exit::Panic);
            assert_eq!(state.regs[3], 0, "round {round}, page {page}");
        }
        // Every page gets a frame full of garbage, returned to the pool
        // when the instance drops.
        jit.memory().write_bytes(0x20000, &vec![0xAB; PAGES as usize * 4096]).unwrap();
    }
}

#[test]
fn loads_map_pages_lazily_and_see_host_writes() {
    // load_ind_u64 r3, [r1 + 0]; ecalli 7; load_ind_u64 r4, [r1 + 0]
    let p = program(
        &[(Opcode::LoadIndU64, &[0x13]), (Opcode::Ecalli, &[7]), (Opcode::LoadIndU64, &[0x14])],
        &[],
        GasModel::Pipeline,
    );
    let mut jit = instance(p.clone(), false, memory());
    let mut regs = [0; 13];
    regs[1] = 0x30000;
    let mut state = VmState { regs, gas: 1000, ..VmState::default() };
    assert_eq!(run(&mut jit, &mut state), Exit::Host(7));
    assert_eq!(state.regs[3], 0x0807_0605_0403_0201);
    assert_eq!(state.pc, 2);
    // The host pokes the read-only page, then the guest resumes after the
    // ecalli without a new charge.
    jit.address_space().poke(0x30000, &[9]).unwrap();
    let gas = state.gas;
    state.pc = 4;
    assert_eq!(run(&mut jit, &mut state), Exit::Panic);
    assert_eq!(state.regs[4], 0x0807_0605_0403_0209);
    assert_eq!(state.gas, gas);
}

#[test]
fn out_of_gas_leaves_state_and_charges_nothing() {
    // 0: fallthrough; 1: jump 1 (to itself), each entry paying the block.
    let p = program(&[(Opcode::Fallthrough, &[]), (Opcode::Jump, &[0x00])], &[], GasModel::Pipeline);
    let (first, cost) = (i64::from(p.block_cost(0)), i64::from(p.block_cost(1)));
    let mut jit = instance(p, false, AddressSpace::new());
    let mut state = VmState { gas: first + 3 * cost + 1, ..VmState::default() };
    assert_eq!(run(&mut jit, &mut state), Exit::OutOfGas);
    assert_eq!((state.pc, state.gas, state.charged), (1, 1, false));
}

#[test]
fn dynamic_jumps_follow_the_table() {
    // 0: jump_ind r1, 0   2: trap   3: load_imm r2, 5   6: trap
    let p = program(
        &[(Opcode::JumpInd, &[0x01]), (Opcode::Trap, &[]), (Opcode::LoadImm, &[0x02, 5])],
        &[3, 2, 1],
        GasModel::Block,
    );
    for (a, pc, exit, r2) in [
        (2u64, 6, Exit::Panic, 5),
        (4, 2, Exit::Panic, 0),
        (6, 0, Exit::Panic, 0),
        (0, 0, Exit::Panic, 0),
        (3, 0, Exit::Panic, 0),
        (8, 0, Exit::Panic, 0),
        (u64::from(HALT_ADDRESS), 0, Exit::Halt, 0),
        ((1 << 32) | u64::from(HALT_ADDRESS), 0, Exit::Halt, 0),
    ] {
        let mut jit = instance(p.clone(), false, AddressSpace::new());
        let mut regs = [0; 13];
        regs[1] = a;
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        assert_eq!(run(&mut jit, &mut state), exit, "address {a:#x}");
        assert_eq!((state.pc, state.regs[2]), (pc, r2), "address {a:#x}");
    }
}

#[test]
fn dynamic_jumps_through_a_table_of_valid_entries_and_with_offsets() {
    // 0: jump_ind r1, 5   3: trap   4: load_imm r2, 5   7: trap; the table
    // holds only block starts, so no jump stores its index for the panic
    // stub; offsets wrap the address at 2^32 (the halt address included).
    let p = program(
        &[(Opcode::JumpInd, &[0x01, 5]), (Opcode::Trap, &[]), (Opcode::LoadImm, &[0x02, 5])],
        &[4, 3],
        GasModel::Block,
    );
    for (a, pc, exit, r2) in [
        (u64::from(2u32.wrapping_sub(5)), 7, Exit::Panic, 5),
        (u64::from(4u32.wrapping_sub(5)), 3, Exit::Panic, 0),
        (u64::from(6u32.wrapping_sub(5)), 0, Exit::Panic, 0),
        (u64::from(0u32.wrapping_sub(5)), 0, Exit::Panic, 0),
        (u64::from(3u32.wrapping_sub(5)), 0, Exit::Panic, 0),
        (u64::from(HALT_ADDRESS - 5), 0, Exit::Halt, 0),
        (u64::MAX << 32 | u64::from(HALT_ADDRESS - 5), 0, Exit::Halt, 0),
        (u64::from(HALT_ADDRESS - 4), 0, Exit::Panic, 0),
        (u64::from(HALT_ADDRESS - 3), 0, Exit::Panic, 0),
    ] {
        for fallbacks in [false, true] {
            let mut jit = instance(p.clone(), fallbacks, AddressSpace::new());
            let mut regs = [0; 13];
            regs[1] = a;
            let mut state = VmState { regs, gas: 100, ..VmState::default() };
            assert_eq!(run(&mut jit, &mut state), exit, "address {a:#x} + 5, fallbacks {fallbacks}");
            assert_eq!((state.pc, state.regs[2]), (pc, r2), "address {a:#x} + 5, fallbacks {fallbacks}");
        }
    }
}

#[test]
fn dynamic_jumps_without_a_table_halt_or_panic() {
    // 0: jump_ind r1, 0   2: trap
    let p = program(&[(Opcode::JumpInd, &[0x01]), (Opcode::Trap, &[])], &[], GasModel::Block);
    for (a, exit) in [(u64::from(HALT_ADDRESS), Exit::Halt), (2, Exit::Panic), (0, Exit::Panic)] {
        for fallbacks in [false, true] {
            let mut jit = instance(p.clone(), fallbacks, AddressSpace::new());
            let mut regs = [0; 13];
            regs[1] = a;
            let mut state = VmState { regs, gas: 100, ..VmState::default() };
            assert_eq!(run(&mut jit, &mut state), exit, "address {a:#x}, fallbacks {fallbacks}");
            assert_eq!(state.pc, 0, "address {a:#x}, fallbacks {fallbacks}");
        }
    }
}

#[test]
fn running_out_of_kernel_mappings_resets_the_window_and_resumes() {
    // store_ind_u64 [r1 + 0], r2; load_ind_u64 r3, [r4 + 0]
    let p = program(&[(Opcode::StoreIndU64, &[0x12]), (Opcode::LoadIndU64, &[0x43])], &[], GasModel::Pipeline);
    let mut jit = instance(p, false, memory());
    let mut regs = [0; 13];
    regs[1] = 0x20008;
    regs[2] = 77;
    regs[4] = 0x30000;
    let mut state = VmState { regs, gas: 100, ..VmState::default() };
    // The store's mapping fails once: the window is reset and the store
    // retried; then the load's mapping fails too.
    crate::window::tests::fail_next_maps(1);
    let first = run(&mut jit, &mut state);
    assert_eq!(first, Exit::Panic);
    assert_eq!(state.regs[3], 0x0807_0605_0403_0201);
    let mut out = [0u8; 8];
    jit.memory().read_bytes(0x20008, &mut out).unwrap();
    assert_eq!(u64::from_le_bytes(out), 77);
}

#[test]
fn a_window_that_cannot_map_anything_hands_the_access_to_the_interpreter() {
    // add_64 r3, r1, r2; load_ind_u64 r3, [r3 + 0] (fused); store_ind_u64 [r4 + 0], r5
    let p = program(
        &[(Opcode::Add64, &[0x21, 0x03]), (Opcode::LoadIndU64, &[0x33]), (Opcode::StoreIndU64, &[0x45])],
        &[],
        GasModel::Pipeline,
    );
    for fallbacks in [false, true] {
        let mut jit = instance(p.clone(), fallbacks, memory());
        let mut regs = [0; 13];
        (regs[1], regs[2], regs[4], regs[5]) = (0x3_0000, 0, 0x2_0008, 77);
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        crate::window::tests::fail_next_maps(u32::MAX);
        // The load cannot be mapped: the add before it has run, the load
        // has not, and the block stays paid for.
        assert_eq!(jit.run(&mut state), JitExit::Interpret);
        assert_eq!((state.pc, state.charged), (p.instructions()[1].pc, true));
        assert_eq!(state.regs[3], 0x3_0000, "the fused add's result");
        let gas = state.gas;
        // Host accesses reach the caps without the window.
        let mut out = [0u8; 8];
        jit.memory().read_bytes(0x3_0000, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        jit.memory().write_bytes(0x2_0000, &99u64.to_le_bytes()).unwrap();
        assert!(gas < 100);
        crate::window::tests::fail_next_maps(0);
        // Once mappings are available again, guest code sees those writes.
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        state.regs[1] = 0x2_0000;
        assert_eq!(run(&mut jit, &mut state), Exit::Panic);
        assert_eq!(state.regs[3], 99);
        let space = jit.into_address_space();
        let cap = &space.mapping_of(0x20).unwrap().cap;
        for (at, value) in [(0, 99), (8, 77)] {
            cap.copy_into(at, &mut out).unwrap();
            assert_eq!(u64::from_le_bytes(out), value);
        }
    }
}

#[test]
fn without_frames_for_copy_on_write_stores_run_in_the_interpreter() {
    // store_ind_u64 [r1 + 0], r2
    let p = program(&[(Opcode::StoreIndU64, &[0x12])], &[], GasModel::Pipeline);
    let mut jit = instance(p, false, memory());
    let mut regs = [0; 13];
    (regs[1], regs[2]) = (0x20008, 77);
    let mut state = VmState { regs, gas: 100, ..VmState::default() };
    crate::window::tests::fail_next_refills(u32::MAX);
    assert_eq!(jit.run(&mut state), JitExit::Interpret);
    assert_eq!((state.pc, state.charged, state.regs), (0, true, regs));
    // The host's own writes reach the caps.
    jit.memory().write_bytes(0x20008, &78u64.to_le_bytes()).unwrap();
    crate::window::tests::fail_next_refills(0);
    let mut out = [0u8; 8];
    jit.address_space().mapping_of(0x20).unwrap().cap.copy_into(8, &mut out).unwrap();
    assert_eq!(u64::from_le_bytes(out), 78);
}

#[test]
fn a_reset_over_the_kernel_mapping_limit_unmaps_and_reserves_again() {
    // store_ind_u64 [r1 + 0], r2; load_ind_u64 r3, [r4 + 0]
    let p = program(&[(Opcode::StoreIndU64, &[0x12]), (Opcode::LoadIndU64, &[0x43])], &[], GasModel::Pipeline);
    let mut jit = instance(p, false, memory());
    let mut regs = [0; 13];
    (regs[1], regs[2], regs[4]) = (0x20008, 77, 0x30000);
    let mut state = VmState { regs, gas: 100, ..VmState::default() };
    assert_eq!(run(&mut jit, &mut state), Exit::Panic);
    // The reset's first mmap fails as it does over the limit; the window
    // must still come back empty and usable.
    crate::window::tests::fail_next_resets(1);
    let mut out = [0u8; 8];
    jit.address_space().mapping_of(0x20).unwrap().cap.copy_into(8, &mut out).unwrap();
    assert_eq!(u64::from_le_bytes(out), 77);
    let mut state = VmState { regs, gas: 100, ..VmState::default() };
    state.regs[2] = 78;
    assert_eq!(run(&mut jit, &mut state), Exit::Panic);
    assert_eq!(state.regs[3], 0x0807_0605_0403_0201);
    jit.memory().read_bytes(0x20008, &mut out).unwrap();
    assert_eq!(u64::from_le_bytes(out), 78);
}

#[test]
fn modules_are_shareable_and_instances_movable() {
    fn shareable<T: Send + Sync>() {}
    fn movable<T: Send>() {}
    shareable::<CompiledModule>();
    movable::<JitInstance>();
}

#[test]
fn empty_host_accesses_never_fault() {
    let p = program(&[], &[], GasModel::Pipeline);
    let mut jit = instance(p, false, AddressSpace::new());
    assert_eq!(jit.memory().read_bytes(0, &mut []), Ok(()));
    assert_eq!(jit.memory().write_bytes(0xFFFF_FFFF, &[]), Ok(()));
    let mut byte = [0u8];
    assert_eq!(jit.memory().read_bytes(0x20000, &mut byte), Err(javm_cap::vm::MemFault::PageFault(0x20000)));
}

#[test]
fn a_host_call_may_run_another_instance_on_the_same_thread() {
    // store_ind_u64 [r1 + 0], r2; ecalli 1; load_ind_u64 r3, [r1 + 0]
    let p = program(
        &[(Opcode::StoreIndU64, &[0x12]), (Opcode::Ecalli, &[1]), (Opcode::LoadIndU64, &[0x13])],
        &[],
        GasModel::Pipeline,
    );
    let mut outer = instance(p.clone(), false, memory());
    let mut regs = [0; 13];
    regs[1] = 0x20010;
    regs[2] = 111;
    let mut outer_state = VmState { regs, gas: 1000, ..VmState::default() };
    assert_eq!(run(&mut outer, &mut outer_state), Exit::Host(1));
    // The "host" runs an inner guest to completion, touching memory at the
    // same guest addresses in its own window.
    let mut inner = instance(p, false, memory());
    let mut inner_state = VmState { regs, gas: 1000, ..VmState::default() };
    inner_state.regs[2] = 222;
    assert_eq!(run(&mut inner, &mut inner_state), Exit::Host(1));
    inner_state.pc = 4;
    assert_eq!(run(&mut inner, &mut inner_state), Exit::Panic);
    assert_eq!(inner_state.regs[3], 222);
    // The outer guest resumes with its own memory.
    outer_state.pc = 4;
    assert_eq!(run(&mut outer, &mut outer_state), Exit::Panic);
    assert_eq!(outer_state.regs[3], 111);
}

#[test]
fn absolute_accesses_above_2_31_use_the_whole_address() {
    // store_u32 r2, 0x9000_0010; load_u32 r3, 0x9000_0010; store_u8 r2, 0xA000_0000
    let p = program(
        &[
            (Opcode::StoreU32, &[0x02, 0x10, 0x00, 0x00, 0x90]),
            (Opcode::LoadU32, &[0x03, 0x10, 0x00, 0x00, 0x90]),
            (Opcode::StoreU8, &[0x02, 0x00, 0x00, 0x00, 0xA0]),
        ],
        &[],
        GasModel::Pipeline,
    );
    for fallbacks in [false, true] {
        let mut space = AddressSpace::new();
        space.map_zeroed(0x9000_0000, 0x1000, Access::Write).unwrap();
        let mut jit = instance(p.clone(), fallbacks, space);
        let mut regs = [0; 13];
        regs[2] = 0xDEAD_BEEF;
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        assert_eq!(run(&mut jit, &mut state), Exit::PageFault(0xA000_0000));
        assert_eq!((state.pc, state.regs[3]), (12, 0xDEAD_BEEF));
    }
}

#[test]
fn fused_instructions_are_not_entry_points() {
    // add_64 r3, r3, r2; set_lt_u r4, r3, r2 (the carry of the add)
    let p = program(&[(Opcode::Add64, &[0x23, 3]), (Opcode::SetLtU, &[0x23, 4])], &[], GasModel::Pipeline);
    for fallbacks in [false, true] {
        let mut jit = instance(p.clone(), fallbacks, AddressSpace::new());
        let mut regs = [0; 13];
        regs[2] = 1;
        regs[3] = u64::MAX;
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        assert_eq!(run(&mut jit, &mut state), Exit::Panic);
        assert_eq!((state.regs[3], state.regs[4]), (0, 1));
        let mut state = VmState { regs, pc: 3, gas: 100, ..VmState::default() };
        assert_eq!(jit.run(&mut state), JitExit::Interpret);
        assert_eq!((state.pc, state.gas, state.regs), (3, 100, regs));
    }
}

/// A window kept from an ended instance still holds that instance's
/// written pages; the next instance in it, emptied for the caps before any
/// refresh (as when mappings are scarce), must not move them into its own
/// memory.
#[test]
fn a_kept_window_emptied_before_use_keeps_the_last_instances_writes_out() {
    let p = program(&[(Opcode::Trap, &[])], &[], GasModel::Pipeline);
    let options = CompileOptions { force_fallbacks: false, lazy: true, region: 1 };
    let module = Arc::new(CompiledModule::compile(p, &options).unwrap());
    let mut first = JitInstance::new(module.clone(), memory()).unwrap();
    first.memory().write_bytes(0x20000, &[0xA5; 64]).unwrap();
    let mut out = [0u8; 64];
    first.memory().read_bytes(0x20000, &mut out).unwrap();
    assert_eq!(out, [0xA5; 64]);
    assert_eq!(first.private_pages(), 1, "the write is in a frame of the window");
    drop(first);
    let mut next = JitInstance::new(module, memory()).unwrap();
    next.cap_memory().read_bytes(0x20000, &mut out).unwrap();
    assert_eq!(out, [0; 64], "the next instance's page, from its cap");
    next.memory().read_bytes(0x20000, &mut out).unwrap();
    assert_eq!(out, [0; 64], "and through the window");
}

#[test]
fn pages_written_through_the_caps_move_into_the_window_when_held_alone() {
    // load_ind_u64 r3, [r1 + 0]; store_ind_u64 [r1 + 8], r2: compiled code
    // reads what the caps got and writes beside it.
    let p = program(&[(Opcode::LoadIndU64, &[0x13]), (Opcode::StoreIndU64, &[0x12, 8])], &[], GasModel::Pipeline);
    for fallbacks in [false, true] {
        let mut space = AddressSpace::new();
        space.map_zeroed(0x20000, 0x4000, Access::Write).unwrap();
        let mut jit = instance(p.clone(), fallbacks, space);
        // Written through the caps, as the interpreter does before tier-up:
        // pages 0x20 and 0x21 (consecutive) and 0x23.
        for (addr, byte) in [(0x20000u32, 0x11u8), (0x21000, 0x22), (0x23000, 0x33)] {
            jit.cap_memory().write_bytes(addr, &[byte; 8]).unwrap();
        }
        // A snapshot's copy of the space shares page 0x23: it stays in the
        // caps, so that the snapshot keeps its bytes.
        let snapshot = jit.address_space().clone();
        jit.cap_memory().write_bytes(0x20010, &[0x44; 8]).unwrap();
        jit.cap_memory().write_bytes(0x21010, &[0x55; 8]).unwrap();
        jit.adopt_written_pages();
        assert_eq!(jit.private_pages(), 2, "fallbacks {fallbacks}: the pages the caps hold alone");
        let mut regs = [0; 13];
        regs[1] = 0x21000;
        regs[2] = 0x0102_0304_0506_0708;
        let mut state = VmState { regs, gas: 100, ..VmState::default() };
        assert_eq!(run(&mut jit, &mut state), Exit::Panic);
        assert_eq!(state.regs[3], 0x2222_2222_2222_2222, "read in place");
        assert_eq!(jit.private_pages(), 2, "written in place, no copy");
        let mut out = [0u8; 24];
        jit.memory().read_bytes(0x21000, &mut out).unwrap();
        assert_eq!(out[..8], [0x22; 8]);
        assert_eq!(out[8..16], 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(out[16..], [0x55; 8]);
        // Back in the caps at a sync, the pages are what the guest and the
        // caps wrote; the snapshot still holds its own.
        let space = jit.address_space().clone();
        let read = |space: &AddressSpace, addr: u32| {
            let mut out = [0u8; 8];
            space.clone().cached().read_bytes(addr, &mut out).unwrap();
            out
        };
        assert_eq!(read(&space, 0x20010), [0x44; 8]);
        assert_eq!(read(&space, 0x21008), 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(read(&space, 0x23000), [0x33; 8]);
        assert_eq!(read(&snapshot, 0x20010), [0; 8]);
        assert_eq!(read(&snapshot, 0x21008), [0; 8]);
    }
}
