//! Random guest programs for differential testing, built from the ISA table:
//! valid and near-valid code of both profiles with branches, jump tables,
//! dynamic jumps, memory accesses around page boundaries and onto read-only,
//! unmapped and low pages, host calls and small gas limits.
//!
//! Generation reads its choices from an [`arbitrary::Unstructured`], so the
//! same generator serves seeded tests (bytes from a PRNG) and coverage-guided
//! fuzzing (bytes from libFuzzer).

use crate::interp::code::Dispatch;
use arbitrary::{Arbitrary, Result, Unstructured};
use javm_cap::PAGE_SIZE;
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::program::{GasModel, HALT_ADDRESS, Opcode, OperandClass, Profile};
use javm_cap::space::{Access, Heap};

/// One mapping of a generated memory layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenMapping {
    /// First guest page.
    pub start_page: u32,
    /// Number of pages.
    pub pages: u32,
    /// Access.
    pub access: Access,
    /// Bytes written at the start of the mapping.
    pub content: Vec<u8>,
}

/// A generated test case: program, memory, registers, gas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenCase {
    /// Profile of the code.
    pub profile: Profile,
    /// Gas model to run it under.
    pub gas_model: GasModel,
    /// The raw code blob.
    pub blob: Vec<u8>,
    /// Entry pc.
    pub entry: u32,
    /// Initial registers.
    pub regs: [u64; 13],
    /// Initial gas.
    pub gas: i64,
    /// Memory layout.
    pub mappings: Vec<GenMapping>,
    /// The P7 `sbrk` heap, if any.
    pub heap: Option<Heap>,
}

/// Page numbers the generator lays memory out around (kept small so random
/// pointers hit mapped, read-only and unmapped pages alike).
const BASE_PAGE: u32 = 16;

/// The last guest page.
const TOP_PAGE: u32 = (1 << 20) - 1;

/// Values that make instructions interesting (including the extreme
/// addresses a guest may aim at its window's edges).
const SPECIAL: [u64; 22] = [
    0,
    1,
    2,
    u64::MAX,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0xFFFF_FFFF_8000_0000,
    1 << 63,
    (1 << 63) - 1,
    31,
    32,
    63,
    64,
    HALT_ADDRESS as u64,
    0x1_0000,
    0xFFFF,
    0xFFF8,
    0xFFFF_FFF8,
    0xFFFF_FFF9,
    0xFFFF_F000,
    0xFFFF_FFFF_FFFF_FFF8,
];

fn value(u: &mut Unstructured<'_>, mappings: &[GenMapping]) -> Result<u64> {
    Ok(match u.int_in_range(0..=5)? {
        0 => SPECIAL[u.choose_index(SPECIAL.len())?],
        1 | 2 if !mappings.is_empty() => {
            // An address near a mapping boundary.
            let m = u.choose(mappings)?;
            let base = u64::from(m.start_page) * PAGE_SIZE as u64;
            let end = base + u64::from(m.pages) * PAGE_SIZE as u64;
            let anchor = if u.arbitrary()? { base } else { end };
            anchor.wrapping_add(u.int_in_range(0..=16u64)?).wrapping_sub(8)
        }
        3 => u64::from(u.arbitrary::<u8>()?),
        4 => u.arbitrary::<i32>()? as i64 as u64,
        _ => u.arbitrary()?,
    })
}

fn small_imm(u: &mut Unstructured<'_>, mappings: &[GenMapping]) -> Result<u64> {
    // Immediates are at most 32-bit sign-extended.
    Ok(value(u, mappings)? as u32 as i32 as i64 as u64)
}

/// An instruction that compilers emit right after `op` with related
/// registers, or `None`: the carry test after an add, an add of a scaled
/// index, the low half after an upper multiply, a load through a computed
/// address, or any pair the interpreter runs in one dispatch. Unrelated
/// instructions rarely line up like this by chance. May adjust `o` to fit
/// (a scale is a shift by 0..=4).
fn idiom(
    u: &mut Unstructured<'_>,
    op: Opcode,
    o: &mut Operands,
    labels: &[usize],
) -> Result<Option<(Opcode, Operands)>> {
    let (a, b, d) = (o.ra, o.rb, o.rd);
    let pick = |u: &mut Unstructured<'_>, x: u8, y: u8| -> Result<(u8, u8)> {
        Ok(if u.arbitrary()? { (x, y) } else { (y, x) })
    };
    let operands = |ra: u8, rb: u8, rd: u8, imm: u64| Operands { ra, rb, rd, imm, ..Operands::default() };
    let fused: Vec<Opcode> = Dispatch::fused_after(op).collect();
    if !fused.is_empty() && u.ratio(3, 4)? {
        // The second instruction reads the first one's result.
        let next = *u.choose(&fused)?;
        let written = if op.class() == OperandClass::RegRegReg { d } else { a };
        let other = *u.choose(&[a, b, d, 7])?;
        let (x, y) = pick(u, written, other)?;
        let second = match next.class() {
            OperandClass::RegRegReg => operands(x, y, *u.choose(&[written, other, 9])?, 0),
            OperandClass::RegReg => operands(written, 0, other, 0),
            // Loads, stores and immediate adds: rB is the base or source.
            OperandClass::RegRegImm => operands(other, written, 0, u.int_in_range(0..=16)?),
            OperandClass::RegRegOff => {
                Operands { ra: x, rb: y, target: Target::Label(*u.choose(labels)?), ..Operands::default() }
            }
            // A flag test of the result, or the next of a run of constants.
            OperandClass::RegImmOff => Operands {
                ra: written,
                imm: u.int_in_range(0..=16)?,
                target: Target::Label(*u.choose(labels)?),
                ..Operands::default()
            },
            OperandClass::RegImm => operands(other, 0, 0, u.int_in_range(0..=16)?),
            _ => return Ok(None),
        };
        return Ok(Some((next, second)));
    }
    Ok(Some(match op {
        Opcode::Add64 if u.arbitrary()? => {
            // set_lt_u c, d, a: the carry out of d = a + b.
            let source = if u.arbitrary()? { a } else { b };
            (Opcode::SetLtU, operands(d, source, *u.choose(&[d, a, b, 5])?, 0))
        }
        Opcode::Add64 => {
            // load_ind d, [d + off]
            let load = *u.choose(&[Opcode::LoadIndU8, Opcode::LoadIndI16, Opcode::LoadIndU32, Opcode::LoadIndU64])?;
            let target = if u.ratio(3, 4)? { d } else { a };
            (load, operands(target, d, 0, u.int_in_range(0..=16)?))
        }
        Opcode::ShloLImm64 => {
            // add_64 a, a, x after a shift by 0..=4 (a scaled index).
            o.imm = u.int_in_range(0..=4)?;
            let other = *u.choose(&[b, 3, 7])?;
            let (x, y) = pick(u, a, other)?;
            (Opcode::Add64, operands(x, y, a, 0))
        }
        Opcode::MulUpperUU | Opcode::MulUpperSS | Opcode::MulUpperSU => {
            // mul_64 of the same operands: both halves of a wide product.
            let (x, y) = pick(u, a, b)?;
            (Opcode::Mul64, operands(x, y, *u.choose(&[d, a, b, 9])?, 0))
        }
        _ => return Ok(None),
    }))
}

/// Mappings from [`BASE_PAGE`] up, `count` of them, each after a gap of up
/// to `gap` pages, of 1 to `pages` pages, writable with odds `write` in
/// `write + 1`, with up to 64 bytes of content.
fn gen_mappings(
    u: &mut Unstructured<'_>,
    count: std::ops::RangeInclusive<u32>,
    gap: u32,
    pages: u32,
    write: u8,
) -> Result<Vec<GenMapping>> {
    let mut mappings = Vec::new();
    let mut page = BASE_PAGE;
    for _ in 0..u.int_in_range(count)? {
        page += u.int_in_range(0..=gap)?;
        let pages = u.int_in_range(1..=pages)?;
        let access = if u.ratio(write, write + 1)? { Access::Write } else { Access::Read };
        let len = u.int_in_range(0..=64usize)?;
        let content = u.bytes(len)?.to_vec();
        mappings.push(GenMapping { start_page: page, pages, access, content });
        page += pages;
    }
    Ok(mappings)
}

/// Generates a case.
pub fn gen_case(u: &mut Unstructured<'_>) -> Result<GenCase> {
    let profile = if u.ratio(3, 4)? { Profile::P8 } else { Profile::P7 };
    let gas_model = match u.int_in_range(0..=3)? {
        0 | 1 => GasModel::default_for(profile),
        2 => GasModel::Block,
        _ => GasModel::Instruction,
    };

    let mut mappings = gen_mappings(u, 0..=3, 2, 3, 2)?;
    if u.ratio(1, 8)? {
        // The last pages of the address space, so accesses at 0xFFFFFFF8..
        // succeed and those wrapping past 2^32 must panic.
        let pages = u.int_in_range(1..=2)?;
        let access = if u.arbitrary()? { Access::Write } else { Access::Read };
        let len = u.int_in_range(0..=16usize)?;
        let content = u.bytes(len)?.to_vec();
        mappings.push(GenMapping { start_page: TOP_PAGE - pages + 1, pages, access, content });
    }

    let mut asm = Assembler::new(profile);
    // Now and then more blocks than one span of a lazily decoded program
    // holds (`SPAN_BLOCKS`), so that runs cross from span to span.
    let block_count = if u.ratio(1, 8)? { u.int_in_range(17..=40usize)? } else { u.int_in_range(1..=8usize)? };
    let labels: Vec<usize> = (0..block_count).map(|_| asm.label()).collect();
    let mut table = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let target = if u.ratio(7, 8)? { Target::Label(*u.choose(&labels)?) } else { Target::Offset(u.arbitrary()?) };
        table.push(asm.jump_table_entry(target));
    }
    let ops: Vec<Opcode> = Opcode::ALL.into_iter().filter(|op| op.in_profile(profile)).collect();
    let reg = |u: &mut Unstructured<'_>| -> Result<u8> {
        // Mostly r0..r12, sometimes a nibble the decoder clamps.
        Ok(if u.ratio(1, 16)? { u.int_in_range(13..=15)? } else { u.int_in_range(0..=12)? })
    };

    for &label in &labels {
        asm.bind(label);
        for _ in 0..u.int_in_range(0..=10)? {
            let op = *u.choose(&ops)?;
            if op.is_terminator() {
                continue;
            }
            let mut o = Operands {
                ra: reg(u)?,
                rb: reg(u)?,
                rd: if u.ratio(1, 32)? { u.arbitrary()? } else { reg(u)? },
                imm: small_imm(u, &mappings)?,
                imm2: small_imm(u, &mappings)?,
                target: Target::Offset(0),
            };
            match op.class() {
                OperandClass::RegImm64 => o.imm = value(u, &mappings)?,
                OperandClass::Imm if op == Opcode::Ecalli => {
                    // Small ids, sometimes one whose sign extension differs
                    // from its low 32 bits (open question Q9).
                    o.imm = if u.ratio(1, 16)? { u.arbitrary::<i32>()? as i64 as u64 } else { u.int_in_range(0..=3)? }
                }
                _ => {}
            }
            // Ops the interpreter pairs get an idiom more often.
            let chance = if Dispatch::fused_after(op).next().is_some() { 2 } else { 4 };
            let next = if u.ratio(1, chance)? { idiom(u, op, &mut o, &labels)? } else { None };
            asm.push(op, o);
            if let Some((next, operands)) = next {
                asm.push(next, operands);
            }
        }
        // The terminator.
        let term = *u.choose(&[
            Opcode::Fallthrough,
            Opcode::Jump,
            Opcode::JumpInd,
            Opcode::LoadImmJump,
            Opcode::LoadImmJumpInd,
            Opcode::BranchEq,
            Opcode::BranchNe,
            Opcode::BranchLtU,
            Opcode::BranchGeS,
            Opcode::BranchEqImm,
            Opcode::BranchLtSImm,
            Opcode::BranchGtUImm,
            Opcode::BranchNeImm,
            Opcode::Trap,
        ])?;
        let target = if u.ratio(15, 16)? { Target::Label(*u.choose(&labels)?) } else { Target::Offset(u.arbitrary()?) };
        let imm = match term {
            Opcode::JumpInd | Opcode::LoadImmJumpInd if u.ratio(3, 4)? => 0,
            _ => small_imm(u, &mappings)?,
        };
        let mut o = Operands { ra: reg(u)?, rb: reg(u)?, rd: 0, imm, imm2: small_imm(u, &mappings)?, target };
        if matches!(term, Opcode::JumpInd | Opcode::LoadImmJumpInd) && u.ratio(1, 2)? {
            // Return through `ra` (the address comes from rA, or rB for the
            // load-and-jump form whose immediate Y is the offset).
            (o.ra, o.rb, o.imm2) = (0, 0, 0);
        }
        asm.push(term, o);
    }
    if u.ratio(1, 8)? {
        // Near-valid code: a raw byte that may be an invalid opcode.
        asm.raw(&[u.arbitrary()?]);
    }

    let mut regs = [0u64; 13];
    for r in regs.iter_mut() {
        *r = value(u, &mappings)?;
    }
    // `ra` usually holds the halt address, as in a standard program.
    if u.ratio(1, 2)? {
        regs[0] = u64::from(HALT_ADDRESS);
    }
    // Let dynamic jumps hit the table often: some registers hold table addresses.
    if !table.is_empty() {
        for _ in 0..u.int_in_range(0..=4)? {
            let r = u.int_in_range(0..=12usize)?;
            regs[r] = u64::from(*u.choose(&table)?);
        }
    }
    let blob = asm.finish();
    let gas = match u.int_in_range(0..=63)? {
        0 => *u.choose(&[-1, i64::MIN, i64::MIN + 1, -1000])?,
        1..=16 => u.int_in_range(0..=40)?,
        _ => u.int_in_range(0..=5000)?,
    };
    let entry = if u.ratio(15, 16)? { 0 } else { u.int_in_range(0..=blob.code.len() as u32)? };
    // A P7 heap growing from the end of the low mappings (sbrk maps pages
    // as it grows, or fails when it would run into a mapping or the limit).
    let heap = if profile == Profile::P7 && u.arbitrary()? {
        let end = mappings.iter().filter(|m| m.start_page < TOP_PAGE - 2).map(|m| m.start_page + m.pages).max();
        let top = end.unwrap_or(BASE_PAGE) * PAGE_SIZE as u32 - u.int_in_range(0..=64)?;
        Some(Heap { top, limit: top + u.int_in_range(0..=0x2_0000)? })
    } else {
        None
    };
    Ok(GenCase { profile, gas_model, blob: blob.to_bytes(), entry, regs, gas, mappings, heap })
}

impl<'a> Arbitrary<'a> for GenCase {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        gen_case(u)
    }
}

/// Generates a case around one copy or fill loop (the shapes
/// [`javm_cap::program::bulk`] recognises, and near misses): a block that
/// falls through into a block branching back to itself, then a return
/// through `ra`. Loads and stores of every width, unrolled up to four
/// times, moving up or down, with a byte counter, an iteration counter, an
/// end pointer or a count up, and addresses formed directly or as
/// pointer + counter; pointers near mapping edges (so iterations fault),
/// overlapping copies, and gas that runs out at any iteration. One loop in
/// six gets an extra instruction that may break the shape.
pub fn gen_bulk_case(u: &mut Unstructured<'_>) -> Result<GenCase> {
    let profile = if u.ratio(3, 4)? { Profile::P8 } else { Profile::P7 };
    let gas_model = match u.int_in_range(0..=5)? {
        0 => GasModel::Instruction,
        1 => GasModel::Block,
        _ => GasModel::default_for(profile),
    };
    let mappings = gen_mappings(u, 1..=3, 1, 4, 3)?;
    // Registers: dst pointer, src pointer, counter, end, value, limit, an
    // address temp, and the words a copy moves.
    let (dst, src, count, end, val, limit, at) = (7u8, 8u8, 9u8, 10u8, 11u8, 12u8, 6u8);
    let words = [2u8, 3, 4, 5];
    let kind = u.int_in_range(0..=2)?; // fill from a register, fill with an immediate, copy
    let (load, store, store_imm, width) = *u.choose(&[
        (Opcode::LoadIndU8, Opcode::StoreIndU8, Opcode::StoreImmIndU8, 1u32),
        (Opcode::LoadIndI16, Opcode::StoreIndU16, Opcode::StoreImmIndU16, 2),
        (Opcode::LoadIndU32, Opcode::StoreIndU32, Opcode::StoreImmIndU32, 4),
        (Opcode::LoadIndI32, Opcode::StoreIndU32, Opcode::StoreImmIndU32, 4),
        (Opcode::LoadIndU64, Opcode::StoreIndU64, Opcode::StoreImmIndU64, 8),
    ])?;
    let unroll = u.int_in_range(1..=4u32)?;
    let tile = width * unroll;
    let up = u.arbitrary::<bool>()?;
    let counting = u.int_in_range(0..=3)?; // bytes down, iterations down, end pointer, count up
    let indexed = counting == 0 && !up && u.arbitrary()?;
    let step = |x: u32| if up { u64::from(x) } else { u64::from(x).wrapping_neg() };
    let ops = |ra: u8, rb: u8, rd: u8, imm: u64| Operands { ra, rb, rd, imm, ..Operands::default() };

    let mut body: Vec<(Opcode, Operands)> = Vec::new();
    if profile == Profile::P8 && u.arbitrary()? {
        body.push((Opcode::Unlikely, Operands::default()));
    }
    // The offset of an iteration's `i`-th access from its base register.
    let (dst_base, src_base, first): (u8, u8, fn(u32, u32) -> u64) = if indexed {
        // memmove's backward loop: [ptr + count − width·(i + 1)].
        body.push((Opcode::Add64, ops(src, count, at, 0)));
        (at, at, |i, w| u64::from(w * (i + 1)).wrapping_neg())
    } else {
        if !up {
            body.push((Opcode::AddImm64, ops(dst, dst, 0, step(tile))));
            if kind == 2 {
                body.push((Opcode::AddImm64, ops(src, src, 0, step(tile))));
            }
        }
        (dst, src, |i, w| u64::from(w * i))
    };
    if kind == 2 {
        for (i, &w) in words.iter().take(unroll as usize).enumerate() {
            body.push((load, ops(w, src_base, 0, first(i as u32, width))));
        }
    }
    if indexed {
        body.push((Opcode::Add64, ops(dst, count, at, 0)));
        body.push((Opcode::AddImm64, ops(count, count, 0, step(tile))));
    }
    for (i, &w) in words.iter().take(unroll as usize).enumerate() {
        let off = first(i as u32, width);
        match kind {
            0 => body.push((store, ops(val, dst_base, 0, off))),
            1 => body.push((
                store_imm,
                Operands { ra: dst_base, imm: off, imm2: small_imm(u, &mappings)?, ..Operands::default() },
            )),
            _ => body.push((store, ops(w, dst_base, 0, off))),
        }
    }
    if up && !indexed {
        body.push((Opcode::AddImm64, ops(dst, dst, 0, step(tile))));
        if kind == 2 {
            body.push((Opcode::AddImm64, ops(src, src, 0, step(tile))));
        }
    }
    let mut asm = Assembler::new(profile);
    let (entry_block, loop_block) = (asm.label(), asm.label());
    let branch = match counting {
        0 => {
            if !indexed {
                body.push((Opcode::AddImm64, ops(count, count, 0, u64::from(tile).wrapping_neg())));
            }
            (Opcode::BranchLtU, ops(limit, count, 0, 0))
        }
        1 => {
            body.push((Opcode::AddImm64, ops(count, count, 0, u64::MAX)));
            (Opcode::BranchNeImm, ops(count, 0, 0, 0))
        }
        2 => (Opcode::BranchNe, ops(dst, end, 0, 0)),
        _ => {
            body.push((Opcode::AddImm64, ops(count, count, 0, 1)));
            let cmp = *u.choose(&[Opcode::BranchLtU, Opcode::BranchLtS, Opcode::BranchGeU])?;
            (cmp, ops(count, limit, 0, 0))
        }
    };
    if u.ratio(1, 6)? {
        // A near miss: something that may break the shape, anywhere.
        let extra = *u.choose(&[
            (Opcode::Xor, ops(val, dst, val, 0)),
            (Opcode::LoadIndU64, ops(words[0], dst, 0, 0)),
            (Opcode::AddImm64, ops(src, src, 0, 3)),
            (Opcode::StoreIndU8, ops(val, dst, 0, u64::from(tile))),
            (Opcode::AddImm32, ops(dst, dst, 0, 0)),
            (Opcode::MoveReg, ops(dst, 0, words[1], 0)),
            (Opcode::Add64, ops(dst, count, dst, 0)),
        ])?;
        let at = u.int_in_range(0..=body.len())?;
        body.insert(at, extra);
    }

    asm.bind(entry_block);
    asm.push(Opcode::Fallthrough, Operands::default());
    asm.bind(loop_block);
    for &(op, o) in &body {
        asm.push(op, o);
    }
    asm.push(branch.0, Operands { target: Target::Label(loop_block), ..branch.1 });
    asm.push(Opcode::JumpInd, ops(0, 0, 0, 0));
    let blob = asm.finish();

    let mut regs = [0u64; 13];
    for r in regs.iter_mut() {
        *r = value(u, &mappings)?;
    }
    regs[0] = u64::from(HALT_ADDRESS);
    // Pointers mostly into a mapping (anywhere in it, or just outside).
    for r in [dst, src] {
        if u.ratio(7, 8)? {
            let m = u.choose(&mappings)?;
            let size = i64::from(m.pages) * PAGE_SIZE as i64;
            let offset = u.int_in_range(-16..=size + 16)?;
            regs[r as usize] = (i64::from(m.start_page) * PAGE_SIZE as i64 + offset) as u64;
        }
    }
    let n = match u.int_in_range(0..=7)? {
        0 => value(u, &mappings)?,
        1 => u.int_in_range(0..=3)?,
        _ => u.int_in_range(0..=400)?,
    };
    regs[count as usize] = match counting {
        0 => n.wrapping_mul(u64::from(tile)).wrapping_add(u.int_in_range(0..=u64::from(tile))?),
        1 => n,
        _ => u.int_in_range(0..=3)?,
    };
    regs[limit as usize] = match counting {
        0 => u64::from(tile) - 1,
        3 => n,
        _ => regs[limit as usize],
    };
    if kind == 2 && u.arbitrary()? {
        // Overlapping copies, in either direction.
        let skew = u.int_in_range(0..=2 * u64::from(tile))?.wrapping_sub(u64::from(tile));
        regs[src as usize] = regs[dst as usize].wrapping_add(skew);
    }
    regs[end as usize] = regs[dst as usize].wrapping_add(step(tile).wrapping_mul(n));
    let gas = match u.int_in_range(0..=3)? {
        0 => u.int_in_range(0..=200)?,
        1 => u.int_in_range(0..=5000)?,
        _ => 1_000_000,
    };
    Ok(GenCase { profile, gas_model, blob: blob.to_bytes(), entry: 0, regs, gas, mappings, heap: None })
}
