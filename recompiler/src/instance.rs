//! [`Instance`]: the parts of a running instance that both the run loop and
//! the fault handler use.

use crate::module::CompiledModule;
use crate::window::LivePager;
use javm_cap::program::bulk::BulkLoop;
use std::sync::Arc;

/// What the fault handler reaches of the instance running on its thread:
/// the compiled module (to find the faulting access) and the pager (to map
/// what it needs). Owned by a [`crate::JitInstance`], boxed so its address
/// stays fixed while generated code runs.
pub(crate) struct Instance {
    pub(crate) module: Holder,
    pub(crate) pager: LivePager,
    /// The copy and fill loops this instance ran in bulk lately, by the
    /// index of their first instruction (see [`crate::bulk`]).
    pub(crate) loops: Vec<(u32, BulkLoop)>,
}

impl Drop for Instance {
    /// The window goes to the module's pool of kept windows when worth
    /// keeping (the module outlives this: its `Arc` drops after).
    fn drop(&mut self) {
        self.module.pagers.keep(&mut self.pager);
    }
}

/// A compiled module as the instances of one thread hold it
/// ([`crate::JitInstance::with_handle`]): they count on the handle instead
/// of on the module, whose count instances on every thread would write.
/// Alone on its cache lines (in an `Arc`, the count's line is its own).
#[repr(align(128))]
pub struct ThreadHandle(Arc<CompiledModule>);

impl ThreadHandle {
    /// A handle on `module`, for one thread's instances to share.
    pub fn new(module: Arc<CompiledModule>) -> Arc<ThreadHandle> {
        Arc::new(ThreadHandle(module))
    }
}

/// How an instance holds its module.
pub(crate) enum Holder {
    /// A count of its own on the module.
    Module(Arc<CompiledModule>),
    /// Through its thread's handle.
    Handle(Arc<ThreadHandle>),
}

impl std::ops::Deref for Holder {
    type Target = Arc<CompiledModule>;

    fn deref(&self) -> &Arc<CompiledModule> {
        match self {
            Holder::Module(module) => module,
            Holder::Handle(handle) => &handle.0,
        }
    }
}
