//! The host the committed guests (`guests/`) are specified with: host call 0
//! (`gas`) and 100 (JIP-1 `log`) both charge [`GUEST_HOST_CALL_GAS`], `gas`
//! sets r7 to the gas left; any other call stops the run. Their recorded
//! outputs and gas (`guests/expected.json`) are made with it.

use crate::api::{HostCalls, HostResult, Instance, Module};
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

/// Runs a fresh standard instance of `module` with `args` and `gas` on
/// [`GuestHost`] to its end: the exit, the output (the `r8` bytes at `r7`;
/// none when they are not readable) and the gas used.
pub fn run_guest(module: &Module, args: &[u8], gas: i64) -> (Exit, Vec<u8>, i64) {
    let mut instance = module.instantiate_standard(args, 0).expect("a guest instantiates");
    instance.set_gas(gas);
    let exit = instance.run_with(&mut GuestHost::default());
    let mut out = vec![0u8; instance.reg(8) as usize];
    if instance.read_memory(instance.reg(7) as u32, &mut out).is_err() {
        out.clear();
    }
    (exit, out, gas - instance.gas())
}
