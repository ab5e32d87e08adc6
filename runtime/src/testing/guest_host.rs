//! The host the committed guests (`guests/`) are specified with: host call 0
//! (`gas`) and 100 (JIP-1 `log`) both charge [`GUEST_HOST_CALL_GAS`], `gas`
//! sets r7 to the gas left; any other call stops the run. Their recorded
//! outputs and gas (`guests/expected.json`) are made with it.

use crate::api::{HostCalls, HostResult, Instance};
use javm_cap::vm::Exit;

/// Gas each of the guests' host calls charges.
pub const GUEST_HOST_CALL_GAS: i64 = 10;

/// The guests' reference host; counts the calls it handled.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestHost {
    /// Host calls handled so far.
    pub calls: u64,
}

impl HostCalls for GuestHost {
    fn call(&mut self, id: u32, instance: &mut Instance) -> HostResult {
        if instance.gas() < GUEST_HOST_CALL_GAS {
            return HostResult::Exit(Exit::OutOfGas);
        }
        let left = instance.gas() - GUEST_HOST_CALL_GAS;
        instance.set_gas(left);
        self.calls += 1;
        match id {
            0 => instance.set_reg(7, left as u64),
            100 => {}
            _ => return HostResult::Stop,
        }
        HostResult::Continue
    }
}
