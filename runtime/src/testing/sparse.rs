//! A guest that touches a large heap sparsely, for checking that memory
//! committed follows the pages touched, not the heap's size.

use javm_cap::program::StandardProgram;
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::program::{Opcode, Profile};

/// A P7 standard program that grows its heap by `heap` bytes with `sbrk`,
/// reads one byte every `read_stride` bytes of it (summing them into `r10`,
/// so all zeros give 0), then stores `1` every `write_stride` bytes, and
/// traps. `r7` is then the heap's end, `r11` its start (0 if `sbrk` failed).
pub fn sparse_touch_program(heap: u32, read_stride: u32, write_stride: u32) -> Vec<u8> {
    let mut asm = Assembler::new(Profile::P7);
    let ops = |rd: u8, ra: u8, rb: u8, imm: u64| Operands { rd, ra, rb, imm, ..Operands::default() };
    let branch =
        |ra: u8, rb: u8, label: usize| Operands { ra, rb, target: Target::Label(label), ..Operands::default() };
    asm.push(Opcode::LoadImm64, ops(0, 2, 0, u64::from(heap)));
    asm.push(Opcode::LoadImm64, ops(0, 12, 0, 1));
    asm.push(Opcode::Sbrk, ops(7, 2, 0, 0)); // r7 ← sbrk(heap): the old top
    asm.push(Opcode::AddImm64, ops(0, 11, 7, 0)); // r11 ← r7
    asm.push(Opcode::Add64, ops(8, 7, 2, 0)); // r8 ← r7 + heap
    let (reads, writes) = (asm.label(), asm.label());
    asm.push(Opcode::Fallthrough, Operands::default());
    asm.bind(reads);
    asm.push(Opcode::LoadIndU8, ops(0, 9, 7, 0)); // r9 ← [r7]
    asm.push(Opcode::Add64, ops(10, 10, 9, 0)); // r10 ← r10 + r9
    asm.push(Opcode::AddImm64, ops(0, 7, 7, u64::from(read_stride)));
    asm.push(Opcode::BranchLtU, branch(7, 8, reads));
    asm.push(Opcode::AddImm64, ops(0, 7, 11, 0)); // r7 ← r11
    asm.push(Opcode::Fallthrough, Operands::default());
    asm.bind(writes);
    asm.push(Opcode::StoreIndU8, ops(0, 12, 7, 0)); // [r7] ← r12
    asm.push(Opcode::AddImm64, ops(0, 7, 7, u64::from(write_stride)));
    asm.push(Opcode::BranchLtU, branch(7, 8, writes));
    asm.push(Opcode::Trap, Operands::default());
    StandardProgram {
        metadata: None,
        ro_data: vec![],
        rw_data: vec![],
        heap_pages: 0,
        stack_size: 4096,
        code: asm.finish().to_bytes(),
    }
    .to_bytes()
}
