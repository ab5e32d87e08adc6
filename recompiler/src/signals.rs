//! The SIGSEGV/SIGBUS handler.
//!
//! Installed once per process; the previous handlers are saved and every
//! fault that is not a guest memory access of the instance running on this
//! thread is passed on to them. The running instance is found through a
//! thread-local pointer set only while generated code runs.
//!
//! For a guest access the handler recomputes the guest address from the
//! guest registers (they are unchanged until an access succeeds) and checks
//! the access against the guest page map with `find_fault`, so the lowest
//! bad byte decides, never the host fault address:
//!
//! - every byte allowed: the page was not mapped yet (map it), or it is a
//!   first store (copy-on-write); return and the access retries;
//! - otherwise: exit the guest with the page fault or panic, redirecting
//!   the interrupted context to the exit trampoline.
//!
//! Only async-signal-safe work happens here: reads of the instance's data,
//! moves between pre-allocated vectors, `mmap`, `memcpy`. The `nix`
//! wrappers it calls (`mmap`, `mprotect`, `sigaction`) only convert their
//! arguments and read `errno`; none allocates.

use crate::codegen::NO_BASE;
use crate::codegen::regs::{HOST_TO_GREG, RCX, host};
use crate::ctx::VmCtx;
use crate::error::SysError;
use crate::exit_code::{CODE_FAULT, CODE_REFILL, CODE_REMAP};
use crate::instance::Instance;
use crate::window::PrepareError;
use javm_cap::PAGE_SIZE;
use javm_cap::vm::{MemFault, find_fault};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr::null_mut;
use std::sync::OnceLock;

thread_local! {
    /// The instance whose generated code runs on this thread, or null.
    static CURRENT: Cell<*mut Instance> = const { Cell::new(null_mut()) };
}

/// The handlers that were installed before ours.
struct Previous(UnsafeCell<[MaybeUninit<SigAction>; 2]>);

// SAFETY: written once inside `install` (under the `OnceLock`), right as our
// handler replaces the previous one (as `sigaction(2)` itself reports it),
// and only read afterwards.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new([MaybeUninit::uninit(), MaybeUninit::uninit()]));

const SIGNALS: [Signal; 2] = [Signal::SIGSEGV, Signal::SIGBUS];

/// Installs the handlers (once per process).
pub(crate) fn install() -> Result<(), SysError> {
    static INSTALLED: OnceLock<nix::Result<()>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let ours = SigAction::new(SigHandler::SigAction(on_fault), SaFlags::SA_ONSTACK, SigSet::empty());
        for (k, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: `on_fault` handles only faults of generated code and
            // passes every other one on; `previous` is our own static
            // storage for exactly one action, which nothing else writes.
            unsafe {
                let previous = sigaction(sig, &ours)?;
                (*PREVIOUS.0.get())[k].write(previous);
            }
        }
        Ok(())
    });
    (*result).map_err(SysError::new("sigaction", "the SIGSEGV and SIGBUS handlers"))
}

/// Runs generated code for `inner`: `enter(base)` with the thread-local set.
///
/// # Safety
///
/// `inner` must point to a live instance whose context is fully set up for
/// entry, and no reference to it may be used until this returns.
pub(crate) unsafe fn run_guest(
    inner: *mut Instance,
    enter: unsafe extern "sysv64" fn(*mut u8) -> u32,
    base: *mut u8,
) -> u32 {
    let previous = CURRENT.replace(inner);
    // SAFETY: the caller guarantees the context is ready; the trampoline
    // preserves the callee-saved registers and the stack.
    let code = unsafe { enter(base) };
    CURRENT.set(previous);
    code
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let inner = CURRENT.get();
    // SAFETY: the kernel passes a valid siginfo and ucontext; `inner` is the
    // live instance running on this thread (set by `run_guest`).
    let handled = !inner.is_null() && unsafe { handle(&mut *inner, info, uctx.cast()) };
    if !handled {
        // SAFETY: forwarding the kernel's arguments unchanged.
        unsafe { chain(sig, info, uctx) };
    }
}

/// Handles a fault of generated code; false if it is not ours.
unsafe fn handle(inner: &mut Instance, info: *mut libc::siginfo_t, uc: *mut libc::ucontext_t) -> bool {
    // SAFETY: the kernel's ucontext is valid for the duration of the handler.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as usize;
    let module: &crate::CompiledModule = &inner.module;
    let Some(index) = module.index_at(rip) else { return false };
    let access = module.map.access(index);
    if access.len == 0 {
        return false;
    }
    let base = inner.pager.base() as usize;
    // SAFETY: `info` is the kernel's siginfo for a memory fault.
    let fault_at = unsafe { (*info).si_addr() } as usize;
    if fault_at < base || fault_at >= base + (1usize << 32) + PAGE_SIZE {
        return false;
    }
    let reg = |g: u8| gregs[HOST_TO_GREG[host(g) as usize] as usize] as u64;
    let offset = access.offset;
    let addr = [access.base, access.index]
        .iter()
        .filter(|&&g| g != NO_BASE)
        .fold(offset, |addr, &g| addr.wrapping_add(reg(g) as u32));
    // A load fused with the add before it: the add's result, which the guest
    // state holds before the load (see `MemAccess::sum`).
    let sum = (access.sum != NO_BASE)
        .then(|| (HOST_TO_GREG[host(access.sum) as usize] as usize, reg(access.base).wrapping_add(reg(access.index))));
    let len = u32::from(access.len);
    let pager = &mut inner.pager;
    let ctx: *mut VmCtx = pager.ctx();
    let exit = module.exit_addr() as i64;
    let rcx = HOST_TO_GREG[RCX as usize] as usize;
    let saved_rcx = gregs[rcx] as u64;
    let mut redirect = |code: u32, sum: Option<(usize, u64)>| {
        if let Some((greg, value)) = sum {
            gregs[greg] = value as i64;
        }
        gregs[rcx] = i64::from(code);
        gregs[libc::REG_RIP as usize] = exit;
    };
    if let Some(fault) = find_fault(addr, len, |p| pager.allows(p, access.write)) {
        // SAFETY: the context page is mapped and owned by this instance.
        unsafe {
            (*ctx).exit_index = index;
            (*ctx).fault = match fault {
                MemFault::Panic => 0,
                MemFault::PageFault(page) => 1 << 32 | u64::from(page),
            };
        }
        redirect(CODE_FAULT, sum);
        return true;
    }
    let last = ((u64::from(addr) + u64::from(len) - 1) / PAGE_SIZE as u64) as u32;
    let first = addr / PAGE_SIZE as u32;
    let code = match pager.prepare(first, last, access.write) {
        Ok(()) => return true,
        Err(PrepareError::NeedFrames) => CODE_REFILL,
        Err(PrepareError::Map) => CODE_REMAP,
    };
    // Leave to the host, which fixes what the handler cannot and resumes
    // the access where it stopped.
    // SAFETY: as above.
    unsafe {
        (*ctx).resume_rip = rip as u64;
        (*ctx).rcx = saved_rcx;
        (*ctx).pending = [first, last, u32::from(access.write)];
        // Should the host not resume the access (see `exec`), it is the
        // instruction where the interpreter takes over.
        (*ctx).exit_index = index;
        (*ctx).pending_sum_reg = u32::from(access.sum);
        (*ctx).pending_sum = sum.map_or(0, |(_, value)| value);
    }
    // Resumed where it stopped: the access is retried as it was.
    redirect(code, None);
    true
}

/// Passes a fault that is not ours to the handler installed before ours,
/// or restores the default action so the fault kills the process.
///
/// # Safety
///
/// Call only from our signal handler, with the arguments it received for
/// `sig`, after `install` has recorded the previous handlers.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let k = SIGNALS.iter().position(|&s| s as libc::c_int == sig).unwrap_or(0);
    // SAFETY: `install` initialised both entries before our handler was
    // installed.
    let previous = unsafe { (*PREVIOUS.0.get())[k].assume_init_ref() };
    match previous.handler() {
        SigHandler::SigDfl | SigHandler::SigIgn => {
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: resetting the disposition is async-signal-safe (the
            // wrapper builds the action on the stack and calls
            // `sigaction(2)`); returning re-executes the faulting
            // instruction, which now takes the default action.
            let _ = unsafe { sigaction(SIGNALS[k], &default) };
        }
        SigHandler::SigAction(f) => f(sig, info, uctx),
        SigHandler::Handler(f) => f(sig),
    }
}
