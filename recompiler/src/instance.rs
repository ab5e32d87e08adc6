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
    pub(crate) module: Arc<CompiledModule>,
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
