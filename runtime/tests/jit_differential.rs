//! Differential tests: generated programs (`javm::testing::generate`) run
//! on the interpreter and on the recompiler must end with the same exits,
//! states and memory roots.
//!
//! (`differential.rs` compares them through the public API.)
//!
//! - Through the engines directly, with a host that reads and writes guest
//!   memory in every call, a page known only by its hash, a P7 heap for
//!   `sbrk`, and the recompiler alternating between its BMI and baseline code
//!   paths; also on several threads at once.

use arbitrary::Unstructured;
use javm::interp::{self, InterpCode, Stop};
use javm::testing::generate::{GenCase, gen_case};
use javm::testing::seeded_bytes;
use javm_cap::page::PageSlot;
use javm_cap::program::Program;
use javm_cap::space::{Access, AddressSpace, Heap};
use javm_cap::vm::{Exit, GuestMemory, VmState};
use javm_recompiler::{CompileOptions, CompiledModule, JitExit, JitInstance};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Seeds of this file's cases: apart from `differential.rs`'s, so the two
/// files test different programs.
const SEED_BASE: u64 = 1 << 32;

fn case(seed: u64) -> Option<GenCase> {
    gen_case(&mut Unstructured::new(&seeded_bytes(SEED_BASE + seed, 4096))).ok()
}

/// What one engine did: every exit with the state right after it.
type Trace = Vec<(Exit, VmState)>;

/// A host call that reads 12 bytes at r8 and writes some of them back at
/// r9, through the engine's own view of guest memory.
fn host_call(id: u32, state: &mut VmState, mem: &mut impl GuestMemory) -> bool {
    if state.gas < 3 {
        return false;
    }
    state.gas -= 3;
    let mut buf = [0u8; 12];
    state.regs[7] = match mem.read_bytes(state.regs[8] as u32, &mut buf) {
        Ok(()) => u64::from_le_bytes(buf[..8].try_into().unwrap()) ^ u64::from(id),
        Err(_) => u64::MAX - 2,
    };
    buf[0] = buf[0].wrapping_add(1);
    if mem.write_bytes(state.regs[9] as u32, &buf[..(id as usize % 12) + 1]).is_err() {
        state.regs[8] = 0xDEAD;
    }
    true
}

/// Drives an engine through up to 12 exits: host calls answered, page
/// faults fixed by mapping the page, out-of-gas by adding gas.
fn drive(
    program: &Program,
    mut state: VmState,
    mut run: impl FnMut(&mut VmState) -> Exit,
    mut host: impl FnMut(u32, &mut VmState) -> bool,
    mut map: impl FnMut(u32),
) -> Trace {
    let mut trace = Vec::new();
    for _ in 0..12 {
        let exit = run(&mut state);
        trace.push((exit, state));
        match exit {
            Exit::Host(id) => {
                if !host(id, &mut state) {
                    break;
                }
                let index = program.index_of(state.pc).unwrap();
                state.pc = program.instructions()[index as usize].next_pc;
            }
            Exit::PageFault(addr) => map(addr),
            Exit::OutOfGas => state.gas += 40,
            Exit::Halt | Exit::Panic => break,
        }
    }
    trace
}

/// The case's memory, plus a page known only by its hash in the first
/// writable mapping and a heap after the last mapping.
fn space(case: &GenCase) -> AddressSpace {
    let mut space = AddressSpace::new();
    for m in &case.mappings {
        let start = u64::from(m.start_page) * 4096;
        space.map_zeroed(start, u64::from(m.pages) * 4096, m.access).unwrap();
        space.poke(start as u32, &m.content).unwrap();
    }
    if let Some(i) = space.mappings().iter().position(|m| m.access == Access::Write && m.cap.page_count() > 1) {
        let m = &mut space.mappings_mut()[i];
        let last = m.cap.page_count() - 1;
        m.cap.insert_overlay_page(last, PageSlot::Missing([7; 32])).unwrap();
    }
    let top = space.mappings().last().map_or(0x20000, |m| m.end_page() * 4096);
    space.set_heap(Some(Heap { top, limit: top + 0x10000 }));
    space
}

fn run_interp(program: &Program, state: VmState, space: AddressSpace) -> (Trace, [u8; 32]) {
    let code = InterpCode::new(program);
    let space = RefCell::new(space);
    let trace = drive(
        program,
        state,
        |st| match interp::run(program, &code, st, &mut space.borrow_mut().cached(), false) {
            Stop::Exit(e) => e,
            Stop::BlockEnd => unreachable!("not asked to stop at block ends"),
        },
        |id, st| host_call(id, st, &mut space.borrow_mut().cached()),
        |addr| space.borrow_mut().map_zeroed(addr.into(), 4096, Access::Write).unwrap(),
    );
    let root = space.borrow_mut().root();
    (trace, root)
}

fn run_jit(program: &Arc<Program>, state: VmState, space: AddressSpace, options: &CompileOptions) -> (Trace, [u8; 32]) {
    let code = InterpCode::new(program);
    let module = Arc::new(CompiledModule::compile(program.clone(), options).unwrap());
    let jit = RefCell::new(JitInstance::new(module, space).unwrap());
    let trace = drive(
        program,
        state,
        |st| loop {
            let mut jit = jit.borrow_mut();
            match jit.run(st) {
                JitExit::Exit(e) => return e,
                JitExit::Interpret => match interp::run(program, &code, st, &mut jit.memory(), true) {
                    Stop::Exit(e) => return e,
                    Stop::BlockEnd => continue,
                },
            }
        },
        |id, st| host_call(id, st, &mut jit.borrow_mut().memory()),
        |addr| jit.borrow_mut().address_space().map_zeroed(addr.into(), 4096, Access::Write).unwrap(),
    );
    let root = jit.borrow_mut().address_space().root();
    (trace, root)
}

/// Runs the cases of seeds `seeds` on both engines; returns how many exits
/// of each kind they produced.
fn differential(seeds: std::ops::Range<u64>) -> BTreeMap<&'static str, usize> {
    let mut exits = BTreeMap::new();
    for seed in seeds {
        let Some(case) = case(seed) else { continue };
        let Ok(program) = Program::from_blob(&case.blob, case.profile, case.gas_model) else { continue };
        if !program.is_valid_entry(case.entry) {
            continue;
        }
        let program = Arc::new(program);
        let state = VmState { regs: case.regs, pc: case.entry, gas: case.gas, charged: false };
        let options = CompileOptions { force_fallbacks: seed % 2 == 1 };
        let expected = run_interp(&program, state, space(&case));
        let actual = run_jit(&program, state, space(&case), &options);
        assert_eq!(actual, expected, "seed {seed} ({options:?})");
        for (exit, _) in &expected.0 {
            *exits.entry(exit.status()).or_default() += 1;
        }
    }
    exits
}

#[test]
fn engines_agree_with_host_memory_access_on_both_code_paths() {
    let exits = differential(0..2000);
    for status in ["halt", "panic", "out-of-gas", "page-fault", "host"] {
        assert!(exits.get(status).copied().unwrap_or(0) > 20, "{status}: {exits:?}");
    }
}

#[test]
fn instances_on_several_threads_agree() {
    let threads: Vec<_> =
        (0..4u64).map(|t| std::thread::spawn(move || differential(10_000 + t * 300..10_300 + t * 300))).collect();
    for t in threads {
        assert!(t.join().unwrap().values().sum::<usize>() > 200);
    }
}
