//! Running an instance: [`JitInstance`] and the run loop.

use crate::codegen::NO_BASE;
use crate::ctx::VmCtx;
use crate::error::JitError;
use crate::exit_code::{CODE_COMPILE_JUMP, CODE_DYN_PANIC, CODE_FAULT, CODE_REFILL, CODE_REMAP, SiteKind, decode_site};
use crate::instance::{Holder, Instance, ThreadHandle};
use crate::memory::WindowMemory;
use crate::module::CompiledModule;
use crate::signals;
use crate::window::LivePager;
use javm_cap::program::GasModel;
use javm_cap::program::gas::meter;
use javm_cap::space::{AddressSpace, CachedMemory};
use javm_cap::vm::{Exit, NUM_REGS, VmState};
use std::sync::Arc;

/// How a recompiled run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitExit {
    /// The guest exited; the state is as spec §9 reports it.
    Exit(Exit),
    /// The runtime must run the interpreter from the state's pc to the end
    /// of the block (on [`JitInstance::memory`]), then call
    /// [`JitInstance::run`] again. Happens for a pc that is not an
    /// instruction start, or that starts an instruction fused with the one
    /// before it, under the instruction gas model when a block cannot be
    /// paid in full, for `sbrk`, and for a memory access when the process
    /// has no kernel mappings to spare for the window (the interpreter then
    /// reaches the memory through the caps).
    Interpret,
}

/// One guest: a 4 GiB window over its address space, and a context.
/// Movable between threads; runs on one at a time.
pub struct JitInstance {
    inner: Box<Instance>,
    /// The last run in this window stopped because an access could not be
    /// mapped even in an emptied window (see
    /// [`JitInstance::mappings_scarce`]): the pager's flag, read here
    /// without claiming the pager.
    scarce: bool,
}

// SAFETY: the instance exclusively owns its window, frames and address
// space; the raw pointers inside point into that window. Nothing refers to
// the thread it was created on (the thread-local is set only during `run`).
unsafe impl Send for JitInstance {}

impl std::fmt::Debug for JitInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitInstance").field("module", &**self.inner.module).finish()
    }
}

impl JitInstance {
    /// An instance of `module` over `space`. Maps nothing yet: pages are
    /// mapped when first touched.
    pub fn new(module: Arc<CompiledModule>, space: AddressSpace) -> Result<JitInstance, JitError> {
        JitInstance::holding(Holder::Module(module), space)
    }

    /// An instance of `handle`'s module over `space`, counting on the
    /// handle (which one thread's instances share) instead of on the
    /// module.
    pub fn with_handle(handle: Arc<ThreadHandle>, space: AddressSpace) -> Result<JitInstance, JitError> {
        JitInstance::holding(Holder::Handle(handle), space)
    }

    fn holding(module: Holder, space: AddressSpace) -> Result<JitInstance, JitError> {
        signals::install().map_err(JitError::Signals)?;
        let pager = LivePager::from_pool(&module.pagers, space).map_err(JitError::Window)?;
        let jump_table = module.jump_table.as_ptr() as u64;
        let mut inner = Box::new(Instance { module, pager, loops: Vec::new() });
        let ctx = inner.pager.ctx();
        let inner_ptr: *mut Instance = &mut *inner;
        // SAFETY: the context page is mapped read-write and owned by this
        // instance's window.
        unsafe {
            (*ctx).jump_table = jump_table;
            (*ctx).inner = inner_ptr as usize;
        }
        // A kept window remembers how its last run ended.
        let scarce = inner.pager.scarce;
        inner.pager.park();
        Ok(JitInstance { inner, scarce })
    }

    /// The compiled module.
    pub fn module(&self) -> &Arc<CompiledModule> {
        &self.inner.module
    }

    /// Runs from `state.pc` until an exit, or until the runtime must
    /// interpret (see [`JitExit::Interpret`]). Any instruction start not
    /// fused with the previous instruction is an entry point; a block not
    /// yet paid for (`!state.charged`) is charged here first, exactly as the
    /// interpreter does. Three steps: the entry charge (`charge_entry`),
    /// the guest run with the host's share of fault handling
    /// (`run_until_exit`), and decoding the exit into `state`
    /// (`decode_exit`). Afterwards the instance is idle: a window short of
    /// kernel mappings may empty its window until it runs again.
    pub fn run(&mut self, state: &mut VmState) -> JitExit {
        let exit = self.run_claimed(state);
        self.inner.pager.park();
        exit
    }

    fn run_claimed(&mut self, state: &mut VmState) -> JitExit {
        // Still no mappings to spare (since the last run in this window,
        // this instance's or an earlier one's): the interpreter goes on to
        // the next exit without a fault first.
        if self.scarce && crate::window::still_scarce(&self.inner.pager) {
            return JitExit::Interpret;
        }
        self.scarce = false;
        self.inner.pager.refresh();
        let inner: *mut Instance = &mut *self.inner;
        // SAFETY: `inner` is live and exclusively ours for the whole call;
        // no reference into it is held across `run_until_exit`. The module
        // is borrowed straight from its `Arc` (a clone per run would write
        // a reference count that instances on other threads share): the
        // instance owns that `Arc` and never replaces it, so the module
        // outlives the call, and nothing reaches it mutably.
        let (module, ctx, base) =
            unsafe { (&*Arc::as_ptr(&*(*inner).module), (*inner).pager.ctx(), (*inner).pager.base()) };
        let program = module.program();
        // A region not compiled yet is compiled now; one that cannot be is
        // interpreted.
        let Some(index) =
            program.index_of(state.pc).filter(|&i| module.ensure_compiled(i).is_ok() && module.is_entry(i))
        else {
            return JitExit::Interpret;
        };
        // SAFETY: as above.
        if unsafe { (*inner).pager.is_broken() } {
            return JitExit::Interpret;
        }
        let gas = match charge_entry(module, state, index) {
            Ok(gas) => gas,
            Err(exit) => return exit,
        };
        // SAFETY: the context page is mapped and only this thread uses it.
        unsafe {
            (&mut (*ctx).regs)[..NUM_REGS].copy_from_slice(&state.regs);
            (*ctx).gas = gas;
            (*ctx).entry = module.entry_addr(index);
        }
        // SAFETY: the context is set up for entry; `inner` stays live.
        let code = unsafe { run_until_exit(inner, module, base) };
        self.scarce = code == CODE_REMAP;
        self.inner.pager.scarce = self.scarce;
        // SAFETY: the guest has stopped; the context holds its state.
        decode_exit(module, unsafe { &*ctx }, code, state)
    }

    /// Guest memory through the window, with guest access rules: for host
    /// calls and for the interpreter fallback.
    pub fn memory(&mut self) -> WindowMemory<'_> {
        self.inner.pager.refresh();
        WindowMemory::new(&mut self.inner.pager)
    }

    /// Whether the last [`JitInstance::run`] handed an access to the
    /// interpreter because the process had no kernel mappings to spare for
    /// the window, not even after emptying it. Until mappings are freed
    /// every further run would stop the same way, after an emptying of the
    /// window per block; the runtime then interprets to the next exit on
    /// [`JitInstance::cap_memory`] instead. While mappings stay that scarce,
    /// the next run hands over at once, before entering the guest (and
    /// still says so here).
    pub fn mappings_scarce(&self) -> bool {
        self.scarce
    }

    /// Guest memory straight from the caps, for a long interpreted stretch
    /// while mappings are scarce: the window is emptied first (every page
    /// the guest wrote moves into its cap), so that it maps nothing the
    /// interpreter may change; the next run maps pages again on demand.
    pub fn cap_memory(&mut self) -> CachedMemory<'_> {
        self.inner.pager.flush();
        self.inner.pager.space.cached()
    }

    /// After an interpreted stretch over [`JitInstance::cap_memory`]: moves
    /// the pages it wrote, which this instance's caps hold alone, into the
    /// window (no copy), so that compiled code continues writing them in
    /// place instead of copying each on its first write.
    pub fn adopt_written_pages(&mut self) {
        self.inner.pager.adopt_private_pages();
    }

    /// Where the window starts.
    #[cfg(test)]
    pub(crate) fn window_base(&self) -> usize {
        self.inner.pager.base().addr()
    }

    /// Pages with a private frame in the window.
    #[cfg(test)]
    pub(crate) fn private_pages(&self) -> usize {
        self.inner.pager.private_pages()
    }

    /// Read-only pages the window shows as copies.
    #[cfg(test)]
    pub(crate) fn copied_pages(&self) -> usize {
        self.inner.pager.copied_pages()
    }

    /// The address space, with every page the guest wrote moved into its
    /// cap's overlay (no copy). The window is reset, so the host may change
    /// or clone the space freely; the next run maps pages again on demand.
    /// The instance is in use until its next run or memory access ends, or
    /// [`JitInstance::park`].
    pub fn address_space(&mut self) -> &mut AddressSpace {
        self.inner.pager.sync();
        &mut self.inner.pager.space
    }

    /// Marks the instance idle: until its next use, a window short of
    /// kernel mappings may empty this one's (the instance maps its pages
    /// again when it next runs). Every run and every access through
    /// [`JitInstance::memory`] ends so; call this after a use of
    /// [`JitInstance::address_space`] or [`JitInstance::cap_memory`].
    pub fn park(&mut self) {
        self.inner.pager.park();
    }

    /// Ends the instance, returning its (synced) address space.
    pub fn into_address_space(mut self) -> AddressSpace {
        self.inner.pager.sync();
        std::mem::take(&mut self.inner.pager.space)
    }
}

/// The gas left once the guest enters at instruction `index`, charged with
/// the interpreter's exact rules: a block not yet paid for
/// (`!state.charged`) pays its cost, or under the instruction model the
/// instructions to the end of the run are pre-paid. `Err` is how the run
/// ends instead when that cannot be paid.
fn charge_entry(module: &CompiledModule, state: &VmState, index: u32) -> Result<i64, JitExit> {
    let program = module.program();
    let instruction_model = program.gas_model() == GasModel::Instruction;
    let mut gas = state.gas;
    // The instruction model pre-pays the run every time, or leaves a run it
    // cannot pay in full to the interpreter.
    if (instruction_model || !state.charged) && meter::pay(&mut gas, program.entry_charge(index)).is_err() {
        return Err(if instruction_model { JitExit::Interpret } else { JitExit::Exit(Exit::OutOfGas) });
    }
    Ok(gas)
}

/// Runs generated code from the context's entry until it stops for good:
/// exits that only ask the host for frames or for a window reset, for code
/// not compiled yet, or to run a copy or fill loop in bulk, are served here
/// and the guest continued where it stopped. Returns the exit code (see [`crate::exit_code`]).
///
/// # Safety
///
/// `inner` must point to a live instance of `module` whose context is
/// fully set up for entry, and no reference to it may be used until this
/// returns.
unsafe fn run_until_exit(inner: *mut Instance, module: &CompiledModule, base: *mut u8) -> u32 {
    let enter = module.enter_fn();
    // SAFETY: the caller guarantees `inner` is live and exclusively ours.
    let ctx = unsafe { (*inner).pager.ctx() };
    loop {
        // SAFETY: the caller set the context up for entry; `inner` stays live.
        let code = unsafe { signals::run_guest(inner, enter, base) };
        // SAFETY: the guest is stopped; we are the only user of `inner`.
        let pager = unsafe { &mut (*inner).pager };
        // The pages the interrupted access needs.
        // SAFETY: the context page is mapped and only this thread uses it.
        let [first, last, write] = unsafe { (*ctx).pending };
        match code {
            CODE_REFILL if pager.refill().is_ok() => {
                // Prepared here, so that resuming the access does not
                // fault again. A failure is left to the fault handler on
                // resume, which exits again if it must.
                let _ = pager.prepare(first, last, write != 0);
            }
            CODE_REFILL | CODE_REMAP => {
                // Out of kernel mappings (or of the windows' budget of
                // them, or of frames): windows that do not run, or this
                // one, give theirs back. If even that fails, the
                // interpreter runs the access through the caps instead.
                if !crate::window::map_scarce(pager, first, last, write != 0) {
                    return CODE_REMAP;
                }
            }
            code if let Some((SiteKind::Bulk, index)) = decode_site(code) => {
                // SAFETY: as above; the context page is ours.
                let (ctx, loops) = unsafe { (&mut *ctx, &mut (*inner).loops) };
                if !crate::bulk::run_loop(module, pager, loops, ctx, index) {
                    return code;
                }
                // The loop's start is compiled.
                ctx.entry = module.prologue_addr(index);
                continue;
            }
            _ => {
                // SAFETY: as above.
                match compiled_target(module, unsafe { &*ctx }, code) {
                    Some(target) => {
                        // SAFETY: as above; the target is compiled.
                        unsafe { (*ctx).entry = module.prologue_addr(target) };
                        continue;
                    }
                    None => return code,
                }
            }
        }
        // SAFETY: as above; resume the interrupted access.
        unsafe { (*ctx).entry = (*ctx).resume_rip };
    }
}

/// For an exit that asks for code not compiled yet (a jump out of a region
/// or through an unfilled jump-table entry): compiles it and returns the
/// segment start to continue at, if it could (else the exit stands, and
/// [`decode_exit`] hands the segment to the interpreter).
fn compiled_target(module: &CompiledModule, ctx: &VmCtx, code: u32) -> Option<u32> {
    match code {
        CODE_COMPILE_JUMP => module.ensure_jump_target(jump_slot(module, ctx)?).ok(),
        code => match decode_site(code)? {
            (SiteKind::Compile, target) => module.ensure_compiled(target).ok().map(|()| target),
            _ => None,
        },
    }
}

/// The jump-table entry whose address the compile stub left in the
/// context's `rcx`.
fn jump_slot(module: &CompiledModule, ctx: &VmCtx) -> Option<usize> {
    let offset = ctx.rcx.checked_sub(module.jump_table.as_ptr() as u64)?;
    let slot = usize::try_from(offset / 8).ok()?;
    (offset % 8 == 0 && slot < module.jump_table.len()).then_some(slot)
}

/// Writes the guest state the context holds after exit `code` into
/// `state` (registers, pc, gas, whether the block at pc is paid) and says
/// how the run ended. Under the instruction model the pre-paid
/// instructions that did not run are refunded.
fn decode_exit(module: &CompiledModule, ctx: &VmCtx, code: u32, state: &mut VmState) -> JitExit {
    let program = module.program();
    let instruction_model = program.gas_model() == GasModel::Instruction;
    state.regs.copy_from_slice(&ctx.regs[..NUM_REGS]);
    let mut gas = ctx.gas;
    // (instruction index, outcome, whether the instruction itself is
    // charged under the instruction model, `charged` afterwards)
    let (index, outcome, self_charged, charged) = match code {
        CODE_FAULT => {
            let exit = match ctx.fault {
                0 => Exit::Panic,
                f => Exit::PageFault(f as u32),
            };
            (ctx.exit_index, JitExit::Exit(exit), false, true)
        }
        CODE_DYN_PANIC => (ctx.exit_index, JitExit::Exit(Exit::Panic), true, true),
        CODE_REMAP => {
            if ctx.pending_sum_reg != u32::from(NO_BASE) {
                state.regs[ctx.pending_sum_reg as usize] = ctx.pending_sum;
            }
            (ctx.exit_index, JitExit::Interpret, false, true)
        }
        CODE_COMPILE_JUMP => {
            // The target could not be compiled: it is interpreted, not
            // charged yet.
            let slot = jump_slot(module, ctx).expect("the compile stub names a table entry");
            uncharged_at(module, program.jump_targets()[slot], gas, state);
            return JitExit::Interpret;
        }
        code => {
            let (kind, index) = decode_site(code).expect("generated code exits with site codes");
            match kind {
                SiteKind::Panic => (index, JitExit::Exit(Exit::Panic), true, true),
                SiteKind::Halt => (index, JitExit::Exit(Exit::Halt), true, true),
                SiteKind::Host => {
                    let id = program.instruction(index).imm as u32;
                    (index, JitExit::Exit(Exit::Host(id)), true, true)
                }
                SiteKind::OutOfGas => {
                    uncharged_at(module, index, gas, state);
                    return JitExit::Exit(Exit::OutOfGas);
                }
                SiteKind::InterpretBlock | SiteKind::Compile | SiteKind::Bulk => {
                    uncharged_at(module, index, gas, state);
                    return JitExit::Interpret;
                }
                SiteKind::InterpretHere => (index, JitExit::Interpret, false, true),
            }
        }
    };
    if instruction_model {
        // Refund the pre-paid instructions that did not run.
        meter::refund(&mut gas, index, program.run_end(index), self_charged);
    }
    state.pc = program.instruction(index).pc;
    state.gas = gas;
    state.charged = charged && !instruction_model;
    outcome
}

/// The state at instruction `index` with `gas` left and nothing charged
/// for its block yet.
fn uncharged_at(module: &CompiledModule, index: u32, gas: i64, state: &mut VmState) {
    state.pc = module.program().instruction(index).pc;
    state.gas = gas;
    state.charged = false;
}
