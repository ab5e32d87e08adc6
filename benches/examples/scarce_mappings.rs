//! A guest's case run with the recompiler while the windows' budget of
//! kernel mappings is small, against the interpreter: the fallback for
//! accesses that cannot be mapped must stay near the interpreter's speed.
//!
//! ```sh
//! cargo build --release -p javm-benches --example scarce_mappings
//! target/release/examples/scarce_mappings sieve small 4 20
//! ```
//!
//! Arguments: guest (default `sieve`), case (default `small`), mappings to
//! spare besides the windows' reservations (default 4), runs (default 20).

use javm::testing::spare_window_mappings;
use javm::{EngineKind, GasModel};
use javm_benches::{guests, run};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "sieve".into());
    let case = args.next().unwrap_or_else(|| "small".into());
    let spare: usize = args.next().map_or(4, |n| n.parse().expect("mappings to spare"));
    let runs: u32 = args.next().map_or(20, |n| n.parse().expect("runs"));
    let all = guests::load();
    let guest = guests::named(&all, &name);
    let case = guest.case(&case);
    spare_window_mappings(spare);
    for kind in [EngineKind::Interpreter, EngineKind::Recompiler] {
        let module = run::load(kind, GasModel::Pipeline, &guest.jam).expect("the guest loads");
        let per_run = run::checked_ms_per_run(&module, case, runs);
        println!("{kind:?}, {spare} mappings to spare, {name}/{}: {per_run:.3} ms per run", case.name);
    }
}
