//! One-shot runs (load + instantiate + run once, as the `oneshot` bench
//! group times them) of every guest's cases on the recompiler at several
//! tier-up thresholds, and on the interpreter: the measurements behind
//! the default threshold ([`javm::DEFAULT_TIER_UP`]).
//!
//! ```sh
//! cargo build --release -p javm-benches --example tier_sweep
//! target/release/examples/tier_sweep small 20 interp 0 10000 50000 200000 1000000
//! ```
//!
//! Arguments: the case (default `small`; `small@sort` for one guest), runs
//! per figure (default 20), then what to run: `interp` for the interpreter
//! or a threshold in gas for the recompiler (default `interp 0 50000
//! 1000000`). Prints microseconds per one-shot run (the median of the
//! runs).

use javm::{Engine, EngineKind, GasModel};
use javm_benches::{guests, run};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "small".into());
    let (case, only) = case.split_once('@').map_or((case.as_str(), None), |(c, g)| (c, Some(g)));
    let runs: usize = args.next().map_or(20, |n| n.parse().expect("runs per figure"));
    let mut columns: Vec<String> = args.collect();
    if columns.is_empty() {
        columns = ["interp", "0", "50000", "1000000"].map(String::from).to_vec();
    }
    let all = guests::load();
    let mut header = format!("{:<10} {:>12}", "guest", "gas");
    for column in &columns {
        header += &format!(" {:>12}", if column == "interp" { column.clone() } else { format!("tier {column}") });
    }
    println!("{header} (µs per one-shot run)");
    for guest in all.iter().filter(|g| only.is_none_or(|name| g.name == name)) {
        let case = guest.case(case);
        let mut line = format!("{:<10} {:>12}", guest.name, case.gas_l2hit);
        for column in &columns {
            let engine = match column.as_str() {
                "interp" => run::uncached_engine(EngineKind::Interpreter, GasModel::Pipeline),
                gas => run::uncached_engine(EngineKind::Recompiler, GasModel::Pipeline)
                    .with_tier_up(gas.parse().expect("`interp` or a threshold in gas")),
            };
            let us = median_us(&engine, &guest.jam, case, runs);
            line += &format!(" {us:>12.1}");
        }
        println!("{line}");
    }
}

/// The median time of `runs` one-shot runs of `case`, in µs.
fn median_us(engine: &Engine, jam: &[u8], case: &guests::Case, runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            let module = engine.load(jam).expect("the guest loads");
            let outcome = run::run_once(&module, &case.args).expect("the guest halts");
            let t = start.elapsed().as_secs_f64() * 1e6;
            assert_eq!(outcome.output, case.output, "output");
            t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
