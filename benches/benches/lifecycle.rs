//! Instance lifecycle on both engines: `snapshot`, `fork`, `reset_to` and
//! `snapshot` + `Module::instantiate_from` on the other engine, of an
//! instance whose memory has 1 MiB,
//! 64 MiB or 1 GiB touched (settled by a memory root, so in the caps'
//! backings) and then 1 or 1,000 pages written since (all 256 of the 1 MiB). The writes before
//! each timed operation are not timed.
//!
//! Also single-step throughput: `Instance::step` and `step_traced` through
//! a guest, in instructions per second.
//!
//! ```sh
//! cargo bench -p javm-benches --bench lifecycle
//! ```
//!
//! Goals (reported, not asserted): fork and snapshot under 5 µs plus
//! 0.5 µs per dirty page, independent of the memory's size; reset under
//! 1 µs plus 0.5 µs per dirty page.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use javm::{Config, Engine, EngineKind, GasModel, Instance, Module, Profile};
use javm_cap::PAGE_SIZE;
use javm_cap::space::Access;

/// Where the benched memory starts.
const BASE: u32 = 0x10_0000;

/// `trap` alone: the instances never run, only their state moves.
fn module(engine: EngineKind) -> Module {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
    Engine::new(config).load_blob(&[0x00, 0x00, 0x01, 0x00, 0x01]).expect("a one-trap program")
}

/// An instance with `touched` bytes of writable memory written once and
/// settled into the caps' backings.
fn touched_instance(engine: EngineKind, touched: usize) -> Instance {
    let mut instance = module(engine).instantiate_empty(0);
    instance.address_space().map_zeroed(u64::from(BASE), touched as u64, Access::Write).expect("maps");
    for page in 0..touched / PAGE_SIZE {
        instance.write_memory(BASE + (page * PAGE_SIZE) as u32, &[1]).expect("writable");
    }
    let _ = instance.memory_root();
    instance
}

/// Writes one byte to each of the first `dirty` pages.
fn dirty(instance: &mut Instance, dirty: usize, round: u8) {
    for page in 0..dirty {
        instance.write_memory(BASE + (page * PAGE_SIZE) as u32, &[round]).expect("writable");
    }
}

/// Times `op` after `dirty` pages were written, over `iters` rounds.
fn timed(instance: &mut Instance, pages: usize, iters: u64, mut op: impl FnMut(&mut Instance)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        dirty(instance, pages, i as u8);
        let start = Instant::now();
        op(instance);
        total += start.elapsed();
    }
    total
}

fn lifecycle(c: &mut Criterion) {
    let sizes = [("1MiB", 1usize << 20), ("64MiB", 64 << 20), ("1GiB", 1 << 30)];
    for engine in EngineKind::ALL {
        for (size_name, size) in sizes {
            let mut g = c.benchmark_group(format!("lifecycle/{engine}/{size_name}"));
            g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
            let mut instance = touched_instance(engine, size);
            // A snapshot started on the other engine's module of the program.
            let other = module(engine.other());
            // 1,000 dirty pages, or every page of a smaller memory.
            for pages in [1usize, 1000.min(size / PAGE_SIZE)] {
                g.bench_function(format!("snapshot/{pages}-dirty"), |b| {
                    b.iter_custom(|iters| timed(&mut instance, pages, iters, |i| drop(black_box(i.snapshot()))))
                });
                g.bench_function(format!("fork/{pages}-dirty"), |b| {
                    b.iter_custom(|iters| {
                        timed(&mut instance, pages, iters, |i| drop(black_box(i.fork().expect("forks"))))
                    })
                });
                let base = instance.snapshot();
                g.bench_function(format!("reset_to/{pages}-dirty"), |b| {
                    b.iter_custom(|iters| {
                        timed(&mut instance, pages, iters, |i| i.reset_to(black_box(&base)).expect("resets"))
                    })
                });
                g.bench_function(format!("snapshot+instantiate_from-other-engine/{pages}-dirty"), |b| {
                    b.iter_custom(|iters| {
                        timed(&mut instance, pages, iters, |i| {
                            let snapshot = i.snapshot();
                            drop(black_box(other.instantiate_from(&snapshot).expect("instantiates")))
                        })
                    })
                });
            }
            g.finish();
        }
    }
}

/// Single steps through the sieve guest (the first `STEPS` instructions of
/// sieve(10,000)), plain and traced, on both engines: instructions per
/// second in criterion's throughput column.
fn stepping(c: &mut Criterion) {
    const STEPS: u64 = 20_000;
    let all = javm_benches::guests::load();
    let sieve = javm_benches::guests::named(&all, "sieve");
    let args = 10_000u32.to_le_bytes();
    let mut g = c.benchmark_group("stepping");
    g.sample_size(10).throughput(criterion::Throughput::Elements(STEPS));
    for engine in EngineKind::ALL {
        let module = javm_benches::run::load(engine, GasModel::Pipeline, &sieve.jam).expect("the guest loads");
        for traced in [false, true] {
            let what = if traced { "step_traced" } else { "step" };
            g.bench_function(format!("{engine}/{what}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut instance = javm_benches::run::instance(&module, &args);
                        let start = Instant::now();
                        for _ in 0..STEPS {
                            let exit = if traced { instance.step_traced().exit } else { instance.step() };
                            assert!(exit.is_none(), "sieve runs longer than the benched steps");
                        }
                        total += start.elapsed();
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, lifecycle, stepping);
criterion_main!(benches);
