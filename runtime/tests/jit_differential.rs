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
use javm_cap::program::asm::{Assembler, Operands};
use javm_cap::program::{CodeBlob, Decode, GasModel, Opcode, Profile, Program};
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
    // Right after the last mapping, with room for 16 pages where there is.
    let top =
        space.mappings().last().map_or(0x20000, |m| u64::from(m.end_page()) * 4096).min(u64::from(u32::MAX)) as u32;
    space.set_heap(Some(Heap { top, limit: top.saturating_add(0x10000) }));
    space
}

fn run_interp(program: &Program, state: VmState, space: AddressSpace) -> (Trace, [u8; 32]) {
    let code = InterpCode::new(program);
    let space = RefCell::new(space);
    let trace = drive(
        program,
        state,
        |st| match interp::run(
            program,
            &code,
            st,
            &mut space.borrow_mut().cached(),
            &mut interp::RegisterFile::new(),
            false,
        ) {
            Stop::Exit(e) => e,
            Stop::BlockEnd => unreachable!("not asked to stop at block ends"),
        },
        |id, st| host_call(id, st, &mut space.borrow_mut().cached()),
        |addr| space.borrow_mut().map_zeroed(addr.into(), 4096, Access::Write).unwrap(),
    );
    let root = space.borrow_mut().root();
    (trace, root)
}

fn run_jit(
    program: &Arc<Program>,
    state: VmState,
    space: AddressSpace,
    options: &CompileOptions,
    hand_overs: &std::cell::Cell<usize>,
) -> (Trace, [u8; 32]) {
    let code = std::cell::OnceCell::new();
    let module = Arc::new(CompiledModule::compile(program.clone(), options).unwrap());
    let jit = RefCell::new(JitInstance::new(module, space).unwrap());
    let trace = drive(
        program,
        state,
        |st| loop {
            let mut jit = jit.borrow_mut();
            match jit.run(st) {
                JitExit::Exit(e) => return e,
                JitExit::Interpret => {
                    hand_overs.set(hand_overs.get() + 1);
                    let (mem, regs) = (&mut jit.memory(), &mut interp::RegisterFile::new());
                    let code = code.get_or_init(|| InterpCode::new(program));
                    match interp::run(program, code, st, mem, regs, true) {
                        Stop::Exit(e) => return e,
                        Stop::BlockEnd => continue,
                    }
                }
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
        // Both code paths; compiled whole, or lazily block by block or in
        // larger regions, from a program decoded whole or as it compiles.
        let (lazy, region) = [(false, 0), (true, 1), (true, 8)][(seed / 2 % 3) as usize];
        let options = CompileOptions { force_fallbacks: seed % 2 == 1, lazy, region };
        let decode = if seed / 6 % 2 == 0 { Decode::Lazy } else { Decode::Eager };
        let blob = CodeBlob::parse(&case.blob).expect("it parsed above");
        let compiled = Arc::new(Program::with_decode(blob, case.profile, case.gas_model, decode).expect("as above"));
        let expected = run_interp(&program, state, space(&case));
        let hand_overs = std::cell::Cell::new(0);
        let actual = run_jit(&compiled, state, space(&case), &options, &hand_overs);
        assert_eq!(actual, expected, "seed {seed} ({options:?}, {decode:?})");
        *exits.entry("hand-over").or_default() += hand_overs.get();
        for (exit, _) in &expected.0 {
            *exits.entry(exit.status()).or_default() += 1;
        }
    }
    exits
}

#[test]
fn engines_agree_with_host_memory_access_on_both_code_paths() {
    let exits = differential(0..2000);
    for status in ["halt", "panic", "out-of-gas", "page-fault", "host", "hand-over"] {
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

/// Sequences the recompiler compiles as fused pairs or with special cases
/// per register aliasing: every one over registers drawn from `r0..=r3`
/// (guest `r0`/`r1` live in `rax`/`rdx`, which the upper multiplies use).
fn special_sequences() -> Vec<Vec<(Opcode, Operands)>> {
    use Opcode as O;
    let op = |ra: u8, rb: u8, rd: u8, imm: u64| Operands { ra, rb, rd, imm, ..Operands::default() };
    let regs = |n: usize| {
        (0..4usize.pow(n as u32))
            .map(move |k| (0..n).map(|j| ((k / 4usize.pow(j as u32)) % 4) as u8).collect::<Vec<u8>>())
    };
    let imms = [0u64, 1, 2, 3, 4, 31, 32, 63, 0x7F, 0x80, u64::MAX, 0xFFFF_FFFF_8000_0000, 0x1234_5678];
    let mut out = Vec::new();
    for r in regs(6) {
        // add_64 d, a, b; set_lt_u c, p, q (the carry when p = d, q ∈ {a, b}, q ≠ d)
        out.push(vec![(O::Add64, op(r[1], r[2], r[0], 0)), (O::SetLtU, op(r[4], r[5], r[3], 0))]);
    }
    for r in regs(5) {
        // shlo_l_imm_64 d, s, n; add_64 e, x, y (one lea when e = d, d ∈ {x, y} once)
        for n in [0, 1, 2, 3, 4] {
            out.push(vec![(O::ShloLImm64, op(r[0], r[1], 0, n)), (O::Add64, op(r[3], r[4], r[2], 0))]);
        }
    }
    for r in regs(6) {
        // mul_upper_u_u d, a, b; mul_64 e, x, y (one mulx when {x, y} = {a, b})
        out.push(vec![(O::MulUpperUU, op(r[1], r[2], r[0], 0)), (O::Mul64, op(r[4], r[5], r[3], 0))]);
    }
    for r in regs(5) {
        // add_64 d, a, b; load_ind_* e, x, off (one load from a + b + off
        // when e = x = d)
        for (o, off) in [(O::LoadIndU8, 0), (O::LoadIndI16, 0x80), (O::LoadIndI32, u64::MAX), (O::LoadIndU64, 8)] {
            out.push(vec![(O::Add64, op(r[1], r[2], r[0], 0)), (o, op(r[3], r[4], 0, off))]);
        }
    }
    for r in regs(3) {
        for o in [
            O::MulUpperUU,
            O::MulUpperSS,
            O::MulUpperSU,
            O::SetLtU,
            O::SetLtS,
            O::Add64,
            O::Sub64,
            O::Sub32,
            O::Mul32,
            O::OrInv,
            O::Xnor,
            O::Max,
            O::MaxU,
            O::Min,
            O::MinU,
        ] {
            out.push(vec![(o, op(r[1], r[2], r[0], 0))]);
        }
    }
    for r in regs(2) {
        for &x in &imms {
            for o in [
                O::ShloLImm32,
                O::ShloRImm32,
                O::SharRImm32,
                O::RotR32Imm,
                O::ShloLImm64,
                O::ShloRImm64,
                O::SharRImm64,
                O::RotR64Imm,
                O::SetLtUImm,
                O::SetLtSImm,
                O::SetGtUImm,
                O::SetGtSImm,
                O::NegAddImm64,
                O::NegAddImm32,
                O::AddImm64,
                O::AddImm32,
                O::AndImm,
                O::XorImm,
                O::OrImm,
                O::CmovIzImm,
                O::CmovNzImm,
            ] {
                out.push(vec![(o, op(r[0], r[1], 0, x))]);
            }
        }
    }
    out
}

/// Every special sequence (then a `trap`), from every instruction (a fused
/// instruction is entered through the interpreter), on both code paths,
/// with three register files, agrees with the interpreter. Memory: one
/// readable page with content at 0x20000; accesses elsewhere fault (and are
/// resumed after the page is mapped) or panic below 0x10000.
#[test]
fn special_sequences_agree_for_every_register_aliasing() {
    let inputs = [
        [u64::MAX, 1, 1 << 63, 0x8000_0000, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0x7FFF_FFFF, 0x1234_5678_9ABC_DEF0, 5, u64::MAX - 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0x1_0001_0000, 0x1_0000, 0x10, 0x8, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    let memory = || {
        let mut space = AddressSpace::new();
        let content: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        space.map_cap(0x20, javm_cap::DataCap::from_bytes(&content).unwrap(), Access::Read).unwrap();
        space
    };
    for sequence in special_sequences() {
        let mut asm = Assembler::new(Profile::P8);
        let mut starts = Vec::new();
        for &(o, ops) in sequence.iter().chain(&[(Opcode::Trap, Operands::default())]) {
            starts.push(asm.pc());
            assert!(asm.push(o, ops));
        }
        let program = Arc::new(Program::new(asm.finish(), Profile::P8, GasModel::Pipeline).unwrap());
        // Memory only where the sequence accesses it (faults cost a signal).
        let memory = || if sequence.iter().any(|(o, _)| o.is_memory_access()) { memory() } else { AddressSpace::new() };
        for &pc in &starts {
            for regs in inputs {
                let state = VmState { regs, pc, gas: 1000, charged: false };
                let expected = run_interp(&program, state, memory());
                for force_fallbacks in [false, true] {
                    // Lazily (entered anywhere before anything is compiled)
                    // and whole.
                    let options = CompileOptions { force_fallbacks, lazy: !force_fallbacks, region: 1 };
                    let actual = run_jit(&program, state, memory(), &options, &std::cell::Cell::new(0));
                    assert_eq!(actual, expected, "{sequence:?} from pc {pc}, fallbacks {force_fallbacks}");
                }
            }
        }
    }
}
