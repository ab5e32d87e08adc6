//! Single steps and step traces, by hand: what each step of a short program
//! records and charges, on both engines and under the block and instruction
//! gas models.

use javm::testing::on_every_engine;
use javm::{Config, Engine, Exit, GasModel, MemoryAccess, Profile, StepRecord};
use javm_cap::program::Opcode;
use javm_cap::program::asm::{Assembler, Operands};
use javm_cap::space::Access;

const PAGE: u32 = 0x2_0000;

/// `load_imm r7, 0x1234; store_ind_u32 [r8 + 0], r7; load_ind_u16 r9, [r8 + 2];
/// add_64 r10, r7, r9; ecalli 3; trap`, with r8 = `PAGE`.
fn program() -> Vec<u8> {
    let mut a = Assembler::new(Profile::P8);
    a.push(Opcode::LoadImm, Operands { ra: 7, imm: 0x1234, ..Default::default() });
    a.push(Opcode::StoreIndU32, Operands { ra: 7, rb: 8, imm: 0, ..Default::default() });
    a.push(Opcode::LoadIndU16, Operands { ra: 9, rb: 8, imm: 2, ..Default::default() });
    a.push(Opcode::Add64, Operands { ra: 7, rb: 9, rd: 10, ..Default::default() });
    a.push(Opcode::Ecalli, Operands { imm: 3, ..Default::default() });
    a.push(Opcode::Trap, Operands::default());
    a.finish().to_bytes()
}

fn trace(engine: javm::EngineKind, gas_model: GasModel) -> (Vec<StepRecord>, javm::Instance) {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(gas_model) };
    let module = Engine::new(config).load_blob(&program()).expect("the program loads");
    let mut instance = module.instantiate_empty(0);
    instance.address_space().map_zeroed(u64::from(PAGE), 4096, Access::Write).expect("maps");
    instance.set_reg(8, u64::from(PAGE));
    instance.set_gas(100);
    let mut records = Vec::new();
    loop {
        let record = instance.step_traced();
        let exit = record.exit;
        records.push(record);
        match exit {
            None | Some(Exit::Host(3)) => continue,
            Some(_) => break,
        }
    }
    (records, instance)
}

fn access(address: u32, bytes: &[u8], write: bool) -> MemoryAccess {
    MemoryAccess { address, bytes: bytes.to_vec(), write }
}

#[test]
fn each_step_records_what_its_instruction_did() {
    on_every_engine(|engine| {
        let (records, instance) = trace(engine, GasModel::Instruction);
        // Pcs: load_imm (1 + 1 + 2 bytes), store_ind_u32 (1 + 1), load_ind_u16
        // (1 + 1 + 1), add_64 (1 + 2), ecalli (1 + 1), trap.
        let pcs: Vec<u32> = records.iter().map(|r| r.pc).collect();
        assert_eq!(pcs, [0, 4, 6, 9, 12, 14]);
        let ops: Vec<Opcode> = records.iter().map(|r| r.opcode).collect();
        assert_eq!(
            ops,
            [Opcode::LoadImm, Opcode::StoreIndU32, Opcode::LoadIndU16, Opcode::Add64, Opcode::Ecalli, Opcode::Trap]
        );
        let regs: Vec<Option<(u8, u64)>> = records.iter().map(|r| r.register).collect();
        assert_eq!(regs, [Some((7, 0x1234)), None, Some((9, 0)), Some((10, 0x1234)), None, None]);
        assert_eq!(records[1].memory, [access(PAGE, &[0x34, 0x12, 0, 0], true)]);
        assert_eq!(records[2].memory, [access(PAGE + 2, &[0, 0], false)]);
        assert!(records.iter().enumerate().all(|(i, r)| i == 1 || i == 2 || r.memory.is_empty()));
        // One unit per instruction under the instruction model.
        let gas: Vec<i64> = records.iter().map(|r| r.gas).collect();
        assert_eq!(gas, [99, 98, 97, 96, 95, 94]);
        assert_eq!(records[4].exit, Some(Exit::Host(3)));
        assert_eq!(records[5].exit, Some(Exit::Panic));
        assert_eq!(instance.pc(), 14);
    });
}

#[test]
fn block_gas_is_paid_by_the_step_that_enters_the_block() {
    on_every_engine(|engine| {
        let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Block) };
        let module = Engine::new(config).load_blob(&program()).expect("the program loads");
        let costs: Vec<u32> = module.program().blocks_with_costs().map(|(_, cost)| cost).collect();
        // Under the block model a block costs one unit per instruction; the
        // `ecalli` does not end a block: one block of all six.
        assert_eq!(costs, [6]);
        let (records, _) = trace(engine, GasModel::Block);
        let gas: Vec<i64> = records.iter().map(|r| r.gas).collect();
        assert_eq!(gas, [94; 6]);
        assert_eq!(records.last().and_then(|r| r.exit), Some(Exit::Panic));
    });
}

#[test]
fn a_faulting_step_records_no_write_and_charges_nothing_for_itself() {
    on_every_engine(|engine| {
        let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Instruction) };
        let module = Engine::new(config).load_blob(&program()).expect("the program loads");
        let mut instance = module.instantiate_empty(0);
        instance.set_reg(8, u64::from(PAGE)); // nothing mapped there
        instance.set_gas(10);
        assert_eq!(instance.step(), None);
        let record = instance.step_traced();
        assert_eq!(record.exit, Some(Exit::PageFault(PAGE)));
        assert_eq!((record.register, record.memory.len()), (None, 0));
        // A memory fault does not charge its instruction (spec §9.2).
        assert_eq!((record.gas, instance.pc()), (9, 4));
    });
}

#[test]
fn a_step_out_of_gas_stops_where_a_run_does() {
    on_every_engine(|engine| {
        for (model, expected_gas) in [(GasModel::Block, 5), (GasModel::Instruction, -1)] {
            let config = Config { engine, profile: Profile::P8, gas_model: Some(model) };
            let module = Engine::new(config).load_blob(&program()).expect("the program loads");
            let mut stepped = module.instantiate_empty(0);
            stepped.set_gas(if model == GasModel::Block { 5 } else { 0 });
            let mut ran = module.instantiate_empty(0);
            ran.set_gas(stepped.gas());
            assert_eq!(stepped.step(), Some(Exit::OutOfGas), "{model}");
            assert_eq!(ran.run(), Exit::OutOfGas, "{model}");
            assert_eq!((stepped.pc(), stepped.gas()), (ran.pc(), ran.gas()), "{model}");
            assert_eq!(stepped.gas(), expected_gas, "{model}");
        }
    });
}

#[test]
fn json_lines_name_the_instruction_and_what_it_touched() {
    let (records, _) = trace(javm::EngineKind::Interpreter, GasModel::Instruction);
    let line = records[1].to_json();
    assert_eq!(line["pc"], 4);
    assert_eq!(line["op"], "store_ind_u32");
    assert_eq!(line["gas"], 98);
    assert_eq!(line["mem"][0]["addr"], PAGE);
    assert_eq!(line["mem"][0]["write"], true);
    assert_eq!(line["mem"][0]["hex"], "34120000");
    assert!(line.get("reg").is_none() && line.get("exit").is_none());
    let host = records[4].to_json();
    assert_eq!(host["host_id"], 3);
}
