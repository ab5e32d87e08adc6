//! Modules from images: archive round trip, shared pages, independent
//! instances.

use javm::{Config, Engine, Exit};
use javm_cap::DataCap;
use javm_cap::image::{Access, Image, ImageMapping, MappingSource};
use javm_cap::program::Opcode as O;
use javm_cap::program::Profile;
use javm_cap::program::asm::{Assembler, Operands};

fn program() -> Vec<u8> {
    // r2 ← u32 [0x10000]; [0x10000] ← r2 + 1 (u32); trap
    let mut asm = Assembler::new(Profile::P8);
    asm.push(O::LoadU32, Operands { ra: 2, imm: 0x10000, ..Operands::default() });
    asm.push(O::AddImm64, Operands { ra: 3, rb: 2, imm: 1, ..Operands::default() });
    asm.push(O::StoreU32, Operands { ra: 3, imm: 0x10000, ..Operands::default() });
    asm.push(O::Trap, Operands::default());
    asm.finish().to_bytes()
}

fn image() -> Image {
    let data = DataCap::from_bytes(&41u32.to_le_bytes()).unwrap();
    let mut regs = [0u64; 13];
    regs[5] = 5;
    Image {
        code: program(),
        profile: 8,
        mappings: vec![
            ImageMapping { start_page: 16, page_count: 2, source: MappingSource::Data(data), access: Access::Write },
            ImageMapping { start_page: 40, page_count: 1, source: MappingSource::Zero, access: Access::Read },
        ],
        regs,
        entry_points: vec![0],
    }
}

#[test]
fn archived_image_instances_share_pages_until_written() {
    let archive = image().to_archive().unwrap();
    let loaded = Image::from_archive(&archive).unwrap();
    let module = Engine::new(Config::default()).load_image(&loaded).unwrap();
    let mut first = module.instantiate_at(0).unwrap();
    let mut second = module.instantiate_at(0).unwrap();
    first.set_gas(1000);
    assert_eq!(first.run(), Exit::Panic);
    assert_eq!(first.reg(2), 41);
    assert_eq!(first.reg(5), 5, "registers come from the image");
    second.set_gas(1000);
    assert_eq!(second.run(), Exit::Panic);
    assert_eq!(second.reg(2), 41, "the first instance's write is its own");
    assert_ne!(first.memory_root(), module.instantiate_at(0).unwrap().memory_root());
    assert_eq!(first.memory_root(), second.memory_root());
    // The second mapping is read-only: writing it faults.
    assert!(second.write_memory(40 * 4096, &[1]).is_err());
}

#[test]
fn module_to_image_round_trips() {
    let module = Engine::new(Config::default()).load_image(&image()).unwrap();
    let again = Engine::new(Config::default()).load_image(&module.to_image(vec![0])).unwrap();
    assert_eq!(module.instantiate_at(0).unwrap().memory_root(), again.instantiate_at(0).unwrap().memory_root());
    let p7 = Engine::new(Config { profile: Profile::P7, ..Config::default() });
    assert!(matches!(p7.load_image(&image()), Err(javm::Error::ImageProfile { image: 8, engine: 7 })));
}
