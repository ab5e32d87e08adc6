//! Reserved windows are charged to the budget of kernel mappings: once it
//! is used up, instantiation fails with an error naming the budget, before
//! the host runs out of mappings (alone in this binary, one test at a
//! time: the budget is process-wide).

mod common;

use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, VmState};
use javm_recompiler::{
    JitError, JitExit, JitInstance, WindowError, guest_windows_reserved, set_window_mapping_budget,
    window_mapping_budget, window_mappings_held,
};

/// A zeroed writable page at 0x20000.
fn space() -> AddressSpace {
    let mut space = AddressSpace::new();
    space.map_zeroed(0x20000, 4096, Access::Write).unwrap();
    space
}

/// Runs the counter at 0x20000 once; returns the new count.
fn count(jit: &mut JitInstance) -> u64 {
    let mut state = VmState { gas: 1000, ..VmState::default() };
    state.regs[1] = 0x20000;
    assert_eq!(jit.run(&mut state), JitExit::Exit(Exit::Panic));
    state.regs[3]
}

/// Instances of `module` until one cannot be created; returns them and
/// the error.
fn instantiate_all(module: &std::sync::Arc<javm_recompiler::CompiledModule>) -> (Vec<JitInstance>, JitError) {
    let mut live = Vec::new();
    loop {
        match JitInstance::new(module.clone(), space()) {
            Ok(jit) => live.push(jit),
            Err(e) => return (live, e),
        }
    }
}

#[test]
fn a_full_budget_fails_instantiation_naming_it() {
    let _serial = common::serial();
    let before = window_mapping_budget();
    let module = common::counter();
    // Room for ten windows besides those reserved already (pooled).
    let budget = window_mappings_held() + 2 * 10;
    set_window_mapping_budget(budget);
    let pooled = guest_windows_reserved();
    let (mut live, err) = instantiate_all(&module);
    let windows = guest_windows_reserved();
    assert_eq!(windows, pooled + 10);
    assert_eq!(live.len(), windows, "one window per live instance");
    assert!(matches!(err, JitError::Window(WindowError::Budget { .. })), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reserve a guest window: the guest windows' budget of {budget} kernel mappings is used up \
             ({budget} held, {windows} windows reserved; see set_window_mapping_budget)"
        )
    );
    // An ended instance's window serves the next one.
    drop(live.pop());
    live.push(JitInstance::new(module.clone(), space()).unwrap());
    assert_eq!(guest_windows_reserved(), windows);
    drop(live);
    set_window_mapping_budget(before);
}

#[test]
fn idle_windows_give_their_mappings_to_a_new_reservation() {
    let _serial = common::serial();
    let before = window_mapping_budget();
    let module = common::counter();
    let mut ran = JitInstance::new(module.clone(), space()).unwrap();
    assert_eq!(count(&mut ran), 1);
    let mapped = || window_mappings_held() - 2 * guest_windows_reserved();
    let (idle_mapped, pooled) = (mapped(), guest_windows_reserved() - 1);
    assert!(idle_mapped > 0);
    // No room for a reservation but what the idle window maps.
    set_window_mapping_budget(window_mappings_held());
    let (mut live, _) = instantiate_all(&module);
    assert_eq!(live.len(), pooled + idle_mapped / 2, "the pooled windows, then the idle window's mappings");
    assert_eq!(mapped(), 0);
    live.clear();
    set_window_mapping_budget(before);
    assert_eq!(count(&mut ran), 2, "the emptied window maps its page again");
}

#[test]
fn windows_cannot_starve_the_host_of_mappings() {
    let _serial = common::serial();
    let before = window_mapping_budget();
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap().trim().parse().unwrap();
    // The default budget, unless windows would not fit in the address
    // space (each reserves over 4 GiB).
    set_window_mapping_budget(before.min(30_000));
    let (live, err) = instantiate_all(&common::counter());
    assert!(matches!(err, JitError::Window(WindowError::Budget { .. })), "{err}");
    assert!(live.len() * 2 <= window_mapping_budget());
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap().lines().count();
    assert!(maps + 1000 < limit, "{maps} mappings of {limit}");
    // The host still maps memory and starts threads.
    let big = vec![1u8; 64 << 20];
    assert_eq!(
        std::thread::spawn(move || big.iter().map(|&b| usize::from(b)).sum::<usize>()).join().unwrap(),
        64 << 20
    );
    drop(live);
    set_window_mapping_budget(before);
}
