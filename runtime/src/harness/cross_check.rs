//! Runs two instances of one program side by side — the interpreter and the
//! recompiler, as `javm run --cross-check` does — comparing registers, pc,
//! gas, exit and memory root at every exit, and when they differ, narrows
//! the difference down to one block.
//!
//! Narrowing works by gas: from the last state both agreed on, both run
//! again with a budget of `g` gas. Running out of gas stops both at the
//! same block boundary with the same state as long as neither has gone
//! wrong before it (gas is exact on both engines), so the smallest budget
//! at which they differ names the block in which they part.

use crate::api::{HostCalls, HostResult, Instance, Module, Snapshot};
use javm_cap::CapHash;
use javm_cap::program::disasm::format_instruction;
use javm_cap::vm::{Exit, VmState};
use std::fmt::Write;

/// What an instance looked like at an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The exit.
    pub exit: Exit,
    /// Registers, pc and gas.
    pub state: VmState,
    /// The memory root.
    pub root: CapHash,
}

impl Observed {
    fn of(exit: Exit, instance: &mut Instance) -> Observed {
        Observed { exit, state: *instance.state(), root: instance.memory_root() }
    }
}

/// Where two instances parted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Exits both reached alike before they parted.
    pub exits_agreed: usize,
    /// The pc of the block in which they part: both agree on the state on
    /// entering it.
    pub block_pc: u32,
    /// What each did next: the first instance's, then the second's.
    pub observed: [Observed; 2],
    /// The block's instructions, one per line.
    pub disassembly: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the engines differ after {} exit(s) alike, in the block at pc {}:",
            self.exits_agreed, self.block_pc
        )?;
        for (name, o) in ["first", "second"].iter().zip(&self.observed) {
            write!(f, "  {name}: {} at pc {}, gas {}, root {}", o.exit, o.state.pc, o.state.gas, hex(&o.root))?;
            writeln!(f)?;
        }
        let [a, b] = &self.observed;
        for i in (0..13).filter(|&i| a.state.regs[i] != b.state.regs[i]) {
            writeln!(f, "  r{i}: 0x{:x} vs 0x{:x}", a.state.regs[i], b.state.regs[i])?;
        }
        write!(f, "{}", self.disassembly)
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::harness::encode_hex(bytes)
}

/// Runs `a` and `b` to their end, each handing host calls to its own host,
/// comparing them at every exit. `Ok` with the final exit when they agree
/// throughout.
pub fn cross_check(
    a: &mut Instance,
    b: &mut Instance,
    host_a: &mut impl HostCalls,
    host_b: &mut impl HostCalls,
) -> Result<Exit, Box<Divergence>> {
    let mut exits = 0;
    loop {
        let before = [a.snapshot(), b.snapshot()];
        let (ea, eb) = (a.run(), b.run());
        let observed = [Observed::of(ea, a), Observed::of(eb, b)];
        if observed[0] != observed[1] {
            let spent = before[0].state().gas.saturating_sub(a.gas());
            return Err(Box::new(narrow(&before, exits, spent, observed)));
        }
        exits += 1;
        let Exit::Host(id) = ea else { return Ok(ea) };
        match (host_a.call(id, a), host_b.call(id, b)) {
            (HostResult::Continue, HostResult::Continue) => {}
            (HostResult::Exit(x), HostResult::Exit(y)) if x == y => return Ok(x),
            _ => return Ok(ea),
        }
    }
}

/// Runs each snapshot with `budget` gas.
fn probe(before: &[Snapshot; 2], budget: i64) -> [Observed; 2] {
    before.each_ref().map(|snapshot| {
        let module = snapshot.module().clone();
        let mut instance = module.instantiate_from(snapshot).expect("an instance starts from its own snapshot");
        instance.set_gas(budget);
        let exit = instance.run();
        Observed::of(exit, &mut instance)
    })
}

/// Finds the block in which runs from `before` part: the smallest gas
/// budget at which they differ, between none and the gas they had (at which
/// they did differ, as `full` shows); `spent`, what the first run used,
/// usually bounds it already. Each budget is run once.
fn narrow(before: &[Snapshot; 2], exits_agreed: usize, spent: i64, full: [Observed; 2]) -> Divergence {
    let (mut agree, mut differ) = (-1i64, before[0].state().gas);
    // What the runs gave at `differ`, and where the first stopped at `agree`.
    let (mut observed, mut block_pc) = (full, before[0].state().pc);
    if (0..differ).contains(&spent) {
        let at_spent = probe(before, spent);
        if at_spent[0] != at_spent[1] {
            (differ, observed) = (spent, at_spent);
        }
    }
    while differ - agree > 1 {
        let mid = agree + (differ - agree) / 2;
        let at_mid = probe(before, mid);
        if at_mid[0] != at_mid[1] {
            (differ, observed) = (mid, at_mid);
        } else {
            (agree, block_pc) = (mid, at_mid[0].state.pc);
        }
    }
    Divergence { exits_agreed, block_pc, observed, disassembly: block_listing(before[0].module(), block_pc) }
}

/// The instructions of the block that starts at or contains `pc`.
fn block_listing(module: &Module, pc: u32) -> String {
    let program = module.program();
    let mut out = String::new();
    let Some(index) = program.index_of(pc) else {
        let _ = writeln!(out, "  (pc {pc} is not an instruction)");
        return out;
    };
    let block = &program.blocks()[program.block_of(index) as usize];
    for ins in &program.instructions()[block.first as usize..block.end as usize] {
        let mark = if ins.pc == pc { '>' } else { ' ' };
        let _ = writeln!(out, "  {mark}{:>6}: {}", ins.pc, format_instruction(ins));
    }
    out
}
