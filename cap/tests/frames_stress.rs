//! Concurrent allocation and release of frames.

use std::sync::Arc;
use std::thread;

use javm_cap::PAGE_SIZE;
use javm_cap::frames::{Frame, FramePool, PoolConfig};

/// Cheap per-thread pseudo-random sequence (xorshift).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn threads_never_share_a_frame() {
    const THREADS: u64 = 4;
    const ROUNDS: usize = 20_000;
    const HELD: usize = 64;
    let pool = Arc::new(FramePool::with_config(PoolConfig { chunk_frames: 32, max_frames: None }).unwrap());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                let mut held: Vec<(Frame, u64)> = Vec::new();
                for _ in 0..ROUNDS {
                    if held.len() < HELD && !next(&mut rng).is_multiple_of(3) {
                        let mut frame = pool.try_alloc().unwrap();
                        let tag = next(&mut rng);
                        let bytes = frame.as_mut_slice();
                        bytes[..8].copy_from_slice(&tag.to_le_bytes());
                        bytes[PAGE_SIZE - 8..].copy_from_slice(&tag.to_le_bytes());
                        held.push((frame, tag));
                    } else if !held.is_empty() {
                        let i = next(&mut rng) as usize % held.len();
                        let (frame, tag) = held.swap_remove(i);
                        let bytes = frame.as_slice();
                        assert_eq!(bytes[..8], tag.to_le_bytes(), "frame overwritten");
                        assert_eq!(bytes[PAGE_SIZE - 8..], tag.to_le_bytes());
                    }
                }
                for (frame, tag) in &held {
                    assert_eq!(frame.as_slice()[..8], tag.to_le_bytes());
                }
                held.len()
            })
        })
        .collect();
    let still_held: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let stats = pool.stats();
    assert_eq!(stats.in_use, 0, "{still_held} frames were dropped by the workers");
    // Recycling keeps the pool near the peak number of live frames.
    assert!(stats.capacity <= THREADS as usize * HELD + 32, "{stats:?}");
    assert!(stats.recycled <= stats.capacity, "{stats:?}");
}

#[test]
fn frames_move_between_threads() {
    let mut frame = Frame::alloc_zeroed();
    frame.as_mut_slice()[1] = 42;
    let offset = frame.fd_offset();
    let back = thread::spawn(move || {
        assert_eq!(frame.as_slice()[1], 42);
        frame
    })
    .join()
    .unwrap();
    assert_eq!(back.fd_offset(), offset);
}
