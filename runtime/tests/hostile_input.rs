//! Hostile inputs never make the host panic: seeded fuzzing of every parser
//! and of the public API, implementation limits enforced with errors, guest
//! accesses at the extremes of the address space, and regression tests for
//! what the fuzz targets found.

use javm::testing::{on_every_engine, seeded_bytes};
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};
use javm_cap::program::HALT_ADDRESS;

fn engine(kind: EngineKind, profile: Profile, gas_model: GasModel) -> Engine {
    Engine::new(Config { engine: kind, profile, gas_model: Some(gas_model) })
}

/// `trap` alone.
const TRAP: [u8; 5] = [0x00, 0x00, 0x01, 0x00, 0x01];

#[test]
fn extreme_gas_never_overflows() {
    // Regression: under the instruction model, out-of-gas subtracts one from
    // the gas a host set; i64::MIN overflowed.
    on_every_engine(|kind| {
        for profile in Profile::ALL {
            let module = engine(kind, profile, GasModel::Instruction).load_blob(&TRAP).unwrap();
            for (gas, exit, after) in [
                (i64::MIN, Exit::OutOfGas, i64::MIN),
                (i64::MIN + 1, Exit::OutOfGas, i64::MIN),
                (-1, Exit::OutOfGas, -2),
                (0, Exit::OutOfGas, -1),
                (i64::MAX, Exit::Panic, i64::MAX - 1),
            ] {
                let mut instance = module.instantiate_empty(0);
                instance.set_gas(gas);
                assert_eq!(instance.run(), exit, "{profile:?} gas {gas}");
                assert_eq!(instance.gas(), after, "{profile:?} gas {gas}");
            }
            // A pc outside the instruction stream (P7 only) takes the same path.
            if profile == Profile::P7 {
                let mut instance = module.instantiate_empty(1000);
                instance.set_gas(i64::MIN);
                assert_eq!(instance.run(), Exit::OutOfGas);
                assert_eq!(instance.gas(), i64::MIN);
            }
            for model in [GasModel::Pipeline, GasModel::Block] {
                let module = engine(kind, profile, model).load_blob(&TRAP).unwrap();
                let mut instance = module.instantiate_empty(0);
                instance.set_gas(i64::MIN);
                assert_eq!(instance.run(), Exit::OutOfGas);
                assert_eq!(instance.gas(), i64::MIN, "gas is unchanged on out-of-gas");
            }
        }
    });
}

#[test]
fn sbrk_of_a_huge_size_fails_without_moving_the_heap() {
    // Regression: the heap top plus a guest-chosen size overflowed u64 (a
    // panic in debug builds; in release the wrapped sum passed the limit
    // check, sbrk returned the old top and the heap shrank by one byte).
    use javm_cap::program::Opcode;
    use javm_cap::program::StandardProgram;
    use javm_cap::program::asm::{Assembler, Operands};
    let mut asm = Assembler::new(Profile::P7);
    let ops = |rd: u8, ra: u8, imm: u64| Operands { rd, ra, imm, ..Operands::default() };
    asm.push(Opcode::LoadImm64, ops(0, 2, u64::MAX));
    asm.push(Opcode::Sbrk, ops(7, 2, 0)); // r7 ← sbrk(2^64 − 1)
    asm.push(Opcode::LoadImm64, ops(0, 2, 0xFFFF_FFFF_FFFF_F000));
    asm.push(Opcode::Sbrk, ops(8, 2, 0)); // r8 ← sbrk(2^64 − 4096)
    asm.push(Opcode::Sbrk, ops(9, 3, 0)); // r9 ← sbrk(0): the top
    asm.push(Opcode::Trap, Operands::default());
    let program = StandardProgram {
        metadata: None,
        ro_data: vec![],
        rw_data: vec![1; 10],
        heap_pages: 0,
        stack_size: 4096,
        code: asm.finish().to_bytes(),
    };
    on_every_engine(|kind| {
        let module = engine(kind, Profile::P7, GasModel::Instruction).load(&program.to_bytes()).unwrap();
        let mut instance = module.instantiate_standard(&[], 0).unwrap();
        instance.set_gas(100);
        assert_eq!(instance.run(), Exit::Panic);
        assert_eq!(instance.reg(7), 0);
        assert_eq!(instance.reg(8), 0);
        // The heap starts after the rw data at 0x20000 + P(10) = 0x21000.
        assert_eq!(instance.reg(9), 0x2_1000);
    });
}

/// Valid inputs of every format, to mutate.
fn valid_inputs() -> Vec<Vec<u8>> {
    use javm::testing::generate::gen_case;
    use javm_cap::DataCap;
    use javm_cap::image::{Image, ImageMapping, MappingSource};
    use javm_cap::program::StandardProgram;
    use javm_cap::space::Access;
    let mut out = Vec::new();
    for seed in 0..8 {
        let data = seeded_bytes(seed, 4096);
        let case = gen_case(&mut arbitrary::Unstructured::new(&data)).unwrap();
        let standard = StandardProgram {
            metadata: None,
            ro_data: vec![1, 2, 3],
            rw_data: vec![4; 5],
            heap_pages: 1,
            stack_size: 4096,
            code: case.blob.clone(),
        };
        let mut with_meta = vec![2, b'm', b'd'];
        with_meta.extend(standard.to_bytes());
        out.push(case.blob);
        out.push(standard.to_bytes());
        out.push(with_meta);
    }
    let mut container = javm_cap::program::container::MAGIC.to_vec();
    container.push(3);
    let body = [1u8, 3, 0x10, 0x20, 0x30, 2, 2, 7, 7, 6, 5, 0, 0, 1, 0, 1, 0];
    container.extend(((13 + body.len()) as u64).to_le_bytes());
    container.extend(body);
    out.push(container);
    let cap = DataCap::from_bytes(&[5u8; 5000]).unwrap();
    out.push(cap.to_archive().unwrap().to_vec());
    let image = Image {
        code: TRAP.to_vec(),
        profile: 8,
        mappings: vec![
            ImageMapping { start_page: 16, page_count: 2, source: MappingSource::Data(cap), access: Access::Read },
            ImageMapping { start_page: 32, page_count: 1, source: MappingSource::Zero, access: Access::Write },
        ],
        regs: [7; 13],
        entry_points: vec![0],
    };
    out.push(image.to_archive().unwrap().to_vec());
    out
}

/// Flips, overwrites, inserts and truncates bytes.
fn mutate(input: &[u8], seed: u64) -> Vec<u8> {
    let noise = seeded_bytes(seed, 64);
    let mut out = input.to_vec();
    for chunk in noise.chunks(4).take(1 + (noise[0] % 4) as usize) {
        let at = u16::from_le_bytes([chunk[1], chunk[2]]) as usize % out.len().max(1);
        // Mostly in place, so the formats' framing often survives.
        match chunk[0] % 10 {
            _ if out.is_empty() => out.push(chunk[3]),
            0..=3 => out[at] ^= 1 << (chunk[3] % 8),
            4 | 5 => out[at] = chunk[3],
            6 => out[at] = [0, 0xFF, 0x80, 0x7F][chunk[3] as usize % 4],
            7 => out.insert(at, chunk[3]),
            8 => out.truncate(at),
            _ => out.extend_from_slice(&chunk[..2]),
        }
    }
    out
}

#[test]
fn parsers_survive_random_and_mutated_inputs() {
    use javm::testing::hostile::{parse_archives, parse_blob, parse_standard};
    let valid = valid_inputs();
    let mut loaded = 0;
    for seed in 0..3000u64 {
        let input = if seed % 3 == 0 {
            let len = (seed as usize * 7) % 300;
            seeded_bytes(seed, len)
        } else {
            mutate(&valid[(seed / 3) as usize % valid.len()], seed)
        };
        loaded += parse_blob(&input).len();
        parse_standard(&input);
        parse_archives(&input);
    }
    // The mutations keep many programs loadable, so decoding is exercised.
    assert!(loaded > 500, "only {loaded} programs decoded");
    // Unmutated inputs load.
    for input in &valid {
        parse_blob(input);
        parse_standard(input);
        parse_archives(input);
    }
}

#[test]
fn cache_files_survive_random_and_mutated_inputs() {
    use javm::testing::hostile::cache_file;
    let mut loaded = 0;
    for seed in 0..1500u64 {
        let len = (seed as usize * 13) % 400;
        let mut input = seeded_bytes(seed, len);
        if let Some(mode) = input.first_mut() {
            *mode = (seed % 3) as u8;
        }
        loaded += usize::from(cache_file(&input));
    }
    // Unchanged, the valid file loads; some changes keep it loadable.
    assert!(cache_file(&[2]));
    assert!(loaded > 0, "no mutated file loaded");
    assert!(loaded < 1000, "{loaded} of 1500 files loaded");
}

#[test]
fn implementation_limits_are_errors() {
    use javm_cap::program::blob::{MAX_CODE_LEN, MAX_JUMP_TABLE_LEN};
    use javm_cap::program::varint;
    use javm_cap::program::{CodeBlob, ProgramError};
    let header = |jump_len: u64, width: u8, code_len: u64| {
        let mut out = Vec::new();
        varint::encode(jump_len, &mut out);
        out.push(width);
        varint::encode(code_len, &mut out);
        out
    };
    // One past each limit: refused from the header alone.
    assert!(matches!(
        CodeBlob::parse(&header(0, 0, MAX_CODE_LEN as u64 + 1)),
        Err(ProgramError::TooLarge { field: "code length", value, limit, .. })
            if value == MAX_CODE_LEN as u64 + 1 && limit == MAX_CODE_LEN as u64
    ));
    assert!(matches!(
        CodeBlob::parse(&header(MAX_JUMP_TABLE_LEN as u64 + 1, 4, 1)),
        Err(ProgramError::TooLarge { field: "jump table length", .. })
    ));
    assert!(matches!(CodeBlob::parse(&header(u64::MAX, 255, u64::MAX)), Err(ProgramError::TooLarge { .. })));
    // At the limits, a short input is a truncation error, not an allocation.
    assert!(matches!(
        CodeBlob::parse(&header(MAX_JUMP_TABLE_LEN as u64, 255, MAX_CODE_LEN as u64)),
        Err(ProgramError::Truncated { field: "jump table", .. })
    ));
    assert!(matches!(
        CodeBlob::parse(&header(0, 0, MAX_CODE_LEN as u64)),
        Err(ProgramError::Truncated { field: "code", .. })
    ));
    // A standard program cannot smuggle a larger blob: its 4-byte code
    // length is checked against the input before anything is copied.
    let mut standard = vec![0u8; 11];
    standard.extend(u32::MAX.to_le_bytes());
    assert!(matches!(
        javm_cap::program::StandardProgram::parse(&standard),
        Err(ProgramError::Truncated { field: "code", .. })
    ));
    // The deepest jump table the format allows (zero-width entries cost no
    // input) loads, bounded by the limit, and every entry panics.
    let mut deep = header(MAX_JUMP_TABLE_LEN as u64, 0, 1);
    deep.extend([0x00, 0x01]);
    let module = engine(EngineKind::Interpreter, Profile::P8, GasModel::Pipeline).load_blob(&deep).unwrap();
    assert_eq!(module.program().jump_targets().len(), MAX_JUMP_TABLE_LEN);
}

#[test]
fn a_large_program_loads_and_runs() {
    // 4 MiB of `fallthrough` (4 Mi one-byte blocks) then `trap`.
    let len = 4 << 20;
    let mut code = vec![1u8; len];
    code[len - 1] = 0;
    let blob = javm_cap::program::CodeBlob::from_parts(code, 0..len, vec![]).to_bytes();
    on_every_engine(|kind| {
        let module = engine(kind, Profile::P8, GasModel::Pipeline).load_blob(&blob).unwrap();
        let mut instance = module.instantiate_empty(0);
        instance.set_gas(1 << 40);
        assert_eq!(instance.run(), Exit::Panic);
        assert_eq!(instance.pc(), len as u32 - 1);
        // Each fallthrough block costs 2 − … = max(cycles − 3, 1); the final trap 2.
        assert_eq!(instance.gas(), (1 << 40) - 2 * (len as i64 - 1) - 2);
    });
}

#[test]
fn api_survives_hostile_values() {
    on_every_engine(|kind| {
        for seed in 0..1500u64 {
            let data = seeded_bytes(seed ^ 0xA5A5, 4096);
            let _ = javm::testing::hostile::drive_api(&mut arbitrary::Unstructured::new(&data), kind);
        }
    });
}

/// Guest pages mapped by [`extreme_accesses_stay_in_the_guest`]: page →
/// writable.
const EXTREME_MAP: [(u32, bool); 4] = [(0x10, true), (0x7_FFFF, false), (0xF_FFFE, false), (0xF_FFFF, true)];

/// The exit GP gives an access of `len` bytes at `addr` (spec §3): the
/// lowest bad byte decides, wrapping past 2^32.
fn expected_fault(addr: u32, len: u32, write: bool) -> Option<Exit> {
    let ok = |a: u32| EXTREME_MAP.iter().any(|&(p, w)| p == a / 4096 && (w || !write));
    (0..len)
        .map(|i| addr.wrapping_add(i))
        .filter(|&a| !ok(a))
        .min()
        .map(|a| if a < 0x1_0000 { Exit::Panic } else { Exit::PageFault(a & !0xFFF) })
}

#[test]
fn extreme_accesses_stay_in_the_guest() {
    use javm_cap::program::Opcode;
    use javm_cap::program::asm::{Assembler, Operands};
    use javm_cap::space::Access;
    let addresses = [
        0u32,
        1,
        0xFFF8,
        0xFFFC,
        0xFFFF,
        0x1_0000,
        0x1_0FF9,
        0x1_0FFF,
        0x7FFF_EFFC,
        0x7FFF_F000,
        0x7FFF_FFF9,
        0x7FFF_FFFF,
        0x8000_0000,
        0xFFFE_EFFC,
        0xFFFE_FFFC,
        0xFFFF_0000,
        0xFFFF_EFFF,
        0xFFFF_FFF8,
        0xFFFF_FFF9,
        0xFFFF_FFFC,
        0xFFFF_FFFF,
    ];
    let ops = [
        (Opcode::StoreIndU8, Opcode::LoadIndU8, 1),
        (Opcode::StoreIndU16, Opcode::LoadIndU16, 2),
        (Opcode::StoreIndU32, Opcode::LoadIndU32, 4),
        (Opcode::StoreIndU64, Opcode::LoadIndU64, 8),
    ];
    let pattern = |a: u32| (a as u8) ^ 0x5A;
    on_every_engine(|kind| {
        for &(store, load, len) in &ops {
            for (op, write) in [(store, true), (load, false)] {
                let mut asm = Assembler::new(Profile::P8);
                // store: [r2 + 0] ← r1; load: r3 ← [r2 + 0].
                let (ra, rb) = if write { (1, 2) } else { (3, 2) };
                asm.push(op, Operands { ra, rb, ..Operands::default() });
                asm.push(Opcode::Trap, Operands::default());
                let module = engine(kind, Profile::P8, GasModel::Pipeline).load_blob(&asm.finish().to_bytes()).unwrap();
                for &addr in &addresses {
                    for high in [0u64, 0xDEAD_BEEF_0000_0000] {
                        let mut inst = module.instantiate_empty(0);
                        for &(page, w) in &EXTREME_MAP {
                            let access = if w { Access::Write } else { Access::Read };
                            let space = inst.address_space();
                            space.map_zeroed(u64::from(page) * 4096, 4096, access).unwrap();
                            let bytes: Vec<u8> = (0..4096).map(|i| pattern(page * 4096 + i)).collect();
                            space.poke(page * 4096, &bytes).unwrap();
                        }
                        let root = inst.memory_root();
                        inst.set_reg(1, 0x1122_3344_5566_7788);
                        inst.set_reg(2, high | u64::from(addr));
                        inst.set_reg(3, 0xABCD);
                        inst.set_gas(1000);
                        let exit = inst.run();
                        let what = format!("{op} 0x{addr:08x} (high {high:x})");
                        match expected_fault(addr, len, write) {
                            Some(fault) => {
                                assert_eq!(exit, fault, "{what}");
                                assert_eq!(inst.pc(), 0, "{what}");
                                assert_eq!(inst.reg(3), 0xABCD, "{what}: a faulting load writes nothing");
                                assert_eq!(inst.memory_root(), root, "{what}: a faulting store writes nothing");
                            }
                            None => {
                                assert_eq!(exit, Exit::Panic, "{what}: reaches the trap");
                                // `op rA, rB, 0` is two bytes; the trap follows.
                                assert_eq!(inst.pc(), 2, "{what}");
                                let mut got = vec![0u8; len as usize];
                                inst.read_memory(addr, &mut got).unwrap();
                                if write {
                                    assert_eq!(got, 0x1122_3344_5566_7788u64.to_le_bytes()[..len as usize], "{what}");
                                } else {
                                    let mut v = [0u8; 8];
                                    v[..len as usize].copy_from_slice(&got);
                                    assert_eq!(inst.reg(3), u64::from_le_bytes(v), "{what}");
                                    let expected: Vec<u8> = (0..len).map(|i| pattern(addr + i)).collect();
                                    assert_eq!(got, expected, "{what}");
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn no_writable_and_executable_mappings() {
    // W^X: after compiling and running a module on every engine, no mapping
    // of this process is both writable and executable.
    let blob = {
        use javm_cap::program::Opcode;
        use javm_cap::program::asm::{Assembler, Operands};
        let mut asm = Assembler::new(Profile::P8);
        asm.push(Opcode::LoadImm, Operands { ra: 7, imm: 42, ..Operands::default() });
        asm.push(Opcode::JumpInd, Operands { ra: 0, ..Operands::default() });
        asm.finish().to_bytes()
    };
    on_every_engine(|kind| {
        let module = engine(kind, Profile::P8, GasModel::Pipeline).load_blob(&blob).unwrap();
        let mut inst = module.instantiate_empty(0);
        inst.set_reg(0, u64::from(HALT_ADDRESS));
        inst.set_gas(100);
        assert_eq!(inst.run(), Exit::Halt);
        assert_eq!(inst.reg(7), 42);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let perms = line.split_whitespace().nth(1).unwrap_or("");
            assert!(!(perms.contains('w') && perms.contains('x')), "W+X mapping {line}");
        }
    });
}

#[test]
fn an_empty_image_mapping_grants_no_memory() {
    // Regression: a mapping of 0 pages was built as a cap of the minimum
    // size, one page, so the guest could use a page the image never mapped
    // (and two empty mappings at one page failed to load as overlapping).
    use javm_cap::image::{Image, ImageMapping, MappingSource};
    use javm_cap::space::Access;
    let empty = |start_page, source| ImageMapping { start_page, page_count: 0, source, access: Access::Write };
    let image = Image {
        code: TRAP.to_vec(),
        profile: 8,
        mappings: vec![
            empty(0x20, MappingSource::Zero),
            empty(0x20, MappingSource::Zero),
            empty(0x21, MappingSource::Data(javm_cap::DataCap::empty())),
        ],
        regs: [0; 13],
        entry_points: vec![0],
    };
    on_every_engine(|kind| {
        let module = engine(kind, Profile::P8, GasModel::Pipeline).load_image(&image).unwrap();
        let mut inst = module.instantiate_at(0).unwrap();
        assert!(inst.address_space().mappings().is_empty());
        assert_eq!(inst.write_memory(0x2_0000, &[1]), Err(javm_cap::vm::MemFault::PageFault(0x2_0000)));
    });
}

#[test]
fn empty_host_accesses_succeed_anywhere() {
    // Regression (api_hostile): a zero-length read at address 0 underflowed.
    on_every_engine(|kind| {
        let module = engine(kind, Profile::P8, GasModel::Pipeline).load_blob(&TRAP).unwrap();
        let mut inst = module.instantiate_empty(0);
        for address in [0, 1, 0xFFFF, 0x1_0000, 0xFFFF_FFFF] {
            assert_eq!(inst.read_memory(address, &mut []), Ok(()), "0x{address:x}");
            assert_eq!(inst.write_memory(address, &[]), Ok(()), "0x{address:x}");
        }
    });
}

/// Writes the valid inputs of every format as a seed corpus for the parser
/// fuzz targets: `JAVM_SEED_DIR=fuzz/corpus/parse_archive cargo test
/// --release -p javm --test hostile_input -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes files; run by hand to seed a fuzz corpus"]
fn write_seed_corpus() {
    let dir = std::env::var("JAVM_SEED_DIR").expect("JAVM_SEED_DIR names the corpus directory");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, input) in valid_inputs().iter().enumerate() {
        std::fs::write(format!("{dir}/seed-{i:02}"), input).unwrap();
    }
}

#[test]
fn a_cap_cloned_during_a_host_call_keeps_its_bytes() {
    // The interpreter keeps its page table's writable marks across a host
    // call; a host that clones a cap in between must still get a snapshot
    // that later guest writes do not reach.
    use javm_cap::program::Opcode;
    use javm_cap::program::asm::{Assembler, Operands};
    use javm_cap::space::Access;
    let store = |value| Operands { imm: 0x10000, imm2: value, ..Operands::default() };
    let blob = {
        let mut asm = Assembler::new(Profile::P8);
        asm.push(Opcode::StoreImmU8, store(1));
        asm.push(Opcode::Ecalli, Operands { imm: 0, ..Operands::default() });
        asm.push(Opcode::StoreImmU8, store(2));
        asm.push(Opcode::Ecalli, Operands { imm: 0, ..Operands::default() });
        asm.push(Opcode::StoreImmU8, store(3));
        asm.push(Opcode::Trap, Operands::default());
        asm.finish().to_bytes()
    };
    on_every_engine(|kind| {
        let module = engine(kind, Profile::P8, GasModel::Block).load_blob(&blob).unwrap();
        let mut inst = module.instantiate_empty(0);
        inst.address_space().map_zeroed(0x10000, 4096, Access::Write).unwrap();
        inst.set_gas(100);
        let mut byte = [0u8; 1];
        assert_eq!(inst.run(), Exit::Host(0));
        let first = inst.address_space().mappings()[0].cap.clone();
        assert_eq!(inst.run(), Exit::Host(0));
        let second = inst.address_space().clone();
        assert_eq!(inst.run(), Exit::Panic);
        first.copy_into(0, &mut byte).unwrap();
        assert_eq!(byte, [1], "a cap cloned at the first call");
        second.read(0x10000, &mut byte).unwrap();
        assert_eq!(byte, [2], "a space cloned at the second call");
        inst.read_memory(0x10000, &mut byte).unwrap();
        assert_eq!(byte, [3], "the guest's own memory");
    });
}
