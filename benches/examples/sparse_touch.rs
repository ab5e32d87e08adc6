//! Runs the sparse-touch guest (`javm::testing::sparse_touch_program`) once,
//! for measuring the memory a sparse run commits:
//!
//! ```sh
//! cargo build --release -p javm-benches --example sparse_touch
//! /usr/bin/time -v target/release/examples/sparse_touch jit 3072 256 0
//! ```
//!
//! Arguments: engine (`interp` or `jit`), heap MiB (default 3072), read
//! stride KiB (default 256), write stride KiB (default 0: one write per
//! GiB). Strides stay below 2 GiB (the guest adds them as immediates).

use javm::testing::sparse_touch_program;
use javm::{Config, Engine, EngineKind, GasModel, Profile};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let kind: EngineKind = args.next().as_deref().unwrap_or("jit").parse().expect("engine: interp or jit");
    let mut number = |default: u32| args.next().map_or(default, |n| n.parse().expect("a number"));
    let (heap_mib, read_kib, write_kib) = (number(3072), number(256), number(0));
    let write_stride = if write_kib == 0 { 1 << 30 } else { write_kib << 10 };
    let program = sparse_touch_program(heap_mib << 20, read_kib << 10, write_stride);
    let config = Config { engine: kind, profile: Profile::P7, gas_model: Some(GasModel::Pipeline) };
    let module = Engine::new(config).load(&program).expect("the program loads");
    let mut instance = module.instantiate_standard(&[], 0).expect("instantiates");
    instance.set_gas(1 << 40);
    let start = Instant::now();
    let exit = instance.run();
    let took = start.elapsed();
    println!(
        "{kind:?}: {exit} in {took:?}, r10 = {}, heap {:#x}..{:#x}",
        instance.reg(10),
        instance.reg(11),
        instance.reg(7)
    );
}
