//! Records runs as JIP-6 PVM IO traces: the program, the start state, every
//! host call with the bytes the host read and wrote and the registers and
//! gas it set, and the final state — what [`replay_with`](super::trace::replay_with)
//! (and other JAM implementations) replay.

use super::encode_hex;
use super::trace::{HostCallRecord, Trace, TraceState, end_status};
use crate::api::{HostCalls, HostResult, Instance};
use javm_cap::program::standard::ARGS_START;
use javm_cap::vm::Exit;
use std::fmt::Write;

/// A host that records every call it hands on to `host`.
struct Recording<'h, H> {
    host: &'h mut H,
    calls: Vec<HostCallRecord>,
}

impl<H: HostCalls> HostCalls for Recording<'_, H> {
    fn call(&mut self, id: u32, instance: &mut Instance) -> HostResult {
        let state = TraceState::of(instance);
        let (regs, gas) = (*instance.regs(), instance.gas());
        instance.log_memory_accesses(true);
        let result = self.host.call(id, instance);
        let accesses = instance.log_memory_accesses(false);
        if matches!(result, HostResult::Stop) {
            // The run stops at this call unhandled: a replay stops there too.
            return result;
        }
        let (writes, reads): (Vec<_>, Vec<_>) = accesses.into_iter().partition(|a| a.write);
        self.calls.push(HostCallRecord {
            id,
            state,
            reads: reads.into_iter().map(|a| (a.address, a.bytes)).collect(),
            writes: writes.into_iter().map(|a| (a.address, a.bytes)).collect(),
            set_regs: (0..13).filter(|&i| instance.reg(i) != regs[i]).map(|i| (i, instance.reg(i))).collect(),
            set_gas: (instance.gas() != gas).then(|| instance.gas()),
        });
        result
    }
}

/// Runs `instance` — created from standard program `program` with
/// arguments `args`, registers and gas already set — handing host calls to
/// `host`, and records the run. A replay checks the bytes a host read
/// before it applies the bytes the host wrote, so a host that reads what it
/// wrote in the same call records a trace that does not replay.
pub fn record_run(instance: &mut Instance, program: &[u8], args: &[u8], host: &mut impl HostCalls) -> (Exit, Trace) {
    let start = TraceState::of(instance);
    let mut recording = Recording { host, calls: Vec::new() };
    let exit = instance.run_with(&mut recording);
    let status = end_status(exit);
    let trace = Trace {
        program: program.to_vec(),
        pre_writes: if args.is_empty() { Vec::new() } else { vec![(ARGS_START, args.to_vec())] },
        start,
        calls: recording.calls,
        end: status.map(|s| (s.to_string(), TraceState::of(instance))),
    };
    (exit, trace)
}

impl Trace {
    /// The trace as plain JIP-6 lines.
    pub fn to_jip6(&self) -> String {
        fn state(out: &mut String, s: &TraceState) {
            let _ = write!(out, " pc={} gas={}", s.pc, s.gas);
            for (i, r) in s.regs.iter().enumerate().filter(|(_, r)| **r != 0) {
                let _ = write!(out, " r{i:02}=0x{r:x}");
            }
            out.push('\n');
        }
        fn memory(out: &mut String, what: &str, arrow: &str, (address, bytes): &(u32, Vec<u8>)) {
            let _ = writeln!(out, "{what} 0x{address:08x} len={} {arrow} 0x{}", bytes.len(), encode_hex(bytes));
        }
        let mut out = format!("program 0x{}\n", encode_hex(&self.program));
        for w in &self.pre_writes {
            memory(&mut out, "memwrite", "<-", w);
        }
        out.push_str("start");
        state(&mut out, &self.start);
        for call in &self.calls {
            let _ = write!(out, "ecalli={}", call.id);
            state(&mut out, &call.state);
            for r in &call.reads {
                memory(&mut out, "memread", "->", r);
            }
            for w in &call.writes {
                memory(&mut out, "memwrite", "<-", w);
            }
            for (reg, value) in &call.set_regs {
                let _ = writeln!(out, "setreg r{reg:02} <- 0x{value:x}");
            }
            if let Some(gas) = call.set_gas {
                let _ = writeln!(out, "setgas <- {gas}");
            }
        }
        if let Some((status, end)) = &self.end {
            out.push_str(status);
            state(&mut out, end);
        }
        out
    }
}
