//! Loads the generated large program (as the `large` bench group does) many
//! times, for profiling a cold load outside criterion:
//!
//! ```sh
//! cargo build --release -p javm-benches --example load_large
//! valgrind --tool=callgrind target/release/examples/load_large interp block 3
//! ```
//!
//! Arguments: engine (`interp` or `jit`, `eager` for the recompiler
//! compiling whole programs, or `decode` for the decode alone,
//! as the `large/decode-*` benches measure it, or `layout` for a lazy
//! decode's load, which validates and lays out the code only), gas model (`block`,
//! `pipeline`, `instruction`), number of loads (default 100), and
//! optionally a persistent cache directory (warmed by one load first, so
//! that the timed loads are disk hits, as after a restart).

use javm::{Compilation, EngineKind, GasModel};
use javm_benches::{guests, large, run};
use javm_cap::program::{CodeBlob, Decode, Profile, Program};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let engine = args.next().unwrap_or_else(|| "interp".to_owned());
    let model: GasModel = args.next().as_deref().unwrap_or("block").parse().expect("gas model");
    let loads: u32 = args.next().map_or(100, |n| n.parse().expect("number of loads"));
    let blob = large::code_blob(&guests::load(), 256 << 10);
    if let Some(decode) = match engine.as_str() {
        "decode" => Some(Decode::Eager),
        "layout" => Some(Decode::Lazy),
        _ => None,
    } {
        let code = CodeBlob::parse(&blob).expect("the large program parses");
        let program =
            Program::with_decode(code.clone(), Profile::P8, model, decode).expect("the large program decodes");
        let (instructions, blocks) = (program.instruction_count(), program.blocks().len());
        drop(program);
        let start = Instant::now();
        for _ in 0..loads {
            drop(Program::with_decode(code.clone(), Profile::P8, model, decode).expect("the large program decodes"));
        }
        let each = start.elapsed() / loads;
        println!("{decode:?} decode {model}: {instructions} instructions in {blocks} blocks, {each:?} per decode");
        return;
    }
    let eager = engine == "eager";
    let kind: EngineKind = if eager {
        EngineKind::Recompiler
    } else {
        engine.parse().expect("engine: interp, jit, eager, decode or layout")
    };
    let mut engine = run::uncached_engine(kind, model);
    if eager {
        engine = engine.with_compilation(Compilation::Eager);
    }
    if let Some(dir) = args.next() {
        engine = engine.with_disk_cache(dir).expect("a cache directory");
        drop(engine.load_blob(&blob).expect("the large program loads"));
    }
    let start = Instant::now();
    for _ in 0..loads {
        drop(engine.load_blob(&blob).expect("the large program loads"));
    }
    let each = start.elapsed() / loads;
    println!("{kind:?} {model}: {} bytes of blob, {each:?} per load", blob.len());
    if let Some(stats) = engine.disk_cache_stats() {
        println!("disk cache: {stats:?}");
    }
}
