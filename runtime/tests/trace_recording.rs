//! JIP-6 trace recording: recorded runs replay exactly on both engines, and
//! the writer is the parser's inverse.

use javm::harness::decode_hex;
use javm::harness::record::record_run;
use javm::harness::trace::{parse_traces, replay_with};
use javm::testing::{GuestHost, on_every_engine};
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const FIXTURE: &str = "runtime/tests/vectors/jip6/test-service-accumulate.log";

fn p7_instruction(engine: EngineKind) -> Config {
    Config { engine, profile: Profile::P7, gas_model: Some(GasModel::Instruction) }
}

#[test]
fn the_fixture_round_trips_through_its_lines() {
    let text = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    let traces = parse_traces(&text).unwrap();
    assert!(!traces.is_empty());
    for trace in &traces {
        let written = trace.to_jip6();
        assert!(written.starts_with("program 0x"));
        assert_eq!(&parse_traces(&written).unwrap(), std::slice::from_ref(trace));
        on_every_engine(|engine| replay_with(trace, &Engine::new(p7_instruction(engine))).unwrap());
    }
}

#[test]
fn replaying_the_fixture_while_recording_gives_the_fixture_back() {
    // The fixture's host calls, answered from the fixture itself.
    let text = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    let original = parse_traces(&text).unwrap().remove(0);
    struct Scripted<'t>(std::slice::Iter<'t, javm::harness::trace::HostCallRecord>);
    impl javm::HostCalls for Scripted<'_> {
        fn call(&mut self, id: u32, instance: &mut javm::Instance) -> javm::HostResult {
            let call = self.0.next().expect("no more calls in the trace");
            assert_eq!(call.id, id);
            for (address, bytes) in &call.reads {
                let mut have = vec![0; bytes.len()];
                instance.read_memory(*address, &mut have).unwrap();
            }
            for (address, bytes) in &call.writes {
                instance.write_memory(*address, bytes).unwrap();
            }
            for &(reg, value) in &call.set_regs {
                instance.set_reg(reg, value);
            }
            if let Some(gas) = call.set_gas {
                instance.set_gas(gas);
            }
            javm::HostResult::Continue
        }
    }
    on_every_engine(|engine| {
        let module = Engine::new(p7_instruction(engine)).load(&original.program).unwrap();
        let args = &original.pre_writes[0].1;
        let mut instance = module.instantiate_standard(args, original.start.pc).unwrap();
        for (i, &r) in original.start.regs.iter().enumerate() {
            instance.set_reg(i, r);
        }
        instance.set_gas(original.start.gas);
        let (exit, recorded) = record_run(&mut instance, &original.program, args, &mut Scripted(original.calls.iter()));
        assert_eq!(exit, Exit::Halt);
        // Registers a host sets to the value they had are not "set": compare
        // what each call changed.
        assert_eq!(recorded.calls.len(), original.calls.len());
        for (r, o) in recorded.calls.iter().zip(&original.calls) {
            assert_eq!((r.id, r.state, &r.reads, &r.writes), (o.id, o.state, &o.reads, &o.writes));
            let changed: Vec<_> = o.set_regs.iter().copied().filter(|&(i, v)| o.state.regs[i] != v).collect();
            assert_eq!(r.set_regs, changed);
        }
        assert_eq!(
            (recorded.start, &recorded.end, &recorded.pre_writes),
            (original.start, &original.end, &original.pre_writes)
        );
    });
}

/// Every committed guest's small cases, recorded on each engine, replay on
/// both; a changed host result is caught.
#[test]
fn every_guest_records_a_trace_that_replays_on_both_engines() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("guests/expected.json")).unwrap()).unwrap();
    let mut recorded_calls = 0;
    for guest in expected["guests"].as_array().unwrap() {
        let blob = std::fs::read(root().join("guests").join(guest["jam"].as_str().unwrap())).unwrap();
        for case in guest["cases"].as_array().unwrap().iter().filter(|c| c["name"] != "default") {
            let args = decode_hex(case["args"].as_str().unwrap()).unwrap();
            let what = format!("{} {}", guest["name"], case["name"]);
            on_every_engine(|engine| {
                let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Block) };
                let module = Engine::new(config).load(&blob).unwrap();
                let mut instance = module.instantiate_standard(&args, 0).unwrap();
                instance.set_gas(1 << 40);
                let (exit, trace) = record_run(&mut instance, &blob, &args, &mut GuestHost::default());
                assert_eq!(exit, Exit::Halt, "{what}");
                assert_eq!(trace.calls.len() as u64, case["host_calls"].as_u64().unwrap(), "{what} host calls");
                let used = (1 << 40) - trace.end.as_ref().unwrap().1.gas;
                assert_eq!(used, case["gas_naive"].as_i64().unwrap(), "{what} gas");
                let text = trace.to_jip6();
                let parsed = parse_traces(&text).unwrap().remove(0);
                for other in EngineKind::ALL {
                    let engine = Engine::new(Config { engine: other, ..config });
                    replay_with(&parsed, &engine).unwrap_or_else(|m| panic!("{what} on the {other}: {m}"));
                }
                if let Some(call) = parsed.calls.iter().position(|c| !c.set_regs.is_empty()) {
                    let mut tampered = parsed.clone();
                    tampered.calls[call].set_regs[0].1 ^= 1;
                    assert!(replay_with(&tampered, &Engine::new(config)).is_err(), "{what}: a changed host result");
                    recorded_calls += 1;
                }
            });
        }
    }
    assert!(recorded_calls >= 4, "guests with host calls: {recorded_calls}");
}
