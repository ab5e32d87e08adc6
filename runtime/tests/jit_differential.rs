//! Differential test: generated programs run on the interpreter and on the
//! recompiler must end with the same exits, states and memory roots.
//!
//! Programs mix every instruction with loads and stores around page
//! boundaries and onto read-only, unmapped, missing and low pages, static
//! and dynamic jumps (valid, invalid, halting), host calls and tiny gas
//! limits; each runs through several exits (host calls are answered, page
//! faults are fixed by mapping the page, out-of-gas adds gas), in all three
//! gas models, on the BMI and on the baseline code paths.

use javm::interp::{self, InterpCode, Stop};
use javm_cap::DataCap;
use javm_cap::page::PageSlot;
use javm_cap::program::{CodeBlob, GasModel, Opcode, OperandClass, Profile, Program};
use javm_cap::space::{Access, AddressSpace, Heap};
use javm_cap::vm::{Exit, GuestMemory, VmState};
use javm_recompiler::{CompileOptions, CompiledModule, JitExit, JitInstance};
use std::sync::Arc;

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Addresses worth aiming at: page edges of each region of [`space`].
const INTERESTING: [u64; 16] = [
    0x10000,
    0x10FFE,
    0x11FFC,
    0x12000,
    0x1FFF9,
    0x20000,
    0x20FFD,
    0x21FFE,
    0x22FF8,
    0x23FFC,
    0x24000,
    0xFFFF,
    0x0,
    0xFFFF_FFFC,
    0xFEFE_0000,
    0x2_0000_0100,
];

fn reg_value(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.next(),
        1 => rng.below(64),
        2 => rng.pick(&INTERESTING).wrapping_add(rng.below(16)),
        3 => (rng.below(8) + 1) * 2,
        4 => rng.pick(&[u64::MAX, 1 << 63, 0xFFFF_FFFF_8000_0000, 0x8000_0000, 0xFFFF_0000]),
        _ => rng.pick(&INTERESTING),
    }
}

/// Memory: 0x10000..0x12000 read-only with data; 0x12000.. unmapped;
/// 0x20000..0x24000 writable with data, its page 0x22000 missing (known only
/// by hash), then room for the heap up to 0x40000; 0xFEFD0000.. a writable
/// stack page.
fn space(rng: &mut Rng) -> AddressSpace {
    let mut ro = vec![0u8; 0x2000];
    let mut rw = vec![0u8; 0x4000];
    for b in ro.iter_mut().chain(rw.iter_mut()).step_by(3) {
        *b = rng.next() as u8;
    }
    let mut space = AddressSpace::new();
    space.map_cap(0x10, DataCap::from_bytes(&ro).unwrap(), Access::Read).unwrap();
    let mut rw_cap = DataCap::from_bytes_sized(&rw[..0x2000], 0x4000).unwrap();
    rw_cap.write_bytes(0x3000, &rw[0x3000..]).unwrap();
    rw_cap.insert_overlay_page(2, PageSlot::Missing([7; 32])).unwrap();
    space.map_cap(0x20, rw_cap, Access::Write).unwrap();
    space.map_zeroed(0xFEFD_0000, 0x1000, Access::Write).unwrap();
    // P7 `sbrk` grows the heap right after the writable data.
    space.set_heap(Some(Heap { top: 0x24000, limit: 0x40000 }));
    space
}

/// Encodes a signed immediate in `n` bytes.
fn imm_bytes(value: u64, n: usize) -> Vec<u8> {
    value.to_le_bytes()[..n].to_vec()
}

/// One generated instruction before layout: its opcode and operand choices.
struct Gen {
    op: Opcode,
    regs: [u8; 3],
    x: u64,
    y: u64,
    lx: usize,
    ly: usize,
    /// Branch target: an instruction index, or `None` for a bad offset.
    target: Option<usize>,
}

fn random_imm(rng: &mut Rng) -> (u64, usize) {
    let n = rng.pick(&[0usize, 1, 2, 4, 4, 4]);
    let v = match rng.below(4) {
        0 => rng.next(),
        1 => rng.below(32),
        2 => rng.pick(&INTERESTING),
        _ => rng.next() | 0xFFFF_FFFF_8000_0000,
    };
    (v, n)
}

fn generate(rng: &mut Rng, profile: Profile) -> (CodeBlob, u32) {
    let ops: Vec<Opcode> = Opcode::ALL.iter().copied().filter(|op| op.in_profile(profile)).collect();
    let count = 8 + rng.below(40) as usize;
    let mut gens = Vec::with_capacity(count);
    for _ in 0..count {
        // Bias towards memory accesses, branches and dynamic jumps.
        let op = match rng.below(10) {
            0..=2 => rng.pick(&ops.iter().copied().filter(|o| o.is_memory_access()).collect::<Vec<_>>()),
            3 => rng.pick(&ops.iter().copied().filter(|o| o.is_terminator()).collect::<Vec<_>>()),
            4 => rng.pick(&[Opcode::LoadImm, Opcode::JumpInd, Opcode::LoadImmJumpInd, Opcode::Ecalli]),
            _ => rng.pick(&ops),
        };
        let d_limit = if rng.chance(5) { 16 } else { 13 };
        let regs = [rng.below(13) as u8, rng.below(13) as u8, rng.below(d_limit) as u8];
        let (x, lx) = random_imm(rng);
        let (y, ly) = random_imm(rng);
        let target = (!rng.chance(8)).then(|| rng.below(count as u64 + 1) as usize);
        if rng.chance(4) {
            // `ret`: a dynamic jump through r0, which often holds the halt
            // address.
            gens.push(Gen { op: Opcode::JumpInd, regs: [0; 3], x: 0, y: 0, lx: 0, ly: 0, target });
            continue;
        }
        gens.push(Gen { op, regs, x, y, lx, ly, target });
    }
    if rng.chance(70) {
        gens.push(Gen { op: Opcode::Trap, regs: [0; 3], x: 0, y: 0, lx: 0, ly: 0, target: None });
    }
    // Sizes first, then offsets.
    let size = |g: &Gen| -> usize {
        match g.op.class() {
            OperandClass::None => 1,
            OperandClass::Imm => 1 + g.lx,
            OperandClass::RegImm64 => 10,
            OperandClass::ImmImm | OperandClass::RegImmImm => 2 + g.lx + g.ly,
            OperandClass::Off => 5,
            OperandClass::RegImm | OperandClass::RegRegImm => 2 + g.lx,
            OperandClass::RegImmOff => 2 + g.lx + 4,
            OperandClass::RegReg => 2,
            OperandClass::RegRegOff => 6,
            OperandClass::RegRegImmImm => 3 + g.lx + g.ly,
            OperandClass::RegRegReg => 3,
        }
    };
    let mut pcs = Vec::with_capacity(gens.len() + 1);
    let mut pc = 0usize;
    for g in &gens {
        pcs.push(pc);
        pc += size(g);
    }
    pcs.push(pc);
    let mut code = Vec::with_capacity(pc);
    for (k, g) in gens.iter().enumerate() {
        let byte = g.op.code(profile).unwrap();
        let [a, b, d] = g.regs;
        let off = |code_pc: usize| -> Vec<u8> {
            let t = match g.target {
                Some(t) => pcs[t] as i64 - code_pc as i64,
                None => 3,
            };
            (t as i32).to_le_bytes().to_vec()
        };
        code.push(byte);
        match g.op.class() {
            OperandClass::None => {}
            OperandClass::Imm => code.extend(imm_bytes(g.x, g.lx)),
            OperandClass::RegImm64 => {
                code.push(a);
                code.extend(g.x.to_le_bytes());
            }
            OperandClass::ImmImm => {
                code.push(g.lx as u8);
                code.extend(imm_bytes(g.x, g.lx));
                code.extend(imm_bytes(g.y, g.ly));
            }
            OperandClass::Off => code.extend(off(pcs[k])),
            OperandClass::RegImm => {
                code.push(a);
                code.extend(imm_bytes(g.x, g.lx));
            }
            OperandClass::RegImmImm => {
                code.push(a | (g.lx as u8) << 4);
                code.extend(imm_bytes(g.x, g.lx));
                code.extend(imm_bytes(g.y, g.ly));
            }
            OperandClass::RegImmOff => {
                code.push(a | (g.lx as u8) << 4);
                code.extend(imm_bytes(g.x, g.lx));
                code.extend(off(pcs[k]));
            }
            OperandClass::RegReg => code.push(d | a << 4),
            OperandClass::RegRegImm => {
                code.push(a | b << 4);
                code.extend(imm_bytes(g.x, g.lx));
            }
            OperandClass::RegRegOff => {
                code.push(a | b << 4);
                code.extend(off(pcs[k]));
            }
            OperandClass::RegRegImmImm => {
                code.push(a | b << 4);
                code.push(g.lx as u8);
                code.extend(imm_bytes(g.x, g.lx));
                code.extend(imm_bytes(g.y, g.ly));
            }
            OperandClass::RegRegReg => {
                code.push(a | b << 4);
                code.push(d);
            }
        }
    }
    let table_len = rng.below(6) as usize;
    let jump_table: Vec<u32> = (0..table_len)
        .map(|_| {
            if rng.chance(85) {
                pcs[rng.below(gens.len() as u64) as usize] as u32
            } else {
                rng.below(pc as u64 + 3) as u32
            }
        })
        .collect();
    let entry = if rng.chance(80) { 0 } else { pcs[rng.below(gens.len() as u64) as usize] as u32 };
    (CodeBlob::from_parts(code, pcs[..gens.len()].iter().copied(), jump_table), entry)
}

/// The deterministic host both engines talk to.
fn host_call(id: u32, state: &mut VmState, mem: &mut impl GuestMemory) -> bool {
    if state.gas < 3 {
        return false;
    }
    state.gas -= 3;
    let addr = state.regs[8] as u32;
    let mut buf = [0u8; 12];
    state.regs[7] = match mem.read_bytes(addr, &mut buf) {
        Ok(()) => u64::from_le_bytes(buf[..8].try_into().unwrap()) ^ u64::from(id),
        Err(_) => u64::MAX - 2,
    };
    buf[0] = buf[0].wrapping_add(1);
    let target = state.regs[9] as u32;
    if mem.write_bytes(target, &buf[..(id as usize % 12) + 1]).is_err() {
        state.regs[8] = 0xDEAD;
    }
    true
}

/// What one engine did: every exit with the state right after it.
type Trace = Vec<(Exit, VmState)>;

/// Drives an engine through up to `steps` exits, fixing what can be fixed.
fn drive(
    program: &Program,
    mut state: VmState,
    steps: usize,
    mut run: impl FnMut(&mut VmState) -> Exit,
    mut host: impl FnMut(u32, &mut VmState) -> bool,
    mut map: impl FnMut(u32),
) -> Trace {
    let mut trace = Vec::new();
    for _ in 0..steps {
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

struct Case {
    program: Arc<Program>,
    state: VmState,
    space: AddressSpace,
}

fn case(rng: &mut Rng, profile: Profile, gas_model: GasModel) -> Option<Case> {
    let (blob, entry) = generate(rng, profile);
    let program = Program::new(blob, profile, gas_model).ok()?;
    if !program.is_valid_entry(entry) {
        return None;
    }
    let mut regs = [0u64; 13];
    for r in &mut regs {
        *r = reg_value(rng);
    }
    if rng.chance(60) {
        regs[0] = 0xFFFF_0000;
    }
    let gas = if rng.chance(70) { rng.below(300) as i64 } else { 5_000 };
    let state = VmState { regs, pc: entry, gas, charged: false };
    Some(Case { program: Arc::new(program), state, space: space(rng) })
}

const STEPS: usize = 12;

fn run_interp(c: &Case) -> (Trace, [u8; 32]) {
    let code = InterpCode::new(&c.program);
    let space = std::cell::RefCell::new(c.space.clone());
    let trace = drive(
        &c.program,
        c.state,
        STEPS,
        |st| match interp::run(&c.program, &code, st, &mut space.borrow_mut().cached(), false) {
            Stop::Exit(e) => e,
            Stop::BlockEnd => unreachable!(),
        },
        |id, st| host_call(id, st, &mut space.borrow_mut().cached()),
        |addr| space.borrow_mut().map_zeroed(addr.into(), 4096, Access::Write).unwrap(),
    );
    let root = space.borrow_mut().root();
    (trace, root)
}

fn run_jit(c: &Case, options: &CompileOptions) -> (Trace, [u8; 32]) {
    let code = InterpCode::new(&c.program);
    let module = Arc::new(CompiledModule::compile(c.program.clone(), options).unwrap());
    let jit = std::cell::RefCell::new(JitInstance::new(module, c.space.clone()).unwrap());
    let trace = drive(
        &c.program,
        c.state,
        STEPS,
        |st| loop {
            let mut jit = jit.borrow_mut();
            match jit.run(st) {
                JitExit::Exit(e) => return e,
                JitExit::Interpret => match interp::run(&c.program, &code, st, &mut jit.memory(), true) {
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

/// How many exits of each kind the cases produced (to keep the generator
/// honest).
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    halt: usize,
    panic: usize,
    out_of_gas: usize,
    page_fault: usize,
    host: usize,
}

impl Tally {
    fn add(&mut self, trace: &Trace) {
        self.cases += 1;
        for (exit, _) in trace {
            match exit {
                Exit::Halt => self.halt += 1,
                Exit::Panic => self.panic += 1,
                Exit::OutOfGas => self.out_of_gas += 1,
                Exit::PageFault(_) => self.page_fault += 1,
                Exit::Host(_) => self.host += 1,
            }
        }
    }
}

/// Runs `count` generated cases from `seed`.
fn differential(seed: u64, count: usize) -> Tally {
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    let models =
        [(Profile::P8, GasModel::Pipeline), (Profile::P7, GasModel::Block), (Profile::P7, GasModel::Instruction)];
    for n in 0..count {
        let (profile, model) = models[n % 3];
        let Some(c) = case(&mut rng, profile, model) else { continue };
        let options = CompileOptions { force_fallbacks: n % 2 == 1 };
        if std::env::var_os("JIT_DIFF_TRACE").is_some() {
            eprintln!("case {n}");
        }
        let expected = run_interp(&c);
        let actual = run_jit(&c, &options);
        assert_eq!(
            expected,
            actual,
            "case {n} (seed {seed}, {profile}/{model}, fallbacks {}):\n{}",
            options.force_fallbacks,
            javm_recompiler::CompiledModule::compile(c.program.clone(), &options).unwrap().native_disasm()
        );
        tally.add(&expected.0);
    }
    tally
}

#[test]
fn generated_programs_agree() {
    let tally = differential(0x5EED_0001, 3000);
    assert!(tally.cases > 2500, "{tally:?}");
    for n in [tally.halt, tally.panic, tally.out_of_gas, tally.page_fault, tally.host] {
        assert!(n > 100, "{tally:?}");
    }
    if std::env::var_os("JIT_DIFF_TRACE").is_some() {
        eprintln!("{tally:?}");
    }
}

#[test]
fn instances_on_several_threads_agree() {
    let threads: Vec<_> = (0..4).map(|t| std::thread::spawn(move || differential(0xABC0 + t, 300))).collect();
    for t in threads {
        assert!(t.join().unwrap().cases > 200);
    }
}
