//! Short runs of one shared module from several threads at once: each
//! thread instantiates the module and runs a guest's case to the end, over
//! and over. Prints the runs per second of all threads together, for
//! comparing one thread with several (the recompiler's windows and frames
//! are shared by the process):
//!
//! ```sh
//! cargo build --release -p javm-benches --example short_runs
//! target/release/examples/short_runs jit 1 sieve small 20000
//! target/release/examples/short_runs jit 2 sieve small 20000
//! ```
//!
//! Arguments: engine (`interp` or `jit`), threads (default 1), guest
//! (default `sieve`), case (default `small`), runs per thread (default
//! 20,000), and `shared` (default: all threads instantiate one module) or
//! `own` (each thread loads a module of its own, so that the threads share
//! none of a module's reference counts).

use javm::{EngineKind, GasModel};
use javm_benches::{guests, run};
use std::sync::Barrier;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let kind: EngineKind = args.next().as_deref().unwrap_or("jit").parse().expect("engine: interp or jit");
    let threads: usize = args.next().map_or(1, |n| n.parse().expect("number of threads"));
    let name = args.next().unwrap_or_else(|| "sieve".into());
    let case = args.next().unwrap_or_else(|| "small".into());
    let runs: u32 = args.next().map_or(20_000, |n| n.parse().expect("runs per thread"));
    let own = match args.next().as_deref() {
        None | Some("shared") => false,
        Some("own") => true,
        Some(other) => panic!("{other}: shared or own"),
    };
    let all = guests::load();
    let guest = guests::named(&all, &name);
    let case = guest.case(&case);
    let module = run::load(kind, GasModel::Pipeline, &guest.jam).expect("the guest loads");
    let expected = run::run_once(&module, &case.args).expect("the guest halts");
    assert_eq!(expected.output, case.output, "{name} output");
    let barrier = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let own = own.then(|| run::load(kind, GasModel::Pipeline, &guest.jam).expect("the guest loads"));
                let module = own.as_ref().unwrap_or(&module);
                barrier.wait();
                for _ in 0..runs {
                    let outcome = run::run_once(module, &case.args).expect("the guest halts");
                    assert_eq!(outcome, expected);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before returning.
        start
    })
    .elapsed();
    let total = f64::from(runs) * threads as f64;
    let modules = if own { "a module per thread" } else { "one module" };
    println!(
        "{kind:?}, {threads} thread(s), {modules}, {name}/{}: {:.0} runs/s",
        case.name,
        total / elapsed.as_secs_f64()
    );
}
