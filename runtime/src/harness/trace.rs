//! Replays JIP-6 PVM IO traces: a recorded run of a service with every host
//! call's state, the bytes the host read and what it wrote.

use super::vectors::Mismatch;
use crate::api::{Config, Engine, Instance};
use javm_cap::program::standard::ARGS_START;
use javm_cap::vm::Exit;

/// Registers, pc and gas as a trace line records them (omitted registers
/// are zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceState {
    /// pc.
    pub pc: u32,
    /// Gas.
    pub gas: i64,
    /// Registers.
    pub regs: [u64; 13],
}

/// One recorded host call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCallRecord {
    /// The `ecalli` id.
    pub id: u32,
    /// State at the call.
    pub state: TraceState,
    /// Bytes the host read.
    pub reads: Vec<(u32, Vec<u8>)>,
    /// Bytes the host wrote.
    pub writes: Vec<(u32, Vec<u8>)>,
    /// Registers the host set.
    pub set_regs: Vec<(usize, u64)>,
    /// Gas after the call.
    pub set_gas: Option<i64>,
}

/// One complete trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Service code blob (metadata prefix + standard program).
    pub program: Vec<u8>,
    /// Writes before `start` (the invocation arguments).
    pub pre_writes: Vec<(u32, Vec<u8>)>,
    /// State at start.
    pub start: TraceState,
    /// Host calls in order.
    pub calls: Vec<HostCallRecord>,
    /// Final status (`HALT`, `PANIC`, `OOG`) and state.
    pub end: Option<(String, TraceState)>,
}

fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    if !s.starts_with("0x") {
        return Err(format!("expected 0x-hex, got {s:?}"));
    }
    super::decode_hex(s)
}

fn number(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("bad number {s:?}: {e}"))
}

fn state(fields: &[&str]) -> Result<TraceState, String> {
    let mut st = TraceState::default();
    for f in fields {
        let (k, v) = f.split_once('=').ok_or_else(|| format!("expected key=value, got {f:?}"))?;
        match k {
            "pc" => st.pc = number(v)? as u32,
            "gas" => st.gas = v.parse().map_err(|e| format!("bad gas {v:?}: {e}"))?,
            r if r.starts_with('r') => {
                let i: usize = r[1..].parse().map_err(|e| format!("bad register {r:?}: {e}"))?;
                *st.regs.get_mut(i).ok_or_else(|| format!("register {r} out of range"))? = number(v)?;
            }
            _ => {}
        }
    }
    Ok(st)
}

/// `ADDR len=N <- 0xHEX` or `-> 0xHEX`.
fn mem_line(fields: &[&str]) -> Result<(u32, Vec<u8>), String> {
    let [addr, len, _, bytes] = fields else { return Err(format!("bad memory line {fields:?}")) };
    let addr = number(addr)? as u32;
    let len = number(len.strip_prefix("len=").ok_or("missing len=")?)? as usize;
    let bytes = hex_bytes(bytes)?;
    if bytes.len() != len {
        return Err(format!("len={len} but {} bytes", bytes.len()));
    }
    Ok((addr, bytes))
}

/// Parses a log into its traces (a log may hold the same trace twice).
/// Only lines of the form `TRACE [...] item` count.
pub fn parse_traces(log: &str) -> Result<Vec<Trace>, String> {
    let mut traces: Vec<Trace> = Vec::new();
    for (n, line) in log.lines().enumerate() {
        let Some(rest) = line.strip_prefix("TRACE [") else { continue };
        let Some((_, item)) = rest.split_once("] ") else { continue };
        let fields: Vec<&str> = item.split_whitespace().collect();
        let Some((&head, tail)) = fields.split_first() else { continue };
        let err = |e: String| format!("line {}: {e}", n + 1);
        if head == "program" {
            let program = hex_bytes(tail.first().copied().unwrap_or_default()).map_err(err)?;
            traces.push(Trace { program, ..Trace::default() });
            continue;
        }
        let trace = traces.last_mut().ok_or_else(|| err("trace item before `program`".into()))?;
        match head {
            "memwrite" => {
                let w = mem_line(tail).map_err(err)?;
                match trace.calls.last_mut() {
                    Some(call) => call.writes.push(w),
                    None => trace.pre_writes.push(w),
                }
            }
            "memread" => {
                let r = mem_line(tail).map_err(err)?;
                trace.calls.last_mut().ok_or_else(|| err("memread before any ecalli".into()))?.reads.push(r);
            }
            "start" => trace.start = state(tail).map_err(err)?,
            "setreg" => {
                let [reg, _, value] = tail else { return Err(err(format!("bad setreg {tail:?}"))) };
                let reg: usize = reg.trim_start_matches('r').parse().map_err(|e| err(format!("{e}")))?;
                let value = number(value).map_err(err)?;
                trace.calls.last_mut().ok_or_else(|| err("setreg before ecalli".into()))?.set_regs.push((reg, value));
            }
            "setgas" => {
                let [_, gas] = tail else { return Err(err(format!("bad setgas {tail:?}"))) };
                let gas = gas.parse().map_err(|e| err(format!("bad gas: {e}")))?;
                trace.calls.last_mut().ok_or_else(|| err("setgas before ecalli".into()))?.set_gas = Some(gas);
            }
            "HALT" | "PANIC" | "OOG" => trace.end = Some((head.to_string(), state(tail).map_err(err)?)),
            h if h.starts_with("ecalli=") => {
                let id = number(&h["ecalli=".len()..]).map_err(err)? as u32;
                let state = state(tail).map_err(err)?;
                trace.calls.push(HostCallRecord { id, state, ..HostCallRecord::default() });
            }
            other => return Err(err(format!("unknown trace item {other:?}"))),
        }
    }
    Ok(traces)
}

fn compare_state(field: &str, expected: &TraceState, instance: &Instance) -> Result<(), Mismatch> {
    let actual = TraceState { pc: instance.pc(), gas: instance.gas().max(0), regs: *instance.regs() };
    if expected.pc != actual.pc {
        return Err(Mismatch {
            field: format!("{field} pc"),
            expected: expected.pc.to_string(),
            actual: actual.pc.to_string(),
        });
    }
    if expected.gas != actual.gas {
        return Err(Mismatch {
            field: format!("{field} gas"),
            expected: expected.gas.to_string(),
            actual: actual.gas.to_string(),
        });
    }
    for i in 0..13 {
        if expected.regs[i] != actual.regs[i] {
            return Err(Mismatch {
                field: format!("{field} r{i}"),
                expected: format!("0x{:x}", expected.regs[i]),
                actual: format!("0x{:x}", actual.regs[i]),
            });
        }
    }
    Ok(())
}

/// Replays one trace under `config`.
pub fn replay(trace: &Trace, config: Config) -> Result<(), Mismatch> {
    let fail = |field: &str, e: String| Mismatch { field: field.into(), expected: "ok".into(), actual: e };
    let module = Engine::new(config).load(&trace.program).map_err(|e| fail("program", e.to_string()))?;
    let args = trace.pre_writes.iter().find(|(a, _)| *a == ARGS_START).map(|(_, b)| b.as_slice()).unwrap_or(&[]);
    let mut instance =
        module.instantiate_standard(args, trace.start.pc).map_err(|e| fail("instantiate", e.to_string()))?;
    for (addr, bytes) in trace.pre_writes.iter().filter(|(a, _)| *a != ARGS_START) {
        instance.address_space().poke(*addr, bytes).map_err(|e| fail("pre-start memwrite", e.to_string()))?;
    }
    for (i, &r) in trace.start.regs.iter().enumerate() {
        instance.set_reg(i, r);
    }
    instance.set_gas(trace.start.gas);
    for (n, call) in trace.calls.iter().enumerate() {
        let at = format!("ecalli #{n} ({})", call.id);
        let exit = instance.run();
        if exit != Exit::Host(call.id) {
            return Err(Mismatch {
                field: format!("{at} exit"),
                expected: format!("host {}", call.id),
                actual: exit.to_string(),
            });
        }
        compare_state(&at, &call.state, &instance)?;
        for (addr, want) in &call.reads {
            let mut have = vec![0u8; want.len()];
            instance.read_memory(*addr, &mut have).map_err(|e| fail(&format!("{at} memread"), format!("{e:?}")))?;
            if &have != want {
                return Err(Mismatch {
                    field: format!("{at} memread 0x{addr:08x}"),
                    expected: format!("{want:02x?}"),
                    actual: format!("{have:02x?}"),
                });
            }
        }
        for (addr, bytes) in &call.writes {
            instance.address_space().poke(*addr, bytes).map_err(|e| fail(&format!("{at} memwrite"), e.to_string()))?;
        }
        for &(reg, value) in &call.set_regs {
            instance.set_reg(reg, value);
        }
        if let Some(gas) = call.set_gas {
            instance.set_gas(gas);
        }
    }
    let exit = instance.run();
    let Some((status, end)) = &trace.end else { return Ok(()) };
    let actual = match exit {
        Exit::Halt => "HALT",
        Exit::Panic | Exit::PageFault(_) => "PANIC",
        Exit::OutOfGas => "OOG",
        Exit::Host(_) => "HOST",
    };
    if actual != status {
        return Err(Mismatch { field: "final status".into(), expected: status.clone(), actual: actual.into() });
    }
    compare_state("final", end, &instance)
}
