//! Windows kept across syncs and across instances show the space they are
//! used with, whatever the host or the last instance did to it.

use crate::tests::{program, run};
use crate::{CompileOptions, CompiledModule, JitInstance};
use javm_cap::DataCap;
use javm_cap::program::{GasModel, Opcode};
use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, VmState};
use std::sync::Arc;

/// `store_ind_u64 [r1], r2; ecalli 7; load_ind_u64 r3, [r1];
/// load_ind_u64 r5, [r4]; trap`, compiled once.
fn module() -> Arc<CompiledModule> {
    let p = program(
        &[
            (Opcode::StoreIndU64, &[0x12]),
            (Opcode::Ecalli, &[7]),
            (Opcode::LoadIndU64, &[0x13]),
            (Opcode::LoadIndU64, &[0x45]),
        ],
        &[],
        GasModel::Pipeline,
    );
    Arc::new(CompiledModule::compile(p, &CompileOptions::default()).unwrap())
}

/// A writable page at 0x20000 holding `rw` and a read-only page at 0x30000
/// holding `ro`.
fn space(rw: &[u8], ro: &[u8]) -> AddressSpace {
    let mut space = AddressSpace::new();
    space.map_cap(0x20, DataCap::from_bytes_sized(rw, 4096).unwrap(), Access::Write).unwrap();
    space.map_cap(0x30, DataCap::from_bytes(ro).unwrap(), Access::Read).unwrap();
    space
}

/// Runs to the host call, lets `host` change the instance, then runs to the
/// trap; returns `(r3, r5)`.
fn store_then_load(
    jit: &mut JitInstance,
    r1: u32,
    r2: u64,
    r4: u32,
    host: impl FnOnce(&mut JitInstance),
) -> (u64, u64) {
    let mut regs = [0; 13];
    (regs[1], regs[2], regs[4]) = (u64::from(r1), r2, u64::from(r4));
    let mut state = VmState { regs, gas: 1000, ..VmState::default() };
    assert_eq!(run(jit, &mut state), Exit::Host(7));
    host(jit);
    state.pc = 4;
    assert_eq!(run(jit, &mut state), Exit::Panic);
    (state.regs[3], state.regs[5])
}

#[test]
fn host_changes_after_a_sync_show_in_the_window() {
    let module = module();
    let mut jit = JitInstance::new(module.clone(), space(&[], &[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
    let (r3, r5) = store_then_load(&mut jit, 0x20008, 77, 0x30000, |jit| {
        // The dirty page stays in the window; the read-only page gets a
        // new frame. A second sync, with nothing run since, keeps both.
        jit.address_space().poke(0x20008, &[99]).unwrap();
        jit.address_space().poke(0x30000, &[42]).unwrap();
        assert_eq!(jit.private_pages(), 1);
    });
    assert_eq!((r3, r5), (99, 0x0807_0605_0403_022A));
    let mut out = [0; 8];
    jit.address_space().read(0x20008, &mut out).unwrap();
    assert_eq!(u64::from_le_bytes(out), 99);

    // The host replaces the writable page with a read-only one.
    let mut jit = JitInstance::new(module, space(&[], &[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
    let (r3, r5) = store_then_load(&mut jit, 0x20000, 77, 0x30000, |jit| {
        let space = jit.address_space();
        space.unmap(0x20000, 4096).unwrap();
        space.map_cap(0x20, DataCap::from_bytes(&[3; 8]).unwrap(), Access::Read).unwrap();
    });
    assert_eq!((r3, r5), (0x0303_0303_0303_0303, 0x0807_0605_0403_0201));
    assert_eq!(jit.private_pages(), 0);
}

#[test]
fn a_kept_window_shows_the_next_instance_its_own_space() {
    let module = module();
    let mut first = JitInstance::new(module.clone(), space(&[], &[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
    assert_eq!(store_then_load(&mut first, 0x20008, 77, 0x30000, |_| {}), (77, 0x0807_0605_0403_0201));
    drop(first);
    assert_eq!(module.pagers.len(), 1);

    // Same layout, other bytes: the last instance's store and read-only
    // page are not seen. The read-only page, in a new frame, is shown as a
    // copy from now on.
    let mut second = JitInstance::new(module.clone(), space(&[0x5A; 4096], &[9; 8])).unwrap();
    assert_eq!(module.pagers.len(), 0);
    assert_eq!(store_then_load(&mut second, 0x20010, 5, 0x20008, |_| {}), (5, 0x5A5A_5A5A_5A5A_5A5A));
    assert_eq!(second.copied_pages(), 1);
    let mut page = [0; 4096];
    second.address_space().read(0x20000, &mut page).unwrap();
    let mut want = [0x5A; 4096];
    want[0x10..0x18].copy_from_slice(&5u64.to_le_bytes());
    assert!(page == want);
    drop(second);

    let mut third = JitInstance::new(module.clone(), space(&[], &[6; 8])).unwrap();
    assert_eq!(store_then_load(&mut third, 0x20000, 1, 0x30000, |_| {}), (1, 0x0606_0606_0606_0606));
    assert_eq!(third.copied_pages(), 1);
    drop(third);

    // Neither page is there any more.
    let mut other = AddressSpace::new();
    other.map_zeroed(0x40000, 4096, Access::Write).unwrap();
    for (r1, r4, exit) in [(0x20008, 0, Exit::PageFault(0x20000)), (0x40000, 0x30000, Exit::PageFault(0x30000))] {
        let mut fourth = JitInstance::new(module.clone(), other.clone()).unwrap();
        let mut state = VmState { gas: 1000, ..VmState::default() };
        (state.regs[1], state.regs[4]) = (r1, r4);
        let mut exit_of = run(&mut fourth, &mut state);
        if exit_of == Exit::Host(7) {
            state.pc = 4;
            exit_of = run(&mut fourth, &mut state);
        }
        assert_eq!(exit_of, exit, "r1 = {r1:#x}");
        assert_eq!(fourth.copied_pages(), 0);
    }
}

/// Reads the first word of every 16-page group of a 1,280-page read-only
/// mapping (more read-only runs than a window records), one run per read;
/// returns the words.
fn read_groups(jit: &mut JitInstance) -> Vec<u64> {
    (0..1280u32)
        .step_by(16)
        .map(|page| {
            let mut state = VmState { gas: 1000, ..VmState::default() };
            state.regs[1] = u64::from(0x100000 + page * 4096);
            assert_eq!(run(jit, &mut state), Exit::Panic);
            state.regs[3]
        })
        .collect()
}

#[test]
fn a_window_with_unrecorded_runs_is_reset_before_reuse() {
    // load_ind_u64 r3, [r1 + 0]
    let p = program(&[(Opcode::LoadIndU64, &[0x13])], &[], GasModel::Pipeline);
    let module = Arc::new(CompiledModule::compile(p, &CompileOptions::default()).unwrap());
    let space = |fill: u8| {
        let mut space = AddressSpace::new();
        let bytes: Vec<u8> = (0..1280 * 4096).map(|i| fill ^ (i / 4096) as u8).collect();
        space.map_cap(0x100, DataCap::from_bytes(&bytes).unwrap(), Access::Read).unwrap();
        space
    };
    let words =
        |fill: u8| (0..1280u64).step_by(16).map(|p| u64::from_le_bytes([fill ^ p as u8; 8])).collect::<Vec<_>>();
    let mut first = JitInstance::new(module.clone(), space(0x11)).unwrap();
    assert_eq!(read_groups(&mut first), words(0x11));
    drop(first);
    assert_eq!(module.pagers.len(), 1);
    let mut second = JitInstance::new(module.clone(), space(0x22)).unwrap();
    assert_eq!(read_groups(&mut second), words(0x22));
}

#[test]
fn a_module_keeps_at_most_its_share_of_windows_and_threads_take_back_their_own() {
    use crate::window::policy::KEPT_WINDOWS;
    let module = module();
    let many: Vec<JitInstance> =
        (0..KEPT_WINDOWS + 2).map(|_| JitInstance::new(module.clone(), space(&[], &[1])).unwrap()).collect();
    drop(many);
    assert_eq!(module.pagers.len(), KEPT_WINDOWS, "one thread's instances fill every shard, no more");

    // Two threads, each with an instance at once, then each with its next.
    let module = self::module();
    let barrier = std::sync::Barrier::new(2);
    let bases: Vec<(usize, usize, usize)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let first = JitInstance::new(module.clone(), space(&[], &[1])).unwrap();
                    let base = first.window_base();
                    barrier.wait();
                    drop(first);
                    barrier.wait();
                    let next = JitInstance::new(module.clone(), space(&[], &[1])).unwrap();
                    (super::thread_shard(), base, next.window_base())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_ne!(bases[0].1, bases[1].1);
    // (Threads of other tests may have taken shards in between, giving
    // both threads the same one.)
    if bases[0].0 != bases[1].0 {
        for (_, first, next) in bases {
            assert_eq!(first, next, "a thread takes back the window it kept");
        }
    }
}
