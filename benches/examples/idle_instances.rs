//! Many idle live instances holding their windows' kernel mappings, then
//! runs of a guest: prints the time per run, for
//! both engines.
//!
//! ```sh
//! cargo build --release -p javm-benches --example idle_instances
//! target/release/examples/idle_instances sieve small 5000 20
//! ```
//!
//! Arguments: guest (default `sieve`), case (default `small`), idle
//! instances (default 5,000), runs (default 20).

use javm::{EngineKind, GasModel, window_mapping_budget};
use javm_benches::{guests, run};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "sieve".into());
    let case = args.next().unwrap_or_else(|| "small".into());
    let idle: usize = args.next().map_or(5_000, |n| n.parse().expect("idle instances"));
    let runs: u32 = args.next().map_or(20, |n| n.parse().expect("runs"));
    let all = guests::load();
    let guest = guests::named(&all, &name);
    let case = guest.case(&case);
    for kind in [EngineKind::Interpreter, EngineKind::Recompiler] {
        let module = run::load(kind, GasModel::Pipeline, &guest.jam).expect("the guest loads");
        // Each idle instance has run once to its end and keeps its window.
        let kept: Vec<_> = (0..idle)
            .map(|_| {
                let mut instance = run::instance(&module, &case.args);
                instance.run_with(&mut run::BenchHost::default());
                instance
            })
            .collect();
        let per_run = run::checked_ms_per_run(&module, case, runs);
        println!(
            "{kind:?}, {idle} idle, budget {} mappings, {name}/{}: {per_run:.3} ms per run",
            window_mapping_budget(),
            case.name
        );
        drop(kept);
    }
}
