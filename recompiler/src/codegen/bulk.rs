//! The check at the start of a copy or fill loop
//! ([`javm_cap::program::bulk`]): when the loop's counter is far enough
//! from its limit, generated code exits to the host, which runs whole
//! iterations as one copy or fill and continues at the loop's start. The
//! loop's own back edge skips the check.

use super::regs::{RCX, host};
use super::{Compiler, emit};
use crate::exit_code::SiteKind;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi};
use javm_cap::program::GasModel;
use javm_cap::program::bulk::{self, Limit, Trigger};

impl Compiler<'_> {
    /// At segment start `i` (whose prologue label is `label`): the trigger
    /// of the copy or fill loop the block is, if it is one, with `label`
    /// bound to it and `start` set to its offset. Returns the label for the
    /// gas prologue after it, which jumps inside the region compiled from
    /// here on (the loop's back edge) take.
    pub(super) fn bulk_check(&mut self, i: u32, label: DynamicLabel, start: &mut u32) -> Option<DynamicLabel> {
        if self.program.gas_model() == GasModel::Instruction {
            return None;
        }
        let Trigger { counter, limit, down, threshold } = bulk::find(self.program, i)?.trigger()?;
        *start = self.offset();
        emit!(self.ops ; =>label);
        let stub = self.exit_to(SiteKind::Bulk, i);
        // rcx = the counter's distance to its limit.
        emit!(self.ops ; mov Rq(RCX), Rq(host(counter)));
        match limit {
            Limit::Reg(r) => emit!(self.ops ; sub Rq(RCX), Rq(host(r))),
            Limit::Imm(x) => emit!(self.ops ; sub Rq(RCX), x),
        }
        if !down {
            emit!(self.ops ; neg Rq(RCX));
        }
        // threshold ≤ rcx < 2^31, as one unsigned comparison.
        let span = (1u32 << 31) - 1 - threshold;
        emit!(self.ops
            ; sub Rq(RCX), threshold as i32
            ; cmp Rq(RCX), span as i32
            ; jbe =>stub
        );
        let body = self.ops.new_dynamic_label();
        self.prologues[(i - self.first) as usize] = Some(body);
        Some(body)
    }
}
