//! Many threads running instances of one shared module at once (the
//! recompiler's windows are pooled per module and its frames shared by the
//! process): every run's outcome equals a single-threaded run's, on both
//! engines alike.

use javm::harness::{decode_hex, encode_hex};
use javm::testing::GuestHost;
use javm::{Compilation, Config, Engine, EngineKind, Exit, GasModel, Module, Profile};
use serde_json::Value;
use std::path::Path;

const THREADS: usize = 4;
const RUNS: usize = 12;

/// Everything observable after a run: exit, pc, gas, registers, host calls,
/// output and memory root.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    exit: Exit,
    pc: u32,
    gas: i64,
    regs: [u64; 13],
    host_calls: u64,
    output: String,
    root: String,
}

fn run(module: &Module, args: &[u8]) -> Outcome {
    let mut instance = module.instantiate_standard(args, 0).unwrap();
    instance.set_gas(1 << 40);
    let mut host = GuestHost::default();
    let exit = instance.run_with(&mut host);
    let mut output = vec![0u8; instance.reg(8).min(1 << 20) as usize];
    let output = match instance.read_memory(instance.reg(7) as u32, &mut output) {
        Ok(()) => encode_hex(&output),
        Err(fault) => format!("{fault:?}"),
    };
    Outcome {
        exit,
        pc: instance.pc(),
        gas: instance.gas(),
        regs: *instance.regs(),
        host_calls: host.calls,
        output,
        root: encode_hex(&instance.memory_root()),
    }
}

/// `(guest, its small case's arguments)` for a few guests, host calls
/// (each a sync of the recompiler's window) among them.
fn cases() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    ["hostcall", "sort", "memops", "hashtable"]
        .iter()
        .map(|&name| {
            let guest = expected["guests"].as_array().unwrap().iter().find(|g| g["name"] == name).unwrap();
            let case = guest["cases"].as_array().unwrap().iter().find(|c| c["name"] == "small").unwrap();
            let blob = std::fs::read(dir.join(guest["jam"].as_str().unwrap())).unwrap();
            (name.to_owned(), blob, decode_hex(case["args"].as_str().unwrap()).unwrap())
        })
        .collect()
}

#[test]
fn threads_sharing_a_module_get_the_single_threaded_outcome() {
    for (name, blob, args) in cases() {
        let mut reference = None;
        for engine in EngineKind::ALL {
            let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
            let module = Engine::new(config).load(&blob).unwrap();
            let single = run(&module, &args);
            assert_eq!(single.exit, Exit::Halt, "{name} on {engine}");
            assert_eq!(single.host_calls > 0, name == "hostcall", "{name} on {engine}");
            std::thread::scope(|s| {
                let threads: Vec<_> = (0..THREADS)
                    .map(|_| s.spawn(|| (0..RUNS).map(|_| run(&module, &args)).collect::<Vec<_>>()))
                    .collect();
                for (t, thread) in threads.into_iter().enumerate() {
                    for (i, outcome) in thread.join().unwrap().into_iter().enumerate() {
                        assert_eq!(outcome, single, "{name} on {engine}, thread {t}, run {i}");
                    }
                }
            });
            match &reference {
                None => reference = Some(single),
                Some(first) => assert_eq!(&single, first, "{name}: {engine} against the interpreter"),
            }
        }
    }
}

/// The JIP-6 trace of a real service (its host calls read and write guest
/// memory, so the recompiler's window is synced and refreshed at each),
/// replayed from many threads through one engine: every replay matches the
/// trace, exit and state at each host call included.
#[test]
fn threads_replaying_one_trace_all_match_it() {
    use javm::harness::trace::{parse_traces, replay_with};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jip6/test-service-accumulate.log");
    let traces = parse_traces(&std::fs::read_to_string(path).unwrap()).unwrap();
    let trace = &traces[0];
    for engine in EngineKind::ALL {
        let config = Config { engine, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
        let shared = Engine::new(config);
        replay_with(trace, &shared).unwrap();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for i in 0..RUNS {
                        replay_with(trace, &shared).unwrap_or_else(|m| panic!("{engine}, replay {i}: {m:?}"));
                    }
                });
            }
        });
    }
}

/// Threads that start together on a module nothing of which is compiled
/// yet, compiling it block by block: they compile regions, patch the jumps
/// between them and fill jump-table entries while the others run that code,
/// and every run still ends as on the interpreter.
#[test]
fn threads_compiling_one_module_lazily_get_the_single_threaded_outcome() {
    for (name, blob, args) in cases() {
        let config = |engine| Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
        let expected = run(&Engine::new(config(EngineKind::Interpreter)).load(&blob).unwrap(), &args);
        for region in [1, 4] {
            let engine = Engine::new(config(EngineKind::Recompiler)).with_compilation(Compilation::Lazy { region });
            let module = engine.load(&blob).unwrap();
            let start = std::sync::Barrier::new(THREADS);
            std::thread::scope(|s| {
                let threads: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            (0..3).map(|_| run(&module, &args)).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for (t, thread) in threads.into_iter().enumerate() {
                    for (i, outcome) in thread.join().unwrap().into_iter().enumerate() {
                        assert_eq!(outcome, expected, "{name}, regions of {region}, thread {t}, run {i}");
                    }
                }
            });
        }
    }
}
