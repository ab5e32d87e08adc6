//! A fault that is not a guest memory access reaches the handler that was
//! installed before the recompiler's (this test runs in its own process).

use javm_cap::program::{CodeBlob, GasModel, Profile, Program};
use javm_cap::space::AddressSpace;
use javm_cap::vm::{Exit, VmState};
use javm_recompiler::{CompileOptions, CompiledModule, JitExit, JitInstance};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

static EARLIER_HANDLER_CALLS: AtomicU32 = AtomicU32::new(0);

extern "C" fn earlier_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    EARLIER_HANDLER_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn foreign_signals_reach_the_previous_handler() {
    // SAFETY: installing a handler that only bumps an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = earlier_handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()), 0);
    }
    // Creating an instance installs the recompiler's handlers on top.
    let blob = CodeBlob::from_parts(vec![0], [0], vec![]);
    let program = Arc::new(Program::new(blob, Profile::P8, GasModel::Pipeline).unwrap());
    let module = Arc::new(CompiledModule::compile(program, &CompileOptions::default()).unwrap());
    let mut jit = JitInstance::new(module, AddressSpace::new()).unwrap();
    // SAFETY: raising a signal whose handler is installed above.
    unsafe { libc::raise(libc::SIGBUS) };
    assert_eq!(EARLIER_HANDLER_CALLS.load(Ordering::SeqCst), 1);
    // Guest code still runs, and a foreign signal on another thread while a
    // guest runs on this one is still passed on.
    let mut state = VmState { gas: 10, ..VmState::default() };
    assert_eq!(jit.run(&mut state), JitExit::Exit(Exit::Panic));
    std::thread::spawn(|| {
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGBUS) };
    })
    .join()
    .unwrap();
    assert_eq!(EARLIER_HANDLER_CALLS.load(Ordering::SeqCst), 2);
}
