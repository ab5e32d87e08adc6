//! Golden encoding tests: what small programs compile to, one case per
//! emitter class and operand form, with all extensions and with none, is
//! compared with `golden_encoding.txt`, so that a code generation change
//! shows up as a readable diff of that file. After an intended change,
//! `JAVM_BLESS=1 cargo test -p javm-recompiler golden` rewrites it.

use crate::{CompiledModule, Features};
use javm_cap::program::asm::{Assembler, Operands, Target};
use javm_cap::program::{GasModel, Opcode, Profile, Program};
use std::fmt::Write;
use std::sync::Arc;

/// Every extension the code generator can use.
const ALL: Features = Features { bmi1: true, bmi2: true, lzcnt: true, popcnt: true, fsgsbase: true };

/// One instruction of a case: an opcode and its operands.
type Ins = (Opcode, Operands);

/// `op rD, rA, rB`.
fn rrr(op: Opcode, d: u8, a: u8, b: u8) -> Ins {
    (op, Operands { rd: d, ra: a, rb: b, ..Operands::default() })
}

/// `op rA, rB, x`.
fn rri(op: Opcode, a: u8, b: u8, x: u64) -> Ins {
    (op, Operands { ra: a, rb: b, imm: x, ..Operands::default() })
}

/// `op rD, rA`.
fn rr(op: Opcode, d: u8, a: u8) -> Ins {
    (op, Operands { rd: d, ra: a, ..Operands::default() })
}

/// `op rA, x` (and `op x, y` for the immediate-only stores with `a` unused).
fn ri(op: Opcode, a: u8, x: u64) -> Ins {
    (op, Operands { ra: a, imm: x, ..Operands::default() })
}

/// `op rA, rB, x, y`.
fn rrii(op: Opcode, a: u8, b: u8, x: u64, y: u64) -> Ins {
    (op, Operands { ra: a, rb: b, imm: x, imm2: y, ..Operands::default() })
}

/// `op x, y` / `op rA, x, y`.
fn rii(op: Opcode, a: u8, x: u64, y: u64) -> Ins {
    (op, Operands { ra: a, imm: x, imm2: y, ..Operands::default() })
}

/// An instruction with a branch or jump to label `l` (see [`build`]).
fn to(ins: Ins, l: usize) -> Ins {
    (ins.0, Operands { target: Target::Label(l), ..ins.1 })
}

/// Two instructions per row of `rows`, made by `make`.
fn pairs(make: impl Fn([u8; 6]) -> [Ins; 2], rows: &[[u8; 6]]) -> Vec<Ins> {
    rows.iter().flat_map(|&row| make(row)).collect()
}

fn op(op: Opcode) -> Ins {
    (op, Operands::default())
}

/// Assembles `ins` then a `trap`. Label 0 is bound at the first
/// instruction, label 1 at the closing `trap`; the jump table holds them.
fn build(ins: &[Ins], model: GasModel) -> Arc<Program> {
    let mut asm = Assembler::new(Profile::P8);
    let (start, end) = (asm.label(), asm.label());
    asm.jump_table_entry(Target::Label(start));
    asm.jump_table_entry(Target::Label(end));
    asm.bind(start);
    for &(opcode, operands) in ins {
        assert!(asm.push(opcode, operands), "{opcode} is in the profile");
    }
    asm.bind(end);
    asm.push(Opcode::Trap, Operands::default());
    Arc::new(Program::new(asm.finish(), Profile::P8, model).unwrap())
}

/// The cases: a name, the gas model and the instructions.
fn cases() -> Vec<(&'static str, GasModel, Vec<Ins>)> {
    use GasModel::*;
    use Opcode::*;
    let arith = |op| vec![rrr(op, 3, 4, 5), rrr(op, 3, 3, 5), rrr(op, 3, 4, 3), rrr(op, 0, 1, 2)];
    let shifts_reg = |op| vec![rrr(op, 3, 4, 5), rrr(op, 3, 3, 5), rrr(op, 3, 4, 3), rrr(op, 1, 1, 0)];
    let shifts_imm =
        |op| vec![rri(op, 3, 4, 5), rri(op, 3, 3, 1), rri(op, 3, 4, 0), rri(op, 3, 4, 2), rri(op, 3, 4, 70)];
    vec![
        ("add_64", Pipeline, arith(Add64)),
        ("sub_64", Pipeline, arith(Sub64)),
        ("mul_64", Pipeline, arith(Mul64)),
        ("and, xor, or", Pipeline, [arith(And), arith(Xor), arith(Or)].concat()),
        ("and_inv, or_inv, xnor", Pipeline, [arith(AndInv), arith(OrInv), arith(Xnor)].concat()),
        ("min, max", Pipeline, [arith(Max), arith(MaxU), arith(Min), arith(MinU)].concat()),
        ("add_32, sub_32, mul_32", Pipeline, [arith(Add32), arith(Sub32), arith(Mul32)].concat()),
        ("set_lt, cmov", Pipeline, [arith(SetLtU), arith(SetLtS), arith(CmovIz), arith(CmovNz)].concat()),
        ("move_reg", Pipeline, vec![rr(MoveReg, 3, 4), rr(MoveReg, 3, 3)]),
        (
            "load_imm",
            Pipeline,
            vec![
                ri(LoadImm, 3, 0),
                ri(LoadImm, 3, 5),
                ri(LoadImm, 3, -2i64 as u64),
                ri(LoadImm64, 3, 0xFFFF_FFFF),
                ri(LoadImm64, 3, 0x1234_5678_9ABC_DEF0),
            ],
        ),
        (
            "add_imm",
            Pipeline,
            vec![
                rri(AddImm64, 3, 3, 0),
                rri(AddImm64, 3, 3, 5),
                rri(AddImm64, 3, 3, 0x1000),
                rri(AddImm64, 3, 4, -5i64 as u64),
                rri(AddImm64, 3, 4, 0x1000),
                rri(AddImm32, 3, 4, 0x1000),
            ],
        ),
        (
            "logic_imm",
            Pipeline,
            vec![
                rri(AndImm, 3, 3, 0xF),
                rri(XorImm, 3, 4, 0x1000),
                rri(OrImm, 3, 4, -1i64 as u64),
                rri(AndImm, 3, 4, 0xFF00),
            ],
        ),
        (
            "mul_imm, neg_add_imm",
            Pipeline,
            vec![
                rri(MulImm64, 3, 4, 10),
                rri(MulImm32, 3, 4, 10),
                rri(NegAddImm64, 3, 3, 7),
                rri(NegAddImm64, 3, 4, 7),
                rri(NegAddImm32, 3, 4, 7),
            ],
        ),
        (
            "set_cmp_imm, cmov_imm",
            Pipeline,
            vec![
                rri(SetLtUImm, 3, 4, 0),
                rri(SetLtSImm, 3, 3, 5),
                rri(SetGtUImm, 3, 4, 0x1000),
                rri(SetGtSImm, 3, 4, -1i64 as u64),
                rri(CmovIzImm, 3, 4, 0),
                rri(CmovNzImm, 3, 4, 5),
                rri(CmovIzImm, 3, 4, -5i64 as u64),
            ],
        ),
        (
            "shift_reg_64",
            Pipeline,
            [shifts_reg(ShloL64), shifts_reg(ShloR64), shifts_reg(SharR64), shifts_reg(RotL64), shifts_reg(RotR64)]
                .concat(),
        ),
        (
            "shift_reg_32",
            Pipeline,
            [shifts_reg(ShloL32), shifts_reg(ShloR32), shifts_reg(SharR32), shifts_reg(RotL32), shifts_reg(RotR32)]
                .concat(),
        ),
        (
            "shift_imm_64",
            Pipeline,
            [shifts_imm(ShloLImm64), shifts_imm(ShloRImm64), shifts_imm(SharRImm64), shifts_imm(RotR64Imm)].concat(),
        ),
        (
            "shift_imm_32",
            Pipeline,
            [shifts_imm(ShloLImm32), shifts_imm(ShloRImm32), shifts_imm(SharRImm32), shifts_imm(RotR32Imm)].concat(),
        ),
        (
            "shift_alt",
            Pipeline,
            [
                shifts_imm(ShloLImmAlt64),
                shifts_imm(ShloRImmAlt32),
                shifts_imm(SharRImmAlt64),
                shifts_imm(SharRImmAlt32),
                shifts_imm(RotR64ImmAlt),
                shifts_imm(RotR32ImmAlt),
            ]
            .concat(),
        ),
        (
            "bit counts, extensions",
            Pipeline,
            vec![
                rr(CountSetBits64, 3, 4),
                rr(CountSetBits32, 3, 4),
                rr(LeadingZeroBits64, 3, 4),
                rr(LeadingZeroBits32, 3, 4),
                rr(TrailingZeroBits64, 3, 4),
                rr(TrailingZeroBits32, 3, 4),
                rr(SignExtend8, 3, 4),
                rr(SignExtend16, 3, 4),
                rr(ZeroExtend16, 3, 4),
                rr(ReverseBytes, 3, 4),
                rr(ReverseBytes, 3, 3),
            ],
        ),
        ("div, rem", Pipeline, [arith(DivU64), arith(DivS64), arith(RemU64), arith(RemS64)].concat()),
        (
            "div_32, rem_32",
            Pipeline,
            vec![rrr(DivU32, 3, 4, 5), rrr(DivS32, 3, 0, 1), rrr(RemU32, 1, 4, 5), rrr(RemS32, 0, 4, 5)],
        ),
        (
            "mul_upper",
            Pipeline,
            [
                arith(MulUpperSS),
                arith(MulUpperUU),
                arith(MulUpperSU),
                vec![rrr(MulUpperUU, 3, 1, 4), rrr(MulUpperSU, 3, 4, 1), rrr(MulUpperSS, 1, 1, 4)],
            ]
            .concat(),
        ),
        (
            "load_ind",
            Pipeline,
            vec![
                rri(LoadIndU8, 3, 4, 0),
                rri(LoadIndI8, 3, 4, 0x7F),
                rri(LoadIndU16, 3, 4, -0x80i64 as u64),
                rri(LoadIndI16, 3, 4, 0x80),
                rri(LoadIndU32, 3, 4, 0x1000),
                rri(LoadIndI32, 3, 4, -0x1000i64 as u64),
                rri(LoadIndU64, 3, 3, 8),
                rri(LoadIndU64, 1, 0, 0x8000_0000),
            ],
        ),
        (
            "load absolute",
            Pipeline,
            [LoadU8, LoadI8, LoadU16, LoadI16, LoadU32, LoadI32, LoadU64]
                .map(|load| ri(load, 3, 0x1000))
                .into_iter()
                .chain([ri(LoadU64, 3, 0xFFFF_0000)])
                .collect(),
        ),
        (
            "store_ind",
            Pipeline,
            vec![
                rri(StoreIndU8, 3, 4, 0),
                rri(StoreIndU16, 3, 4, 0x10),
                rri(StoreIndU32, 3, 4, 0x1000),
                rri(StoreIndU64, 3, 4, -8i64 as u64),
                rri(StoreIndU8, 5, 5, 0x8000_0000),
            ],
        ),
        (
            "store absolute",
            Pipeline,
            [StoreU8, StoreU16, StoreU32, StoreU64]
                .map(|store| ri(store, 3, 0x1000))
                .into_iter()
                .chain([ri(StoreU64, 3, 0xFFFF_0000)])
                .collect(),
        ),
        (
            "store_imm",
            Pipeline,
            vec![
                rii(StoreImmU8, 0, 0x1000, 0xFF),
                rii(StoreImmU16, 0, 0x1000, 0x1234),
                rii(StoreImmU32, 0, 0x1000, 0x1234_5678),
                rii(StoreImmU64, 0, 0x1000, -1i64 as u64),
                rii(StoreImmU64, 0, 0xFFFF_0000, 1),
            ],
        ),
        (
            "store_imm_ind",
            Pipeline,
            vec![
                rii(StoreImmIndU8, 3, 0, 0xFF),
                rii(StoreImmIndU16, 3, 0x10, 0x1234),
                rii(StoreImmIndU32, 3, 0x1000, 7),
                rii(StoreImmIndU64, 3, -8i64 as u64, -1i64 as u64),
            ],
        ),
        (
            // The trigger before the gas prologue; the back edge skips it.
            "a fill loop counting down to a register (bulk trigger)",
            Pipeline,
            vec![
                rri(StoreIndU64, 12, 10, 0),
                rri(StoreIndU64, 12, 10, 8),
                rri(AddImm64, 10, 10, 16),
                rri(AddImm64, 11, 11, (-16i64) as u64),
                to(rri(BranchLtU, 0, 11, 0), 0),
            ],
        ),
        (
            "a byte fill counting up to a constant (bulk trigger)",
            Block,
            vec![rii(StoreImmIndU8, 7, 0, 0), rri(AddImm64, 7, 7, 1), to(ri(BranchLtUImm, 7, 4096), 0)],
        ),
        (
            "branch_reg",
            Pipeline,
            vec![
                to(rri(BranchEq, 3, 4, 0), 0),
                to(rri(BranchNe, 3, 4, 0), 1),
                to(rri(BranchLtU, 3, 4, 0), 0),
                to(rri(BranchLtS, 3, 4, 0), 1),
                to(rri(BranchGeU, 3, 4, 0), 0),
                to(rri(BranchGeS, 3, 4, 0), 1),
            ],
        ),
        (
            "branch_imm",
            Pipeline,
            vec![
                to(ri(BranchEqImm, 3, 0), 0),
                to(ri(BranchNeImm, 3, 5), 1),
                to(ri(BranchLtUImm, 3, 0x1000), 0),
                to(ri(BranchLeUImm, 3, -1i64 as u64), 1),
                to(ri(BranchGeUImm, 3, 5), 0),
                to(ri(BranchGtUImm, 3, 5), 1),
                to(ri(BranchLtSImm, 3, 5), 0),
                to(ri(BranchLeSImm, 3, 5), 1),
                to(ri(BranchGeSImm, 3, 5), 0),
                to(ri(BranchGtSImm, 3, 5), 1),
            ],
        ),
        (
            "jump, load_imm_jump",
            Pipeline,
            vec![
                to(op(Jump), 0),
                to(ri(LoadImmJump, 3, 5), 1),
                (Jump, Operands { target: Target::Offset(1), ..Operands::default() }),
            ],
        ),
        (
            "jump_ind, load_imm_jump_ind",
            Pipeline,
            vec![
                ri(JumpInd, 3, 0),
                ri(JumpInd, 0, 4),
                rrii(LoadImmJumpInd, 3, 4, 5, 8),
                rrii(LoadImmJumpInd, 3, 3, 5, 0),
            ],
        ),
        ("ecalli, trap", Pipeline, vec![ri(Ecalli, 0, 7), op(Fallthrough), op(Trap)]),
        (
            "fused add_64 + set_lt_u",
            Pipeline,
            pairs(
                |[d, a, b, e, f, g]| [rrr(Add64, d, a, b), rrr(SetLtU, e, f, g)],
                &[[3, 4, 5, 6, 3, 4], [3, 3, 5, 6, 3, 5], [3, 4, 5, 6, 3, 3]],
            ),
        ),
        (
            "fused shlo_l_imm_64 + add_64",
            Pipeline,
            pairs(
                |[d, s, n, e, f, g]| [rri(ShloLImm64, d, s, n.into()), rrr(Add64, e, f, g)],
                &[[3, 4, 1, 3, 3, 5], [3, 4, 3, 3, 5, 3], [3, 4, 4, 3, 3, 5]],
            ),
        ),
        (
            "fused mul_upper_u_u + mul_64",
            Pipeline,
            pairs(
                |[d, a, b, e, f, g]| [rrr(MulUpperUU, d, a, b), rrr(Mul64, e, f, g)],
                &[[3, 4, 5, 6, 5, 4], [3, 1, 5, 6, 1, 5], [3, 4, 5, 1, 4, 5]],
            ),
        ),
        (
            "fused add_64 + load_ind",
            Pipeline,
            [(LoadIndU32, 8), (LoadIndI8, 0x1000), (LoadIndU64, 0)]
                .into_iter()
                .flat_map(|(load, offset)| [rrr(Add64, 3, 4, 5), rri(load, 3, 3, offset)])
                .collect(),
        ),
        (
            "gas prologues, segments, loop alignment",
            Pipeline,
            vec![rri(AddImm64, 3, 3, 1), to(ri(BranchNeImm, 3, 10), 0), rri(AddImm64, 3, 3, 1), op(Fallthrough)],
        ),
        (
            "gas: block model",
            Block,
            vec![rri(AddImm64, 3, 3, 1), to(ri(BranchNeImm, 3, 10), 0), rri(AddImm64, 3, 3, 1), op(Fallthrough)],
        ),
        (
            "gas: instruction model",
            Instruction,
            vec![rri(AddImm64, 3, 3, 1), to(ri(BranchNeImm, 3, 10), 0), ri(Ecalli, 0, 1), rri(LoadIndU8, 3, 4, 0)],
        ),
    ]
}

/// The listing of every case with every feature set.
fn listing() -> String {
    let mut out = String::new();
    for (name, model, ins) in cases() {
        for (label, features) in [("all extensions", ALL), ("baseline", Features::NONE)] {
            let module = CompiledModule::compile_for(build(&ins, model), features, &Arc::default()).unwrap();
            let _ = writeln!(out, "=== {name} ({label})");
            out.push_str(&module.code_listing());
            out.push('\n');
        }
    }
    out
}

const GOLDEN: &str = "src/codegen/golden_encoding.txt";

#[test]
fn golden_encodings() {
    let actual = listing();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var("JAVM_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
        let first = a.iter().zip(&e).position(|(a, e)| a != e).unwrap_or(a.len().min(e.len()));
        let section = a[..first].iter().rposition(|l| l.starts_with("===")).map_or(0, |s| s);
        panic!(
            "generated code differs from {GOLDEN} from line {}:\n{}\n--- expected:\n{}\n(JAVM_BLESS=1 rewrites it)",
            first + 1,
            a[section..(first + 8).min(a.len())].join("\n"),
            e[first..(first + 8).min(e.len())].join("\n"),
        );
    }
}
