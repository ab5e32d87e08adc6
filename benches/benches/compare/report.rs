//! The markdown report: ratio tables, goals, raw samples.

use super::pvm::Backend;
use super::{Engines, Gas, HOST_CALLS, LARGE_CODE, REC, RSS_INSTANCES, Settings, TOUCH_PAGES, VMS, Who};
use javm::EngineKind;
use javm_benches::guests::Guest;
use javm_benches::stats::{Summary, geomean};
use javm_cap::program::{CodeBlob, StandardProgram};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::pvm;

/// What each figure times, for the report.
const WHAT_IS_TIMED: &str = "\
- **exec**: the guest's default workload (`guests/README.md`), run to its halt with the reference host \
(host calls `gas`/`log` charge 10 gas, handled inside the timed region). javm: a fresh \
`Module::instantiate_standard` per run, not timed (it shares the module's data caps; copy-on-write and \
first-touch page faults happen during the run and are timed); only `Instance::run_with` is timed. PolkaVM: \
one `RawInstance` per module, `reset_memory` + arguments + registers + gas before each run, not timed; \
only the `run()` loop is timed. Native: the whole C entry call (its static buffers stay mapped between \
calls, so native pays no first-touch faults after the first run). Output and gas are checked against \
`guests/expected.json` before timing.
- **compile**: blob bytes to a runnable module. javm: `Engine::load` of the `.jam` (container parse, \
decode, block costs, interpreter pre-decode; for the recompiler, which compiles lazily, its shared code: \
`javm-jit-eager` is the whole program compiled at load). PolkaVM: `ProgramBlob::parse` + \
`Module::from_blob` of the `.polkavm`. Dropping the module is not timed. Pipeline / Full(L2Hit) gas model. \
javm's engine has no module cache here, so every load decodes (and, eager, compiles).
- **large**: a generated program (every guest's code repeated, see `src/large.rs`). `decode-*` is \
`Program::from_blob` alone (block model: unit costs; pipeline: no block priced yet, a block's GP 0.8 \
pipeline cost is computed when it is first entered or compiled); `decode-lazy` is the block-model load of a \
lazily decoding program (validation and layout; operands are decoded 16 blocks at a time when first read, \
as the lazily compiling recompiler's loads do); `price-pipeline` is the pipeline decode \
plus pricing every block (what a whole-program compile pays, and what a load paid before pricing was \
lazy); the other rows are full loads as in *compile*, made by an engine without a module cache; `*-cache-hit` is a \
load of bytes the engine has loaded before (a fingerprint of samples of the bytes, one lookup and a \
comparison with the cached copy); `*-disk-hit` is \
a load by an engine whose in-memory cache is empty (as after a restart) from a warmed persistent cache \
(`Engine::with_disk_cache`: decode, key hash, file checks and checksum, one copy of the code, no codegen); \
`*-hash-hit` is `Engine::load_by_hash` of a program loaded before (one lookup, no bytes read).
- **oneshot**: compile + instantiate + run once + read the output, all timed, `small` arguments.
- **cold**: the JIP-6 trace (`runtime/tests/vectors/jip6`) replayed whole with `replay_with`: load, \
instantiate, run and every recorded host call; `cold` with an engine without a module cache, `warm` through it; \
the recompiler compiling lazily (`javm-jit`), whole programs at load (`-eager`) and tiering up from the \
interpreter after 50,000 gas (`-tiered`).
- **floor**: `instantiate-run` = instantiate a trivial standard program (1 page ro, 1 page rw, 64 KiB \
stack; code `jump_ind r0`) and run it to its halt, all timed (PolkaVM: `Module::instantiate` + prepare + \
`run`). `image-run` = `Engine::load_image` once, then `Module::instantiate_at` + the run (the image's caps are shared by \
instances); `archive-run` = from its rkyv archive: validate + `to_image` + `load_image` (decode included) + \
instantiate + run. `hostcall` = the `hostcall` guest \
making 100 000 `gas` host calls (no logging), reported per call (guest loop included).
- **memory**: `touch-*-cold` = a fresh instance storing one byte to each of 1024 pages (4 MiB) of \
non-zero read-write data (`data`, copy on write) or of zero heap pages (`heap`), reported per page; \
`touch-*-warm` = the same run again on the same instance (pages already private), the loop's own cost. \
`root-after-run` = `Instance::memory_root` (flush + SSZ root) right after a run that dirtied memory. \
`rss` = resident-set growth per instance for 100 instances of one module (`hashtable`, from one image; javm: `load_image` + `instantiate_at`), measured in a fresh child process, \
idle and after one `small` run each (PolkaVM's Linux sandbox keeps guest memory in worker processes, so it \
is not measured).
- Every figure is criterion's samples reduced to the **minimum** per-iteration time (the machine is \
shared; the minimum is the most repeatable figure); the raw table also gives the median.";

/// `<target>` from the bench executable's path (`<target>/<profile>/deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"))
}

fn summary(id: &str) -> Option<Summary> {
    let long = id.starts_with("exec") || id.starts_with("memory/touch");
    REC.get(id, if long { 10 } else { 15 })
}

fn min(id: &str) -> Option<f64> {
    summary(id).map(|s| s.min)
}

fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "n/a".into(),
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}×"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn best(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn geo(values: &[Option<f64>]) -> Option<f64> {
    let v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.len() == values.len() { geomean(&v) } else { None }
}

fn worst(values: &[Option<f64>]) -> Option<f64> {
    let v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.len() == values.len() && !v.is_empty() { Some(v.iter().copied().fold(f64::MIN, f64::max)) } else { None }
}

fn header(out: &mut String, cols: &[&str]) {
    let _ = writeln!(out, "| {} |", cols.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        cols.iter().enumerate().map(|(i, _)| if i == 0 { "---|" } else { "---:|" }).collect::<String>()
    );
}

fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

fn shell(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).lines().next()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or("unknown".into(), |s| s.trim().to_owned());
    let date = shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into());
    let cc = shell("cc", &["--version"]).unwrap_or_else(|| "unknown".into());
    format!("CPU `{cpu}`, {cores} cores, Linux {kernel}; native C by `{cc}` at -O2; {date}.")
}

fn code_len(guest: &Guest) -> usize {
    let standard = StandardProgram::load(&guest.jam).expect("jam");
    CodeBlob::parse(&standard.code).expect("code").code.len()
}

/// Execution tables; returns per-model goal figures.
struct ExecGoals {
    jit_vs_pvm_worst: Option<f64>,
    jit_vs_pvm_geo: Option<f64>,
    jit_vs_native_geo: Option<f64>,
    interp_vs_pvm_geo: Option<f64>,
    interp_vs_pvm_worst: Option<f64>,
}

fn exec_table(out: &mut String, all: &[Guest], gas: Gas) -> ExecGoals {
    let group = format!("exec-{}", gas.tag());
    let _ = writeln!(out, "\n### Execution, {}\n", gas.title());
    header(
        out,
        &[
            "guest",
            "native",
            "javm-interp",
            "javm-jit",
            "pvm-interp",
            "pvm-jit-generic",
            "pvm-jit-linux",
            "jit ÷ pvm-jit",
            "jit ÷ native",
            "interp ÷ pvm-interp",
            "pvm-jit ÷ native",
        ],
    );
    let (mut jit_pvm, mut jit_native, mut interp_pvm, mut pvm_native) = (vec![], vec![], vec![], vec![]);
    for guest in all {
        let native = min(&format!("exec/{}/native", guest.name));
        let t = |who: Who| min(&format!("{group}/{}/{}", guest.name, who.name()));
        let ji = t(Who::Javm(EngineKind::Interpreter));
        let jj = t(Who::Javm(EngineKind::Recompiler));
        let pi = t(Who::Pvm(Backend::Interpreter));
        let pg = t(Who::Pvm(Backend::CompilerGeneric));
        let pl = t(Who::Pvm(Backend::CompilerLinux));
        let pj = best(pg, pl);
        let r = [ratio(jj, pj), ratio(jj, native), ratio(ji, pi), ratio(pj, native)];
        jit_pvm.push(r[0]);
        jit_native.push(r[1]);
        interp_pvm.push(r[2]);
        pvm_native.push(r[3]);
        let mut cells = vec![guest.name.clone()];
        cells.extend([native, ji, jj, pi, pg, pl].map(fmt_ns));
        cells.extend(r.map(fmt_ratio));
        row(out, &cells);
    }
    let mut cells = vec!["**geomean**".to_owned()];
    cells.extend(std::iter::repeat_n(String::new(), 6));
    cells.extend([geo(&jit_pvm), geo(&jit_native), geo(&interp_pvm), geo(&pvm_native)].map(fmt_ratio));
    row(out, &cells);
    let _ = writeln!(
        out,
        "\n`pvm-jit` in the ratios is the faster of PolkaVM's two sandboxes for that guest. Times are minima."
    );
    ExecGoals {
        jit_vs_pvm_worst: worst(&jit_pvm),
        jit_vs_pvm_geo: geo(&jit_pvm),
        jit_vs_native_geo: geo(&jit_native),
        interp_vs_pvm_geo: geo(&interp_pvm),
        interp_vs_pvm_worst: worst(&interp_pvm),
    }
}

struct CompileGoals {
    jit_geo: Option<f64>,
    jit_worst: Option<f64>,
    eager_geo: Option<f64>,
    eager_worst: Option<f64>,
}

fn compile_table(out: &mut String, all: &[Guest]) -> CompileGoals {
    let _ = writeln!(out, "\n### Compile (blob → runnable module), pipeline / Full(L2Hit)\n");
    header(
        out,
        &[
            "guest",
            "code",
            "javm-interp",
            "javm-jit",
            "pvm-interp",
            "pvm-jit-generic",
            "pvm-jit-linux",
            "javm-jit-eager",
            "javm-interp ÷ pvm-interp",
            "javm-jit ÷ pvm-jit",
            "javm-jit-eager ÷ pvm-jit",
            "javm-interp MB/s",
            "javm-jit MB/s",
            "pvm-jit MB/s",
        ],
    );
    let (mut jit, mut interp, mut eager) = (vec![], vec![], vec![]);
    for guest in all {
        let t = |who: Who| min(&format!("compile/{}/{}", guest.name, who.name()));
        let ji = t(Who::Javm(EngineKind::Interpreter));
        let jj = t(Who::Javm(EngineKind::Recompiler));
        let pi = t(Who::Pvm(Backend::Interpreter));
        let pg = t(Who::Pvm(Backend::CompilerGeneric));
        let pl = t(Who::Pvm(Backend::CompilerLinux));
        let pj = best(pg, pl);
        let je = min(&format!("compile/{}/javm-jit-eager", guest.name));
        let bytes = code_len(guest) as f64;
        let mbs = |t: Option<f64>| t.map_or("n/a".into(), |t| format!("{:.1}", bytes / t * 1e3));
        jit.push(ratio(jj, pj));
        interp.push(ratio(ji, pi));
        eager.push(ratio(je, pj));
        let mut cells = vec![guest.name.clone(), format!("{bytes} B")];
        cells.extend([ji, jj, pi, pg, pl, je].map(fmt_ns));
        cells.extend([ratio(ji, pi), ratio(jj, pj), ratio(je, pj)].map(fmt_ratio));
        cells.extend([mbs(ji), mbs(jj), mbs(pj)]);
        row(out, &cells);
    }
    let mut cells = vec!["**geomean**".to_owned()];
    cells.extend(std::iter::repeat_n(String::new(), 7));
    cells.extend([geo(&interp), geo(&jit), geo(&eager)].map(fmt_ratio));
    cells.extend(std::iter::repeat_n(String::new(), 3));
    row(out, &cells);
    CompileGoals { jit_geo: geo(&jit), jit_worst: worst(&jit), eager_geo: geo(&eager), eager_worst: worst(&eager) }
}

/// The large program's figures the goals table reports.
struct LargeGoals {
    /// What the cost model adds to decoding alone (to a load).
    decode_share: Option<f64>,
    /// Pricing every block, as a share of the whole-program compile named
    /// by `what`.
    full_share: Option<f64>,
    what: &'static str,
    /// Block-model decode throughput, MB/s of code.
    decode_mbs: Option<f64>,
    /// The same with lazy decoding: what a load validates and lays out.
    lazy_decode_mbs: Option<f64>,
}

fn large_table(out: &mut String, all: &[Guest]) -> LargeGoals {
    let blob = javm_benches::large::code_blob(all, LARGE_CODE);
    let bytes = javm_benches::large::code_len(&blob) as f64;
    let _ = writeln!(
        out,
        "\n### Decode and gas cost model, large program ({:.0} KiB of code, {} B blob)\n",
        bytes / 1024.0,
        blob.len()
    );
    header(out, &["what", "time", "MB/s of code", "÷ decode-block"]);
    let base = min("large/decode-block");
    let ids = [
        "decode-block",
        "decode-pipeline",
        "decode-lazy",
        "price-pipeline",
        "javm-interp-block",
        "javm-interp-pipeline",
        "javm-jit-block",
        "javm-jit-pipeline",
        "javm-interp-cache-hit",
        "javm-jit-cache-hit",
        "javm-jit-disk-hit",
        "javm-interp-hash-hit",
        "javm-jit-hash-hit",
        "pvm-interp-naive",
        "pvm-interp-l2",
        "pvm-jit-linux-naive",
        "pvm-jit-linux-l2",
    ];
    for id in ids {
        let t = min(&format!("large/{id}"));
        let mbs = t.map_or("n/a".into(), |t| format!("{:.1}", bytes / t * 1e3));
        row(out, &[id.to_owned(), fmt_ns(t), mbs, fmt_ratio(ratio(t, base))]);
    }
    let pipe = min("large/decode-pipeline");
    let blocks = javm_cap::program::Program::from_blob(&blob, javm::Profile::P8, javm::GasModel::Block)
        .map_or(0, |p| p.blocks().len());
    let extra = pipe.zip(base).map(|(p, b)| p - b);
    // Never below zero: a negative share is noise between the two rows.
    let decode_share = extra.zip(base).map(|(e, b)| (e / b).max(0.0));
    let (full, what) = match min("large/javm-jit-eager-block") {
        Some(t) => (Some(t), "the recompiler's block-model whole-program compile"),
        None => (min("large/javm-interp-block"), "the interpreter's block-model load (no recompiler yet)"),
    };
    let pricing = min("large/price-pipeline").zip(pipe).map(|(p, d)| p - d);
    let full_share = pricing.zip(full).map(|(e, f)| e / f);
    let _ = writeln!(
        out,
        "\nBlocks are priced when first entered (or compiled), so the pipeline cost model adds {} to decoding; \
         pricing all {} blocks takes {}, {} of {what}.",
        decode_share.map_or("n/a".into(), |s| format!("{:.0} %", s * 100.0)),
        blocks,
        fmt_ns(pricing),
        full_share.map_or("n/a".into(), |s| format!("{:.0} %", s * 100.0)),
    );
    let decode_mbs = base.map(|t| bytes / t * 1e3);
    let lazy_decode_mbs = min("large/decode-lazy").map(|t| bytes / t * 1e3);
    LargeGoals { decode_share, full_share, what, decode_mbs, lazy_decode_mbs }
}

/// The cold-start figures the goals table reports.
struct ColdGoals {
    /// (what, target ratio, measured ratio, how).
    ratios: Vec<(&'static str, f64, Option<f64>, &'static str)>,
    hash_hit_us: Option<f64>,
    /// `Engine::load` of bytes loaded before, in µs.
    bytes_hit_us: Option<f64>,
}

/// The JIP-6 replay cold and warm, and the cold-start goals: loads of the
/// large program against PolkaVM's, cache hits.
fn cold_table(out: &mut String) -> ColdGoals {
    let _ = writeln!(out, "\n### Cold start: the JIP-6 trace replayed whole (load + run + host calls)\n");
    header(out, &["engine", "cold (no module cache)", "warm (module cache)", "cold ÷ warm"]);
    for who in ["javm-interp", "javm-jit", "javm-jit-eager", "javm-jit-tiered"] {
        let cold = min(&format!("cold/jip6-{who}-cold"));
        let warm = min(&format!("cold/jip6-{who}-warm"));
        row(out, &[who.to_owned(), fmt_ns(cold), fmt_ns(warm), fmt_ratio(ratio(cold, warm))]);
    }
    let large = |id: &str| min(&format!("large/{id}"));
    let vs = |a: &str, b: &str| ratio(large(a), large(b));
    ColdGoals {
        ratios: vec![
            (
                "recompiler load (lazy) vs PolkaVM's, large (block / naive)",
                0.5,
                vs("javm-jit-block", "pvm-jit-linux-naive"),
                "min times",
            ),
            (
                "recompiler load (lazy) vs PolkaVM's, large (pipeline / L2)",
                0.5,
                vs("javm-jit-pipeline", "pvm-jit-linux-l2"),
                "min times",
            ),
            (
                "recompiler whole-program compile vs PolkaVM's load, large (block / naive)",
                0.5,
                vs("javm-jit-eager-block", "pvm-jit-linux-naive"),
                "min times; --compile eager",
            ),
            (
                "recompiler whole-program compile vs PolkaVM's load, large (pipeline / L2)",
                0.5,
                vs("javm-jit-eager-pipeline", "pvm-jit-linux-l2"),
                "min times; --compile eager",
            ),
            (
                "recompiler load from the disk cache vs a whole-program compile, large (pipeline)",
                0.5,
                vs("javm-jit-disk-hit", "javm-jit-eager-pipeline"),
                "min times, new engine on a warmed directory",
            ),
            (
                "interpreter load vs PolkaVM's, large (block / naive)",
                0.5,
                vs("javm-interp-block", "pvm-interp-naive"),
                "min times",
            ),
            (
                "interpreter load vs PolkaVM's, large (pipeline / L2)",
                0.5,
                vs("javm-interp-pipeline", "pvm-interp-l2"),
                "min times",
            ),
        ],
        hash_hit_us: large("javm-jit-hash-hit").map(|t| t / 1e3),
        bytes_hit_us: large("javm-jit-cache-hit").map(|t| t / 1e3),
    }
}

fn per_engine_table(out: &mut String, title: &str, all: &[Guest], group: &str) {
    let _ = writeln!(out, "\n### {title}\n");
    header(
        out,
        &[
            "guest",
            "javm-interp",
            "javm-jit",
            "pvm-interp",
            "pvm-jit-generic",
            "pvm-jit-linux",
            "javm-interp ÷ pvm-interp",
            "javm-jit ÷ pvm-jit",
        ],
    );
    for guest in all {
        let t = |who: Who| min(&format!("{group}/{}/{}", guest.name, who.name()));
        let v = VMS.map(t);
        let mut cells = vec![guest.name.clone()];
        cells.extend(v.map(fmt_ns));
        cells.extend([ratio(v[0], v[2]), ratio(v[1], best(v[3], v[4]))].map(fmt_ratio));
        row(out, &cells);
    }
}

fn floor_table(out: &mut String) {
    let _ = writeln!(out, "\n### Call floor\n");
    header(out, &["what", "native", "javm-interp", "javm-jit", "pvm-interp", "pvm-jit-generic", "pvm-jit-linux"]);
    for (what, id) in [
        ("instantiate + trivial run", "instantiate-run"),
        ("… from an Image", "image-run"),
        ("… from an Image archive", "archive-run"),
    ] {
        let mut cells = vec![what.to_owned(), "n/a".to_owned()];
        cells.extend(VMS.map(|w| fmt_ns(min(&format!("floor/{id}/{}", w.name())))));
        row(out, &cells);
    }
    let per_call = |who: &str| min(&format!("floor/hostcall/{who}")).map(|t| t / f64::from(HOST_CALLS));
    let mut cells = vec!["host call round trip (per call)".to_owned(), fmt_ns(per_call("native"))];
    cells.extend(VMS.map(|w| fmt_ns(per_call(w.name()))));
    row(out, &cells);
}

fn memory_table(out: &mut String) {
    let pages = f64::from(TOUCH_PAGES);
    let _ = writeln!(out, "\n### Memory: first write per page ({TOUCH_PAGES} pages)\n");
    header(out, &["what", "javm-interp", "javm-jit", "pvm-interp", "pvm-jit-generic", "pvm-jit-linux"]);
    for kind in ["data", "heap"] {
        let cold = |w: Who| min(&format!("memory/touch-{kind}-cold/{}", w.name()));
        let warm = |w: Who| min(&format!("memory/touch-{kind}-warm/{}", w.name()));
        let mut cells = vec![format!("{kind}: first write, per page")];
        cells.extend(VMS.map(|w| fmt_ns(cold(w).map(|t| t / pages))));
        row(out, &cells);
        let mut cells = vec![format!("{kind}: rewrite, per page")];
        cells.extend(VMS.map(|w| fmt_ns(warm(w).map(|t| t / pages))));
        row(out, &cells);
        let mut cells = vec![format!("{kind}: first-write cost (difference)")];
        cells.extend(VMS.map(|w| fmt_ns(cold(w).zip(warm(w)).map(|(c, h)| (c - h) / pages))));
        row(out, &cells);
    }
    let _ = writeln!(out, "\n### Memory: resident set per instance ({RSS_INSTANCES} instances of `hashtable`)\n");
    header(out, &["state", "javm-interp", "javm-jit", "pvm-interp", "pvm-jit-generic"]);
    for state in ["idle", "after-run"] {
        let mut cells = vec![state.to_owned()];
        for who in ["javm-interp", "javm-jit", "pvm-interp", "pvm-jit-generic"] {
            cells.push(
                REC.get(&format!("rss/{state}/{who}"), 1)
                    .map_or("n/a".into(), |s| format!("{:.0} KiB", s.min / 1024.0)),
            );
        }
        row(out, &cells);
    }
    let _ = writeln!(out, "\n### Memory: cap root after a run (javm interpreter)\n");
    header(out, &["guest (args)", "dirty pages", "memory_root", "per dirty page"]);
    for (name, args) in [("sort", "N = 131072"), ("memops", "R = 1, S = 1 MiB")] {
        let dirty = REC.get(&format!("memory/root-dirty-pages/{name}"), 1).map(|s| (s.min).round());
        let t = min(&format!("memory/root-after-run/{name}"));
        row(
            out,
            &[
                format!("{name} ({args})"),
                dirty.map_or("n/a".into(), |d| format!("{d:.0}")),
                fmt_ns(t),
                fmt_ns(t.zip(dirty).map(|(t, d)| t / d.max(1.0))),
            ],
        );
    }
}

fn goal(out: &mut String, what: &str, target: f64, measured: Option<f64>, how: &str) {
    let verdict = match measured {
        None => "n/a",
        Some(m) if m <= target => "met",
        Some(_) => "**not met**",
    };
    row(out, &[what.to_owned(), format!("≤ {target}×"), fmt_ratio(measured), verdict.to_owned(), how.to_owned()]);
}

/// A goal on a plain value (not a ratio), met at most or at least `target`.
fn goal_value(out: &mut String, what: &str, target: f64, measured: Option<f64>, unit: &str, at_least: bool, how: &str) {
    let verdict = match measured {
        None => "n/a",
        Some(m) if (at_least && m >= target) || (!at_least && m <= target) => "met",
        Some(_) => "**not met**",
    };
    let bound = if at_least { "≥" } else { "≤" };
    let measured = measured.map_or("n/a".into(), |m| format!("{m:.2} {unit}"));
    row(out, &[what.to_owned(), format!("{bound} {target} {unit}"), measured, verdict.to_owned(), how.to_owned()]);
}

/// The whole report.
pub fn render(s: &Settings, engines: &Engines, all: &[Guest], skipped: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## javm vs PolkaVM 0.37 vs native\n");
    let _ = writeln!(out, "{}", machine());
    let _ = writeln!(
        out,
        "Mode: {}. PolkaVM: 4 KiB pages, 16 MiB aux area, synchronous gas metering.",
        if s.quick { "quick (`JAVM_BENCH_QUICK=1`)" } else { "full" }
    );
    if let Some(e) = &engines.jit_error {
        let _ = writeln!(out, "\njavm recompiler: n/a in this build ({e}).");
    }
    if !pvm::full_model_supported() {
        let _ = writeln!(out, "\nPolkaVM Full cost model: n/a (no AVX2).");
    }
    let exec_l2 = exec_table(&mut out, all, Gas::L2);
    let exec_naive = exec_table(&mut out, all, Gas::Naive);
    let comp = compile_table(&mut out, all);
    let large = large_table(&mut out, all);
    per_engine_table(
        &mut out,
        "One-shot: compile + instantiate + run once (`small` arguments, pipeline / L2)",
        all,
        "oneshot",
    );
    let cold = cold_table(&mut out);
    floor_table(&mut out);
    memory_table(&mut out);

    let _ = writeln!(out, "\n### Goals (reported, not asserted)\n");
    header(&mut out, &["goal", "target", "measured", "verdict", "how"]);
    for (tag, e) in [("pipeline/L2", &exec_l2), ("block/naive", &exec_naive)] {
        goal(
            &mut out,
            &format!("recompiler vs PolkaVM recompiler, every guest ({tag})"),
            0.8,
            e.jit_vs_pvm_worst,
            "worst guest; geomean below",
        );
        goal(&mut out, &format!("recompiler vs PolkaVM recompiler, geomean ({tag})"), 0.8, e.jit_vs_pvm_geo, "geomean");
        goal(&mut out, &format!("recompiler vs native, geomean ({tag})"), 1.3, e.jit_vs_native_geo, "geomean");
        goal(&mut out, &format!("interpreter vs PolkaVM interpreter ({tag})"), 0.6, e.interp_vs_pvm_geo, "geomean");
        goal(
            &mut out,
            &format!("interpreter vs PolkaVM interpreter, worst ({tag})"),
            0.6,
            e.interp_vs_pvm_worst,
            "worst guest",
        );
    }
    goal(&mut out, "compile vs PolkaVM compile (recompilers, lazy)", 0.5, comp.jit_geo, "geomean over guests");
    goal(&mut out, "compile vs PolkaVM compile (recompilers, lazy), worst", 0.5, comp.jit_worst, "worst guest");
    goal(&mut out, "compile vs PolkaVM compile (recompilers, eager)", 0.5, comp.eager_geo, "geomean over guests");
    goal(&mut out, "compile vs PolkaVM compile (recompilers, eager), worst", 0.5, comp.eager_worst, "worst guest");
    goal(&mut out, "cost model share of compile time", 0.3, large.full_share, large.what);
    goal(
        &mut out,
        "cost model share of decode time",
        0.3,
        large.decode_share,
        "decode-pipeline vs decode-block, large program",
    );

    for (what, target, measured, how) in cold.ratios {
        goal(&mut out, what, target, measured, how);
    }
    goal_value(&mut out, "decode throughput (block model)", 300.0, large.decode_mbs, "MB/s", true, "large program");
    let how = "large program, operands decoded later";
    goal_value(&mut out, "decode throughput at load (lazy decode)", 300.0, large.lazy_decode_mbs, "MB/s", true, how);
    goal_value(&mut out, "module cache hit, `load_by_hash`", 1.0, cold.hash_hit_us, "µs", false, "large program");
    let how = "large program; compares all 300 KB with the kept copy";
    goal_value(&mut out, "module cache hit, `load` of the bytes", 1.0, cold.bytes_hit_us, "µs", false, how);

    let _ = writeln!(out, "\n### What is timed\n\n{WHAT_IS_TIMED}");
    let _ = writeln!(out, "\n### Raw samples (per iteration)\n");
    header(&mut out, &["id", "min", "median", "samples"]);
    for id in REC.ids() {
        if id.starts_with("rss/") || id.contains("dirty-pages") {
            continue;
        }
        let sm = summary(&id).expect("recorded");
        row(&mut out, &[format!("`{id}`"), fmt_ns(Some(sm.min)), fmt_ns(Some(sm.median)), sm.samples.to_string()]);
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\n### Not measured\n");
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for why in skipped.values() {
            *reasons.entry(why.as_str()).or_default() += 1;
        }
        for (why, n) in reasons {
            let _ = writeln!(out, "- {n} rows: {why}");
        }
    }
    out
}
