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

/// Generates a case.
pub fn gen_case(u: &mut Unstructured<'_>) -> Result<GenCase> {
    let profile = if u.ratio(3, 4)? { Profile::P8 } else { Profile::P7 };
    let gas_model = match u.int_in_range(0..=3)? {
        0 | 1 => GasModel::default_for(profile),
        2 => GasModel::Block,
        _ => GasModel::Instruction,
    };

    let mut mappings = Vec::new();
    let mut page = BASE_PAGE;
    for _ in 0..u.int_in_range(0..=3)? {
        page += u.int_in_range(0..=2)?;
        let pages = u.int_in_range(1..=3)?;
        let access = if u.ratio(2, 3)? { Access::Write } else { Access::Read };
        let len = u.int_in_range(0..=64usize)?;
        let content = u.bytes(len)?.to_vec();
        mappings.push(GenMapping { start_page: page, pages, access, content });
        page += pages;
    }
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
