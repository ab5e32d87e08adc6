//! Windows of idle live instances give their kernel mappings to windows
//! that run short of them, and map their pages again when they run next;
//! windows in use keep theirs (alone in this binary, one test at a time:
//! the budget and the list of live windows are process-wide).

mod common;

use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, GuestMemory, VmState};
use javm_recompiler::{
    JitExit, JitInstance, guest_windows_reserved, release_idle_mappings, set_window_mapping_budget,
    window_mapping_budget, window_mappings_held,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// Mappings held by what windows map (besides their reservations).
fn mapped() -> usize {
    window_mappings_held() - 2 * guest_windows_reserved()
}

/// Where the counter is.
const COUNTER: u32 = 0x20000;

/// A zeroed writable page holding the counter.
fn space() -> AddressSpace {
    let mut space = AddressSpace::new();
    space.map_zeroed(u64::from(COUNTER), 4096, Access::Write).unwrap();
    space
}

/// Runs the counter once, natively to its trap; returns the new count.
fn count(jit: &mut JitInstance) -> u64 {
    let mut state = VmState { gas: 1000, ..VmState::default() };
    state.regs[1] = u64::from(COUNTER);
    assert_eq!(jit.run(&mut state), JitExit::Exit(Exit::Panic), "ran to the trap");
    assert!(!jit.mappings_scarce());
    state.regs[3]
}

/// The counter in `jit`'s address space.
fn stored(jit: JitInstance) -> u64 {
    let mut bytes = [0u8; 8];
    jit.into_address_space().cached().read_bytes(COUNTER, &mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}

#[test]
fn a_run_over_budget_empties_idle_windows_which_run_on() {
    const IDLE: usize = 40;
    let _serial = common::serial();
    let module = common::counter();
    let mut idle: Vec<JitInstance> = (0..IDLE)
        .map(|_| {
            let mut jit = JitInstance::new(module.clone(), space()).unwrap();
            assert_eq!(count(&mut jit), 1);
            jit
        })
        .collect();
    let per = mapped() / IDLE;
    assert!(per > 0, "an idle window keeps what it mapped");
    assert_eq!(mapped(), per * IDLE);
    let mut fresh = JitInstance::new(module.clone(), space()).unwrap();
    // No mapping to spare but those of the idle windows.
    let before = window_mapping_budget();
    let budget = window_mappings_held();
    set_window_mapping_budget(budget);
    assert_eq!(count(&mut fresh), 1, "runs natively");
    // One reclaim gave back an eighth of the budget, from as few windows.
    let emptied = (budget / 8).div_ceil(per);
    assert!(emptied < IDLE);
    assert_eq!(mapped(), per * (IDLE - emptied + 1), "the run's window and the idle windows left");
    assert!(window_mappings_held() <= budget);
    // Emptied or not, each idle instance counts on from what it stored,
    // mapping again what it needs.
    for jit in &mut idle {
        assert_eq!(count(jit), 2);
    }
    // Not all of them fit: windows short of mappings took them from
    // idle ones again.
    assert!(window_mappings_held() <= budget);
    let holding = mapped() / per;
    assert!(holding <= IDLE);
    assert_eq!(release_idle_mappings(), holding);
    assert_eq!(mapped(), 0);
    set_window_mapping_budget(before);
    assert_eq!(count(&mut fresh), 2);
    assert_eq!(stored(fresh), 2);
    for jit in idle {
        assert_eq!(stored(jit), 2, "moved into the caps when the window was emptied");
    }
}

#[test]
fn a_window_in_use_keeps_its_mappings() {
    let _serial = common::serial();
    let module = common::counter();
    let (mut parked, mut in_use) =
        (JitInstance::new(module.clone(), space()).unwrap(), JitInstance::new(module, space()).unwrap());
    assert_eq!((count(&mut parked), count(&mut in_use)), (1, 1));
    // The host holds the space (synced; the window keeps what it maps)
    // and changes the counter.
    in_use.address_space().cached().write_bytes(COUNTER, &41u64.to_le_bytes()).unwrap();
    let both = mapped();
    assert_eq!(release_idle_mappings(), 1, "only the parked window");
    assert_eq!(mapped(), both / 2, "the window in use maps what it did");
    // Idle again once the host is done with the space: its window, kept
    // across the sync with its dirty page, is emptied too.
    in_use.park();
    assert_eq!(release_idle_mappings(), 1);
    assert_eq!(mapped(), 0);
    assert_eq!((count(&mut parked), count(&mut in_use)), (2, 42), "the host's change, not the old dirty page");
    assert_eq!((stored(parked), stored(in_use)), (2, 42));
}

#[test]
fn windows_emptied_between_runs_from_another_thread_lose_nothing() {
    const RUNS: u64 = 20_000;
    let _serial = common::serial();
    let mut jit = JitInstance::new(common::counter(), space()).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for run in 1..=RUNS {
                assert_eq!(count(&mut jit), run);
            }
            done.store(true, Ordering::Relaxed);
        });
        while !done.load(Ordering::Relaxed) {
            release_idle_mappings();
        }
    });
    assert_eq!(stored(jit), RUNS);
}

#[test]
fn idle_windows_of_instances_made_on_other_threads_are_emptied_too() {
    const THREADS: usize = 12;
    let _serial = common::serial();
    let module = common::counter();
    // Each thread registers its instance (more threads than the live list
    // has shards); the instances then sit idle here.
    let mut idle: Vec<JitInstance> = std::thread::scope(|s| {
        let made: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut jit = JitInstance::new(module.clone(), space()).unwrap();
                    assert_eq!(count(&mut jit), 1);
                    jit
                })
            })
            .collect();
        made.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(mapped() > 0);
    assert_eq!(release_idle_mappings(), THREADS, "every one, whichever thread made it");
    assert_eq!(mapped(), 0);
    for jit in &mut idle {
        assert_eq!(count(jit), 2);
    }
    // Dropped on this thread, not the ones that registered them.
    drop(idle);
    release_idle_mappings();
    assert_eq!(mapped(), 0);
}
