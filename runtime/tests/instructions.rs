//! Instruction edge cases the vectors miss, memory-fault rules, gas rules and
//! resumption — each written once and run on every engine.

use javm::testing::on_every_engine;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Instance, Profile};
use javm_cap::program::HALT_ADDRESS;
use javm_cap::program::Opcode as O;
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::space::Access;

fn ops() -> Operands {
    Operands::default()
}

/// Assembles with `build`, loads under `engine`/`profile`/`gas`, sets gas.
fn instance(engine: EngineKind, profile: Profile, gas: GasModel, build: impl FnOnce(&mut Assembler)) -> Instance {
    let mut asm = Assembler::new(profile);
    build(&mut asm);
    let blob = asm.finish().to_bytes();
    let module = Engine::new(Config { engine, profile, gas_model: Some(gas) }).load_blob(&blob).unwrap();
    let mut instance = module.instantiate_empty(0);
    instance.set_gas(1_000_000);
    instance
}

/// Runs `op` with rA = r1, rB = r2, rD = r3 (registers set to `a`, `b`,
/// `d`) and immediates `x`, `y`; returns the destination register the op
/// writes.
fn eval(engine: EngineKind, op: O, a: u64, b: u64, d: u64, x: u64) -> u64 {
    let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
        assert!(asm.push(op, Operands { ra: 1, rb: 2, rd: 3, imm: x, ..ops() }));
        asm.push(O::Trap, ops());
    });
    inst.set_reg(1, a);
    inst.set_reg(2, b);
    inst.set_reg(3, d);
    assert_eq!(inst.run(), Exit::Panic);
    use javm_cap::program::OperandClass as C;
    match op.class() {
        C::RegReg | C::RegRegReg => inst.reg(3),
        _ => inst.reg(1),
    }
}

const MIN32: u64 = 0xFFFF_FFFF_8000_0000;
const MIN64: u64 = 1 << 63;
const NEG1: u64 = u64::MAX;

#[test]
fn arithmetic_edge_cases() {
    on_every_engine(|engine| {
        // (op, A, B, D, X, expected). Expected values are worked out by hand.
        let cases: &[(O, u64, u64, u64, u64, u64)] = &[
            (O::DivU32, 7, 0, 0, 0, NEG1),
            (O::DivU32, 0xFFFF_FFFF, 1, 0, 0, NEG1),
            (O::DivS32, MIN32, NEG1, 0, 0, MIN32),
            (O::DivS32, 5, 0x1_0000_0000, 0, 0, NEG1),
            (O::DivS32, -7i64 as u64, 2, 0, 0, -3i64 as u64),
            (O::RemU32, 0x1_8000_0001, 0, 0, 0, MIN32 | 1),
            (O::RemS32, MIN32, NEG1, 0, 0, 0),
            (O::RemS32, -7i64 as u64, 2, 0, 0, NEG1),
            (O::RemS32, 7, -2i64 as u64, 0, 0, 1),
            (O::DivU64, 9, 0, 0, 0, NEG1),
            (O::DivS64, MIN64, NEG1, 0, 0, MIN64),
            (O::DivS64, -9i64 as u64, 2, 0, 0, -4i64 as u64),
            (O::RemU64, 9, 0, 0, 0, 9),
            (O::RemS64, MIN64, NEG1, 0, 0, 0),
            (O::RemS64, -9i64 as u64, 0, 0, 0, -9i64 as u64),
            (O::RemS64, -9i64 as u64, 4, 0, 0, NEG1),
            (O::ShloL32, 1, 33, 0, 0, 2),
            (O::ShloL32, 1, 31, 0, 0, MIN32),
            (O::ShloR32, 0xFFFF_FFFF_8000_0000, 64, 0, 0, MIN32),
            (O::SharR32, 0x8000_0000, 35, 0, 0, 0xFFFF_FFFF_F000_0000),
            (O::ShloL64, 3, 64, 0, 0, 3),
            (O::ShloR64, MIN64, 127, 0, 0, 1),
            (O::SharR64, MIN64, 63, 0, 0, NEG1),
            (O::RotL64, MIN64 | 1, 65, 0, 0, 3),
            (O::RotR64, 3, 1, 0, 0, MIN64 | 1),
            (O::RotL32, 0x4000_0000, 1, 0, 0, MIN32),
            (O::RotR32, 0x1_0000_0001, 33, 0, 0, MIN32),
            (O::MulUpperSS, MIN64, MIN64, 0, 0, 1 << 62),
            (O::MulUpperUU, NEG1, NEG1, 0, 0, NEG1 - 1),
            (O::MulUpperSU, NEG1, 1, 0, 0, NEG1),
            (O::MulUpperSU, 2, NEG1, 0, 0, 1),
            (O::Mul32, 0x1_0000_0002, 0x4000_0000, 0, 0, MIN32),
            (O::Add32, 0x7FFF_FFFF, 1, 0, 0, MIN32),
            (O::Sub32, 0, 1, 0, 0, NEG1),
            (O::CmovIz, 5, 0, 9, 0, 5),
            (O::CmovIz, 5, 1, 9, 0, 9),
            (O::CmovNz, 5, 0, 9, 0, 9),
            (O::CmovNz, 5, 2, 9, 0, 5),
            (O::Max, NEG1, 1, 0, 0, 1),
            (O::MaxU, NEG1, 1, 0, 0, NEG1),
            (O::Min, NEG1, 1, 0, 0, NEG1),
            (O::MinU, NEG1, 1, 0, 0, 1),
            (O::SetLtS, NEG1, 0, 0, 0, 1),
            (O::SetLtU, NEG1, 0, 0, 0, 0),
            (O::AndInv, 0b1100, 0b1010, 0, 0, 0b0100),
            (O::OrInv, 0, NEG1 - 1, 0, 0, 1),
            (O::Xnor, 0, 0, 0, 0, NEG1),
            (O::CountSetBits64, NEG1, 0, 0, 0, 64),
            (O::CountSetBits32, NEG1, 0, 0, 0, 32),
            (O::LeadingZeroBits64, 0, 0, 0, 0, 64),
            (O::LeadingZeroBits64, 1, 0, 0, 0, 63),
            (O::LeadingZeroBits32, 0xFFFF_FFFF_0000_0000, 0, 0, 0, 32),
            (O::LeadingZeroBits32, 0x8000, 0, 0, 0, 16),
            (O::TrailingZeroBits64, 0, 0, 0, 0, 64),
            (O::TrailingZeroBits32, 0x1_0000_0000, 0, 0, 0, 32),
            (O::TrailingZeroBits32, 0x8, 0, 0, 0, 3),
            (O::SignExtend8, 0x180, 0, 0, 0, 0xFFFF_FFFF_FFFF_FF80),
            (O::SignExtend16, 0x1_7FFF, 0, 0, 0, 0x7FFF),
            (O::SignExtend16, 0x8000, 0, 0, 0, 0xFFFF_FFFF_FFFF_8000),
            (O::ZeroExtend16, NEG1, 0, 0, 0, 0xFFFF),
            (O::ReverseBytes, 0x0102_0304_0506_0708, 0, 0, 0, 0x0807_0605_0403_0201),
            (O::MoveReg, 42, 0, 0, 0, 42),
            // REG_REG_IMM: rA = r1 is the destination, rB = r2 the source.
            (O::AddImm32, 0, 0x7FFF_FFFF, 0, 1, MIN32),
            (O::NegAddImm32, 0, 1, 0, 0, NEG1),
            (O::NegAddImm64, 0, 5, 0, 3, -2i64 as u64),
            (O::ShloRImm32, 0, 0xFFFF_FFFF_8000_0000, 0, 32, MIN32),
            (O::SharRImm64, 0, MIN64, 0, 64 + 4, 0xF800_0000_0000_0000),
            (O::ShloLImmAlt32, 0, 33, 0, 1, 2),
            (O::SharRImmAlt32, 0, 4, 0, 0x8000_0000u32 as i32 as i64 as u64, 0xFFFF_FFFF_F800_0000),
            (O::RotR64ImmAlt, 0, 65, 0, 1, MIN64),
            (O::RotR32ImmAlt, 0, 1, 0, 1, MIN32),
            (O::RotR32Imm, 0, 1, 0, 33, MIN32),
            (O::CmovIzImm, 7, 0, 0, 3, 3),
            (O::CmovNzImm, 7, 0, 0, 3, 7),
            (O::SetGtSImm, 0, 0, 0, NEG1, 1),
            (O::SetGtUImm, 0, 0, 0, NEG1, 0),
            (O::MulImm32, 0, 0x1_0000_0003, 0, 3, 9),
        ];
        for &(op, a, b, d, x, want) in cases {
            assert_eq!(eval(engine, op, a, b, d, x), want, "{op} A={a:#x} B={b:#x} D={d:#x} X={x:#x}");
        }
    });
}

#[test]
fn immediates_of_every_length() {
    on_every_engine(|engine| {
        for value in [
            0u64,
            1,
            0x7F,
            NEG1,
            0x80,
            0x7FFF,
            0xFFFF_FFFF_FFFF_8000,
            0x7F_FFFF,
            0xFFFF_FFFF_FF80_0000,
            0x7FFF_FFFF,
            MIN32,
        ] {
            assert_eq!(eval(engine, O::LoadImm, 0, 0, 0, value), value, "load_imm {value:#x}");
            assert_eq!(eval(engine, O::AddImm64, 0, 10, 0, value), value.wrapping_add(10), "add_imm_64 {value:#x}");
        }
        let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
            asm.push(O::LoadImm64, Operands { ra: 4, imm: 0x8877_6655_4433_2211, ..ops() });
            asm.push(O::Trap, ops());
        });
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.reg(4), 0x8877_6655_4433_2211);
    });
}

#[test]
fn register_nibbles_above_12_clamp() {
    on_every_engine(|engine| {
        let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
            // add_64 with rA nibble 15 and rB nibble 13 reads r12 twice; rD byte 0x17 writes r12 (GP, Q1).
            asm.push(O::Add64, Operands { ra: 15, rb: 13, rd: 0x17, ..ops() });
            // move_reg with rD nibble 14: writes r12.
            asm.push(O::LoadImm, Operands { ra: 14, imm: 5, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_reg(12, 21);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.reg(12), 5, "load_imm with nibble 14 writes r12");
        let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
            asm.push(O::Add64, Operands { ra: 15, rb: 13, rd: 0x17, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_reg(12, 21);
        inst.run();
        assert_eq!(inst.reg(12), 42);
        assert_eq!(inst.reg(7), 0, "r7 untouched: rD is the whole byte, clamped to 12");
    });
}

/// Maps `[0x10000, 0x12000)` writable and `[0x12000, 0x13000)` read-only.
fn with_memory(inst: &mut Instance) {
    let space = inst.address_space();
    space.map_zeroed(0x10000, 0x2000, Access::Write).unwrap();
    space.map_zeroed(0x12000, 0x1000, Access::Read).unwrap();
}

fn store_then_trap(engine: EngineKind, op: O, base: u64, offset: u64) -> (Exit, Instance) {
    let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
        asm.push(op, Operands { ra: 1, rb: 2, imm: offset, ..ops() });
        asm.push(O::Trap, ops());
    });
    with_memory(&mut inst);
    inst.set_reg(1, 0x1122_3344_5566_7788);
    inst.set_reg(2, base);
    let exit = inst.run();
    (exit, inst)
}

#[test]
fn memory_faults() {
    on_every_engine(|engine| {
        // A straddling store over [W, W]: fine, and it lands in both pages.
        let (exit, mut inst) = store_then_trap(engine, O::StoreIndU64, 0x10FFC, 0);
        assert_eq!(exit, Exit::Panic);
        let mut buf = [0u8; 8];
        inst.read_memory(0x10FFC, &mut buf).unwrap();
        assert_eq!(u64::from_le_bytes(buf), 0x1122_3344_5566_7788);
        // Straddling [W, R]: a fault at the read-only page, nothing written.
        let (exit, mut inst) = store_then_trap(engine, O::StoreIndU64, 0x11FFC, 0);
        assert_eq!(exit, Exit::PageFault(0x12000));
        assert_eq!(inst.pc(), 0);
        inst.read_memory(0x11FF8, &mut buf).unwrap();
        assert_eq!(buf, [0; 8], "atomic: no partial write");
        // Straddling [R, unmapped]: the lowest bad byte is in the read-only page.
        let (exit, _) = store_then_trap(engine, O::StoreIndU32, 0x12FFE, 0);
        assert_eq!(exit, Exit::PageFault(0x12000));
        // A load straddling [R, unmapped] faults at the unmapped page.
        let (exit, inst) = store_then_trap(engine, O::LoadIndU32, 0x12FFE, 0);
        assert_eq!(exit, Exit::PageFault(0x13000));
        assert_eq!(inst.reg(1), 0x1122_3344_5566_7788, "a faulting load leaves its register alone");
        // Below 0x10000: panic, even straddling into mapped memory.
        let (exit, inst) = store_then_trap(engine, O::StoreIndU32, 0xFFFE, 0);
        assert_eq!(exit, Exit::Panic);
        assert_eq!(inst.pc(), 0, "the faulting store's pc, not the trap's");
        // Wrapping past 2^32: panic (byte 0 is below the guard).
        let (exit, _) = store_then_trap(engine, O::StoreIndU64, 0xFFFF_FFFC, 0);
        assert_eq!(exit, Exit::Panic);
        // Address arithmetic is 32-bit: base + offset wraps into the mapping.
        let (exit, mut inst) = store_then_trap(engine, O::StoreIndU8, 0xFFFF_FFFF_0001_0010, 0);
        assert_eq!(exit, Exit::Panic);
        inst.read_memory(0x10010, &mut buf[..1]).unwrap();
        assert_eq!(buf[0], 0x88);
        let (exit, _) = store_then_trap(engine, O::StoreIndU8, 0x10_0000, 0);
        assert_eq!(exit, Exit::PageFault(0x10_0000));
    });
}

#[test]
fn page_fault_resumes_without_recharging() {
    on_every_engine(|engine| {
        let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
            asm.push(O::LoadImm, Operands { ra: 1, imm: 0x20000, ..ops() });
            asm.push(O::StoreImmIndU32, Operands { ra: 1, imm: 4, imm2: 0xAB, ..ops() });
            asm.push(O::LoadIndU32, Operands { ra: 3, rb: 1, imm: 4, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_gas(1000);
        assert_eq!(inst.run(), Exit::PageFault(0x20000));
        let cost = inst.module().program().block_cost(0) as i64;
        assert_eq!(inst.gas(), 1000 - cost);
        assert_eq!(inst.pc(), pc_of(&inst, 1), "the store's pc");
        inst.address_space().map_zeroed(0x20000, 0x1000, Access::Write).unwrap();
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.gas(), 1000 - cost, "no second charge");
        assert_eq!(inst.reg(3), 0xAB);
    });
}

#[test]
fn host_calls_resume_after_the_ecalli() {
    on_every_engine(|engine| {
        let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
            asm.push(O::LoadImm, Operands { ra: 7, imm: 1, ..ops() });
            asm.push(O::Ecalli, Operands { imm: 0x1234, ..ops() });
            asm.push(O::AddImm64, Operands { ra: 7, rb: 7, imm: 1, ..ops() });
            asm.push(O::Ecalli, Operands { imm: 0xFFFF_FFFF_8000_0000, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_gas(10_000);
        assert_eq!(inst.run(), Exit::Host(0x1234));
        assert_eq!(inst.pc(), pc_of(&inst, 1));
        let after_charge = inst.gas();
        inst.set_reg(7, 100);
        assert_eq!(inst.run(), Exit::Host(0x8000_0000), "the low 32 bits of the id");
        assert_eq!(inst.reg(7), 101);
        assert_eq!(inst.gas(), after_charge, "the block was paid once");
        assert_eq!(inst.run(), Exit::Panic);
    });
}

/// Code offset of the `n`th instruction.
fn pc_of(inst: &Instance, n: usize) -> u32 {
    inst.module().program().instructions()[n].pc
}

#[test]
fn out_of_gas_rules() {
    on_every_engine(|engine| {
        // Blocks: [load_imm, fallthrough], loop [add, branch], [trap].
        let build = |asm: &mut Assembler| {
            let top = asm.label();
            asm.push(O::LoadImm, Operands { ra: 1, imm: 3, ..ops() });
            asm.push(O::Fallthrough, ops());
            asm.bind(top);
            asm.push(O::AddImm64, Operands { ra: 1, rb: 1, imm: NEG1, ..ops() });
            asm.push(O::BranchNeImm, Operands { ra: 1, imm: 0, target: Target::Label(top), ..ops() });
            asm.push(O::Trap, ops());
        };
        // Block model: a block that cannot be paid exits at its start, gas unchanged.
        let mut inst = instance(engine, Profile::P8, GasModel::Block, build);
        inst.set_gas(5);
        assert_eq!(inst.run(), Exit::OutOfGas);
        assert_eq!((inst.pc(), inst.gas(), inst.reg(1)), (pc_of(&inst, 2), 1, 2));
        inst.set_gas(100);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.gas(), 100 - 2 - 2 - 1);
        // Instruction model: out-of-gas mid-block, reporting gas − 1.
        let mut inst = instance(engine, Profile::P7, GasModel::Instruction, build);
        inst.set_gas(5);
        assert_eq!(inst.run(), Exit::OutOfGas);
        assert_eq!((inst.pc(), inst.gas(), inst.reg(1)), (pc_of(&inst, 3), -1, 1), "stopped at the branch");
        inst.set_gas(2);
        assert_eq!(inst.run(), Exit::OutOfGas);
        assert_eq!((inst.pc(), inst.gas(), inst.reg(1)), (pc_of(&inst, 3), -1, 0));
        inst.set_gas(10);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.gas(), 8, "branch and trap");
    });
}

#[test]
fn instruction_model_refunds_faulting_instruction() {
    on_every_engine(|engine| {
        let mut inst = instance(engine, Profile::P7, GasModel::Instruction, |asm| {
            asm.push(O::LoadImm, Operands { ra: 1, imm: 5, ..ops() });
            asm.push(O::StoreU8, Operands { ra: 1, imm: 0x30000, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_gas(10);
        assert_eq!(inst.run(), Exit::PageFault(0x30000));
        assert_eq!(inst.gas(), 9, "only load_imm was charged");
    });
}

#[test]
fn dynamic_jumps() {
    on_every_engine(|engine| {
        let build = |asm: &mut Assembler| {
            let target = asm.label();
            let addr = asm.jump_table_entry(Target::Label(target));
            asm.jump_table_entry(Target::Offset(1));
            assert_eq!(addr, 2);
            asm.push(O::JumpInd, Operands { ra: 1, imm: 0, ..ops() });
            asm.bind(target);
            asm.push(O::LoadImm, Operands { ra: 2, imm: 9, ..ops() });
            asm.push(O::Trap, ops());
        };
        for (a, exit, r2) in [
            (2u64, Exit::Panic, 9),
            (u64::from(HALT_ADDRESS), Exit::Halt, 0),
            (4, Exit::Panic, 0),
            (3, Exit::Panic, 0),
            (0, Exit::Panic, 0),
            (6, Exit::Panic, 0),
        ] {
            let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, build);
            inst.set_reg(1, a | 0xFFFF_FFFF_0000_0000);
            assert_eq!(inst.run(), exit, "address {a:#x}");
            assert_eq!(inst.reg(2), r2, "address {a:#x}");
        }
        // load_imm_jump_ind reads rB before writing rA, and writes rA even when it panics.
        let mut inst = instance(engine, Profile::P8, GasModel::Pipeline, |asm| {
            asm.jump_table_entry(Target::Offset(0));
            asm.push(O::LoadImmJumpInd, Operands { ra: 1, rb: 1, imm: 77, imm2: 1, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_reg(1, 1);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.reg(1), 77);
    });
}

#[test]
fn p7_sbrk_and_invalid_code() {
    on_every_engine(|engine| {
        let mut inst = instance(engine, Profile::P7, GasModel::Instruction, |asm| {
            asm.raw(&[2]); // not an opcode in P7: acts as trap
        });
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.gas(), 1_000_000 - 1);
        let mut inst = instance(engine, Profile::P7, GasModel::Instruction, |asm| {
            asm.push(O::Sbrk, Operands { rd: 3, ra: 1, ..ops() });
            asm.push(O::Trap, ops());
        });
        inst.set_reg(1, 16);
        assert_eq!(inst.run(), Exit::Panic);
        assert_eq!(inst.reg(3), 0, "no heap without a standard layout");
    });
}

#[test]
fn p7_sbrk_grows_the_standard_heap() {
    on_every_engine(|engine| {
        let mut asm = Assembler::new(Profile::P7);
        asm.push(O::LoadImm, Operands { ra: 1, imm: 5000, ..ops() });
        asm.push(O::Sbrk, Operands { rd: 3, ra: 1, ..ops() });
        // The new bytes are writable: store at the last one.
        asm.push(O::StoreIndU8, Operands { ra: 1, rb: 3, imm: 4999, ..ops() });
        asm.push(O::Sbrk, Operands { rd: 4, ra: 1, ..ops() });
        asm.push(O::Trap, ops());
        let standard = javm_cap::program::StandardProgram {
            rw_data: vec![1; 10],
            stack_size: 4096,
            code: asm.finish().to_bytes(),
            ..Default::default()
        };
        let config = Config { engine, profile: Profile::P7, gas_model: Some(GasModel::Instruction) };
        let module = Engine::new(config).load_standard(standard.clone()).unwrap();
        let mut inst = module.instantiate_standard(&[], 0).unwrap();
        inst.set_gas(100);
        assert_eq!(inst.run(), Exit::Panic);
        let rw = standard.rw_region();
        let top = u64::from(rw.start + rw.len);
        assert_eq!(inst.reg(3), top, "the heap starts at the end of the rw data");
        assert_eq!(inst.reg(4), top + 5000);
        let mut byte = [0u8];
        inst.read_memory((top + 4999) as u32, &mut byte).unwrap();
        assert_eq!(byte, [0x88], "low byte of r1 = 5000");
    });
}
