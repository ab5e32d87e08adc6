//! An ended instance's window is kept for its module's next instance, with
//! its mappings and frames, until `release_kept_windows` drops it (alone in
//! its binary: it counts the process's mappings and frames).

mod common;

use javm_cap::frames::FramePool;
use javm_cap::program::Opcode;
use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, VmState};
use javm_recompiler::{
    CompiledModule, JitExit, JitInstance, guest_windows_reserved, release_kept_windows, window_mappings_held,
};
use std::sync::Arc;

/// `store_ind_u64 [r1], r2; trap`.
fn store() -> Arc<CompiledModule> {
    common::module(&[(Opcode::StoreIndU64, &[0x12]), (Opcode::Trap, &[])])
}

#[test]
fn kept_windows_hold_their_mappings_and_frames_until_released() {
    let _serial = common::serial();
    let module = store();
    let frames_before = FramePool::global().stats().in_use;
    let mut space = AddressSpace::new();
    space.map_zeroed(0x20000, 4096, Access::Write).unwrap();
    let mut jit = JitInstance::new(module.clone(), space).unwrap();
    let mut state = VmState { gas: 100, ..VmState::default() };
    (state.regs[1], state.regs[2]) = (0x20000, 7);
    assert_eq!(jit.run(&mut state), JitExit::Exit(Exit::Panic));
    assert_eq!(state.pc, 2, "the store ran");
    drop(jit);
    assert_eq!(guest_windows_reserved(), 1);
    assert!(window_mappings_held() > 2, "the kept window still maps the page");
    assert!(FramePool::global().stats().in_use > frames_before, "and holds its frame");
    assert_eq!(release_kept_windows(), 1);
    assert_eq!(window_mappings_held(), 2, "only the reservation of the window, pooled clean");
    assert_eq!(FramePool::global().stats().in_use, frames_before);
    assert_eq!(release_kept_windows(), 0);
}
