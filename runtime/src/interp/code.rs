//! The interpreter's pre-decoded form of a [`Program`]: one compact `Op`
//! per instruction with static targets resolved to instruction indices, plus
//! side tables read only on block entry or exit.
//!
//! Under the block and pipeline gas models, where a block is paid for on
//! entry, some pairs of adjacent instructions of one block are run by a
//! single dispatch: the first op's `Dispatch` value names the pair and the second op
//! keeps its own kind, so execution may still start at it (after a host call
//! or a page fault). The pairs are common compiler idioms — address
//! arithmetic before a load or store, loop counters and stores before a
//! branch, multi-word arithmetic, hash-function mixing, copying fields and
//! testing flags — picked from the dynamic instruction mix of the bundled C
//! guests and the static mix of a JAM service (the JIP-6 accumulate
//! fixture).

use javm_cap::program::decoded::NO_INDEX;
use javm_cap::program::gas::UNPRICED;
use javm_cap::program::isa::OPCODE_COUNT;
use javm_cap::program::spans::SpanSlots;
use javm_cap::program::{GasModel, Instruction, Opcode, OperandClass, Program};
use javm_cap::recycle::Pool;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};

/// One pre-decoded instruction (16 bytes).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Op {
    /// Immediate `X`.
    pub imm: u64,
    /// For jumps and branches: the target's instruction index, or
    /// [`NO_INDEX`] when the target is not a block start. Otherwise the low
    /// 32 bits of immediate `Y` (always a sign-extended 32-bit value).
    pub aux: u32,
    pub dispatch: Dispatch,
    pub a: u8,
    pub b: u8,
    pub d: u8,
}

impl Op {
    /// Immediate `Y`.
    #[inline(always)]
    pub fn imm2(&self) -> u64 {
        self.aux as i32 as i64 as u64
    }
}

const _: () = assert!(std::mem::size_of::<Op>() == 16);

/// Calls `$callback! { PREFIX ; Name = First + Second, … }` with the fused
/// pairs: the one list from which both [`Dispatch`] and the interpreter's
/// dispatch are generated.
macro_rules! with_fused_pairs {
    ($callback:ident $($prefix:tt)*) => {
        $callback! {
            $($prefix)* ;
            AddImm64AddImm64 = AddImm64 + AddImm64,
            AddImm64StoreIndU64 = AddImm64 + StoreIndU64,
            AddImm64BranchEq = AddImm64 + BranchEq,
            AddImm64BranchNe = AddImm64 + BranchNe,
            ShloLImm64Add64 = ShloLImm64 + Add64,
            Add64Add64 = Add64 + Add64,
            Add64SetLtU = Add64 + SetLtU,
            Add64LoadIndU8 = Add64 + LoadIndU8,
            Add64LoadIndU64 = Add64 + LoadIndU64,
            LoadIndU64Add64 = LoadIndU64 + Add64,
            LoadIndU64LoadIndU64 = LoadIndU64 + LoadIndU64,
            StoreIndU64StoreIndU64 = StoreIndU64 + StoreIndU64,
            StoreIndU64AddImm64 = StoreIndU64 + AddImm64,
            XorLoadIndU64 = Xor + LoadIndU64,
            XorStoreIndU64 = Xor + StoreIndU64,
            AddImm64MoveReg = AddImm64 + MoveReg,
            Add64AddImm64 = Add64 + AddImm64,
            SetLtUSub64 = SetLtU + Sub64,
            LoadIndU64BranchEq = LoadIndU64 + BranchEq,
            LoadIndU64Mul64 = LoadIndU64 + Mul64,
            LoadIndU64RotR64Imm = LoadIndU64 + RotR64Imm,
            StoreIndU8BranchLtU = StoreIndU8 + BranchLtU,
            StoreIndU64BranchLtU = StoreIndU64 + BranchLtU,
            MulUpperUUMul64 = MulUpperUU + Mul64,
            Mul64ShloRImm64 = Mul64 + ShloRImm64,
            ShloRImm64Xor = ShloRImm64 + Xor,
            RotR32ImmXor = RotR32Imm + Xor,
            LoadIndU64Xor = LoadIndU64 + Xor,
            LoadIndU64StoreIndU64 = LoadIndU64 + StoreIndU64,
            StoreIndU64LoadIndU64 = StoreIndU64 + LoadIndU64,
            LoadIndU8LoadIndU8 = LoadIndU8 + LoadIndU8,
            LoadImmLoadImm = LoadImm + LoadImm,
            AndImmBranchNeImm = AndImm + BranchNeImm,
            ShloLImm64Or = ShloLImm64 + Or,
            AndInvXor = AndInv + Xor,
            MoveRegBranchNe = MoveReg + BranchNe,
        }
    };
}
pub(crate) use with_fused_pairs;

macro_rules! define_dispatch {
    ($($opcode:ident,)* ; $($pair:ident = $first:ident + $second:ident,)*) => {
        /// What one op's dispatch runs: an instruction, or a fused pair of
        /// two adjacent ones (see the module docs). One flat enum, so the
        /// interpreter's `match` on it is a single jump.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Dispatch {
            $(
                #[doc = concat!("[`Opcode::", stringify!($opcode), "`] alone.")]
                $opcode,
            )*
            $(
                #[doc = concat!("`", stringify!($first), "`, then `", stringify!($second), "` in the next op.")]
                $pair,
            )*
        }

        impl Dispatch {
            /// `opcode` alone.
            fn single(opcode: Opcode) -> Dispatch {
                match opcode {
                    $(Opcode::$opcode => Dispatch::$opcode,)*
                }
            }

            /// The instructions that pair with `first` when they directly
            /// follow it.
            pub(crate) fn fused_after(first: Opcode) -> impl Iterator<Item = Opcode> {
                [$((Opcode::$first, Opcode::$second)),*]
                    .into_iter()
                    .filter(move |&(f, _)| f == first)
                    .map(|(_, second)| second)
            }

            /// Every pair.
            #[cfg(test)]
            pub(crate) const PAIRS: &[Dispatch] = &[$(Dispatch::$pair),*];

            /// The two instructions of a pair, `None` for a single one.
            #[cfg(test)]
            pub(crate) fn pair_of(self) -> Option<(Opcode, Opcode)> {
                match self {
                    $(Dispatch::$pair => Some((Opcode::$first, Opcode::$second)),)*
                    _ => None,
                }
            }

            /// Whether some pair starts with `first`.
            #[inline]
            fn starts_pair(first: Opcode) -> bool {
                const TABLE: [bool; OPCODE_COUNT] = {
                    let mut table = [false; OPCODE_COUNT];
                    $(table[Opcode::$first as usize] = true;)*
                    table
                };
                TABLE[first as usize]
            }

            /// The pair for `first` directly followed by `second`.
            fn pair(first: Opcode, second: Opcode) -> Option<Dispatch> {
                match (first, second) {
                    $((Opcode::$first, Opcode::$second) => Some(Dispatch::$pair),)*
                    _ => None,
                }
            }
        }
    };
}
javm_cap::with_opcodes!(with_fused_pairs define_dispatch);

macro_rules! assert_pairs_stay_in_blocks {
    (; $($pair:ident = $first:ident + $second:ident,)*) => {
        $(const _: () = assert!(
            !Opcode::$first.is_terminator(),
            concat!(stringify!($pair), ": a pair's first instruction must not end its block"),
        );)*
    };
}
with_fused_pairs!(assert_pairs_stay_in_blocks);

/// Entering an op with nothing paid for its block.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Gas to charge ([`Program::entry_charge`]; under the instruction
    /// model, which pre-pays runs from the program's run ends, only a mark
    /// that the op's span is built); [`UNPRICED`] until the op is first
    /// entered (see [`Entry::charge`]).
    cost: AtomicU32,
    /// Ops to step over once charged: the `unlikely` hints starting here,
    /// which do nothing. Written with the ops of its span.
    skip: AtomicU32,
}

impl Entry {
    fn unpriced() -> Entry {
        Entry { cost: AtomicU32::new(UNPRICED), skip: AtomicU32::new(0) }
    }

    /// The charge for entering op `idx` of `code` (made from `program`)
    /// with nothing paid, building the ops of its span and pricing its
    /// block on the first entry (threads racing here store the same value).
    ///
    /// A priced entry is published with `Release` after its span's ops
    /// are built, and read with `Acquire`: a thread that sees the price
    /// sees the ops (which is what lets a run read ops unchecked).
    #[inline(always)]
    pub fn charge(&self, code: &InterpCode, program: &Program, idx: u32) -> u32 {
        match self.cost.load(Ordering::Acquire) {
            UNPRICED => self.price(code, program, idx),
            cost => cost,
        }
    }

    /// Builds the ops of op `idx`'s span on its first entry: what
    /// [`Entry::charge`] does, for the instruction model (which pre-pays
    /// from the run ends instead).
    #[inline(always)]
    pub fn open(&self, code: &InterpCode, program: &Program, idx: u32) {
        self.charge(code, program, idx);
    }

    #[cold]
    #[inline(never)]
    fn price(&self, code: &InterpCode, program: &Program, idx: u32) -> u32 {
        code.prepare(program, idx);
        let cost = program.entry_charge(idx);
        self.cost.store(cost, Ordering::Release);
        cost
    }

    /// The ops to step over once charged (read after [`Entry::charge`]).
    #[inline(always)]
    pub fn skip(&self) -> u32 {
        self.skip.load(Ordering::Relaxed)
    }

    /// The charge, if priced.
    #[cfg(test)]
    pub fn priced(&self) -> Option<u32> {
        Some(self.cost.load(Ordering::Relaxed)).filter(|&c| c != UNPRICED)
    }
}

/// A program ready for the interpreter. The pc of each op and the run ends
/// the instruction model pre-pays up to are the [`Program`]'s, read from
/// it (they are not copied).
///
/// The ops are built a span of the program at a time (see
/// [`Program::span_indexes`]), the first time one of the span's ops is
/// entered (`Entry::charge`, `Entry::open`). A run starts with
/// `InterpCode::prepare`; from there it only reaches ops it entered or
/// the successors of non-terminators, which are in the same block and so
/// in the same span.
///
/// Every index the interpreter can reach is in bounds of `ops`, `entry` and
/// the program's run ends (which [`InterpCode::new`] makes the same length):
/// the last op is a `trap`, so the successor `i + 1` of any other op exists,
/// and every jump target (`Op::aux` of a jump or branch, `jump_targets`) is
/// either an index below that length or [`NO_INDEX`]. The interpreter's
/// unchecked reads rely on this.
#[derive(Debug)]
pub struct InterpCode {
    ops: SpanSlots<Op>,
    /// What entering each op with nothing paid does.
    pub(crate) entry: Vec<Entry>,
    /// Jump-table entries as instruction indices ([`NO_INDEX`] if invalid).
    pub(crate) jump_targets: Vec<u32>,
    pub(crate) gas_model: GasModel,
    pub(crate) lone_trap_cost: u32,
}

impl InterpCode {
    /// The interpreter's form of `program`, its ops built as the type's
    /// docs say.
    pub fn new(program: &Program) -> InterpCode {
        let n = program.instruction_count();
        assert_eq!(program.run_ends().len(), n, "one run end per instruction");
        let mut entry = ENTRIES.take(n);
        entry.resize_with(n, Entry::unpriced);
        InterpCode {
            ops: SpanSlots::new(n, program.span_count(), &OPS),
            entry,
            jump_targets: program.jump_targets().iter().map(|&t| in_bounds(program, t)).collect(),
            gas_model: program.gas_model(),
            lone_trap_cost: program.lone_trap_cost(),
        }
    }

    /// The ops of span `s`, built on the first call.
    #[inline]
    fn span(&self, program: &Program, s: usize) -> &[Op] {
        let range = program.span_indexes(s);
        self.ops.span(s, range.clone(), |out| {
            let instructions = program.instructions_in(range.start as u32..range.end as u32);
            if range.end == program.instruction_count() {
                // Checked before any op of the last span can run.
                assert_eq!(instructions.last().map(|ins| ins.opcode), Some(Opcode::Trap), "a program ends with a trap");
            }
            build_ops(program, instructions, out, &self.entry[range])
        })
    }

    /// Builds the span of op `idx` if it is not built yet: what a run does
    /// first (it may start inside a block whose entry it does not read).
    #[inline]
    pub(crate) fn prepare(&self, program: &Program, idx: u32) {
        self.span(program, program.span_of(idx));
    }

    /// Op `idx`, building its span if it is not built yet.
    pub(crate) fn op(&self, program: &Program, idx: u32) -> &Op {
        let s = program.span_of(idx);
        &self.span(program, s)[idx as usize - program.span_indexes(s).start]
    }

    /// Op `idx`, without a bounds check.
    ///
    /// # Safety
    ///
    /// `idx` is an index the interpreter reaches (see the type's docs), in
    /// a span this thread built or observed built ([`InterpCode::prepare`],
    /// [`Entry::charge`]).
    #[inline(always)]
    pub(crate) unsafe fn op_unchecked(&self, idx: usize) -> &Op {
        // SAFETY: the caller's contract.
        unsafe { self.ops.get_unchecked(idx) }
    }

    /// Every op, building the spans not built yet.
    #[cfg(test)]
    pub(crate) fn all_ops(&self, program: &Program) -> &[Op] {
        for s in 0..program.span_count() {
            self.span(program, s);
        }
        self.ops.mark_complete();
        self.ops.all()
    }
}

/// Writes the ops of `instructions`, whole blocks of a program, into
/// `out`, one slot each; under the models that pay a block on entry, pairs
/// them and has `entry` (their entries) step over the hints.
fn build_ops(program: &Program, instructions: &[Instruction], out: &mut [MaybeUninit<Op>], entry: &[Entry]) {
    assert_eq!(out.len(), instructions.len(), "one op per instruction");
    for (slot, ins) in out.iter_mut().zip(instructions) {
        slot.write(op_of(program, ins));
    }
    // SAFETY: every slot was written just above (the lengths are equal),
    // and `MaybeUninit<Op>` has the layout of `Op`.
    let ops = unsafe { &mut *(out as *mut [MaybeUninit<Op>] as *mut [Op]) };
    if program.gas_model() != GasModel::Instruction {
        step_over_hints_and_fuse(ops, entry, instructions);
    }
}

/// The op of `ins`, an instruction of `program`, on its own (no pair).
#[inline(always)]
pub(crate) fn op_of(program: &Program, ins: &Instruction) -> Op {
    let aux = if has_target(ins.opcode) {
        in_bounds(program, program.static_target(ins.target).unwrap_or(NO_INDEX))
    } else {
        ins.imm2 as u32
    };
    debug_assert_eq!(ins.imm2, ins.imm2 as u32 as i32 as i64 as u64, "Y is a 32-bit immediate");
    Op { dispatch: Dispatch::single(ins.opcode), a: ins.ra, b: ins.rb, d: ins.rd, aux, imm: ins.imm }
}

/// `target` if it is an instruction index of `program`, else [`NO_INDEX`]:
/// a target past the end would be a bug of `Program`; it panics when
/// jumped to rather than being read out of bounds.
#[inline]
fn in_bounds(program: &Program, target: u32) -> u32 {
    if (target as usize) < program.instruction_count() { target } else { NO_INDEX }
}

/// Where the ops and entries come from and go back to when the code is
/// dropped (see [`javm_cap::recycle`]).
static OPS: Pool<Op> = Pool::new();
static ENTRIES: Pool<Entry> = Pool::new();

impl Drop for InterpCode {
    fn drop(&mut self) {
        ENTRIES.give(std::mem::take(&mut self.entry));
    }
}

/// Whether `opcode` has a static target (which `Op::aux` then resolves).
#[inline]
fn has_target(opcode: Opcode) -> bool {
    const TABLE: [bool; OPCODE_COUNT] = {
        let mut table = [false; OPCODE_COUNT];
        let mut i = 0;
        while i < OPCODE_COUNT {
            let class = Opcode::ALL[i].class();
            table[i] = matches!(class, OperandClass::Off | OperandClass::RegImmOff | OperandClass::RegRegOff);
            i += 1;
        }
        table
    };
    TABLE[opcode as usize]
}

/// Under the models that pay a block on entry, one pass left to right:
///
/// - `unlikely` is only a hint, so a block entered at one goes straight on
///   to the instruction after the hints (the instruction model charges it
///   like any other instruction, so there it runs and this is not called);
/// - fused pairs, within each run of a block: a pair's second op is not the
///   first of another pair, so every op still runs once. Only the
///   instructions a block entry actually reaches are paired the way they
///   run (a hint never starts a pair); an entry in the middle of a pair
///   runs the second op on its own. No pair starts with a terminator
///   (checked at compile time), so a pair never spans two blocks.
fn step_over_hints_and_fuse(ops: &mut [Op], entry: &[Entry], instructions: &[Instruction]) {
    // Hints seen in a row just before op `i`.
    let mut hints = 0u32;
    // Whether op `i - 1` may start a pair, and its instruction.
    let (mut free, mut previous) = (false, Opcode::Trap);
    for (i, ins) in instructions.iter().enumerate() {
        let this = ins.opcode;
        if this == Opcode::Unlikely {
            hints += 1;
            free = false;
            continue;
        }
        if hints != 0 {
            step_over_hints(&entry[i - hints as usize..i]);
            hints = 0;
        }
        let pair = if free { Dispatch::pair(previous, this) } else { None };
        match pair {
            Some(pair) => {
                ops[i - 1].dispatch = pair;
                free = false;
            }
            None => free = Dispatch::starts_pair(this),
        }
        previous = this;
    }
}

/// Entering one of the hints of a run of `unlikely` hints skips the rest.
#[cold]
fn step_over_hints(entry: &[Entry]) {
    let hints = entry.len() as u32;
    for (k, e) in entry.iter().enumerate() {
        e.skip.store(hints - k as u32, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use javm_cap::program::{CodeBlob, Decode, Profile};

    #[test]
    fn resolves_targets_and_prices_entries_when_entered() {
        // 0: load_imm r0 1, 3: branch_eq_imm r0, 1, → 0; 7: trap
        let code = vec![51, 0x00, 1, 81, 0x10, 1, 0xfd, 0];
        let blob = CodeBlob::from_parts(code, [0, 3, 7], vec![]);
        let program = Program::with_decode(blob, Profile::P8, GasModel::Block, Decode::Lazy).unwrap();
        let c = InterpCode::new(&program);
        assert!(c.entry.iter().all(|e| e.priced().is_none()), "nothing priced before a run");
        assert_eq!(c.entry[1].charge(&c, &program, 1), 2);
        assert_eq!(c.op(&program, 1).aux, 0);
        assert_eq!(c.entry.iter().map(Entry::priced).collect::<Vec<_>>(), [None, Some(2), None, None]);
        for i in [0, 2, 3] {
            c.entry[i].charge(&c, &program, i as u32);
        }
        assert_eq!(c.entry.iter().map(Entry::priced).collect::<Vec<_>>(), [Some(2), Some(2), Some(1), Some(1)]);
        assert!(c.entry.iter().all(|e| e.skip() == 0));
        assert_eq!(c.all_ops(&program).len(), 4, "with the trap past the end");
    }

    #[test]
    fn pipeline_entries_are_priced_when_first_entered() {
        // 0: load_imm r0 1, 3: branch_eq_imm r0, 1, → 0; 7: trap
        let code = vec![51, 0x00, 1, 81, 0x10, 1, 0xfd, 0];
        let blob = CodeBlob::from_parts(code, [0, 3, 7], vec![]);
        let program = Program::new(blob, Profile::P8, GasModel::Pipeline).unwrap();
        let c = InterpCode::new(&program);
        assert!(c.entry.iter().all(|e| e.priced().is_none()));
        assert_eq!(program.priced_blocks(), 0);
        let cost = c.entry[1].charge(&c, &program, 1);
        assert_eq!(cost, program.block_cost(0));
        assert_eq!(c.entry.iter().map(Entry::priced).collect::<Vec<_>>(), [None, Some(cost), None, None]);
        assert_eq!(program.priced_blocks(), 1, "the block of op 1, once");
        assert_eq!(c.entry[0].charge(&c, &program, 0), cost, "the same block, priced by the program");
        assert_eq!(program.priced_blocks(), 1);
    }

    #[test]
    fn block_entries_step_over_unlikely_hints() {
        // 0: unlikely, 1: unlikely, 2: trap
        let blob = || CodeBlob::from_parts(vec![2, 2, 0], [0, 1, 2], vec![]);
        let program = Program::new(blob(), Profile::P8, GasModel::Block).unwrap();
        let c = InterpCode::new(&program);
        c.all_ops(&program);
        assert_eq!(c.entry.iter().map(Entry::skip).collect::<Vec<_>>(), [2, 1, 0, 0]);
        let program = Program::new(blob(), Profile::P8, GasModel::Instruction).unwrap();
        let c = InterpCode::new(&program);
        assert!(c.entry.iter().all(|e| e.skip() == 0), "the instruction model charges each hint as it runs");
    }

    /// Ops built a span at a time, in any order, equal the ops of a whole
    /// decoded program built at once, and each build touches one span.
    #[test]
    fn spans_built_in_any_order_equal_the_whole() {
        use crate::testing::generate::gen_case;
        use crate::testing::seeded_bytes;
        use arbitrary::Unstructured;
        let mut multi_span = 0;
        for seed in 0..1500u64 {
            let data = seeded_bytes(seed, 8192);
            let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
            let Ok(blob) = CodeBlob::parse(&case.blob) else { continue };
            let model = [GasModel::Block, GasModel::Pipeline, GasModel::Instruction][seed as usize % 3];
            let Ok(whole) = Program::new(blob.clone(), case.profile, model) else { continue };
            let lazy = Program::with_decode(blob, case.profile, model, Decode::Lazy).unwrap();
            let (a, b) = (InterpCode::new(&whole), InterpCode::new(&lazy));
            let expected: Vec<String> = a.all_ops(&whole).iter().map(|op| format!("{op:?}")).collect();
            let skips: Vec<u32> = a.entry.iter().map(Entry::skip).collect();
            let spans = lazy.span_count();
            multi_span += usize::from(spans > 1);
            // A stride coprime with most span counts: every span, out of order.
            for k in 0..spans {
                let s = (k * 7 + seed as usize) % spans;
                let range = lazy.span_indexes(s);
                if range.is_empty() {
                    continue;
                }
                let before = lazy.decoded_instructions();
                let i = range.start + (seed as usize % range.len());
                let built = format!("{:?}", b.op(&lazy, i as u32));
                assert_eq!(built, expected[i], "seed {seed}: op {i} of span {s}");
                assert!(lazy.decoded_instructions() - before <= range.len(), "seed {seed}: one span at a time");
            }
            let built: Vec<String> = b.all_ops(&lazy).iter().map(|op| format!("{op:?}")).collect();
            assert_eq!(built, expected, "seed {seed}");
            assert_eq!(b.entry.iter().map(Entry::skip).collect::<Vec<_>>(), skips, "seed {seed}");
        }
        assert!(multi_span > 100, "programs of several spans: {multi_span}");
    }

    #[test]
    fn pairs_fuse_inside_blocks_only() {
        // 0: add_imm_64 r1, r1, 1; 3: add_imm_64 r2, r2, 1; 6: add_imm_64 r3, r3, 1;
        // 9: branch_ne r1, r2 → 0; 12: unlikely; 13: add_imm_64 r1, r1, 1; 16: add_imm_64 r1, r1, 1; 19: trap
        let code = vec![149, 0x11, 1, 149, 0x22, 1, 149, 0x33, 1, 171, 0x21, 247, 2, 149, 0x11, 1, 149, 0x11, 1, 0];
        let blob = || CodeBlob::from_parts(code.clone(), [0, 3, 6, 9, 12, 13, 16, 19], vec![]);
        let program = Program::new(blob(), Profile::P8, GasModel::Block).unwrap();
        let c = InterpCode::new(&program);
        let dispatch: Vec<Dispatch> = c.all_ops(&program).iter().map(|op| op.dispatch).collect();
        use Dispatch as D;
        assert_eq!(
            dispatch,
            [
                D::AddImm64AddImm64,
                D::AddImm64,
                D::AddImm64BranchNe,
                D::BranchNe,
                D::Unlikely,
                D::AddImm64AddImm64,
                D::AddImm64,
                D::Trap,
                D::Trap
            ],
            "pairs left to right; the terminator ends the block; entries skip the hint"
        );
        let program = Program::new(blob(), Profile::P8, GasModel::Instruction).unwrap();
        let c = InterpCode::new(&program);
        let singles = c.all_ops(&program).iter().all(|op| Dispatch::pair_of(op.dispatch).is_none());
        assert!(singles, "the instruction model runs singles");
    }

    #[test]
    fn generated_programs_exercise_every_pair() {
        use crate::testing::generate::gen_case;
        use crate::testing::seeded_bytes;
        use arbitrary::Unstructured;
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        for seed in 0..6000 {
            let data = seeded_bytes(seed, 4096);
            let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
            let Ok(program) = Program::from_blob(&case.blob, case.profile, case.gas_model) else { continue };
            for op in InterpCode::new(&program).all_ops(&program) {
                if Dispatch::pair_of(op.dispatch).is_some() {
                    *seen.entry(format!("{:?}", op.dispatch)).or_default() += 1;
                }
            }
        }
        let all: Vec<String> = Dispatch::PAIRS.iter().map(|d| format!("{d:?}")).collect();
        for pair in &all {
            assert!(seen.get(pair).copied().unwrap_or(0) >= 15, "{pair} is rarely generated: {seen:?}");
        }
    }
}
