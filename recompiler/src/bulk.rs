//! Copy and fill loops run by the host ([`javm_cap::program::bulk`]) on an
//! instance's window, when generated code exits at a loop's trigger.

use crate::ctx::VmCtx;
use crate::module::CompiledModule;
use crate::window::Pager;
use javm_cap::PAGE_SIZE;
use javm_cap::program::bulk::{self, BulkLoop, BulkMemory};
use javm_cap::vm::NUM_REGS;

/// The window as [`BulkMemory`]: pages are prepared as the guest's own
/// accesses would prepare them, then moved with host copies.
struct WindowBytes<'a>(&'a mut Pager);

fn pages(addr: u32, len: u64) -> (u32, u32) {
    let last = (u64::from(addr) + len - 1) / PAGE_SIZE as u64;
    (addr / PAGE_SIZE as u32, last as u32)
}

impl BulkMemory for WindowBytes<'_> {
    fn allows(&self, page: u32, write: bool) -> bool {
        self.0.allows(page, write)
    }

    fn read(&mut self, addr: u32, out: &mut [u8]) {
        self.0.copy_out(addr, out);
    }

    fn copy(&mut self, dst: u32, src: u32, len: u64) -> bool {
        let ((s0, s1), (d0, d1)) = (pages(src, len), pages(dst, len));
        if !self.0.prepare_for_host(s0, s1, false) || !self.0.prepare_for_host(d0, d1, true) {
            return false;
        }
        let base = self.0.base();
        // SAFETY: both ranges lie below 2^32 in this window (the loop's
        // bounds), and were just made present: the source mapped, the
        // destination private and writable. `copy` allows overlap.
        unsafe { std::ptr::copy(base.add(src as usize), base.add(dst as usize), len as usize) };
        true
    }

    fn fill(&mut self, dst: u32, len: u64, pattern: &[u8]) -> bool {
        let (d0, d1) = pages(dst, len);
        if !self.0.prepare_for_host(d0, d1, true) {
            return false;
        }
        // SAFETY: as in `copy`: the range is private and writable.
        let out = unsafe { std::slice::from_raw_parts_mut(self.0.base().add(dst as usize), len as usize) };
        if pattern.iter().all(|&b| b == pattern[0]) {
            out.fill(pattern[0]);
        } else {
            for chunk in out.chunks_mut(pattern.len()) {
                chunk.copy_from_slice(&pattern[..chunk.len()]);
            }
        }
        true
    }
}

/// Loops an instance remembers (see [`Instance::loops`]).
const REMEMBERED: usize = 8;

/// At the trigger of the loop starting at instruction `index`, with the
/// guest state in `ctx` (nothing charged for the iteration): runs whole
/// iterations and updates the state. `false` when none ran. `loops` are
/// the loops recognised before, the latest last.
///
/// [`Instance::loops`]: crate::instance::Instance::loops
pub(crate) fn run_loop(
    module: &CompiledModule,
    pager: &mut Pager,
    loops: &mut Vec<(u32, BulkLoop)>,
    ctx: &mut VmCtx,
    index: u32,
) -> bool {
    let program = module.program();
    let plan = match loops.iter().position(|(i, _)| *i == index) {
        Some(at) => &loops[at].1,
        None => {
            let Some(plan) = bulk::find(program, index) else { return false };
            if loops.len() == REMEMBERED {
                loops.remove(0);
            }
            loops.push((index, plan));
            &loops[loops.len() - 1].1
        }
    };
    let mut regs = [0u64; NUM_REGS];
    regs.copy_from_slice(&ctx.regs[..NUM_REGS]);
    let ran = plan.run(&mut regs, &mut ctx.gas, program.entry_charge(index), &mut WindowBytes(pager));
    ctx.regs[..NUM_REGS].copy_from_slice(&regs);
    ran > 0
}
