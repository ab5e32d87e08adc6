//! The gas meter: how a run pays for what it executes. Both engines follow
//! these rules through the functions here — the interpreter as it runs, the
//! recompiler in its run loop and in the charges it compiles into each
//! segment — so their gas agrees by construction.
//!
//! **Block and pipeline models** (spec §8.1; block costs from §8.2, or one
//! unit per instruction). Executing with nothing paid (`charged` false)
//! first charges the whole cost of the containing block `L(pc)`, also when
//! the pc is in the middle of it. The charge is compared before it is made:
//! when gas does not cover it the run exits out-of-gas at that pc with gas,
//! registers and memory unchanged and `charged` false, so adding gas and
//! running again retries the same charge. Nothing is refunded, whatever
//! way the block ends.
//!
//! **Instruction model** (spec §8.3, §9.2). Every instruction costs
//! one unit, charged as it runs. Entering instruction `i` pre-pays its run
//! — `i` through the first terminator at or after it, [`run_end`]` − i`
//! units — when gas covers it, and an exit before the run's end refunds the
//! instructions that did not run: the exiting instruction is kept when it
//! ran (`trap`, `ecalli`, a jump that panics or halts) and refunded when it
//! did not (a memory fault, or an instruction left to the interpreter).
//! When gas does not cover the run, instructions are paid one at a time
//! (the recompiler leaves such a run to the interpreter); paying one from
//! gas 0 or less is out-of-gas: gas goes one lower (−1 from 0) and the
//! instruction has no effect. Nothing stays paid between runs.
//!
//! [`run_end`]: crate::program::Program::run_end

use super::GasModel;

/// Gas did not cover a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfGas;

/// The charge for executing instruction `index` with nothing paid, in a
/// block costing `block_cost`, in a run ending at `run_end` (one past its
/// terminator): the block's cost, or under the instruction model the
/// pre-payment of the run.
#[inline]
pub fn entry_charge(model: GasModel, block_cost: u32, index: u32, run_end: u32) -> u32 {
    match model {
        GasModel::Pipeline | GasModel::Block => block_cost,
        GasModel::Instruction => run_end - index,
    }
}

/// Pays `cost` from `gas` when it covers it; otherwise leaves `gas` as it
/// is (compare before charging).
#[inline(always)]
pub fn pay(gas: &mut i64, cost: u32) -> Result<(), OutOfGas> {
    let cost = i64::from(cost);
    if *gas < cost {
        return Err(OutOfGas);
    }
    *gas -= cost;
    Ok(())
}

/// Instruction model: pays for one instruction. Out of gas, `gas` still
/// goes one lower (saturating: a host may set any gas, even `i64::MIN`).
#[inline(always)]
pub fn pay_one(gas: &mut i64) -> Result<(), OutOfGas> {
    *gas = gas.saturating_sub(1);
    if *gas < 0 { Err(OutOfGas) } else { Ok(()) }
}

/// Instruction model: enters instruction `index` of a run ending at
/// `run_end`: pre-pays the run (its [`entry_charge`]) when `gas` covers it,
/// else only the instruction. Returns the index one past what is paid.
#[inline(always)]
pub fn enter_run(gas: &mut i64, index: u32, run_end: u32) -> Result<u32, OutOfGas> {
    if pay(gas, entry_charge(GasModel::Instruction, 0, index, run_end)).is_ok() {
        return Ok(run_end);
    }
    pay_one(gas).map(|()| index + 1)
}

/// Instruction model: gives back to `gas` what a run paid up to `paid_end`
/// and did not use, when it exits at instruction `index`; `exit_ran` says
/// whether that instruction ran (and so stays paid).
#[inline(always)]
pub fn refund(gas: &mut i64, index: u32, paid_end: u32, exit_ran: bool) {
    *gas += i64::from(paid_end - index - u32::from(exit_ran));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_entry_compares_before_charging() {
        // A block costing 5 with 4 left: out-of-gas, gas unchanged (§8.1).
        let mut gas = 4;
        assert_eq!(pay(&mut gas, 5), Err(OutOfGas));
        assert_eq!(gas, 4);
        // Exactly enough: paid, nothing left.
        let mut gas = 5;
        assert_eq!(pay(&mut gas, 5), Ok(()));
        assert_eq!(gas, 0);
        // Negative gas (a host may set it) never pays, and is not changed.
        let mut gas = i64::MIN;
        assert_eq!(pay(&mut gas, 1), Err(OutOfGas));
        assert_eq!(gas, i64::MIN);
    }

    #[test]
    fn entry_charge_per_model() {
        // Instruction 3 of a block starting at 1, costing 7, whose run ends at 6.
        assert_eq!(entry_charge(GasModel::Pipeline, 7, 3, 6), 7, "the whole block, even entered mid-way");
        assert_eq!(entry_charge(GasModel::Block, 7, 3, 6), 7);
        assert_eq!(entry_charge(GasModel::Instruction, 7, 3, 6), 3, "instructions 3, 4 and 5");
    }

    #[test]
    fn instruction_model_prepays_the_run_or_steps() {
        // Run 10..13, with 3 left: all paid.
        let mut gas = 3;
        assert_eq!(enter_run(&mut gas, 10, 13), Ok(13));
        assert_eq!(gas, 0);
        // With 2 left: only instruction 10.
        let mut gas = 2;
        assert_eq!(enter_run(&mut gas, 10, 13), Ok(11));
        assert_eq!(gas, 1);
        // With 0 left: out-of-gas, reported as −1 (§8.3).
        let mut gas = 0;
        assert_eq!(enter_run(&mut gas, 10, 13), Err(OutOfGas));
        assert_eq!(gas, -1);
        let mut gas = i64::MIN;
        assert_eq!(pay_one(&mut gas), Err(OutOfGas));
        assert_eq!(gas, i64::MIN, "saturates");
    }

    #[test]
    fn instruction_model_refunds_what_did_not_run() {
        // Run 10..15 pre-paid from 100 (95 left). A trap at 12 ran 10, 11
        // and 12: 13 and 14 come back.
        let mut gas = 95;
        refund(&mut gas, 12, 15, true);
        assert_eq!(gas, 97);
        // A load faulting at 12 did not run: 10 and 11 spent.
        let mut gas = 95;
        refund(&mut gas, 12, 15, false);
        assert_eq!(gas, 98);
        // A trap at the run's last instruction: nothing to give back.
        let mut gas = 95;
        refund(&mut gas, 14, 15, true);
        assert_eq!(gas, 95);
    }
}
