//! Small hostile inputs never drive large allocations: a counting allocator
//! records the largest single allocation while every loader runs on crafted
//! headers that declare huge sizes and on seeded random bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, recording the largest request.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only
// records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the largest single allocation it made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    f();
    LARGEST.load(Ordering::Relaxed)
}

const MIB: usize = 1 << 20;

#[test]
fn small_inputs_allocate_little() {
    use javm::testing::hostile::{parse_archives, parse_blob, parse_standard};
    use javm::{Config, Engine};
    use javm_cap::program::varint;

    // A `.polkavm` container declaring 4 GiB of ro data, rw data and stack.
    let mut memory = Vec::new();
    for v in [u64::from(u32::MAX), u64::from(u32::MAX), u64::from(u32::MAX)] {
        varint::encode(v, &mut memory);
    }
    let mut body = vec![1u8, memory.len() as u8];
    body.extend(&memory);
    body.push(0);
    let mut container = javm_cap::program::container::MAGIC.to_vec();
    container.push(3);
    container.extend(((13 + body.len()) as u64).to_le_bytes());
    container.extend(body);
    // A standard program with the largest heap and stack and a `trap`.
    let mut standard = vec![0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    standard.extend(5u32.to_le_bytes());
    standard.extend([0x00, 0x00, 0x01, 0x00, 0x01]);

    let inputs: Vec<Vec<u8>> = [container, standard]
        .into_iter()
        .chain((0..300).map(|seed| javm::testing::seeded_bytes(seed, (seed as usize * 13) % 700)))
        .collect();
    for input in &inputs {
        let largest = largest_allocation(|| {
            parse_blob(input);
            parse_standard(input);
            parse_archives(input);
            if let Ok(module) = Engine::new(Config::default()).load(input) {
                let _ = module.instantiate_standard(&[], 0);
            }
        });
        assert!(largest <= 4 * MIB, "{largest} bytes allocated at once for a {}-byte input", input.len());
    }
}
