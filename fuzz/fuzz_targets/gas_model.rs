//! Pipeline gas ≡ the spec's rules cycle by cycle: a block assembled from
//! the input (up to 300 instructions of every P8 kind over r0..r5, so that
//! dependencies, unit contention and a full reorder buffer all occur, then
//! any terminator) costs the same by `GasModel::Pipeline` as by
//! `pipeline::reference`, also with a coster that has just costed another
//! block, and as a decoded program prices it when first asked.
#![no_main]

use arbitrary::{Result, Unstructured};
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::program::decode::block_at;
use javm_cap::program::gas::pipeline::reference;
use javm_cap::program::{CodeBlob, GasModel, Opcode, Profile, Program};

/// A block assembled from `u`.
fn block(u: &mut Unstructured) -> Result<CodeBlob> {
    let p8 = |term: bool| -> Vec<Opcode> {
        Opcode::ALL.into_iter().filter(|o| o.in_profile(Profile::P8) && o.is_terminator() == term).collect()
    };
    let (plain, terms) = (p8(false), p8(true));
    let mut asm = Assembler::new(Profile::P8);
    for _ in 0..u.int_in_range(0..=300)? {
        let op = plain[u.choose_index(plain.len())?];
        let operands = Operands {
            ra: u.int_in_range(0..=5)?,
            rb: u.int_in_range(0..=5)?,
            rd: u.int_in_range(0..=5)?,
            imm: u.arbitrary()?,
            imm2: u.arbitrary()?,
            ..Operands::default()
        };
        asm.push(op, operands);
    }
    // A branch or jump target anywhere near, so that it may land on the
    // `unlikely` below or on a trap byte.
    let offset: i8 = u.arbitrary()?;
    let target = Target::Offset(asm.pc().wrapping_add(offset as u32));
    let term = terms[u.choose_index(terms.len())?];
    asm.push(term, Operands { ra: u.int_in_range(0..=5)?, rb: u.int_in_range(0..=5)?, target, ..Operands::default() });
    asm.push(Opcode::Unlikely, Operands::default());
    Ok(asm.finish())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(first) = block(&mut u) else { return };
    let Ok(second) = block(&mut u) else { return };
    let mut coster = GasModel::Pipeline.coster();
    for blob in [&first, &second] {
        let body = block_at(blob, Profile::P8, 0);
        let expected = reference::block_cost(&blob.code, &body);
        assert_eq!(coster.cost(&blob.code, &body), expected, "{body:#?}");
        let program = Program::new(blob.clone(), Profile::P8, GasModel::Pipeline).expect("an assembled block decodes");
        assert_eq!((program.priced_blocks(), program.block_cost(0)), (0, expected), "{body:#?}");
        assert_eq!((program.priced_blocks(), program.block_cost(0)), (1, expected), "priced once: {body:#?}");
    }
});
