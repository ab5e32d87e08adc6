//! Images of standard programs and the small hand-assembled programs of
//! the call-floor and memory benches.

use javm_cap::image::{Access, Image, ImageMapping, MappingSource};
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::program::standard::{StandardProgram, initial_registers};
use javm_cap::program::{Opcode, Profile};
use javm_cap::{DataCap, PAGE_SIZE};

/// The image of `program` invoked with `args`: ro data, rw data + heap,
/// stack and arguments as mappings (data caps of the region's size), GP
/// initial registers, entry point 0.
///
/// # Panics
///
/// If a region cannot be built as a cap.
pub fn image_of(program: &StandardProgram, args: &[u8]) -> Image {
    let mut mappings = Vec::new();
    let regions = [
        (program.ro_region(), &program.ro_data[..]),
        (program.rw_region(), &program.rw_data[..]),
        (program.stack_region(), &[][..]),
        (StandardProgram::args_region(args.len()), args),
    ];
    for (region, content) in regions {
        if region.len == 0 {
            continue;
        }
        let access = if region.writable { Access::Write } else { Access::Read };
        let source = if content.is_empty() {
            MappingSource::Zero
        } else {
            MappingSource::Data(DataCap::from_bytes_sized(content, u64::from(region.len)).expect("a region cap"))
        };
        mappings.push(ImageMapping {
            start_page: region.start / PAGE_SIZE as u32,
            page_count: region.len / PAGE_SIZE as u32,
            source,
            access,
        });
    }
    Image {
        code: program.code.clone(),
        profile: 8,
        mappings,
        regs: initial_registers(args.len()),
        entry_points: vec![0],
    }
}

fn ops(ra: u8, rb: u8, imm: u64, imm2: u64) -> Operands {
    Operands { ra, rb, imm, imm2, ..Operands::default() }
}

/// `jump_ind r0, 0`: returns to the GP halt address at once.
fn ret(asm: &mut Assembler) {
    asm.push(Opcode::JumpInd, ops(0, 0, 0, 0));
}

/// The smallest useful standard program: one page each of ro and rw data,
/// a 64 KiB stack, and code that returns at once (a halt).
pub fn trivial_program() -> StandardProgram {
    let mut asm = Assembler::new(Profile::P8);
    ret(&mut asm);
    StandardProgram {
        metadata: None,
        ro_data: vec![1; PAGE_SIZE],
        rw_data: vec![2; PAGE_SIZE],
        heap_pages: 0,
        stack_size: 64 << 10,
        code: asm.finish().to_bytes(),
    }
}

/// Which pages [`touch_program`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// Pages of the read-write data (initialised, non-zero): copy on write.
    Data,
    /// Heap pages past the data (zero): zero-fill on write.
    Heap,
}

/// A standard program with `pages` pages of non-zero read-write data and
/// `pages` zero heap pages whose code stores one byte to each page of one
/// of them, then halts.
pub fn touch_program(pages: u16, touch: Touch) -> StandardProgram {
    let mut program = StandardProgram {
        metadata: None,
        ro_data: Vec::new(),
        rw_data: vec![0x5a; usize::from(pages) * PAGE_SIZE],
        heap_pages: pages,
        stack_size: 4096,
        code: Vec::new(),
    };
    let rw = program.rw_region().start;
    let base = match touch {
        Touch::Data => rw,
        Touch::Heap => rw + u32::from(pages) * PAGE_SIZE as u32,
    };
    let mut asm = Assembler::new(Profile::P8);
    asm.push(Opcode::LoadImm, ops(9, 0, u64::from(pages), 0));
    asm.push(Opcode::LoadImm, ops(10, 0, u64::from(base), 0));
    asm.push(Opcode::Fallthrough, Operands::default());
    let top = asm.label();
    asm.bind(top);
    asm.push(Opcode::StoreImmIndU8, ops(10, 0, 0, 1));
    asm.push(Opcode::AddImm64, ops(10, 10, PAGE_SIZE as u64, 0));
    asm.push(Opcode::AddImm64, ops(9, 9, u64::MAX, 0));
    asm.push(Opcode::BranchNeImm, Operands { ra: 9, imm: 0, target: Target::Label(top), ..Operands::default() });
    ret(&mut asm);
    program.code = asm.finish().to_bytes();
    program
}
