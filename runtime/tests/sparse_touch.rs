//! A guest that grows its heap by 256 MiB, reads one byte every 64 KiB of
//! it and writes one every 1 MiB: on both engines the same results, and
//! frames taken from the frame pool only for the pages written (plus the
//! recompiler's small stock), not for the groups around each page touched.
//! Alone in its binary: it counts the process's frames in use.

use javm::testing::sparse_touch_program;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};
use javm_cap::frames::FramePool;

const HEAP: u32 = 256 << 20;
const READ_STRIDE: u32 = 64 << 10;
const WRITE_STRIDE: u32 = 1 << 20;
/// Frames the recompiler may hold unused in its stock (two large groups).
const STOCK: usize = 128;

/// `(exit, registers, gas, memory root)` and the frames the run took.
fn run(engine: EngineKind) -> ((Exit, [u64; 13], i64, [u8; 32]), usize) {
    let config = Config { engine, profile: Profile::P7, gas_model: Some(GasModel::Pipeline) };
    let module = Engine::with_cache_capacity(config, 0)
        .load(&sparse_touch_program(HEAP, READ_STRIDE, WRITE_STRIDE))
        .expect("the program loads");
    let before = FramePool::global().stats().in_use;
    let mut instance = module.instantiate_standard(&[], 0).expect("instantiates");
    instance.set_gas(1 << 30);
    let exit = instance.run();
    let frames = FramePool::global().stats().in_use - before;
    ((exit, *instance.regs(), instance.gas(), instance.memory_root()), frames)
}

#[test]
fn sparse_touches_commit_only_the_pages_written() {
    let (interp, interp_frames) = run(EngineKind::Interpreter);
    let (exit, regs, _, _) = interp;
    assert_eq!(exit, Exit::Panic);
    assert_ne!(regs[11], 0, "sbrk succeeded");
    assert_eq!(regs[7] - regs[11], u64::from(HEAP));
    assert_eq!(regs[10], 0, "the heap reads as zeros");
    let written = (HEAP / WRITE_STRIDE) as usize;
    let read = (HEAP / READ_STRIDE) as usize;
    assert!((written..written + 8).contains(&interp_frames), "interpreter: {interp_frames} frames");

    let (jit, jit_frames) = run(EngineKind::Recompiler);
    assert_eq!(jit, interp);
    // A frame per page written, none for the pages only read: far fewer
    // than the pages touched.
    assert!(
        (written..=written + STOCK).contains(&jit_frames),
        "recompiler: {jit_frames} frames for {written} pages written and {read} read"
    );
}
