//! Resources under load, both engines:
//!
//! - **threads**: short runs (the `small` cases of `sieve` and `hashtable`,
//!   the kind of invocation a node runs all day) on 1, 2 and all cores, each
//!   thread instantiating from one shared module (`instantiate_standard`)
//!   or from one snapshot of its initialised instance (`instantiate_from`):
//!   runs per second, the 2-thread speed-up and the recompiler against the
//!   interpreter;
//! - **idle instances**: 1,000, 10,000 and 17,000 live instances of
//!   `hashtable`, each run once, in a fresh child process per engine and
//!   count: resident memory and kernel mappings per instance, the time to
//!   instantiate, how many could not be created (past the windows' budget
//!   of kernel mappings, two per window), and then the time per run of a
//!   fresh instance beside them (instantiation included), while the idle
//!   windows give their mappings to the running ones.
//!
//! ```sh
//! cargo bench -p javm-benches --bench scaling            # both parts
//! cargo bench -p javm-benches --bench scaling -- idle    # one part
//! ```
//!
//! Prints markdown tables and writes them to `target/scaling.md`. Goals
//! (reported, not asserted): 2 threads at least 1.8x one; the recompiler at
//! least 2x the interpreter on these runs.

use javm::{EngineKind, Exit, GasModel, Instance, Module};
use javm_benches::{guests, rss_bytes, run};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// How long each thread runs per measurement.
const WINDOW: Duration = Duration::from_millis(400);
/// Rounds per row, each measuring every thread count in turn; medians are
/// reported (and of the ratios, each taken within a round, so that a
/// machine slowing down between rounds does not skew them).
const REPEATS: usize = 7;
/// Environment variable selecting the idle-instance child mode.
const IDLE_CHILD: &str = "JAVM_BENCH_IDLE_CHILD";
/// Runs of a fresh instance timed beside the idle instances.
const RUNS_BESIDE: u32 = 2_000;

/// Where each run starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Module,
    Snapshot,
}

impl Start {
    fn name(self) -> &'static str {
        match self {
            Start::Module => "module",
            Start::Snapshot => "snapshot",
        }
    }
}

/// Runs per second over `threads` threads for `WINDOW`.
fn runs_per_second(module: &Module, args: &[u8], start: Start, threads: usize) -> f64 {
    let origin = {
        let mut instance = run::instance(module, args);
        instance.snapshot()
    };
    let runs: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let origin = origin.clone();
                s.spawn(move || {
                    let begin = Instant::now();
                    let mut runs = 0u64;
                    while begin.elapsed() < WINDOW {
                        let mut instance = match start {
                            Start::Module => run::instance(module, args),
                            Start::Snapshot => module.instantiate_from(&origin).expect("instantiates"),
                        };
                        let exit = instance.run_with(&mut run::BenchHost::default());
                        assert_eq!(exit, Exit::Halt);
                        runs += 1;
                    }
                    runs
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    runs as f64 / WINDOW.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn threads_table(out: &mut String) {
    let all = guests::load();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, 2];
    if cores > 2 {
        counts.push(cores);
    }
    let _ = writeln!(
        out,
        "### Short runs across threads (runs/s, median of {REPEATS} rounds × {} ms; ratios: median of the rounds')\n",
        WINDOW.as_millis()
    );
    let mut header = "| guest, start | engine |".to_string();
    for n in &counts {
        let _ = write!(header, " {n} thread(s) |");
    }
    let _ = writeln!(out, "{header} 2 / 1 threads | recompiler / interpreter (1 thread) |");
    let _ = writeln!(out, "|---|---|{}---:|---:|", "---:|".repeat(counts.len()));
    for name in ["sieve", "hashtable"] {
        let guest = guests::named(&all, name);
        let args = &guest.case("small").args;
        for start in [Start::Module, Start::Snapshot] {
            let mut one_thread = [0.0; 2];
            for (e, engine) in EngineKind::ALL.into_iter().enumerate() {
                let module = run::load(engine, GasModel::Pipeline, &guest.jam).expect("loads");
                let rounds: Vec<Vec<f64>> = (0..REPEATS)
                    .map(|_| counts.iter().map(|&n| runs_per_second(&module, args, start, n)).collect())
                    .collect();
                let rates: Vec<f64> =
                    (0..counts.len()).map(|k| median(rounds.iter().map(|round| round[k]).collect())).collect();
                one_thread[e] = rates[0];
                let mut row = format!("| {name} small, {} | {engine} |", start.name());
                for r in &rates {
                    let _ = write!(row, " {r:.0} |");
                }
                let speedup = median(rounds.iter().map(|round| round[1] / round[0]).collect());
                let versus = if e == 1 { format!("{:.2}×", one_thread[1] / one_thread[0]) } else { "".into() };
                let _ = writeln!(out, "{row} {speedup:.2}× | {versus} |");
            }
        }
    }
}

/// Kernel mappings of this process.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

/// The idle-instance child: `count` instances of hashtable's `small` case,
/// each run once and kept; prints instantiate µs per instance, RSS bytes
/// per instance, mappings per instance, failed instantiations and µs per
/// run of a fresh instance beside them, then the first error, if any.
fn idle_child(engine: EngineKind, count: usize) {
    let all = guests::load();
    let guest = guests::named(&all, "hashtable");
    let args = &guest.case("small").args;
    let module = run::load(engine, GasModel::Pipeline, &guest.jam).expect("loads");
    // Warm the pools with one instance, then measure from here.
    drop(run::run_once(&module, args));
    let (rss, maps) = (rss_bytes(), mappings());
    let mut kept: Vec<Instance> = Vec::with_capacity(count);
    let mut instantiate = Duration::ZERO;
    let (mut failed, mut first_error) = (0, None);
    for _ in 0..count {
        let begin = Instant::now();
        let made = module.instantiate_standard(args, 0);
        instantiate += begin.elapsed();
        match made {
            Ok(mut instance) => {
                instance.set_gas(run::GAS);
                assert_eq!(instance.run_with(&mut run::BenchHost::default()), Exit::Halt);
                kept.push(instance);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let per = |now: u64, before: u64| now.saturating_sub(before) as f64 / count as f64;
    let (rss_per, maps_per) = (per(rss_bytes(), rss), per(mappings() as u64, maps as u64));
    // Room for the fresh instances' windows.
    drop(kept.pop());
    let beside = run::checked_ms_per_run(&module, guest.case("small"), RUNS_BESIDE) * 1e3;
    println!("{} {rss_per} {maps_per} {failed} {beside}", instantiate.as_secs_f64() * 1e6 / count as f64);
    if let Some(e) = first_error {
        println!("{e}");
    }
}

fn idle_table(out: &mut String) {
    let exe = std::env::current_exe().expect("current exe");
    let _ = writeln!(out, "\n### Idle live instances (hashtable small, each run once; a fresh process per row)\n");
    let _ = writeln!(
        out,
        "| engine | instances | instantiate | RSS / instance | mappings / instance | failed | a run beside them |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let mut errors = Vec::new();
    for engine in EngineKind::ALL {
        for count in [1_000usize, 10_000, 17_000] {
            let child = std::process::Command::new(&exe).env(IDLE_CHILD, format!("{engine}:{count}")).output();
            let text = match &child {
                Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
                Ok(o) => format!("error: {}", String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => format!("error: {e}"),
            };
            let (numbers, error) = text.split_once('\n').unwrap_or((&text, ""));
            let v: Vec<f64> = numbers.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            match v[..] {
                [us, rss, maps, failed, beside] => {
                    let _ = writeln!(
                        out,
                        "| {engine} | {count} | {us:.1} µs | {:.1} KiB | {maps:.2} | {failed} | {beside:.1} µs |",
                        rss / 1024.0
                    );
                    if !error.trim().is_empty() {
                        errors.push(format!("{engine}, {count}: {}", error.trim()));
                    }
                }
                _ => {
                    let _ = writeln!(out, "| {engine} | {count} | n/a: {} | | | | |", text.trim());
                }
            }
        }
    }
    for e in errors {
        let _ = writeln!(out, "\nFirst failure ({e})");
    }
}

fn main() {
    if let Ok(spec) = std::env::var(IDLE_CHILD) {
        let (engine, count) = spec.split_once(':').expect("engine:count");
        let engine =
            if engine == EngineKind::Recompiler.to_string() { EngineKind::Recompiler } else { EngineKind::Interpreter };
        idle_child(engine, count.parse().expect("a count"));
        return;
    }
    // `cargo bench` passes `--bench`; other arguments name the parts to run.
    let parts: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let runs = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let mut out = String::new();
    if runs("threads") {
        threads_table(&mut out);
    }
    if runs("idle") {
        idle_table(&mut out);
    }
    print!("{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaling.md");
    if let Err(e) = std::fs::write(&path, &out) {
        eprintln!("scaling: cannot write {}: {e}", path.display());
    }
}
