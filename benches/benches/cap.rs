//! Data-model benches: page hashing throughput, roots of sparse and dense
//! caps, incremental roots after a flush, and sharing an image's pages.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use javm_cap::{DataCap, MAX_CAP_SIZE, PAGE_SIZE, ssz};
use sha2::{Digest, Sha256};

const P: u64 = PAGE_SIZE as u64;

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hashing");
    let page: [u8; PAGE_SIZE] = noise(PAGE_SIZE, 1).try_into().unwrap();
    g.throughput(Throughput::Bytes(P));
    g.bench_function("sha256_plain_4KiB", |b| b.iter(|| Sha256::digest(black_box(&page))));
    g.bench_function("page_root_4KiB", |b| b.iter(|| ssz::hash_page(black_box(&page))));

    let bytes = noise(16 << 20, 2);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("cap_root_dense_16MiB_uncached", |b| {
        let cap = DataCap::from_bytes(&bytes).unwrap();
        b.iter(|| cap.hash_tree_root_uncached().unwrap())
    });
    g.finish();
}

/// A 4 GiB cap with 1,000 non-empty pages spread over the whole range.
fn sparse_4gib() -> DataCap {
    let content = noise(PAGE_SIZE, 3);
    let pages = (0..1000u32).map(|i| (i * 1048, &content[..]));
    DataCap::from_sparse_pages(MAX_CAP_SIZE, pages).unwrap()
}

fn sparse_root(c: &mut Criterion) {
    let mut g = c.benchmark_group("root_4GiB_1000_pages");
    g.bench_function("cold", |b| {
        b.iter_batched_ref(sparse_4gib, |cap| cap.hash_tree_root().unwrap(), BatchSize::LargeInput)
    });
    // Page hashes already cached in the shared pages: the tree alone.
    let warm = sparse_4gib();
    warm.hash_tree_root().unwrap();
    g.bench_function("tree_only", |b| {
        b.iter_batched_ref(
            || {
                let mut cap = DataCap::zeroed(MAX_CAP_SIZE).unwrap();
                cap.place_shared(0, &warm).unwrap();
                cap
            },
            |cap| cap.hash_tree_root().unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("cached", |b| b.iter(|| warm.hash_tree_root().unwrap()));
    g.finish();
}

fn incremental(c: &mut Criterion) {
    let mut g = c.benchmark_group("flush_and_root_64MiB");
    let base = DataCap::from_bytes(&noise(64 << 20, 4)).unwrap();
    base.hash_tree_root().unwrap();
    let pages = base.page_count();
    for dirty in [1u32, 100] {
        // `shared`: the backing is shared with `base`, so the flush copies the
        // slot vector; `unique`: the backing is owned, so it flushes in place.
        for unique in [false, true] {
            let name = format!("{dirty}_dirty_pages_{}", if unique { "unique" } else { "shared" });
            g.bench_function(name, |b| {
                let mut round = 0u32;
                b.iter_batched_ref(
                    || {
                        round = round.wrapping_add(1);
                        let mut cap =
                            if unique { DataCap::from_slab((**base.backing()).clone()) } else { base.clone() };
                        for k in 0..dirty {
                            let page = (k * 163 + round * 7) % pages;
                            cap.page_mut(page).unwrap()[(round % 4096) as usize] ^= 0x5A;
                        }
                        cap
                    },
                    |cap| {
                        cap.flush_in_place();
                        cap.hash_tree_root().unwrap()
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.bench_function("full_recompute", |b| b.iter(|| base.hash_tree_root_uncached().unwrap()));
    g.finish();
}

fn sharing(c: &mut Criterion) {
    let mut g = c.benchmark_group("place_shared");
    let image = DataCap::from_bytes(&noise(16 << 20, 5)).unwrap();
    g.bench_function("16MiB_into_4GiB", |b| {
        b.iter_batched(
            || DataCap::zeroed(MAX_CAP_SIZE).unwrap(),
            |mut cap| {
                cap.place_shared(0x10000, &image).unwrap();
                cap
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = hashing, sparse_root, incremental, sharing
}
criterion_main!(benches);
