//! One guest's case on the recompiler compiled whole and lazily, measured
//! in turns on warm modules (every region the case reaches compiled): the
//! hot-code cost of compiling region by region.
//!
//! ```sh
//! cargo build --release -p javm-benches --example compilations
//! target/release/examples/compilations sort default 20
//! ```
//!
//! Arguments: guest (default `sort`), case (default `default`), runs per
//! turn (default 10); then the compilations to compare (default `eager`,
//! `lazy`, `lazy:1`).

use javm::{Compilation, EngineKind, GasModel};
use javm_benches::{guests, run};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "sort".into());
    let case = args.next().unwrap_or_else(|| "default".into());
    let runs: u32 = args.next().map_or(10, |n| n.parse().expect("runs per turn"));
    let mut compilations: Vec<Compilation> = args.map(|c| c.parse().expect("a compilation")).collect();
    if compilations.is_empty() {
        compilations = vec![Compilation::Eager, Compilation::default(), Compilation::Lazy { region: 1 }];
    }
    let all = guests::load();
    let guest = guests::named(&all, &name);
    let case = guest.case(&case);
    let modules: Vec<_> = compilations
        .iter()
        .map(|&c| {
            let engine = run::uncached_engine(EngineKind::Recompiler, GasModel::Pipeline).with_compilation(c);
            let module = engine.load(&guest.jam).expect("the guest loads");
            run::checked_ms_per_run(&module, case, 1);
            module
        })
        .collect();
    let mut best = vec![f64::INFINITY; modules.len()];
    for _ in 0..5 {
        for (b, module) in best.iter_mut().zip(&modules) {
            *b = b.min(run::checked_ms_per_run(module, case, runs));
        }
    }
    for (c, b) in compilations.iter().zip(&best) {
        println!(
            "{name} {}: {b:.3} ms per run (best of 5 turns), {:.3}x the first",
            format_args!("{c:?}"),
            b / best[0]
        );
    }
}
