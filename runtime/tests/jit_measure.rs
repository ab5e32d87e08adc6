//! Rough timings of the recompiler (ignored by default; run with
//! `cargo test --release -p javm --test jit_measure -- --ignored --nocapture`).
//! Criterion benches against other engines live in `benches/`.

use javm::interp::{self, InterpCode, Stop};
use javm_cap::frames::{FramePool, PoolConfig};
use javm_cap::program::{CodeBlob, GasModel, Opcode, Profile, Program};
use javm_cap::space::{Access, AddressSpace};
use javm_cap::vm::{Exit, VmState};
use javm_cap::{DataCap, PageBytes, PageSlot};
use javm_recompiler::{CompileOptions, CompiledModule, JitExit, JitInstance};
use std::sync::Arc;
use std::time::Instant;

/// A tiny assembler: instructions as opcode plus raw operand bytes.
#[derive(Default)]
struct Asm {
    code: Vec<u8>,
    starts: Vec<usize>,
}

impl Asm {
    fn pc(&self) -> i32 {
        self.code.len() as i32
    }
    fn op(&mut self, op: Opcode, operands: &[u8]) -> &mut Self {
        self.starts.push(self.code.len());
        self.code.push(op.code(Profile::P8).unwrap());
        self.code.extend_from_slice(operands);
        self
    }
    fn load_imm(&mut self, r: u8, v: i32) -> &mut Self {
        let mut operands = vec![r];
        operands.extend(v.to_le_bytes());
        self.op(Opcode::LoadImm, &operands)
    }
    /// `branch_ne_imm r, 0, target`.
    fn loop_while_nonzero(&mut self, r: u8, target: i32) -> &mut Self {
        let mut operands = vec![r | 1 << 4, 0];
        operands.extend((target - self.pc()).to_le_bytes());
        self.op(Opcode::BranchNeImm, &operands)
    }
    /// `count` times (counting in r2): `op operands` (which should use r1),
    /// then r1 += 4096; then `trap`.
    fn page_loop(&mut self, start: i32, count: i32, op: Opcode, operands: &[u8]) -> &mut Self {
        self.load_imm(1, start).load_imm(2, count).op(Opcode::Fallthrough, &[]);
        let top = self.pc();
        self.op(op, operands)
            .op(Opcode::AddImm64, &[1 | 1 << 4, 0, 0x10])
            .op(Opcode::AddImm64, &[2 | 2 << 4, 0xFF])
            .loop_while_nonzero(2, top)
            .op(Opcode::Trap, &[])
    }
    fn program(&self) -> Arc<Program> {
        let blob = CodeBlob::from_parts(self.code.clone(), self.starts.iter().copied(), vec![]);
        Arc::new(Program::new(blob, Profile::P8, GasModel::Pipeline).unwrap())
    }
}

fn jit(program: &Arc<Program>, space: AddressSpace) -> JitInstance {
    let module = CompiledModule::compile(program.clone(), &CompileOptions::default()).unwrap();
    JitInstance::new(Arc::new(module), space).unwrap()
}

fn run_jit(jit: &mut JitInstance, state: &mut VmState) -> Exit {
    match jit.run(state) {
        JitExit::Exit(e) => e,
        JitExit::Interpret => panic!("interpreter hand-off"),
    }
}

fn stack() -> AddressSpace {
    let mut space = AddressSpace::new();
    space.map_zeroed(0x20000, 0x10_0000, Access::Write).unwrap();
    space
}

/// A loop of loads, stores and arithmetic, `n` iterations.
fn busy_loop(n: i32) -> Arc<Program> {
    let mut a = Asm::default();
    a.load_imm(1, 0x20000).load_imm(2, n).load_imm(3, 0);
    a.op(Opcode::Fallthrough, &[]);
    let top = a.pc();
    a.op(Opcode::LoadIndU64, &[4 | 1 << 4])
        .op(Opcode::Add64, &[3 | 4 << 4, 3])
        .op(Opcode::AddImm64, &[4 | 4 << 4, 1])
        .op(Opcode::StoreIndU64, &[4 | 1 << 4])
        .op(Opcode::Xor, &[3 | 2 << 4, 5])
        .op(Opcode::MulImm64, &[5 | 5 << 4, 7])
        .op(Opcode::Add64, &[3 | 5 << 4, 3])
        .op(Opcode::AddImm64, &[2 | 2 << 4, 0xFF])
        .loop_while_nonzero(2, top)
        .op(Opcode::Trap, &[]);
    a.program()
}

#[test]
#[ignore]
fn execution_versus_interpreter() {
    let n = 20_000_000;
    let program = busy_loop(n);
    let gas = i64::MAX / 2;
    let mut jit = jit(&program, stack());
    let mut state = VmState { gas, ..VmState::default() };
    let t = Instant::now();
    assert_eq!(run_jit(&mut jit, &mut state), Exit::Panic);
    let jit_time = t.elapsed();

    let code = InterpCode::new(&program);
    let mut space = stack();
    let mut istate = VmState { gas, ..VmState::default() };
    let t = Instant::now();
    assert_eq!(interp::run(&program, &code, &mut istate, &mut space.cached(), false), Stop::Exit(Exit::Panic));
    let interp_time = t.elapsed();
    assert_eq!(state, istate);
    assert_eq!(state.regs[2], 0);
    println!(
        "busy loop, {n} iterations: jit {:?} ({:.2} ns/iter), interpreter {:?} ({:.2} ns/iter), {:.1}x",
        jit_time,
        jit_time.as_nanos() as f64 / f64::from(n),
        interp_time,
        interp_time.as_nanos() as f64 / f64::from(n),
        interp_time.as_secs_f64() / jit_time.as_secs_f64()
    );
}

#[test]
#[ignore]
fn compile_speed() {
    // 200k instructions of mixed arithmetic, memory and branches.
    let mut a = Asm::default();
    for i in 0..25_000 {
        a.load_imm(1, i)
            .op(Opcode::LoadIndU32, &[2 | 1 << 4, 8])
            .op(Opcode::Add64, &[2 | 3 << 4, 4])
            .op(Opcode::DivU64, &[4 | 3 << 4, 5])
            .op(Opcode::ShloL64, &[5 | 4 << 4, 6])
            .op(Opcode::StoreIndU32, &[6 | 1 << 4, 4])
            .op(Opcode::CountSetBits64, &[7 | 6 << 4]);
        let pc = a.pc();
        a.loop_while_nonzero(7, pc + 13);
    }
    a.op(Opcode::Trap, &[]);
    let program = a.program();
    let n = program.instructions().len();
    let t = Instant::now();
    let rounds = 5;
    let mut size = 0;
    for _ in 0..rounds {
        size = CompiledModule::compile(program.clone(), &CompileOptions::default()).unwrap().code_size();
    }
    let per = t.elapsed() / rounds;
    println!(
        "compile: {n} instructions ({} code bytes) in {per:?}: {:.1} ns/instruction, {size} native bytes",
        program.code().len(),
        per.as_nanos() as f64 / n as f64
    );
}

#[test]
#[ignore]
fn host_call_round_trip() {
    // loop: ecalli 1; load_imm r0 ...; jump loop
    let mut a = Asm::default();
    a.op(Opcode::Ecalli, &[1]);
    a.op(Opcode::Jump, &(-2i32).to_le_bytes());
    let program = a.program();
    let mut jit = jit(&program, AddressSpace::new());
    let mut state = VmState { gas: i64::MAX / 2, ..VmState::default() };
    let n = 1_000_000;
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(run_jit(&mut jit, &mut state), Exit::Host(1));
        state.pc = 2;
    }
    println!("host call round trip: {:.1} ns", t.elapsed().as_nanos() as f64 / f64::from(n));
}

#[test]
#[ignore]
fn first_write_per_page() {
    // store_ind_u8 [r1], r1; r1 += 4096; for 256 pages in a row (zero pages
    // are mapped 16 at a time), then for one page alone.
    for (pages, rounds) in [(256, 50), (1, 2000)] {
        let program = Asm::default().page_loop(0x20000, pages, Opcode::StoreIndU8, &[1 | 1 << 4]).program();
        let mut total = std::time::Duration::ZERO;
        for _ in 0..rounds {
            let mut jit = jit(&program, stack());
            let mut state = VmState { gas: i64::MAX / 2, ..VmState::default() };
            let t = Instant::now();
            assert_eq!(run_jit(&mut jit, &mut state), Exit::Panic);
            total += t.elapsed();
            assert_eq!(state.regs[2], 0);
        }
        let per_page = total.as_nanos() as f64 / f64::from(rounds * pages as u32);
        println!("first write to a page, {pages} page(s) per run: {per_page:.0} ns");
    }
}

#[test]
#[ignore]
fn instantiate_and_trivial_run() {
    let mut a = Asm::default();
    a.load_imm(7, 1).op(Opcode::Trap, &[]);
    let program = a.program();
    let module = Arc::new(CompiledModule::compile(program, &CompileOptions::default()).unwrap());
    // A large image: 64 MiB of read-only data, shared by every instance.
    let image = DataCap::from_bytes(&vec![1u8; 64 << 20]).unwrap();
    let mut space = stack();
    space.map_cap(0x1000, image, Access::Read).unwrap();
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        let mut jit = JitInstance::new(module.clone(), space.clone()).unwrap();
        let mut state = VmState { gas: 100, ..VmState::default() };
        assert_eq!(run_jit(&mut jit, &mut state), Exit::Panic);
    }
    println!("instantiate + trivial run + drop (64 MiB image): {:.0} ns", t.elapsed().as_nanos() as f64 / f64::from(n));
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    field("Pss:")
}

#[test]
#[ignore]
fn shared_frames_across_instances() {
    // Each instance reads every page of a 16 MiB image.
    let pages = 4096;
    let program = Asm::default().page_loop(0x100_0000, pages, Opcode::LoadIndU8, &[3 | 1 << 4]).program();
    let module = Arc::new(CompiledModule::compile(program, &CompileOptions::default()).unwrap());
    // The image's frames come from a fresh pool, so they are consecutive in
    // its file, as an image loaded at start-up would be.
    let pool = FramePool::with_config(PoolConfig::default()).unwrap();
    let mut image = DataCap::zeroed(pages as u64 * 4096).unwrap();
    for page in 0..pages as u32 {
        let mut frame = pool.try_alloc().unwrap();
        frame.as_mut_slice().fill(3);
        image.insert_overlay_page(page, PageSlot::Loaded(Arc::new(PageBytes::from_frame(frame)))).unwrap();
    }
    image.flush_in_place();
    let mut space = AddressSpace::new();
    space.map_cap(0x1000, image, Access::Read).unwrap();
    let before = rss_kib();
    let instances: Vec<JitInstance> = (0..32)
        .map(|_| {
            let mut jit = JitInstance::new(module.clone(), space.clone()).unwrap();
            let mut state = VmState { gas: i64::MAX / 2, ..VmState::default() };
            assert_eq!(run_jit(&mut jit, &mut state), Exit::Panic);
            assert_eq!(state.regs[2], 0);
            jit
        })
        .collect();
    let after = rss_kib();
    println!(
        "32 instances each reading a 16 MiB image: PSS grew by {} KiB ({} KiB per instance)",
        after.saturating_sub(before),
        after.saturating_sub(before) / 32
    );
    drop(instances);
}

#[test]
#[ignore]
fn compile_fixed_cost() {
    let program = Asm::default().op(Opcode::Trap, &[]).program();
    let rounds = 20_000;
    let t = Instant::now();
    for _ in 0..rounds {
        CompiledModule::compile(program.clone(), &CompileOptions::default()).unwrap();
    }
    println!("compile + drop of a one-instruction program: {:?}", t.elapsed() / rounds);
}
