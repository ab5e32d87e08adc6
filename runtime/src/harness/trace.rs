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

/// The words a trace item starts with.
const ITEM_HEADS: [&str; 9] = ["program", "memwrite", "memread", "start", "setreg", "setgas", "HALT", "PANIC", "OOG"];

/// The trace item a line holds, if any: a plain line as JAM tools write
/// traces (`program 0x…`, `ecalli=…`), or the same behind a log prefix
/// `TRACE [...] `. Other lines (a runner's own output) hold none.
fn trace_item(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("TRACE [") {
        return rest.split_once("] ").map(|(_, item)| item);
    }
    let item = line.trim();
    let head = item.split_whitespace().next()?;
    (ITEM_HEADS.contains(&head) || head.starts_with("ecalli=")).then_some(item)
}

/// Parses a log into its traces (a log may hold the same trace twice).
/// Trace items are plain lines or lines behind a `TRACE [...] ` prefix
/// (a line of neither form is skipped); both forms may be mixed.
pub fn parse_traces(log: &str) -> Result<Vec<Trace>, String> {
    let mut traces: Vec<Trace> = Vec::new();
    for (n, line) in log.lines().enumerate() {
        let Some(item) = trace_item(line) else { continue };
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

impl TraceState {
    /// `instance`'s state as a trace line records it (gas below zero as
    /// zero, as traces do).
    pub fn of(instance: &Instance) -> TraceState {
        TraceState { pc: instance.pc(), gas: instance.gas().max(0), regs: *instance.regs() }
    }
}

/// The final status a trace records for `exit` (none for a host call, at
/// which a trace does not end).
pub(crate) fn end_status(exit: Exit) -> Option<&'static str> {
    match exit {
        Exit::Halt => Some("HALT"),
        Exit::Panic | Exit::PageFault(_) => Some("PANIC"),
        Exit::OutOfGas => Some("OOG"),
        Exit::Host(_) => None,
    }
}

fn compare_state(field: &str, expected: &TraceState, instance: &Instance) -> Result<(), Mismatch> {
    let actual = TraceState::of(instance);
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
    replay_with(trace, &Engine::new(config))
}

/// Replays one trace on `engine`, whose module cache builds each distinct
/// program once however many traces of it are replayed.
pub fn replay_with(trace: &Trace, engine: &Engine) -> Result<(), Mismatch> {
    let fail = |field: &str, e: String| Mismatch { field: field.into(), expected: "ok".into(), actual: e };
    let module = engine.load(&trace.program).map_err(|e| fail("program", e.to_string()))?;
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
    // A host call that ended the run (out of gas, say) leaves the final
    // state as the call left it: nothing runs after it.
    if let (Some((_, end)), Some(_)) = (&trace.end, trace.calls.last())
        && compare_state("final", end, &instance).is_ok()
    {
        return Ok(());
    }
    let exit = instance.run();
    let Some((status, end)) = &trace.end else { return Ok(()) };
    let actual = end_status(exit).unwrap_or("HOST");
    if actual != status {
        return Err(Mismatch { field: "final status".into(), expected: status.clone(), actual: actual.into() });
    }
    compare_state("final", end, &instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/vectors/jip6/test-service-accumulate.log");

    /// The fixture's trace items as plain lines, without the log prefix or
    /// the runner's other output.
    fn plain_fixture() -> String {
        FIXTURE
            .lines()
            .filter_map(|l| l.strip_prefix("TRACE [")?.split_once("] "))
            .map(|(_, i)| i)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn plain_and_prefixed_lines_parse_alike() {
        let prefixed = parse_traces(FIXTURE).unwrap();
        assert!(!prefixed.is_empty());
        assert_eq!(prefixed[0].calls.len(), 6);
        let plain = plain_fixture();
        assert!(plain.starts_with("program 0x"), "{}", &plain[..40]);
        assert_eq!(parse_traces(&plain).unwrap(), prefixed);
    }

    #[test]
    fn plain_lines_keep_line_numbers_in_errors() {
        let text = "some runner output\nprogram 0x00\nstart pc=0 gas=10\nmemread 0x10 len=2 -> 0x0000\n";
        assert_eq!(parse_traces(text).unwrap_err(), "line 4: memread before any ecalli");
        assert_eq!(parse_traces("start pc=0\n").unwrap_err(), "line 1: trace item before `program`");
        assert!(parse_traces("nothing here\n").unwrap().is_empty());
    }

    #[test]
    fn replays_of_one_program_build_it_once() {
        let traces = parse_traces(FIXTURE).unwrap();
        let config = Config {
            engine: crate::api::EngineKind::Interpreter,
            profile: javm_cap::program::Profile::P7,
            gas_model: Some(javm_cap::program::GasModel::Instruction),
        };
        let engine = Engine::new(config);
        for trace in traces.iter().chain(&traces) {
            replay_with(trace, &engine).unwrap();
        }
        let stats = engine.cache_stats();
        assert_eq!((stats.misses, stats.hits), (1, 2 * traces.len() as u64 - 1));
    }
}
