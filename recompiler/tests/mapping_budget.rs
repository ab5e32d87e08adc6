//! Guests that touch memory sparsely need many kernel mappings. They must
//! run to the same end whatever the budget of mappings, and past the
//! kernel's own limit (these tests run in their own process, one at a
//! time, as the budget is process-wide).

mod common;

use javm_cap::DataCap;
use javm_cap::program::Opcode;
use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, VmState};
use javm_recompiler::{
    CompiledModule, JitExit, JitInstance, guest_windows_reserved, set_window_mapping_budget, window_mapping_budget,
    window_mappings_held,
};
use std::sync::Arc;

/// Mappings held by what windows map (besides their reservations).
fn mapped() -> usize {
    window_mappings_held() - 2 * guest_windows_reserved()
}

/// Guest pages per step of the walk (one fault-around group).
const STRIDE_PAGES: u32 = 16;

/// `loop: load_ind_u8 r3, [r1]; add_imm_64 r1, r1, 16 pages;
/// branch_lt_u r1, r2, loop; trap`: reads one byte per 64 KiB.
fn walker() -> Arc<CompiledModule> {
    common::module(&[
        (Opcode::LoadIndU8, &[0x13]),
        (Opcode::AddImm64, &[0x11, 0x00, 0x00, 0x01]),
        (Opcode::BranchLtU, &[0x21, 0xF9]),
        (Opcode::Trap, &[]),
    ])
}

/// `groups` groups of 16 pages from guest page 16, each with content only
/// in its first page (byte `first_byte + group % 200`), so that the window
/// maps every group as a frame and an anonymous zero run that do not merge
/// with their neighbours: two kernel mappings per group.
fn sparse_space(groups: u32) -> AddressSpace {
    let pages: Vec<[u8; 4096]> = (0..groups).map(|g| [(1 + g % 200) as u8; 4096]).collect();
    let cap = DataCap::from_sparse_pages(
        u64::from(groups * STRIDE_PAGES) * 4096,
        pages.iter().enumerate().map(|(g, p)| (g as u32 * STRIDE_PAGES, &p[..])),
    )
    .unwrap();
    let mut space = AddressSpace::new();
    space.map_cap(16, cap, Access::Read).unwrap();
    space
}

/// Sets the budget to what windows hold now (reservations included) plus
/// `spare`; returns the budget before.
fn spare(spare: usize) -> usize {
    let before = window_mapping_budget();
    set_window_mapping_budget(window_mappings_held().saturating_add(spare));
    before
}

/// [`walk`] with `spare` mappings to spare once its instance exists, then
/// the budget restored.
fn walk_with_spare(mappings: usize, groups: u32) -> (JitExit, VmState) {
    let mut jit = JitInstance::new(walker(), sparse_space(groups)).unwrap();
    let before = spare(mappings);
    let result = walk(&mut jit, groups);
    set_window_mapping_budget(before);
    result
}

/// Walks all groups; returns the exit and the registers.
fn walk(jit: &mut JitInstance, groups: u32) -> (JitExit, VmState) {
    let mut state = VmState { gas: 10_000_000, ..VmState::default() };
    state.regs[1] = 0x1_0000;
    state.regs[2] = 0x1_0000 + u64::from(groups) * 0x1_0000;
    let exit = jit.run(&mut state);
    (exit, state)
}

#[test]
fn a_walk_past_the_kernel_mapping_limit_finishes() {
    let _serial = common::serial();
    // No budget: the window itself runs into the kernel's limit (two
    // mappings per group), where only `munmap` can reset it.
    let limit: u32 = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap().trim().parse().unwrap();
    let groups = (limit / 2 + 2000).min(60_000);
    let (exit, state) = walk_with_spare(usize::MAX, groups);
    assert_eq!(exit, JitExit::Exit(Exit::Panic), "ends at the trap");
    assert_eq!(state.regs[1], 0x1_0000 + u64::from(groups) * 0x1_0000);
    assert_eq!(state.regs[3], u64::from(1 + (groups - 1) % 200), "the last group's byte");
}

#[test]
fn the_default_budget_keeps_windows_under_it() {
    let _serial = common::serial();
    let budget = window_mapping_budget();
    let groups = (budget as u32 / 2 + 1000).min(60_000);
    let (exit, state) = walk(&mut JitInstance::new(walker(), sparse_space(groups)).unwrap(), groups);
    assert_eq!(exit, JitExit::Exit(Exit::Panic));
    assert_eq!(state.regs[3], u64::from(1 + (groups - 1) % 200));
    assert_eq!(mapped(), 0, "the instance is gone");
}

#[test]
fn a_small_budget_only_costs_resets() {
    let _serial = common::serial();
    let (exit, state) = walk_with_spare(40, 500);
    assert_eq!(exit, JitExit::Exit(Exit::Panic));
    assert_eq!(state.regs[1], 0x1_0000 + 500 * 0x1_0000);
    assert_eq!(state.regs[3], 1 + 499 % 200);
}

#[test]
fn too_little_room_to_go_on_hands_over_instead_of_resetting() {
    let _serial = common::serial();
    // Room for four `mmap`s: too little to reset the window for more.
    let (exit, state) = walk_with_spare(8, 500);
    assert_eq!(exit, JitExit::Interpret);
    // Two groups (two `mmap`s each), then the third's load is handed over.
    assert_eq!((state.regs[1], state.regs[3]), (0x3_0000, 2));
}

#[test]
fn no_budget_at_all_hands_accesses_to_the_interpreter() {
    let _serial = common::serial();
    let (exit, state) = walk_with_spare(0, 4);
    // The first load stops the run with nothing changed but the block's gas.
    assert_eq!(exit, JitExit::Interpret);
    assert_eq!((state.pc, state.charged, state.regs[1], state.regs[3]), (0, true, 0x1_0000, 0));
    assert_eq!(state.gas, 10_000_000 - 3);
}

#[test]
fn a_starved_run_says_so_and_hands_out_the_caps() {
    use javm_cap::vm::GuestMemory;
    let _serial = common::serial();
    let mut jit = JitInstance::new(walker(), sparse_space(4)).unwrap();
    let before = spare(0);
    let mut state = VmState { gas: 10_000_000, ..VmState::default() };
    state.regs[1] = 0x1_0000;
    state.regs[2] = 0x1_0000 + 4 * 0x1_0000;
    assert_eq!(jit.run(&mut state), JitExit::Interpret);
    assert!(jit.mappings_scarce(), "the load could not be mapped");
    let mut byte = [0u8; 1];
    jit.cap_memory().read_bytes(0x1_0000 + 3 * 0x1_0000, &mut byte).unwrap();
    assert_eq!(byte, [4], "the fourth group's byte, from its cap");
    assert_eq!(mapped(), 0, "the window maps nothing");
    // Still starved: the next run hands over at once, charging nothing.
    let mut again = VmState { gas: 10_000_000, ..VmState::default() };
    assert_eq!(jit.run(&mut again), JitExit::Interpret);
    assert!(jit.mappings_scarce());
    assert_eq!((again.pc, again.gas, again.charged), (0, 10_000_000, false));
    set_window_mapping_budget(before);
    // With mappings again, a run maps and is no longer starved.
    state.pc = 0;
    assert_eq!(jit.run(&mut state), JitExit::Exit(Exit::Panic));
    assert!(!jit.mappings_scarce());
    assert_eq!(state.regs[3], 4);
}

#[test]
fn a_window_kept_after_a_starved_run_hands_its_next_instance_over_at_once() {
    let _serial = common::serial();
    let module = walker();
    let start = || {
        let mut state = VmState { gas: 10_000_000, ..VmState::default() };
        state.regs[1] = 0x1_0000;
        state.regs[2] = 0x1_0000 + 4 * 0x1_0000;
        state
    };
    let first = JitInstance::new(module.clone(), sparse_space(4)).unwrap();
    let before = spare(0);
    let mut first = first;
    assert_eq!(first.run(&mut start()), JitExit::Interpret);
    assert!(first.mappings_scarce());
    drop(first);
    // The next instance takes the kept window, which remembers: no fault
    // first, nothing charged, nothing run.
    let mut second = JitInstance::new(module.clone(), sparse_space(4)).unwrap();
    assert!(second.mappings_scarce(), "the kept window's state");
    let mut state = start();
    assert_eq!(second.run(&mut state), JitExit::Interpret);
    assert_eq!((state.pc, state.gas, state.charged, state.regs[3]), (0, 10_000_000, false, 0));
    set_window_mapping_budget(before);
    // With mappings again, it runs natively.
    assert_eq!(second.run(&mut state), JitExit::Exit(Exit::Panic));
    assert!(!second.mappings_scarce());
    assert_eq!(state.regs[3], 4);
}

#[test]
fn kept_windows_give_their_mappings_to_a_run_that_needs_them() {
    let _serial = common::serial();
    let before = window_mapping_budget();
    let run = |module: &Arc<CompiledModule>| {
        let mut jit = JitInstance::new(module.clone(), sparse_space(4)).unwrap();
        let mut state = VmState { gas: 10_000_000, ..VmState::default() };
        state.regs[1] = 0x1_0000;
        state.regs[2] = 0x1_0000 + 4 * 0x1_0000;
        (jit.run(&mut state), state.regs[3], jit)
    };
    let first = walker();
    let (exit, byte, jit) = run(&first);
    assert_eq!((exit, byte), (JitExit::Exit(Exit::Panic), 4));
    drop(jit);
    let kept = window_mappings_held();
    assert!(kept > 0, "the ended instance's window is kept with its mappings");
    // No mapping to spare but those of the kept window.
    set_window_mapping_budget(kept);
    let (exit, byte, jit) = run(&walker());
    assert_eq!((exit, byte), (JitExit::Exit(Exit::Panic), 4), "ran natively to the trap");
    assert!(!jit.mappings_scarce());
    assert!(window_mappings_held() <= kept);
    drop(jit);
    set_window_mapping_budget(before);
    drop(first);
    assert_eq!(mapped(), 0);
}
