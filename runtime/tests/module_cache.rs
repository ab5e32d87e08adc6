//! The engine's in-memory module cache: the same bytes are decoded and
//! compiled once, modules from the cache run exactly like fresh ones, the
//! bound holds, failures are not kept, and concurrent loads build once.

use javm::testing::on_every_engine;
use javm::{CacheStats, Config, Engine, EngineKind, Exit, GasModel, Profile};
use std::path::Path;
use std::sync::Barrier;

fn guest(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin").join(name)).unwrap()
}

fn config(engine: EngineKind) -> Config {
    Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) }
}

/// Runs sieve(1000) and returns its exit, gas left, registers and memory root.
fn run_sieve(module: &javm::Module) -> (Exit, i64, [u64; 13], [u8; 32]) {
    let mut instance = module.instantiate_standard(&1000u32.to_le_bytes(), 0).unwrap();
    instance.set_gas(100_000_000);
    let exit = instance.run();
    (exit, instance.gas(), *instance.regs(), instance.memory_root())
}

fn counts(stats: CacheStats) -> (u64, u64, usize) {
    (stats.hits, stats.misses, stats.entries)
}

#[test]
fn second_load_is_a_hit_and_runs_the_same() {
    let sieve = guest("sieve.jam");
    on_every_engine(|kind| {
        let engine = Engine::new(config(kind));
        let first = engine.load(&sieve).unwrap();
        assert_eq!(counts(engine.cache_stats()), (0, 1, 1));
        let second = engine.load(&sieve).unwrap();
        assert_eq!(counts(engine.cache_stats()), (1, 1, 1));
        let fresh = Engine::with_cache_capacity(config(kind), 0).load(&sieve).unwrap();
        let expect = run_sieve(&fresh);
        assert_eq!(expect.0, Exit::Halt);
        assert_eq!(run_sieve(&first), expect);
        assert_eq!(run_sieve(&second), expect);
        // A clone of the engine shares the cache.
        let _ = engine.clone().load(&sieve).unwrap();
        assert_eq!(counts(engine.cache_stats()), (2, 1, 1));
        assert!(engine.cache_stats().bytes >= sieve.len());
    });
}

#[test]
fn key_separates_bytes_and_load_forms() {
    let engine = Engine::new(config(EngineKind::Interpreter));
    // `load_imm r7, 42; trap` as a raw code blob, and as different bytes.
    let blob = [0x00, 0x00, 0x04, 51, 0x07, 42, 0x00, 0b1001];
    let other = [0x00, 0x00, 0x04, 51, 0x07, 43, 0x00, 0b1001];
    let a = engine.load_blob(&blob).unwrap();
    let b = engine.load_blob(&other).unwrap();
    assert_eq!(counts(engine.cache_stats()), (0, 2, 2));
    for (module, r7) in [(a, 42), (b, 43)] {
        let mut instance = module.instantiate_empty(0);
        instance.set_gas(100);
        assert_eq!(instance.run(), Exit::Panic);
        assert_eq!(instance.reg(7), r7);
    }
    // The same bytes as a standard program are another entry (and invalid).
    assert!(engine.load(&blob).is_err());
    assert_eq!(counts(engine.cache_stats()), (0, 3, 2));
}

#[test]
fn failed_loads_are_not_kept() {
    let engine = Engine::new(config(EngineKind::Recompiler));
    for _ in 0..3 {
        assert!(engine.load(b"not a program").is_err());
    }
    let stats = engine.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries, stats.bytes), (0, 3, 0, 0));
}

#[test]
fn capacity_bounds_the_cache_least_recently_used_first() {
    let names = ["sieve.jam", "sort.jam", "keccak.jam"];
    let blobs: Vec<Vec<u8>> = names.iter().map(|n| guest(n)).collect();
    let sizes: Vec<usize> = blobs
        .iter()
        .map(|b| Engine::with_cache_capacity(config(EngineKind::Interpreter), 0).load(b).unwrap().footprint())
        .collect();
    // Room for the two largest, not for all three.
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let capacity = sorted[1] + sorted[2];
    assert!(capacity < sizes.iter().sum::<usize>());
    let engine = Engine::with_cache_capacity(config(EngineKind::Interpreter), capacity);
    for blob in &blobs {
        engine.load(blob).unwrap();
        assert!(engine.cache_stats().bytes <= capacity);
    }
    let stats = engine.cache_stats();
    assert!(stats.evictions >= 1, "{stats:?}");
    assert_eq!(stats.entries + stats.evictions as usize, 3, "{stats:?}");
    // The last one loaded is still there; the first was the oldest.
    let before = engine.cache_stats().misses;
    engine.load(&blobs[2]).unwrap();
    assert_eq!(engine.cache_stats().misses, before, "the newest module was evicted");
    engine.load(&blobs[0]).unwrap();
    assert_eq!(engine.cache_stats().misses, before + 1, "the oldest module was kept");

    // A module larger than the whole bound is built but not kept.
    let tiny = Engine::with_cache_capacity(config(EngineKind::Interpreter), 1);
    tiny.load(&blobs[0]).unwrap();
    assert_eq!(counts(tiny.cache_stats()), (0, 1, 0));
    // Capacity 0 turns the cache off.
    let off = Engine::with_cache_capacity(config(EngineKind::Interpreter), 0);
    off.load(&blobs[0]).unwrap();
    off.load(&blobs[0]).unwrap();
    assert_eq!(counts(off.cache_stats()), (0, 0, 0));
    // Clearing drops every module.
    engine.clear_cache();
    assert_eq!((engine.cache_stats().entries, engine.cache_stats().bytes), (0, 0));
}

#[test]
fn concurrent_loads_build_once() {
    let sieve = guest("sieve.jam");
    on_every_engine(|kind| {
        let engine = Engine::new(config(kind));
        let threads = 6;
        let barrier = Barrier::new(threads);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        run_sieve(&engine.load(&sieve).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(counts(engine.cache_stats()), (threads as u64 - 1, 1, 1));
    });
}

#[test]
fn load_by_hash_hits_without_the_bytes() {
    use sha2::{Digest, Sha256};
    let sieve = guest("sieve.jam");
    let sort = guest("sort.jam");
    on_every_engine(|kind| {
        let engine = Engine::new(config(kind));
        let name = [7u8; 32];
        let first = engine.load_by_hash(name, || sieve.clone()).unwrap();
        let again = engine.load_by_hash(name, || -> Vec<u8> { panic!("a hit must not ask for the bytes") }).unwrap();
        assert_eq!(counts(engine.cache_stats()), (1, 1, 1));
        assert_eq!(run_sieve(&again), run_sieve(&first));
        // A caller's name is not javm's own key: naming sort's bytes by the
        // SHA-256 of sieve's does not make `load` of sieve return sort.
        let sieve_sha: [u8; 32] = Sha256::digest(&sieve).into();
        engine.load_by_hash(sieve_sha, || sort.clone()).unwrap();
        let loaded = engine.load(&sieve).unwrap();
        assert_eq!(counts(engine.cache_stats()), (1, 3, 3));
        assert_eq!(run_sieve(&loaded), run_sieve(&first));
        // A failed named load is not kept either.
        assert!(engine.load_by_hash([9; 32], || b"junk".to_vec()).is_err());
        assert_eq!(engine.cache_stats().entries, 3);
    });
}
