//! Tier-up: a recompiler module is interpreted until it has run a given
//! amount of gas in total, over all its instances, and compiled from then
//! on ([`Engine::with_tier_up`](super::Engine::with_tier_up)). A program
//! run once, briefly, then never pays for code generation; one run often
//! pays for it once.
//!
//! The switch happens inside a run, exactly: the interpreter is given no
//! more gas than the module still has to interpret, and when that slice
//! runs out mid-run it stops as out of gas does — before the block it
//! cannot pay, nothing charged for it (spec §8.1). The run then goes on
//! compiled from that block with the gas it really has.

use crate::interp::Stop;
use javm_cap::vm::{Exit, VmState};
use std::sync::atomic::{AtomicU64, Ordering};

/// A module's progress towards compiled code.
#[derive(Debug)]
pub(crate) struct TierUp {
    /// Gas to interpret before compiling (0: compiled from the start).
    after: u64,
    /// Gas interpreted so far (`after` once hot).
    interpreted: AtomicU64,
}

impl TierUp {
    pub(crate) fn new(after: u64) -> TierUp {
        TierUp { after, interpreted: AtomicU64::new(0) }
    }

    /// Gas still to interpret before the module runs compiled, if any.
    pub(crate) fn remaining(&self) -> Option<u64> {
        let done = self.interpreted.load(Ordering::Relaxed);
        (done < self.after).then(|| self.after - done)
    }

    /// Gas interpreted while the module was not hot.
    pub(crate) fn interpreted(&self) -> u64 {
        self.interpreted.load(Ordering::Relaxed)
    }

    /// Runs `interpret` on `state` with at most `slice` of its gas and
    /// counts what it used. `None` when it stopped only because the slice
    /// ran out (the module is hot then; `state` is where compiled code
    /// continues, with all its gas).
    pub(crate) fn run_slice(
        &self,
        state: &mut VmState,
        slice: u64,
        interpret: impl FnOnce(&mut VmState) -> Stop,
    ) -> Option<Stop> {
        let gas = state.gas;
        let limit = gas.min(i64::try_from(slice).unwrap_or(i64::MAX));
        state.gas = limit;
        let stop = interpret(state);
        let sliced = stop == Stop::Exit(Exit::OutOfGas) && limit < gas;
        // Out of gas, the instruction that could not be paid for is not
        // run; under the instruction model its charge is left in the gas
        // (below zero), which the run with all its gas pays again.
        let left = if sliced { state.gas.max(0) } else { state.gas };
        let used = limit - left;
        state.gas = gas - used;
        self.interpreted.fetch_add(used.max(0) as u64, Ordering::Relaxed);
        if sliced {
            // A block the slice cannot pay: the threshold is reached.
            self.interpreted.fetch_max(self.after, Ordering::Relaxed);
            return None;
        }
        Some(stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_runs_out_as_out_of_gas_and_gives_the_gas_back() {
        let tier = TierUp::new(100);
        assert_eq!(tier.remaining(), Some(100));
        // The interpreter uses 30 of the 100 it is given, then exits.
        let mut state = VmState { gas: 1000, ..VmState::default() };
        let stop = tier.run_slice(&mut state, 100, |s| {
            assert_eq!(s.gas, 100);
            s.gas -= 30;
            Stop::Exit(Exit::Host(1))
        });
        assert_eq!((stop, state.gas, tier.remaining()), (Some(Stop::Exit(Exit::Host(1))), 970, Some(70)));
        // Then it runs out of its 70 after using 65: the run goes on with
        // the 905 left, and the module is hot.
        let stop = tier.run_slice(&mut state, 70, |s| {
            s.gas -= 65;
            Stop::Exit(Exit::OutOfGas)
        });
        assert_eq!((stop, state.gas, tier.remaining(), tier.interpreted()), (None, 905, None, 100));
        // Under the instruction model an out-of-gas leaves the charge of
        // the instruction not run below zero: it is not counted as used.
        let tier = TierUp::new(10);
        let mut state = VmState { gas: 50, ..VmState::default() };
        let stop = tier.run_slice(&mut state, 10, |s| {
            s.gas = -1;
            Stop::Exit(Exit::OutOfGas)
        });
        assert_eq!((stop, state.gas), (None, 40));
        // A real out-of-gas (less gas than the slice) stands.
        let tier = TierUp::new(100);
        let mut poor = VmState { gas: 20, ..VmState::default() };
        let stop = tier.run_slice(&mut poor, 100, |s| {
            s.gas -= 20;
            Stop::Exit(Exit::OutOfGas)
        });
        assert_eq!((stop, poor.gas, tier.remaining()), (Some(Stop::Exit(Exit::OutOfGas)), 0, Some(80)));
    }
}
