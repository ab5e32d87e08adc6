//! Many idle live instances holding their windows' kernel mappings, then
//! runs of a guest: prints the time per run (instantiation included) for
//! both engines, the recompiler against the interpreter, and what the
//! windows hold. Idle windows give their mappings to the windows that run
//! when the budget is used up, so the runs stay at the recompiler's speed.
//!
//! ```sh
//! cargo build --release -p javm-benches --example idle_instances
//! target/release/examples/idle_instances sieve small 5000 2000
//! ```
//!
//! Arguments: guest (default `sieve`), case (default `small`), idle
//! instances (default 5,000), runs (default 2,000).

use javm::{EngineKind, GasModel, guest_windows_reserved, window_mapping_budget, window_mappings_held};
use javm_benches::{guests, run};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "sieve".into());
    let case = args.next().unwrap_or_else(|| "small".into());
    let idle: usize = args.next().map_or(5_000, |n| n.parse().expect("idle instances"));
    let runs: u32 = args.next().map_or(2_000, |n| n.parse().expect("runs"));
    let all = guests::load();
    let guest = guests::named(&all, &name);
    let case = guest.case(&case);
    let mut per_run = [0.0; 2];
    for (k, kind) in [EngineKind::Interpreter, EngineKind::Recompiler].into_iter().enumerate() {
        let module = run::load(kind, GasModel::Pipeline, &guest.jam).expect("the guest loads");
        // Each idle instance has run once to its end and keeps its window.
        let kept: Vec<_> = (0..idle)
            .map(|_| {
                let mut instance = run::instance(&module, &case.args);
                instance.run_with(&mut run::BenchHost::default());
                instance
            })
            .collect();
        let held = window_mappings_held();
        per_run[k] = run::checked_ms_per_run(&module, case, runs) * 1e3;
        println!(
            "{kind:?}, {idle} idle, {name}/{}: {:.2} µs per run; windows held {held} of {} mappings \
             ({} reserved) before the runs, {} after",
            case.name,
            per_run[k],
            window_mapping_budget(),
            guest_windows_reserved(),
            window_mappings_held(),
        );
        drop(kept);
    }
    println!("recompiler / interpreter: {:.2}x the time", per_run[1] / per_run[0]);
}
