//! javm against PolkaVM 0.37 and native code on the same guest blobs.
//!
//! `cargo bench -p javm-benches --bench compare` measures every figure in one
//! run with criterion, then writes `<target>/compare.md` (ratio tables, the
//! goals, the raw samples) and prints it. `JAVM_BENCH_QUICK=1` takes fewer,
//! shorter samples. Criterion's filter works (`-- exec`), and rows that were
//! not measured, or whose engine does not load (the javm recompiler before
//! it lands), read `n/a`.
//!
//! Every guest's output (and gas, on the VMs) is checked against
//! `guests/expected.json` before it is timed; a mismatch panics. What each
//! figure times is written into the report (see `WHAT_IS_TIMED`).

#[path = "../../support/polkavm.rs"]
mod pvm;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use javm::{EngineKind, Exit, GasModel, Module};
use javm_benches::guests::{self, Guest};
use javm_benches::images::{self, Touch};
use javm_benches::stats::Recorder;
use javm_benches::{large, native, rss_bytes, run};
use javm_cap::image::Image;
use javm_cap::program::{CodeBlob, Decode, Profile, Program, StandardProgram};
use pvm::{Backend, Costs, Pvm};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

static REC: Recorder = Recorder::new();

/// Who runs a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Javm(EngineKind),
    Pvm(Backend),
}

const VMS: [Who; 5] = [
    Who::Javm(EngineKind::Interpreter),
    Who::Javm(EngineKind::Recompiler),
    Who::Pvm(Backend::Interpreter),
    Who::Pvm(Backend::CompilerGeneric),
    Who::Pvm(Backend::CompilerLinux),
];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Javm(EngineKind::Interpreter) => "javm-interp",
            Who::Javm(EngineKind::Recompiler) => "javm-jit",
            Who::Pvm(b) => b.name(),
        }
    }
}

/// A gas model as both VMs call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gas {
    /// javm block model, PolkaVM naive cost model.
    Naive,
    /// javm pipeline model, PolkaVM Full L2-hit model.
    L2,
}

impl Gas {
    fn javm(self) -> GasModel {
        match self {
            Gas::Naive => GasModel::Block,
            Gas::L2 => GasModel::Pipeline,
        }
    }
    fn pvm(self) -> Costs {
        match self {
            Gas::Naive => Costs::Naive,
            Gas::L2 => Costs::FullL2Hit,
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Gas::Naive => "naive",
            Gas::L2 => "l2",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Gas::Naive => "javm block model / PolkaVM naive cost model",
            Gas::L2 => "javm pipeline model / PolkaVM Full(L2Hit) cost model",
        }
    }
    fn expected(self, case: &guests::Case) -> i64 {
        match self {
            Gas::Naive => case.gas_naive,
            Gas::L2 => case.gas_l2hit,
        }
    }
}

struct Settings {
    quick: bool,
    warm_up: Duration,
    measurement: Duration,
    samples: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("JAVM_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Settings {
                quick,
                warm_up: Duration::from_millis(150),
                measurement: Duration::from_millis(400),
                samples: 10,
            }
        } else {
            Settings { quick, warm_up: Duration::from_millis(800), measurement: Duration::from_secs(2), samples: 15 }
        }
    }

    fn group<'a>(&self, c: &'a mut Criterion, name: &str, long: bool) -> BenchmarkGroup<'a, WallTime> {
        let mut g = c.benchmark_group(name);
        g.warm_up_time(self.warm_up).measurement_time(self.measurement);
        if long {
            // Runs of 1 ms to 1 s: the same iteration count in every sample.
            g.sampling_mode(SamplingMode::Flat).sample_size(10);
        } else {
            g.sample_size(self.samples);
        }
        g
    }
}

/// Benchmarks `routine` (which returns the time of `iters` iterations) as
/// `group/id` and records every sample for the report.
fn measure(g: &mut BenchmarkGroup<'_, WallTime>, group: &str, id: &str, mut routine: impl FnMut(u64) -> Duration) {
    let key = format!("{group}/{id}");
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let total = routine(iters);
            REC.record(&key, iters, total);
            total
        })
    });
}

/// Like [`measure`], but `setup` runs once, lazily (only when criterion's
/// filter selects the benchmark), and returns the routine.
fn measure_lazy<R: FnMut(u64) -> Duration>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &str,
    id: &str,
    setup: impl FnOnce() -> R,
) {
    let mut setup = Some(setup);
    let mut routine: Option<R> = None;
    measure(g, group, id, |iters| {
        let r = routine.get_or_insert_with(|| (setup.take().expect("set up once"))());
        r(iters)
    });
}

/// Time `iters` calls of `f`, each timed alone (for routines of
/// microseconds and up whose results must be dropped untimed).
fn each(iters: u64, mut f: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| f()).sum()
}

/// The PolkaVM engines that could be created (the Linux sandbox needs
/// kernel features a container may lack).
struct Engines {
    pvm: Vec<(Backend, Result<Pvm, String>)>,
    jit_error: Option<String>,
}

impl Engines {
    fn new() -> Engines {
        let pvm = Backend::ALL.iter().map(|&b| (b, Pvm::new(b))).collect();
        let trivial = images::trivial_program();
        let jit_error =
            run::load(EngineKind::Recompiler, GasModel::Pipeline, &trivial.to_bytes()).err().map(|e| e.to_string());
        Engines { pvm, jit_error }
    }

    fn pvm(&self, backend: Backend) -> Result<&Pvm, String> {
        match &self.pvm.iter().find(|(b, _)| *b == backend).expect("every backend").1 {
            Ok(p) => Ok(p),
            Err(e) => Err(e.clone()),
        }
    }

    fn gas_ok(&self, gas: Gas) -> Result<(), String> {
        if gas == Gas::L2 && !pvm::full_model_supported() {
            return Err("PolkaVM's Full cost model needs AVX2".into());
        }
        Ok(())
    }
}

/// A module of either VM.
enum Loaded {
    Javm(Module),
    Pvm(polkavm::Module),
}

fn load_guest(engines: &Engines, who: Who, gas: Gas, guest: &Guest) -> Result<Loaded, String> {
    match who {
        Who::Javm(kind) => run::load(kind, gas.javm(), &guest.jam).map(Loaded::Javm).map_err(|e| e.to_string()),
        Who::Pvm(b) => {
            engines.gas_ok(gas)?;
            engines.pvm(b)?.load(&guest.polkavm, gas.pvm()).map(Loaded::Pvm)
        }
    }
}

/// Runs `case` once on `loaded` and panics unless output, gas and host
/// calls are the expected ones.
fn verify(loaded: &Loaded, who: Who, gas: Gas, guest: &Guest, case: &guests::Case) {
    let (output, gas_used, calls) = match loaded {
        Loaded::Javm(m) => {
            let o = run::run_once(m, &case.args).unwrap_or_else(|e| panic!("{} on {}: {e}", guest.name, who.name()));
            (o.output, o.gas_used, o.host_calls)
        }
        Loaded::Pvm(m) => {
            let o = pvm::run_once(m, &case.args).unwrap_or_else(|e| panic!("{} on {}: {e}", guest.name, who.name()));
            (o.output, o.gas_used, o.host_calls)
        }
    };
    let what = format!("{} {} on {} ({:?})", guest.name, case.name, who.name(), gas);
    assert_eq!(output, case.output, "WRONG OUTPUT: {what}");
    assert_eq!(gas_used, gas.expected(case), "WRONG GAS: {what}");
    assert_eq!(calls, case.host_calls, "WRONG HOST CALL COUNT: {what}");
}

/// A routine timing `iters` runs of `args` with only the run timed: javm
/// gets a fresh instance per run (untimed), PolkaVM one instance reset per
/// run (untimed).
fn run_routine(loaded: Loaded, args: Vec<u8>) -> Box<dyn FnMut(u64) -> Duration> {
    match loaded {
        Loaded::Javm(module) => Box::new(move |iters| run::time_runs(&module, &args, iters)),
        Loaded::Pvm(module) => {
            let mut instance = module.instantiate().expect("a PolkaVM instance");
            Box::new(move |iters| {
                each(iters, || {
                    pvm::prepare(&mut instance, &args).expect("prepare");
                    let start = Instant::now();
                    pvm::run(&mut instance).expect("a halt");
                    start.elapsed()
                })
            })
        }
    }
}

fn note_skip(skipped: &mut BTreeMap<String, String>, key: String, why: String) {
    eprintln!("compare: {key}: n/a ({why})");
    skipped.insert(key, why);
}

/// Execution of the default workloads.
fn execution(
    c: &mut Criterion,
    s: &Settings,
    engines: &Engines,
    all: &[Guest],
    skipped: &mut BTreeMap<String, String>,
) {
    let mut g = s.group(c, "exec", true);
    for guest in all {
        let case = guest.case("default").clone();
        let entry = native::entry(&guest.name).expect("a native build of every guest");
        let args = case.args.clone();
        let name = guest.name.clone();
        measure_lazy(&mut g, "exec", &format!("{}/native", guest.name), move || {
            assert_eq!(native::run(entry, &case.args), case.output, "WRONG OUTPUT: {name} native");
            move |iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(native::run(entry, black_box(&args)));
                }
                start.elapsed()
            }
        });
    }
    g.finish();
    for gas in [Gas::L2, Gas::Naive] {
        let group = format!("exec-{}", gas.tag());
        let mut g = s.group(c, &group, true);
        for guest in all {
            for who in VMS {
                let id = format!("{}/{}", guest.name, who.name());
                let loaded = match load_guest(engines, who, gas, guest) {
                    Ok(l) => l,
                    Err(e) => {
                        note_skip(skipped, format!("{group}/{id}"), e);
                        continue;
                    }
                };
                let case = guest.case("default").clone();
                let guest = guest.clone();
                measure_lazy(&mut g, &group, &id, move || {
                    verify(&loaded, who, gas, &guest, &case);
                    run_routine(loaded, case.args)
                });
            }
        }
        g.finish();
    }
}

/// Blob to runnable module, per guest, under the pipeline / Full model.
fn compile(c: &mut Criterion, s: &Settings, engines: &Engines, all: &[Guest], skipped: &mut BTreeMap<String, String>) {
    let group = "compile";
    let mut g = s.group(c, group, false);
    for guest in all {
        for who in VMS {
            let id = format!("{}/{}", guest.name, who.name());
            if let Err(e) = load_guest(engines, who, Gas::L2, guest) {
                note_skip(skipped, format!("{group}/{id}"), e);
                continue;
            }
            match who {
                Who::Javm(kind) => {
                    let compilations: &[(&str, javm::Compilation)] = match kind {
                        EngineKind::Interpreter => &[("", javm::Compilation::Eager)],
                        EngineKind::Recompiler => {
                            &[("", javm::Compilation::default()), ("-eager", javm::Compilation::Eager)]
                        }
                    };
                    for &(tag, compilation) in compilations {
                        let engine = run::uncached_engine(kind, GasModel::Pipeline).with_compilation(compilation);
                        let jam = guest.jam.clone();
                        measure(&mut g, group, &format!("{id}{tag}"), move |iters| {
                            each(iters, || {
                                let start = Instant::now();
                                let module = engine.load(black_box(&jam)).expect("load");
                                let t = start.elapsed();
                                drop(module);
                                t
                            })
                        });
                    }
                }
                Who::Pvm(b) => {
                    let p = engines.pvm(b).expect("checked");
                    let blob = guest.polkavm.clone();
                    measure(&mut g, group, &id, move |iters| {
                        each(iters, || {
                            let start = Instant::now();
                            let module = p.load(black_box(&blob), Costs::FullL2Hit).expect("load");
                            let t = start.elapsed();
                            drop(module);
                            t
                        })
                    });
                }
            }
        }
    }
    g.finish();
}

/// Size of the generated program's code.
const LARGE_CODE: usize = 256 << 10;

/// Times `engine.load_blob(blob)`; dropping the module is not timed.
fn measure_load_blob(g: &mut BenchmarkGroup<'_, WallTime>, group: &str, id: &str, engine: javm::Engine, blob: Vec<u8>) {
    measure(g, group, id, move |iters| {
        each(iters, || {
            let start = Instant::now();
            let m = engine.load_blob(black_box(&blob)).expect("loads");
            let t = start.elapsed();
            drop(m);
            t
        })
    });
}

/// Decode and gas cost model on a large program.
fn decode_large(
    c: &mut Criterion,
    s: &Settings,
    engines: &Engines,
    all: &[Guest],
    skipped: &mut BTreeMap<String, String>,
) {
    let group = "large";
    let blob = large::code_blob(all, LARGE_CODE);
    let mut g = s.group(c, group, false);
    for (id, model, decode) in [
        ("decode-block", GasModel::Block, Decode::Eager),
        ("decode-pipeline", GasModel::Pipeline, Decode::Eager),
        ("decode-lazy", GasModel::Block, Decode::Lazy),
    ] {
        let blob = blob.clone();
        measure(&mut g, group, id, move |iters| {
            each(iters, || {
                let start = Instant::now();
                let parsed = CodeBlob::parse(black_box(&blob)).expect("parses");
                let p = Program::with_decode(parsed, Profile::P8, model, decode).expect("decodes");
                let t = start.elapsed();
                drop(p);
                t
            })
        });
    }
    // What a load would add if it priced every block, as a run prices the
    // blocks it reaches.
    let priced_blob = blob.clone();
    measure(&mut g, group, "price-pipeline", move |iters| {
        each(iters, || {
            let start = Instant::now();
            let p = Program::from_blob(black_box(&priced_blob), Profile::P8, GasModel::Pipeline).expect("decodes");
            black_box(p.blocks_with_costs().map(|(_, cost)| u64::from(cost)).sum::<u64>());
            let t = start.elapsed();
            drop(p);
            t
        })
    });
    let engine_ok = |kind| {
        javm::Engine::new(run::config(kind, GasModel::Pipeline)).load_blob(&blob).map(|_| ()).map_err(|e| e.to_string())
    };
    for kind in [EngineKind::Interpreter, EngineKind::Recompiler] {
        for model in [GasModel::Block, GasModel::Pipeline] {
            let id = format!("{}-{}", Who::Javm(kind).name(), model.name());
            if let Err(e) = engine_ok(kind) {
                note_skip(skipped, format!("{group}/{id}"), e);
                continue;
            }
            measure_load_blob(&mut g, group, &id, run::uncached_engine(kind, model), blob.clone());
        }
    }
    // The recompiler compiling the whole program at load (a lazy load, the
    // default, compiles nothing yet).
    for model in [GasModel::Block, GasModel::Pipeline] {
        let id = format!("javm-jit-eager-{}", model.name());
        if let Err(e) = engine_ok(EngineKind::Recompiler) {
            note_skip(skipped, format!("{group}/{id}"), e);
            continue;
        }
        let engine = run::uncached_engine(EngineKind::Recompiler, model).with_compilation(javm::Compilation::Eager);
        measure_load_blob(&mut g, group, &id, engine, blob.clone());
    }
    // A load of bytes the engine has loaded before: the module cache's hit
    // (hashing the bytes, one lookup).
    for kind in [EngineKind::Interpreter, EngineKind::Recompiler] {
        let id = format!("{}-cache-hit", Who::Javm(kind).name());
        if let Err(e) = engine_ok(kind) {
            note_skip(skipped, format!("{group}/{id}"), e);
            continue;
        }
        let engine = javm::Engine::new(run::config(kind, GasModel::Pipeline));
        engine.load_blob(&blob).expect("loads");
        measure_load_blob(&mut g, group, &id, engine, blob.clone());
    }
    // A load after a process restart over a warmed persistent cache: an
    // engine without an in-memory cache (a new engine's is empty) finds the
    // code on disk (decode, file checks, one copy of the code, no codegen).
    let id = "javm-jit-disk-hit";
    match engine_ok(EngineKind::Recompiler) {
        Err(e) => note_skip(skipped, format!("{group}/{id}"), e),
        Ok(()) => {
            let blob = blob.clone();
            measure_lazy(&mut g, group, id, move || {
                let dir = report::target_dir().join("bench-disk-cache");
                let _ = std::fs::remove_dir_all(&dir);
                let engine = run::uncached_engine(EngineKind::Recompiler, GasModel::Pipeline)
                    .with_disk_cache(&dir)
                    .expect("a cache directory");
                engine.load_blob(&blob).expect("loads");
                move |iters| {
                    let t = each(iters, || {
                        let start = Instant::now();
                        let m = engine.load_blob(black_box(&blob)).expect("loads");
                        let t = start.elapsed();
                        drop(m);
                        t
                    });
                    let stats = engine.disk_cache_stats().expect("a disk cache");
                    assert_eq!(stats.compiles(), 1, "every measured load is a disk hit: {stats:?}");
                    t
                }
            });
        }
    }
    let program = javm_cap::program::StandardProgram { code: blob.clone(), stack_size: 4096, ..Default::default() };
    // A load named by the caller's hash (a JAM node's code hash): a hit is
    // one lookup, no bytes read.
    for kind in [EngineKind::Interpreter, EngineKind::Recompiler] {
        let id = format!("{}-hash-hit", Who::Javm(kind).name());
        let engine = javm::Engine::new(run::config(kind, GasModel::Pipeline));
        let bytes = program.to_bytes();
        if let Err(e) = engine.load_by_hash([1; 32], || &bytes) {
            note_skip(skipped, format!("{group}/{id}"), e.to_string());
            continue;
        }
        measure(&mut g, group, &id, move |iters| {
            each(iters, || {
                let start = Instant::now();
                let m = engine.load_by_hash(black_box([1; 32]), || &bytes).expect("loads");
                let t = start.elapsed();
                drop(m);
                t
            })
        });
    }
    for b in [Backend::Interpreter, Backend::CompilerLinux] {
        for gas in [Gas::Naive, Gas::L2] {
            let id = format!("{}-{}", b.name(), gas.tag());
            let p = match engines.gas_ok(gas).and_then(|_| engines.pvm(b)) {
                Ok(p) => p,
                Err(e) => {
                    note_skip(skipped, format!("{group}/{id}"), e);
                    continue;
                }
            };
            if let Err(e) = p.load_standard(&program, gas.pvm()) {
                note_skip(skipped, format!("{group}/{id}"), e);
                continue;
            }
            let program = program.clone();
            measure(&mut g, group, &id, move |iters| {
                each(iters, || {
                    let start = Instant::now();
                    let m = p.load_standard(black_box(&program), gas.pvm()).expect("loads");
                    let t = start.elapsed();
                    drop(m);
                    t
                })
            });
        }
    }
    g.finish();
}

/// Gas the tiered recompiler interprets first in the JIP-6 replay: about
/// ten of its invocations (some 4,300 instructions each).
const JIP6_TIER_UP: u64 = 50_000;

/// The JIP-6 trace of a real service (a 105 KB-code program, six host calls)
/// replayed whole — load, instantiate, run, every host call — on each
/// engine: cold (an engine without a module cache, so the program is
/// decoded and compiled each time, as every invocation of a node without a
/// cache pays) and warm (through the module cache); the recompiler
/// compiling lazily (the default), the whole program at load, and tiering
/// up from the interpreter.
fn cold_trace(c: &mut Criterion, s: &Settings, engines: &Engines, skipped: &mut BTreeMap<String, String>) {
    use javm::harness::trace::{parse_traces, replay_with};
    let group = "cold";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/vectors/jip6/test-service-accumulate.log");
    let traces = match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| parse_traces(&t)) {
        Ok(traces) if !traces.is_empty() => traces,
        Ok(_) => return note_skip(skipped, format!("{group}/jip6"), "no trace in the fixture".into()),
        Err(e) => return note_skip(skipped, format!("{group}/jip6"), e),
    };
    let trace = traces[0].clone();
    let mut g = s.group(c, group, false);
    let runs = [
        (EngineKind::Interpreter, "", javm::Compilation::default(), 0),
        (EngineKind::Recompiler, "", javm::Compilation::default(), 0),
        (EngineKind::Recompiler, "-eager", javm::Compilation::Eager, 0),
        (EngineKind::Recompiler, "-tiered", javm::Compilation::default(), JIP6_TIER_UP),
    ];
    for (kind, compiled, compilation, tier_up) in runs {
        let config = javm::Config { engine: kind, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
        for (tag, capacity) in [("cold", 0), ("warm", javm::DEFAULT_CACHE_BYTES)] {
            let id = format!("jip6-{}{compiled}-{tag}", Who::Javm(kind).name());
            if kind == EngineKind::Recompiler && engines.jit_error.is_some() {
                note_skip(skipped, format!("{group}/{id}"), "no recompiler".into());
                continue;
            }
            let engine =
                javm::Engine::with_cache_capacity(config, capacity).with_compilation(compilation).with_tier_up(tier_up);
            if let Err(e) = replay_with(&trace, &engine) {
                note_skip(skipped, format!("{group}/{id}"), e.to_string());
                continue;
            }
            let trace = trace.clone();
            measure(&mut g, group, &id, move |iters| {
                each(iters, || {
                    let start = Instant::now();
                    replay_with(black_box(&trace), &engine).expect("replays");
                    start.elapsed()
                })
            });
        }
    }
    g.finish();
}

/// Compile + instantiate + run once, small arguments.
fn one_shot(c: &mut Criterion, s: &Settings, engines: &Engines, all: &[Guest], skipped: &mut BTreeMap<String, String>) {
    let group = "oneshot";
    let mut g = s.group(c, group, false);
    for guest in all {
        let case = guest.case("small").clone();
        for who in VMS {
            let id = format!("{}/{}", guest.name, who.name());
            let loaded = match load_guest(engines, who, Gas::L2, guest) {
                Ok(l) => l,
                Err(e) => {
                    note_skip(skipped, format!("{group}/{id}"), e);
                    continue;
                }
            };
            verify(&loaded, who, Gas::L2, guest, &case);
            drop(loaded);
            let case = case.clone();
            match who {
                Who::Javm(kind) => {
                    let jam = guest.jam.clone();
                    // One engine, as PolkaVM's side keeps one: without a
                    // module cache, so that every run loads afresh.
                    let engine = run::uncached_engine(kind, GasModel::Pipeline);
                    measure(&mut g, group, &id, move |iters| {
                        each(iters, || {
                            let start = Instant::now();
                            let module = engine.load(&jam).expect("load");
                            let out = run::run_once(&module, &case.args).expect("a halt");
                            let t = start.elapsed();
                            black_box(out);
                            t
                        })
                    });
                }
                Who::Pvm(b) => {
                    let p = engines.pvm(b).expect("checked");
                    let blob = guest.polkavm.clone();
                    measure(&mut g, group, &id, move |iters| {
                        each(iters, || {
                            let start = Instant::now();
                            let module = p.load(&blob, Costs::FullL2Hit).expect("load");
                            let out = pvm::run_once(&module, &case.args).expect("a halt");
                            let t = start.elapsed();
                            black_box(out);
                            t
                        })
                    });
                }
            }
        }
    }
    g.finish();
}

/// Host calls in the call-floor bench (the `hostcall` guest, no logging).
const HOST_CALLS: u32 = 100_000;

fn hostcall_args() -> Vec<u8> {
    [HOST_CALLS.to_le_bytes(), 0u32.to_le_bytes()].concat()
}

/// Instantiate + trivial run; host-call round trips.
fn call_floor(
    c: &mut Criterion,
    s: &Settings,
    engines: &Engines,
    all: &[Guest],
    skipped: &mut BTreeMap<String, String>,
) {
    let group = "floor";
    let mut g = s.group(c, group, false);
    let trivial = images::trivial_program();
    let trivial_bytes = trivial.to_bytes();
    let image = images::image_of(&trivial, &[]);
    let archive = image.to_archive().expect("archive");
    for who in VMS {
        let id = format!("instantiate-run/{}", who.name());
        match who {
            Who::Javm(kind) => {
                let module = match run::load(kind, GasModel::Pipeline, &trivial_bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        note_skip(skipped, format!("{group}/{id}"), e.to_string());
                        note_skip(skipped, format!("{group}/image-run/{}", who.name()), e.to_string());
                        note_skip(skipped, format!("{group}/archive-run/{}", who.name()), e.to_string());
                        continue;
                    }
                };
                assert_eq!(run::run_once(&module, &[]).expect("halts").output, Vec::<u8>::new());
                let m = module.clone();
                measure(&mut g, group, &id, move |iters| {
                    each(iters, || {
                        let start = Instant::now();
                        let mut instance = run::instance(&m, &[]);
                        let exit = instance.run();
                        let t = start.elapsed();
                        assert_eq!(exit, Exit::Halt);
                        t
                    })
                });
                let engine = javm::Engine::new(run::config(kind, GasModel::Pipeline));
                let from_image = engine.load_image(&image).expect("a module from the image");
                measure(&mut g, group, &format!("image-run/{}", who.name()), move |iters| {
                    each(iters, || {
                        let start = Instant::now();
                        let mut instance = from_image.instantiate_at(0).expect("instance");
                        instance.set_gas(run::GAS);
                        let exit = instance.run();
                        let t = start.elapsed();
                        assert_eq!(exit, Exit::Halt);
                        t
                    })
                });
                let bytes = archive.clone();
                measure(&mut g, group, &format!("archive-run/{}", who.name()), move |iters| {
                    each(iters, || {
                        let start = Instant::now();
                        let img = Image::from_archive(&bytes).expect("an image");
                        let module = engine.load_image(&img).expect("a module");
                        let mut instance = module.instantiate_at(0).expect("instance");
                        instance.set_gas(run::GAS);
                        let exit = instance.run();
                        let t = start.elapsed();
                        assert_eq!(exit, Exit::Halt);
                        t
                    })
                });
            }
            Who::Pvm(b) => {
                let module = match engines
                    .gas_ok(Gas::L2)
                    .and_then(|_| engines.pvm(b)?.load_standard(&trivial, Costs::FullL2Hit))
                {
                    Ok(m) => m,
                    Err(e) => {
                        note_skip(skipped, format!("{group}/{id}"), e);
                        continue;
                    }
                };
                pvm::run_once(&module, &[]).expect("halts");
                measure(&mut g, group, &id, move |iters| {
                    each(iters, || {
                        let start = Instant::now();
                        let mut instance = module.instantiate().expect("instance");
                        pvm::prepare(&mut instance, &[]).expect("prepare");
                        pvm::run(&mut instance).expect("halts");
                        let t = start.elapsed();
                        drop(instance);
                        t
                    })
                });
            }
        }
    }

    let hostcall = guests::named(all, "hostcall");
    let args = hostcall_args();
    let case = guests::Case {
        name: format!("{HOST_CALLS} calls"),
        args: args.clone(),
        output: {
            let entry = native::entry("hostcall").expect("native hostcall");
            native::run(entry, &args)
        },
        gas_naive: 0,
        gas_l2hit: 0,
        host_calls: u64::from(HOST_CALLS),
    };
    {
        let entry = native::entry("hostcall").expect("native hostcall");
        let args = args.clone();
        measure(&mut g, group, "hostcall/native", move |iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(native::run(entry, black_box(&args)));
            }
            start.elapsed()
        });
    }
    for who in VMS {
        let id = format!("hostcall/{}", who.name());
        let loaded = match load_guest(engines, who, Gas::L2, hostcall) {
            Ok(l) => l,
            Err(e) => {
                note_skip(skipped, format!("{group}/{id}"), e);
                continue;
            }
        };
        // Output and call count checked; gas is not in expected.json for
        // these arguments.
        let outcome = match &loaded {
            Loaded::Javm(m) => run::run_once(m, &args).map(|o| (o.output, o.host_calls)),
            Loaded::Pvm(m) => pvm::run_once(m, &args).map(|o| (o.output, o.host_calls)),
        }
        .unwrap_or_else(|e| panic!("hostcall on {}: {e}", who.name()));
        assert_eq!(outcome, (case.output.clone(), case.host_calls), "WRONG OUTPUT: hostcall on {}", who.name());
        measure_lazy(&mut g, group, &id, || run_routine(loaded, args.clone()));
    }
    g.finish();
}

/// Pages written by the copy-on-write bench.
const TOUCH_PAGES: u16 = 1024;

/// First-write cost per page, RSS per instance, cap root after a run.
fn memory(c: &mut Criterion, s: &Settings, engines: &Engines, all: &[Guest], skipped: &mut BTreeMap<String, String>) {
    let group = "memory";
    let mut g = s.group(c, group, true);
    for touch in [Touch::Data, Touch::Heap] {
        let program = images::touch_program(TOUCH_PAGES, touch);
        let kind = match touch {
            Touch::Data => "data",
            Touch::Heap => "heap",
        };
        for who in VMS {
            let cold = format!("touch-{kind}-cold/{}", who.name());
            let warm = format!("touch-{kind}-warm/{}", who.name());
            match who {
                Who::Javm(engine) => {
                    let module = match run::load(engine, GasModel::Pipeline, &program.to_bytes()) {
                        Ok(m) => m,
                        Err(e) => {
                            note_skip(skipped, format!("{group}/{cold}"), e.to_string());
                            note_skip(skipped, format!("{group}/{warm}"), e.to_string());
                            continue;
                        }
                    };
                    run::run_once(&module, &[]).expect("touch halts");
                    let m = module.clone();
                    measure(&mut g, group, &cold, move |iters| run::time_runs(&m, &[], iters));
                    let mut instance = run::instance(&module, &[]);
                    assert_eq!(instance.run(), Exit::Halt);
                    measure(&mut g, group, &warm, move |iters| {
                        each(iters, || {
                            instance.set_pc(0);
                            for (i, &r) in javm_cap::program::standard::initial_registers(0).iter().enumerate() {
                                instance.set_reg(i, r);
                            }
                            instance.set_gas(run::GAS);
                            let start = Instant::now();
                            let exit = instance.run();
                            let t = start.elapsed();
                            assert_eq!(exit, Exit::Halt);
                            t
                        })
                    });
                }
                Who::Pvm(b) => {
                    let module = match engines
                        .gas_ok(Gas::L2)
                        .and_then(|_| engines.pvm(b)?.load_standard(&program, Costs::FullL2Hit))
                    {
                        Ok(m) => m,
                        Err(e) => {
                            note_skip(skipped, format!("{group}/{cold}"), e.clone());
                            note_skip(skipped, format!("{group}/{warm}"), e);
                            continue;
                        }
                    };
                    pvm::run_once(&module, &[]).expect("touch halts");
                    measure(&mut g, group, &cold, run_routine(Loaded::Pvm(module.clone()), Vec::new()));
                    let mut instance = module.instantiate().expect("instance");
                    pvm::prepare(&mut instance, &[]).expect("prepare");
                    pvm::run(&mut instance).expect("halts");
                    measure(&mut g, group, &warm, move |iters| {
                        each(iters, || {
                            instance.set_reg(polkavm::Reg::RA, pvm::HALT_ADDR);
                            instance.set_gas(pvm::GAS);
                            instance.set_next_program_counter(polkavm::ProgramCounter(0));
                            let start = Instant::now();
                            pvm::run(&mut instance).expect("halts");
                            start.elapsed()
                        })
                    });
                }
            }
        }
    }

    // The cap root after a run that dirtied memory.
    for (name, args) in
        [("sort", 131_072u32.to_le_bytes().to_vec()), ("memops", [1u32, 1 << 20].map(u32::to_le_bytes).concat())]
    {
        let guest = guests::named(all, name);
        let module = run::load(EngineKind::Interpreter, GasModel::Pipeline, &guest.jam).expect("load");
        let mut probe = run::instance(&module, &args);
        assert_eq!(probe.run_with(&mut run::BenchHost::default()), Exit::Halt);
        let dirty: usize = probe.address_space().mappings().iter().map(|m| m.cap.dirty_pages().count()).sum();
        REC.record_value(&format!("{group}/root-dirty-pages/{name}"), dirty as f64);
        measure(&mut g, group, &format!("root-after-run/{name}"), move |iters| {
            each(iters, || {
                let mut instance = run::instance(&module, &args);
                assert_eq!(instance.run_with(&mut run::BenchHost::default()), Exit::Halt);
                let start = Instant::now();
                black_box(instance.memory_root());
                start.elapsed()
            })
        });
    }
    g.finish();
    let _ = s;
    rss();
}

/// Instances kept alive for the RSS figures.
const RSS_INSTANCES: usize = 100;

/// Environment variable selecting the RSS child mode (an engine name).
const RSS_CHILD: &str = "JAVM_BENCH_RSS_CHILD";

/// RSS per instance, measured in a fresh child process per engine (this
/// process's allocator holds memory freed by earlier benches, which would
/// hide the growth).
fn rss() {
    let exe = std::env::current_exe().expect("current exe");
    for who in ["javm-interp", "javm-jit", "pvm-interp", "pvm-jit-generic"] {
        let out = std::process::Command::new(&exe).env(RSS_CHILD, who).output();
        let text = match &out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => {
                eprintln!("compare: rss {who}: n/a ({})", String::from_utf8_lossy(&o.stderr).trim());
                continue;
            }
            Err(e) => {
                eprintln!("compare: rss {who}: n/a ({e})");
                continue;
            }
        };
        let values: Vec<f64> = text.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if let [idle, ran] = values[..] {
            REC.record_value(&format!("rss/idle/{who}"), idle);
            REC.record_value(&format!("rss/after-run/{who}"), ran);
        }
    }
}

/// The child side of [`rss`]: keeps [`RSS_INSTANCES`] instances of
/// `hashtable` alive and prints the RSS growth per instance, idle and after
/// one `small` run each.
fn rss_child(who: &str) -> Result<(), String> {
    let all = guests::load();
    let guest = guests::named(&all, "hashtable");
    let case = guest.case("small");
    let per = |before: u64, after: u64| after.saturating_sub(before) as f64 / RSS_INSTANCES as f64;
    let (idle, ran) = match who {
        "javm-interp" | "javm-jit" => {
            let kind = if who == "javm-jit" { EngineKind::Recompiler } else { EngineKind::Interpreter };
            let image = images::image_of(&StandardProgram::load(&guest.jam).map_err(|e| e.to_string())?, &case.args);
            let module = javm::Engine::new(run::config(kind, GasModel::Pipeline))
                .load_image(&image)
                .map_err(|e| e.to_string())?;
            let before = rss_bytes();
            let mut instances = (0..RSS_INSTANCES)
                .map(|_| module.instantiate_at(0).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let idle = rss_bytes();
            for instance in &mut instances {
                instance.set_gas(run::GAS);
                if instance.run_with(&mut run::BenchHost::default()) != Exit::Halt {
                    return Err("no halt".into());
                }
            }
            (per(before, idle), per(before, rss_bytes()))
        }
        _ => {
            let backend = Backend::ALL.into_iter().find(|b| b.name() == who).ok_or("unknown engine")?;
            let module = Pvm::new(backend)?.load(&guest.polkavm, Costs::FullL2Hit)?;
            let before = rss_bytes();
            let mut instances = (0..RSS_INSTANCES)
                .map(|_| module.instantiate().map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let idle = rss_bytes();
            for instance in &mut instances {
                pvm::prepare(instance, &case.args)?;
                pvm::run(instance)?;
            }
            (per(before, idle), per(before, rss_bytes()))
        }
    };
    println!("{idle} {ran}");
    Ok(())
}

fn main() {
    if let Ok(who) = std::env::var(RSS_CHILD) {
        if let Err(e) = rss_child(&who) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let settings = Settings::from_env();
    let all = guests::load();
    let engines = Engines::new();
    if let Some(e) = &engines.jit_error {
        eprintln!("compare: javm recompiler rows are n/a: {e}");
    }
    let mut skipped = BTreeMap::new();
    let mut c = Criterion::default()
        .warm_up_time(settings.warm_up)
        .measurement_time(settings.measurement)
        .sample_size(settings.samples)
        .without_plots()
        .configure_from_args();
    execution(&mut c, &settings, &engines, &all, &mut skipped);
    compile(&mut c, &settings, &engines, &all, &mut skipped);
    decode_large(&mut c, &settings, &engines, &all, &mut skipped);
    one_shot(&mut c, &settings, &engines, &all, &mut skipped);
    cold_trace(&mut c, &settings, &engines, &mut skipped);
    call_floor(&mut c, &settings, &engines, &all, &mut skipped);
    memory(&mut c, &settings, &engines, &all, &mut skipped);
    c.final_summary();

    let md = report::render(&settings, &engines, &all, &skipped);
    let path = report::target_dir().join("compare.md");
    std::fs::write(&path, &md).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("{md}");
    eprintln!("compare: wrote {}", path.display());
}

mod report;
