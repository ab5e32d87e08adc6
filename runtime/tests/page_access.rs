//! Page access changed on a live instance between runs — the modes of the
//! JAM inner-VM `pages` call — seen by guest code on both engines (the
//! recompiler with those pages mapped in its window).

use javm::testing::on_every_engine;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Instance, PageAccess, Profile};
use javm_cap::program::Opcode;
use javm_cap::program::asm::{Assembler, Operands};
use javm_cap::space::{Access, SpaceError};

/// A four-page writable mapping at `BASE`; `P` is its third page.
const BASE: u32 = 0x1_E000;
const P: u32 = 0x2_0000;
const PAGE: u64 = 4096;

/// `store_ind_u8 [r8], r7; load_ind_u8 r9, [r10]; ecalli 1; trap`.
fn program() -> Vec<u8> {
    let mut a = Assembler::new(Profile::P8);
    a.push(Opcode::StoreIndU8, Operands { ra: 7, rb: 8, ..Default::default() });
    a.push(Opcode::LoadIndU8, Operands { ra: 9, rb: 10, ..Default::default() });
    a.push(Opcode::Ecalli, Operands { imm: 1, ..Default::default() });
    a.push(Opcode::Trap, Operands::default());
    a.finish().to_bytes()
}

fn start(engine: EngineKind) -> Instance {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Block) };
    let module = Engine::new(config).load_blob(&program()).unwrap();
    let mut instance = module.instantiate_empty(0);
    instance.address_space().map_zeroed(u64::from(BASE), 4 * PAGE, Access::Write).unwrap();
    instance.set_gas(1_000);
    instance
}

/// Stores `value` at `store`, loads from `load`: the exit and r9.
fn run(instance: &mut Instance, value: u64, store: u32, load: u32) -> (Exit, u64) {
    instance.set_pc(0);
    instance.set_reg(7, value);
    instance.set_reg(8, u64::from(store));
    instance.set_reg(10, u64::from(load));
    instance.set_reg(9, 0xEE);
    (instance.run(), instance.reg(9))
}

#[test]
fn guest_code_sees_every_access_change() {
    let mut roots = Vec::new();
    on_every_engine(|engine| {
        let mut i = start(engine);
        let below = P - PAGE as u32;
        assert_eq!(run(&mut i, 7, P, P), (Exit::Host(1), 7));
        // Read-only, contents kept: the store faults, the load sees 7.
        i.set_page_access(u64::from(P), PAGE, PageAccess::ReadOnly).unwrap();
        assert_eq!(run(&mut i, 8, P, P), (Exit::PageFault(P), 0xEE), "{engine}");
        assert_eq!(run(&mut i, 8, below, P), (Exit::Host(1), 7), "{engine}");
        // Writable again, contents kept.
        i.set_page_access(u64::from(P), PAGE, PageAccess::Writable).unwrap();
        assert_eq!(run(&mut i, 9, P, P), (Exit::Host(1), 9), "{engine}");
        // Zeroed and read-only.
        i.set_page_access(u64::from(P), PAGE, PageAccess::ZeroedReadOnly).unwrap();
        assert_eq!(run(&mut i, 1, below, P), (Exit::Host(1), 0), "{engine}");
        assert_eq!(run(&mut i, 1, P, P), (Exit::PageFault(P), 0xEE), "{engine}");
        // Inaccessible.
        i.set_page_access(u64::from(P), PAGE, PageAccess::Inaccessible).unwrap();
        assert_eq!(run(&mut i, 1, below, P), (Exit::PageFault(P), 0xEE), "{engine}");
        // Zeroed and writable.
        i.set_page_access(u64::from(P), PAGE, PageAccess::ZeroedWritable).unwrap();
        assert_eq!(run(&mut i, 2, below, P + 5), (Exit::Host(1), 0), "{engine}");
        assert_eq!(run(&mut i, 3, P + 5, P + 5), (Exit::Host(1), 3), "{engine}");
        // The page below holds the last byte stored there.
        let mut byte = [0];
        i.read_memory(below, &mut byte).unwrap();
        assert_eq!(byte, [2]);
        roots.push(i.memory_root());
    });
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "memory roots differ between engines");
}

#[test]
fn bad_ranges_are_errors_and_change_nothing() {
    on_every_engine(|engine| {
        let mut i = start(engine);
        assert_eq!(run(&mut i, 7, P, P), (Exit::Host(1), 7));
        let root = i.memory_root();
        let unaligned = i.set_page_access(u64::from(P) + 1, PAGE, PageAccess::ReadOnly);
        assert!(matches!(unaligned, Err(SpaceError::Unaligned { .. })), "{unaligned:?}");
        let empty = i.set_page_access(u64::from(P), 0, PageAccess::Inaccessible);
        assert!(matches!(empty, Err(SpaceError::Unaligned { .. })), "{empty:?}");
        let low = i.set_page_access(0x1000, PAGE, PageAccess::ZeroedWritable);
        assert!(matches!(low, Err(SpaceError::OutOfRange { .. })), "{low:?}");
        let high = i.set_page_access(0xFFFF_F000, 2 * PAGE, PageAccess::ZeroedWritable);
        assert!(matches!(high, Err(SpaceError::OutOfRange { .. })), "{high:?}");
        // The mapping ends at 0x22000: keeping contents past it is refused.
        let past = i.set_page_access(0x2_1000, 2 * PAGE, PageAccess::ReadOnly);
        assert!(matches!(past, Err(SpaceError::Unmapped { address: 0x2_2000 })), "{past:?}");
        assert_eq!(i.memory_root(), root, "{engine}");
        // 0x21000 is still writable.
        assert_eq!(run(&mut i, 4, 0x2_1000, 0x2_1000), (Exit::Host(1), 4), "{engine}");
    });
}
