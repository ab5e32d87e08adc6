//! The GP 0.8 block cost: a deterministic simulation of an out-of-order CPU
//! (spec §8.2), driven by the per-instruction parameters of the ISA table.
//!
//! [`Coster`] finds the cost in one of three exact ways, cheapest first:
//! - `InOrder` placement without a calendar: a block of at most 5
//!   instructions, with at most 4 ALU users and one user of MUL and of DIV,
//!   can never run short of anything, so every entry starts as soon as it
//!   is waiting with its dependencies done, and one pass in program order
//!   over the instructions yields every start (`uncontended_cost`).
//! - `InOrder` placement with a `Calendar`: entries placed in program
//!   order, each in the first cycle with a start slot and its units left
//!   over by the older entries, which rule 2 prefers. The calendar keeps the
//!   per-cycle use of start slots, ALUs, MUL and DIV as bit sets, 64 cycles
//!   to a word. This is rule 2's schedule unless a younger entry takes a
//!   unit an older one was placed to take, which the calendar detects.
//! - `simulate`, the cycle simulation, for those blocks. Entries retire
//!   strictly in order, so the retired ("gone") entries form a prefix and
//!   the live ones fit a ring of 32 slots whose states are bit masks. Which
//!   entry provides each register is a per-register table instead of
//!   per-entry register sets (each register has at most one provider);
//!   each entry keeps the mask of the dependencies it still waits for,
//!   cleared as they complete, and each pending entry the mask of its
//!   waiters, so that a completion visits only those; and cycles in which
//!   nothing can happen but countdowns are skipped in one step.
//!
//! None is an approximation; `reference` transcribes the rules cycle by
//! cycle, and the tests check every way against it, on random blocks and on
//! every block of the guest programs.

use crate::program::decode::{INVALID_TARGET, Instruction};
use crate::program::isa::{DecodeSlots, Latency, OPCODE_COUNT, Opcode, RegUse};

const DECODE_WIDTH: u8 = 4;
const START_WIDTH: u8 = 5;
const ROB_SIZE: usize = 32;
const SLACK: u32 = 3;
const UNITS: [u8; 5] = [4, 4, 4, 1, 1];
const BRANCH_CHEAP: u8 = 1;
const BRANCH_EXPENSIVE: u8 = 20;

/// The code byte at `offset`, or 0 (`trap`) off the code.
fn code_byte(code: &[u8], offset: u32) -> u8 {
    if offset == INVALID_TARGET {
        return 0;
    }
    code.get(offset as usize).copied().unwrap_or(0)
}

/// The latency of branch `ins`: cheap when its fall-through or its target
/// is a `trap` or `unlikely` byte.
fn branch_latency(code: &[u8], ins: &Instruction) -> u8 {
    const TRAP: u8 = 0;
    const UNLIKELY: u8 = 2;
    let cheap = |b: u8| b == TRAP || b == UNLIKELY;
    if cheap(code_byte(code, ins.next_pc)) || cheap(code_byte(code, ins.target)) {
        BRANCH_CHEAP
    } else {
        BRANCH_EXPENSIVE
    }
}

/// Operand selections of [`OpInfo`]: `rA`, `rB`, `rD`.
const SEL_A: u8 = 1;
const SEL_B: u8 = 2;
const SEL_D: u8 = 4;

/// The operands read and written under `reg_use` (spec §8.2, "Register
/// sets"), as `SEL_*` bits.
const fn operands(reg_use: RegUse) -> (u8, u8) {
    match reg_use {
        RegUse::Nothing => (0, 0),
        RegUse::WriteA => (0, SEL_A),
        RegUse::ReadA => (SEL_A, 0),
        RegUse::ReadAWriteD => (SEL_A, SEL_D),
        RegUse::ReadAB => (SEL_A | SEL_B, 0),
        RegUse::ReadBWriteA => (SEL_B, SEL_A),
        RegUse::ReadABWriteA => (SEL_A | SEL_B, SEL_A),
        RegUse::ReadABWriteD => (SEL_A | SEL_B, SEL_D),
        RegUse::ReadABDWriteD => (SEL_A | SEL_B | SEL_D, SEL_D),
    }
}

/// What the simulation needs of an opcode, from the ISA table, packed so
/// that one lookup fetches it.
#[derive(Clone, Copy)]
struct OpInfo {
    /// `0xFF` in the bytes of [`Op::new`]'s packed `(rA, rB, rD)` that are
    /// read, 0 in the others.
    src_keep: u32,
    /// Shift of the packed registers that brings the one written (or
    /// [`NO_DST`]) to the low byte.
    dst_shift: u8,
    /// The latency, or [`BRANCH_LATENCY`].
    lat: u8,
    /// Decode slots: `dec[0]` when the overlap rule holds (or always, for
    /// [`DEC_FIXED`]), `dec[1]` otherwise.
    dec: [u8; 2],
    /// [`DEC_FIXED`], [`DEC_OVERLAP`] or [`DEC_SHIFT_OVERLAP`].
    dec_rule: u8,
    class: u8,
    /// [`TERMINATOR`] and [`RENAME`] bits.
    flags: u8,
}

/// [`Op::flags`] bit: the instruction ends the block.
const TERMINATOR: u8 = 1;
/// [`Op::flags`] bit: `move_reg`, which renames instead of creating an
/// entry. It reads `rA` and writes `rD`, so its source and destination
/// sets each hold the one register.
const RENAME: u8 = 2;

const BRANCH_LATENCY: u8 = u8::MAX;
const DEC_FIXED: u8 = 0;
const DEC_OVERLAP: u8 = 1;
const DEC_SHIFT_OVERLAP: u8 = 2;

/// `0xFF` in byte `byte` if `sel` has `bit`.
const fn keep(sel: u8, bit: u8, byte: u32) -> u32 {
    if sel & bit != 0 { 0xFF << (8 * byte) } else { 0 }
}

/// [`OpInfo`] of every opcode, computed at compile time.
const OP_INFO: [OpInfo; OPCODE_COUNT] = {
    let mut table = [OpInfo { src_keep: 0, dst_shift: 0, lat: 0, dec: [0, 0], dec_rule: DEC_FIXED, class: 0, flags: 0 };
        OPCODE_COUNT];
    let mut i = 0;
    while i < OPCODE_COUNT {
        let op = Opcode::ALL[i];
        let params = op.pipeline();
        let (src, dst) = operands(op.reg_use());
        let lat = match params.latency {
            Latency::Cycles(n) => {
                assert!(n != BRANCH_LATENCY && (n > 0 || matches!(op, Opcode::MoveReg)));
                n
            }
            Latency::Branch => BRANCH_LATENCY,
        };
        let (dec, dec_rule) = match params.decode {
            DecodeSlots::Slots(n) => ([n, n], DEC_FIXED),
            DecodeSlots::Overlap(a, b) => ([a, b], DEC_OVERLAP),
            DecodeSlots::ShiftOverlap(a, b) => ([a, b], DEC_SHIFT_OVERLAP),
        };
        assert!(dec[0] <= DECODE_WIDTH && dec[1] <= DECODE_WIDTH);
        // `move_reg` and the others write at most one of `rA` and `rD`.
        assert!(dst == 0 || dst == SEL_A || dst == SEL_D);
        table[op as usize] = OpInfo {
            src_keep: keep(src, SEL_A, 0) | keep(src, SEL_B, 1) | keep(src, SEL_D, 2),
            dst_shift: match dst {
                SEL_A => 0,
                SEL_D => 16,
                _ => 24,
            },
            lat,
            dec,
            dec_rule,
            class: unit_class(params.units.0),
            flags: if op.is_terminator() { TERMINATOR } else { 0 }
                | if matches!(op, Opcode::MoveReg) { RENAME } else { 0 },
        };
        i += 1;
    }
    table
};

/// Register index meaning "no register" among an [`Op`]'s sources: its
/// slot in the per-register tables is never written, so it reads as "ready
/// from the start" and "no provider".
const NO_SRC: u8 = 13;
/// Register index meaning "no register" as an [`Op`]'s destination: its
/// slot in the per-register tables is written but never read.
const NO_DST: u8 = 14;
/// [`NO_SRC`] in each of the three low bytes.
const NO_SRCS: u32 = u32::from_le_bytes([NO_SRC, NO_SRC, NO_SRC, 0]);
/// Size of the per-register tables: r0..r12, the two sinks, and one unused
/// slot so that an index masked to 4 bits needs no bounds check.
const REG_SLOTS: usize = 16;

/// The per-register table slot of register index `r`.
#[inline(always)]
fn reg_slot(r: u8) -> usize {
    usize::from(r) % REG_SLOTS
}

/// One instruction as the simulation sees it. Every instruction reads at
/// most three registers and writes at most one, so they are kept as
/// indices, with [`NO_SRC`] and [`NO_DST`] for the unused ones, and the
/// per-register tables are read and written without a branch.
#[derive(Clone, Copy)]
struct Op {
    /// `rA`, `rB` and `rD` where read, else [`NO_SRC`].
    src: [u8; 3],
    /// The register written, or [`NO_DST`].
    dst: u8,
    lat: u8,
    dec: u8,
    /// Execution-unit class (see [`unit_class`]).
    class: u8,
    /// [`TERMINATOR`] and [`RENAME`] bits.
    flags: u8,
}

impl Op {
    #[inline(always)]
    fn new(code: &[u8], ins: &Instruction) -> Op {
        let info = OP_INFO[ins.opcode as usize];
        // `(rA, rB, rD, NO_DST)`, one byte each, selected with masks.
        let regs = u32::from_le_bytes([ins.ra, ins.rb, ins.rd, NO_DST]);
        let [a, b, d, _] = ((regs & info.src_keep) | (NO_SRCS & !info.src_keep)).to_le_bytes();
        let src = [a, b, d];
        let dst = (regs >> info.dst_shift) as u8;
        // Both slot counts are equal under `DEC_FIXED`.
        let overlap = if info.dec_rule == DEC_SHIFT_OVERLAP { ins.ra == ins.rd } else { src.contains(&dst) };
        Op {
            src,
            dst,
            lat: if info.lat == BRANCH_LATENCY { branch_latency(code, ins) } else { info.lat },
            dec: info.dec[usize::from(!overlap)],
            class: info.class,
            flags: info.flags,
        }
    }

    fn is_terminator(&self) -> bool {
        self.flags & TERMINATOR != 0
    }

    /// `move_reg`'s `(rA, rD)`: it renames instead of creating an entry.
    #[inline(always)]
    fn rename(&self) -> Option<(usize, usize)> {
        (self.flags & RENAME != 0).then_some((reg_slot(self.src[0]), reg_slot(self.dst)))
    }
}

const _: () = assert!(std::mem::size_of::<Op>() == 8);

/// `ops` through the first terminator (all of them if there is none).
fn through_terminator(ops: &[Op]) -> &[Op] {
    let end = ops.iter().position(Op::is_terminator).map_or(ops.len(), |t| t + 1);
    &ops[..end]
}

/// The distinct unit vectors of the ISA table: none, ALU, ALU+LOAD,
/// ALU+STORE, ALU+MUL, ALU+DIV.
const UNIT_CLASSES: usize = 6;
const CLASS_UNITS: [[u8; 5]; UNIT_CLASSES] =
    [[0, 0, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [1, 0, 0, 0, 1]];
/// The class needing no unit.
const NO_UNIT_CLASS: u8 = 0;
/// The classes needing the MUL and the DIV unit, of which there is one
/// each.
const MUL_CLASS: u8 = 4;
const DIV_CLASS: u8 = 5;

/// The class of a unit vector of the ISA table (an index into
/// [`CLASS_UNITS`]).
const fn unit_class(units: [u8; 5]) -> u8 {
    let mut c = 0;
    while c < UNIT_CLASSES {
        let want = CLASS_UNITS[c];
        let mut u = 0;
        while u < 5 && want[u] == units[u] {
            u += 1;
        }
        if u == 5 {
            return c as u8;
        }
        c += 1;
    }
    panic!("the ISA table uses these unit vectors only")
}

// Classes 1.. need an ALU and classes 2.. one unit of kind `class - 1` too;
// `Rob::startable` and `Calendar` rely on it, and on the unit counts: the
// LOAD and STORE units are never scarcer than the ALUs every load and store
// also needs (so only ALUs, MUL and DIV can run short), and MUL and DIV are
// single.
const _: () = {
    let mut c = 2;
    while c < UNIT_CLASSES {
        let mut u = 0;
        while u < 5 {
            assert!(CLASS_UNITS[c][u] == (u == 0 || u == c - 1) as u8);
            u += 1;
        }
        c += 1;
    }
    assert!(CLASS_UNITS[0][0] == 0 && CLASS_UNITS[1][0] == 1);
    assert!(UNITS[1] >= UNITS[0] && UNITS[2] >= UNITS[0]);
    assert!(NO_UNIT_CLASS == 0 && MUL_CLASS == 4 && DIV_CLASS == 5);
    assert!(UNITS[3] == 1 && UNITS[4] == 1);
};

/// Free execution units packed one byte per kind (ALU, LOAD, STORE, MUL,
/// DIV from the low byte up), so that taking or returning the units of a
/// class is one subtraction or addition and no count ever leaves its byte.
type FreeUnits = u64;

/// Packs a unit vector into [`FreeUnits`] form.
const fn pack_units(units: [u8; 5]) -> FreeUnits {
    let mut packed = 0;
    let mut k = 0;
    while k < 5 {
        packed |= (units[k] as u64) << (8 * k);
        k += 1;
    }
    packed
}

/// All units free.
const ALL_UNITS: FreeUnits = pack_units(UNITS);

/// The units of each class, packed.
const CLASS_PACKED: [FreeUnits; UNIT_CLASSES] = {
    let mut table = [0; UNIT_CLASSES];
    let mut c = 0;
    while c < UNIT_CLASSES {
        table[c] = pack_units(CLASS_UNITS[c]);
        c += 1;
    }
    table
};

// Free counts fit their byte of `FreeUnits`.
const _: () = {
    let mut k = 0;
    while k < 5 {
        assert!(UNITS[k] < 8);
        k += 1;
    }
};

/// `blockcost` from the cycle in which the last entry is gone:
/// `max(cycles − 3, 1)`.
fn cost_at(end_cycle: u32) -> u32 {
    end_cycle.saturating_sub(SLACK).max(1)
}

/// `blockcost` once every entry has started and `last_done` is the latest
/// cycle in which one is done: an entry is finished the cycle after it is
/// done and gone the cycle after that, when every older one is finished
/// too, so the last is gone at `last_done + 2`.
fn cost_after(last_done: u32) -> u32 {
    cost_at(last_done + 2)
}

/// Slots set in `mask`, in any order.
#[inline(always)]
fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let bit = mask.trailing_zeros();
        mask &= mask - 1;
        Some(bit as usize)
    })
}

/// The cost of the basic block `body`: the instructions from a block start
/// through its terminator (the last element), in program order. `code` is
/// the raw code, consulted for branch latencies.
pub fn block_cost(code: &[u8], body: &[Instruction]) -> u32 {
    Coster::default().cost(code, body)
}

/// Costs blocks one after another, reusing its buffers.
#[derive(Default)]
pub struct Coster {
    ops: Vec<Op>,
    calendar: Calendar,
}

/// What the entries placed by [`InOrder`] use, per cycle, 64 cycles to a
/// [`Cycles64`], for the first [`CALENDAR_WORDS`] × 64 cycles of a block.
#[derive(Default)]
struct Calendar {
    words: Vec<Cycles64>,
}

/// How far a [`Calendar`] reaches: 16,384 cycles in 22 KiB. A block whose
/// schedule runs longer goes to the cycle simulation, which needs no memory
/// per cycle, so that a huge block cannot make the calendar huge.
const CALENDAR_WORDS: usize = 256;

/// Use of 64 consecutive cycles, one bit per cycle. A resource with `CAP`
/// units is counted in `CAP` levels: bit `t` of level `k` is set when more
/// than `k` units are in use in cycle `t`, so the last level holds the full
/// cycles and taking a unit over a range of cycles is a few word operations.
#[derive(Clone, Copy, Default)]
struct Cycles64 {
    starts: [u64; START_WIDTH as usize],
    alu: [u64; UNITS[0] as usize],
    mul: [u64; UNITS[3] as usize],
    div: [u64; UNITS[4] as usize],
}

/// Takes one unit in the cycles of `range` from `levels`; false if some of
/// them had none left.
#[inline(always)]
fn take_unit<const CAP: usize>(levels: &mut [u64; CAP], range: u64) -> bool {
    if levels[CAP - 1] & range != 0 {
        return false;
    }
    for k in (1..CAP).rev() {
        levels[k] |= levels[k - 1] & range;
    }
    levels[0] |= range;
    true
}

impl Calendar {
    fn clear(&mut self) {
        self.words.clear();
    }

    /// The first cycle from `from` on with a start slot left and the units
    /// of `class` free.
    fn first_free(&self, from: usize, class: u8) -> usize {
        let mut w = from / 64;
        let mut later = u64::MAX << (from % 64);
        loop {
            let Some(word) = self.words.get(w) else {
                return w * 64 + later.trailing_zeros() as usize;
            };
            let mut taken = word.starts[START_WIDTH as usize - 1];
            if class != NO_UNIT_CLASS {
                taken |= word.alu[UNITS[0] as usize - 1];
            }
            match class {
                MUL_CLASS => taken |= word.mul[0],
                DIV_CLASS => taken |= word.div[0],
                _ => {}
            }
            let free = !taken & later;
            if free != 0 {
                return w * 64 + free.trailing_zeros() as usize;
            }
            w += 1;
            later = u64::MAX;
        }
    }

    /// Books an entry of `class` starting in cycle `start` and holding its
    /// units through cycle `end - 1` (`start < end`); false if some cycle
    /// then asks for more than there is, or lies beyond the calendar.
    fn book(&mut self, start: usize, end: usize, class: u8) -> bool {
        let (first, last) = (start / 64, (end - 1) / 64);
        if last >= CALENDAR_WORDS {
            return false;
        }
        if self.words.len() <= last {
            self.words.resize((last + 1).next_power_of_two(), Cycles64::default());
        }
        let word = &mut self.words[first];
        if !take_unit(&mut word.starts, 1 << (start % 64)) {
            return false;
        }
        if class == NO_UNIT_CLASS {
            return true;
        }
        if first == last {
            // The common case: the whole hold lies in one word.
            let range = (u64::MAX >> (64 - (end - start))) << (start % 64);
            return Self::hold(word, range, class);
        }
        for w in first..=last {
            let lo = if w == first { start % 64 } else { 0 };
            let hi = if w == last { end - 64 * w } else { 64 };
            let range = (u64::MAX >> (64 - (hi - lo))) << lo;
            if !Self::hold(&mut self.words[w], range, class) {
                return false;
            }
        }
        true
    }

    /// Takes the units of `class` (which needs an ALU) in the cycles of
    /// `range` of `word`; false if some cycle had none left.
    #[inline(always)]
    fn hold(word: &mut Cycles64, range: u64, class: u8) -> bool {
        let single_ok = match class {
            MUL_CLASS => take_unit(&mut word.mul, range),
            DIV_CLASS => take_unit(&mut word.div, range),
            _ => true,
        };
        single_ok && take_unit(&mut word.alu, range)
    }
}

impl Coster {
    /// The cost of the basic block `body`, as [`block_cost`].
    pub fn cost(&mut self, code: &[u8], body: &[Instruction]) -> u32 {
        self.cost_by(code, body).0
    }

    /// The cost of `body` and the way it was found. Three exact ways,
    /// cheapest first: [`InOrder`] placement, either without a calendar
    /// when the block is too small to run short of anything, so that every
    /// entry starts as soon as it is ready, or with a [`Calendar`]; and the
    /// cycle simulation when the calendar finds the placement is not rule
    /// 2's schedule.
    fn cost_by(&mut self, code: &[u8], body: &[Instruction]) -> (u32, Way) {
        if body.len() <= usize::from(START_WIDTH)
            && let Some(cost) = uncontended_cost(code, body)
        {
            return (cost, Way::Uncontended);
        }
        self.calendar.clear();
        let mut schedule = InOrder::new();
        for ins in body {
            let op = Op::new(code, ins);
            if !schedule.place(&op, Some(&mut self.calendar)) {
                // The ops are built again for the simulation only: building
                // them once into a buffer costs more on the other blocks.
                self.ops.clear();
                self.ops.extend(body.iter().map(|ins| Op::new(code, ins)));
                return (simulate(through_terminator(&self.ops)), Way::Simulation);
            }
            if op.is_terminator() {
                break;
            }
        }
        (schedule.cost(), Way::Calendar)
    }
}

/// How [`Coster::cost_by`] found a cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Way {
    /// In-order placement, nothing can run short.
    Uncontended,
    /// In-order placement booked in a calendar.
    Calendar,
    /// The cycle simulation.
    Simulation,
}

/// The cost of a block of at most 5 instructions by [`InOrder`] placement
/// without a calendar, or `None` if its ALUs, MUL or DIV unit could run
/// short. With at most 5 entries the start slots never run short, and with
/// at most 4 ALU users and one user each of MUL and DIV no unit does, so
/// every entry starts as soon as it is ready: rule 2's schedule.
fn uncontended_cost(code: &[u8], body: &[Instruction]) -> Option<u32> {
    debug_assert!(body.len() <= usize::from(START_WIDTH));
    let mut users = [0u8; UNIT_CLASSES];
    let mut schedule = InOrder::new();
    for ins in body {
        let op = Op::new(code, ins);
        // `move_reg` needs no unit: it counts with class 0, which is not
        // looked at.
        users[usize::from(op.class)] += 1;
        schedule.place(&op, None);
        if op.is_terminator() {
            break;
        }
    }
    let alu_users: u8 = users[1..].iter().sum();
    let short =
        alu_users > UNITS[0] || users[usize::from(MUL_CLASS)] > UNITS[3] || users[usize::from(DIV_CLASS)] > UNITS[4];
    (!short).then(|| schedule.cost())
}

/// A block's schedule with its entries placed in program order, one at a
/// time.
///
/// Entry `i` decodes in the cycle the decode budget reaches it (and the
/// reorder buffer has room: entry `i - 32` is gone), waits from the next
/// cycle, and is ready once its dependencies are done. It is placed in the
/// first cycle from then on with a start slot left and its units free,
/// counting only the older entries, which rule 2 prefers. It is done at
/// `start + lat`, finished one cycle later, and gone one cycle after that
/// when every older entry is finished too: at `max(done of it and every
/// older entry) + 2`. The block ends when the last entry is gone.
///
/// This is rule 2's own schedule unless a younger entry, placed in a cycle
/// before an older one, holds a unit the older one was placed to take: rule
/// 2, going cycle by cycle, would have started the younger one first and
/// delayed the older. Exactly then a placement makes some cycle ask for
/// more units than there are, which [`Calendar::book`] reports (as it does
/// a schedule too long for the calendar). Every load and store also holds an
/// ALU, so their own units of 4 cannot run out first: ALUs, MUL, DIV and
/// start slots are all that need counting.
struct InOrder {
    /// Cycle from which each register's newest value is ready (and the
    /// sinks [`NO_SRC`], never written, and [`NO_DST`]).
    ready: [u32; REG_SLOTS],
    /// `max(done)` over each entry and the older ones, for the last 32.
    done_so_far: [u32; ROB_SIZE],
    entries: usize,
    decode_cycle: u32,
    slots: u8,
    last_done: u32,
}

impl InOrder {
    fn new() -> InOrder {
        InOrder {
            ready: [0; REG_SLOTS],
            done_so_far: [0; ROB_SIZE],
            entries: 0,
            decode_cycle: 0,
            slots: DECODE_WIDTH,
            last_done: 0,
        }
    }

    /// Places `op`. Without a calendar every entry starts as soon as it is
    /// ready, which is rule 2's schedule when nothing can run short; with
    /// one, in the first cycle with room. False when the booking found the
    /// schedule is not rule 2's.
    #[inline(always)]
    fn place(&mut self, op: &Op, calendar: Option<&mut Calendar>) -> bool {
        if op.dec > self.slots {
            self.decode_cycle += 1;
            self.slots = DECODE_WIDTH;
        }
        if self.entries >= ROB_SIZE {
            let room_at = self.done_so_far[self.entries % ROB_SIZE] + 2;
            if room_at > self.decode_cycle {
                self.decode_cycle = room_at;
                self.slots = DECODE_WIDTH;
            }
        }
        self.slots -= op.dec;
        if let Some((from, to)) = op.rename() {
            self.ready[to] = self.ready[from];
            return true;
        }
        let [a, b, d] = op.src.map(|r| self.ready[reg_slot(r)]);
        let mut start = (self.decode_cycle + 1).max(a).max(b).max(d);
        if let Some(cal) = calendar {
            let first = cal.first_free(start as usize, op.class);
            if !cal.book(first, first + usize::from(op.lat), op.class) {
                return false;
            }
            start = first as u32;
        }
        let done = start + u32::from(op.lat);
        self.ready[reg_slot(op.dst)] = done;
        self.last_done = self.last_done.max(done);
        self.done_so_far[self.entries % ROB_SIZE] = self.last_done;
        self.entries += 1;
        true
    }

    /// The block's cost ([`cost_after`] the latest done).
    fn cost(&self) -> u32 {
        cost_after(self.last_done)
    }
}

/// Size of the completion wheel; above every latency (at most 100).
const WHEEL: usize = 128;
const _: () = assert!(WHEEL == u128::BITS as usize);

/// The live part of the reorder buffer: a ring of 32 slots (entry `i`
/// lives in slot `i % 32` while `head <= i < tail`) with one bit mask per
/// state, so every per-cycle rule is a few mask operations.
struct Rob {
    head: u32,
    tail: u32,
    /// The current cycle.
    cycle: u32,
    decoded: u32,
    waiting: u32,
    executing: u32,
    finished: u32,
    /// Live entries whose result is not ready (`left > 0`).
    pending: u32,
    /// Decoded or waiting entries with a dependency still pending.
    blocked: u32,
    /// Decoded or waiting entries needing no unit, the MUL unit, and the
    /// DIV unit. All others need an ALU only as far as running short goes:
    /// the LOAD and STORE units never run out before the ALUs.
    no_unit: u32,
    mul_users: u32,
    div_users: u32,
    free: FreeUnits,
    /// For blocked entries: the slots of the dependencies still pending.
    waits_for: [u32; ROB_SIZE],
    /// For pending entries: the slots of the entries that were blocked on
    /// them when decoded (the reverse of `waits_for`).
    waiters: [u32; ROB_SIZE],
    /// Executing entries by `done_at % WHEEL`, where `done_at` is the
    /// cycle in which `left` reaches 0 (start cycle + latency), so `left`
    /// is never stored. Latencies are below `WHEEL`, so a slot holds one
    /// `done_at` at a time.
    wheel: [u32; WHEEL],
    /// Bit `t % 64` of word `t / 64` set when `wheel[t]` is not empty.
    wheel_used: [u64; 2],
    /// Latency of each entry, until it starts.
    lat: [u8; ROB_SIZE],
    /// The latest `done_at` of the entries started so far.
    last_done: u32,
    class: [u8; ROB_SIZE],
}

/// A provider entry index meaning "none".
const NO_PROVIDER: u32 = u32::MAX;

#[inline(always)]
fn slot(index: u32) -> usize {
    index as usize % ROB_SIZE
}

impl Rob {
    fn new() -> Rob {
        Rob {
            head: 0,
            tail: 0,
            cycle: 0,
            decoded: 0,
            waiting: 0,
            executing: 0,
            finished: 0,
            pending: 0,
            blocked: 0,
            no_unit: 0,
            mul_users: 0,
            div_users: 0,
            free: ALL_UNITS,
            waits_for: [0; ROB_SIZE],
            waiters: [0; ROB_SIZE],
            wheel: [0; WHEEL],
            wheel_used: [0; 2],
            lat: [0; ROB_SIZE],
            last_done: 0,
            class: [0; ROB_SIZE],
        }
    }

    fn live(&self) -> usize {
        (self.tail - self.head) as usize
    }

    /// Slots of the `count` oldest live entries.
    #[inline(always)]
    fn oldest(&self, count: u32) -> u32 {
        let rel = if count >= 32 { u32::MAX } else { (1u32 << count) - 1 };
        rel.rotate_left(self.head % ROB_SIZE as u32)
    }

    /// Rule 1 for an instruction that creates an entry: appends it, with
    /// the providers of its sources still pending as what it waits for.
    fn decode(&mut self, op: &Op, provider: &mut [u32; REG_SLOTS]) {
        let index = self.tail;
        let s = slot(index);
        let bit = 1u32 << s;
        let mut deps = 0u32;
        for r in op.src {
            // Live providers only: `NO_PROVIDER` and gone entries are far
            // from `head` in wrapping distance.
            let p = provider[reg_slot(r)];
            if p.wrapping_sub(self.head) < ROB_SIZE as u32 {
                deps |= 1 << slot(p);
            }
        }
        deps &= self.pending;
        self.waits_for[s] = deps;
        self.waiters[s] = 0;
        for p in bits(deps) {
            self.waiters[p] |= bit;
        }
        if deps != 0 {
            self.blocked |= bit;
        } else {
            self.blocked &= !bit;
        }
        provider[reg_slot(op.dst)] = index;
        self.lat[s] = op.lat;
        self.class[s] = op.class;
        let is = |class: u8| if op.class == class { bit } else { 0 };
        self.no_unit |= is(NO_UNIT_CLASS);
        self.mul_users |= is(MUL_CLASS);
        self.div_users |= is(DIV_CLASS);
        self.pending |= bit;
        self.decoded |= bit;
        self.tail += 1;
    }

    /// Rule 2: the oldest waiting entry whose units are free and whose
    /// dependencies are done.
    #[inline(always)]
    fn startable(&self) -> Option<usize> {
        let candidates = self.waiting & !self.blocked;
        if candidates == 0 {
            return None;
        }
        // All ones if no unit of kind `k` is left.
        let none_left = |kind: u32| if (self.free >> (8 * kind)) & 0xFF == 0 { u32::MAX } else { 0 };
        let short = (!self.no_unit & none_left(0)) | (self.mul_users & none_left(3)) | (self.div_users & none_left(4));
        let units_free = !short;
        let ready = candidates & units_free;
        if ready == 0 {
            return None;
        }
        let age = ready.rotate_right(self.head % ROB_SIZE as u32).trailing_zeros();
        Some(slot(self.head.wrapping_add(age)))
    }

    /// Starts slot `s` in the current cycle.
    fn start(&mut self, s: usize) {
        let bit = 1u32 << s;
        self.waiting &= !bit;
        self.executing |= bit;
        self.no_unit &= !bit;
        self.mul_users &= !bit;
        self.div_users &= !bit;
        self.free -= CLASS_PACKED[usize::from(self.class[s])];
        let done_at = self.cycle + u32::from(self.lat[s]);
        self.last_done = self.last_done.max(done_at);
        let t = done_at as usize % WHEEL;
        self.wheel[t] |= bit;
        self.wheel_used[t / 64] |= 1 << (t % 64);
    }

    /// How many upcoming cycles are certainly idle, given that nothing can
    /// be decoded and no waiting entry can start now: cycles in which no
    /// entry can start, retire or change state, so that each only counts
    /// down `left` of the executing entries. That holds while no entry is
    /// decoded-but-not-waiting, the oldest entry is not finished (it would
    /// retire) and no executing entry has `left <= 1` (it would free its
    /// units or finish); with no unit freed and no dependency completing, no
    /// waiting entry becomes startable. Returns `min(left) - 1` then, else 0.
    /// With `all_decoded`, a retirement may happen in the cycles skipped:
    /// it only makes room for decoding, and there is nothing left to decode.
    fn idle_cycles(&self, all_decoded: bool) -> u32 {
        let head_finished = self.live() > 0 && self.finished & (1 << slot(self.head)) != 0;
        if self.decoded != 0 || (head_finished && !all_decoded) {
            return 0;
        }
        // The soonest `done_at` is the first used wheel slot from now on.
        let used = u128::from(self.wheel_used[0]) | u128::from(self.wheel_used[1]) << 64;
        let min_left = used.rotate_right(self.cycle % WHEEL as u32).trailing_zeros();
        if self.executing != 0 && min_left > 1 { min_left - 1 } else { 0 }
    }

    /// Rule 4: one cycle passes.
    fn next_cycle(&mut self) {
        let now = self.cycle as usize % WHEEL;
        let next = (self.cycle as usize + 1) % WHEEL;
        // `left = 1`: the units come back, the result is ready from the
        // next cycle on, and `left` becomes 0 below.
        let freeing = self.wheel[next];
        if freeing != 0 {
            let mut woken = 0;
            for s in bits(freeing) {
                self.free += CLASS_PACKED[usize::from(self.class[s])];
                woken |= self.waiters[s];
            }
            self.pending &= !freeing;
            // Only the entries waiting for one of them can be unblocked.
            for s in bits(woken & self.blocked) {
                self.waits_for[s] &= !freeing;
                if self.waits_for[s] == 0 {
                    self.blocked &= !(1 << s);
                }
            }
        }
        // Retire the finished prefix (states before this step), then move
        // decoded entries to waiting and finished executions to finished.
        let retiring =
            (!self.finished.rotate_right(self.head % ROB_SIZE as u32)).trailing_zeros().min(self.live() as u32);
        if retiring > 0 {
            self.finished &= !self.oldest(retiring);
            self.head += retiring;
        }
        self.waiting |= self.decoded;
        self.decoded = 0;
        let finishing = self.wheel[now];
        self.executing &= !finishing;
        self.finished |= finishing;
        self.wheel[now] = 0;
        self.wheel_used[now / 64] &= !(1 << (now % 64));
        self.cycle += 1;
    }
}

/// The cost of the block `ops` (through its terminator) by the cycle
/// simulation; see [`block_cost`].
fn simulate(ops: &[Op]) -> u32 {
    let mut rob = Rob::new();
    let mut provider = [NO_PROVIDER; REG_SLOTS];
    let mut cur = 0usize;

    // The rules are applied in batches: within a cycle, decoding cannot
    // enable a start (it only adds decoded entries) and starting cannot
    // enable a decode (it changes neither the decode budget nor the number
    // of live entries), so "repeat the first rule that applies" means: decode
    // while possible, then start while possible, then finish or advance.
    loop {
        // 1. Decode.
        let mut dslots = DECODE_WIDTH;
        while let Some(op) = ops.get(cur)
            && rob.live() < ROB_SIZE
            && op.dec <= dslots
        {
            match op.rename() {
                Some((from, to)) => provider[to] = provider[from],
                None => rob.decode(op, &mut provider),
            }
            dslots -= op.dec;
            cur += 1;
        }
        let done = cur >= ops.len();

        // 2. Start.
        let mut starts = START_WIDTH;
        while starts > 0
            && let Some(s) = rob.startable()
        {
            rob.start(s);
            starts -= 1;
        }

        // 3. Finish. Once every instruction is decoded and every entry has
        // started, only retirements are left, whose end `cost_after` knows.
        if done && rob.decoded | rob.waiting == 0 {
            return cost_after(rob.last_done);
        }

        // 4. Next cycle, jumping over cycles that are certainly idle (only
        // when rule 2 was tried and found nothing to start). Once all is
        // decoded, a retirement changes nothing that matters.
        if starts > 0 && (done || rob.live() >= ROB_SIZE) {
            rob.cycle += rob.idle_cycles(done);
        }
        rob.next_cycle();
    }
}

/// A direct transcription of the spec's rules, one cycle at a time: slow,
/// kept as the oracle the fast ways are checked against (by the tests and
/// the `gas_model` fuzz target).
pub mod reference {
    use super::*;

    /// Register bit set over r0..r12.
    type RegSet = u16;

    /// The registers of `ins` that the `SEL_*` bits `sel` select.
    fn registers(sel: u8, ins: &Instruction) -> RegSet {
        let pick = |bit: u8, r: u8| RegSet::from(sel & bit != 0) << r;
        pick(SEL_A, ins.ra) | pick(SEL_B, ins.rb) | pick(SEL_D, ins.rd)
    }

    /// Registers read and written by `ins`.
    fn reg_sets(ins: &Instruction) -> (RegSet, RegSet) {
        let (src, dst) = operands(ins.opcode.reg_use());
        (registers(src, ins), registers(dst, ins))
    }

    fn latency(code: &[u8], ins: &Instruction) -> u8 {
        match ins.opcode.pipeline().latency {
            Latency::Cycles(n) => n,
            Latency::Branch => branch_latency(code, ins),
        }
    }

    fn decode_slots(ins: &Instruction, src: RegSet, dst: RegSet) -> u8 {
        match ins.opcode.pipeline().decode {
            DecodeSlots::Slots(n) => n,
            DecodeSlots::Overlap(a, b) => {
                if src & dst != 0 {
                    a
                } else {
                    b
                }
            }
            DecodeSlots::ShiftOverlap(a, b) => {
                if ins.ra == ins.rd {
                    a
                } else {
                    b
                }
            }
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        Decoded,
        Waiting,
        Executing,
        Finished,
    }

    #[derive(Clone, Copy)]
    struct Entry {
        state: State,
        left: u8,
        deps: [u32; 3],
        dep_count: u8,
        units: [u8; 5],
    }

    /// The cost of the basic block `body`: the instructions from a block start
    /// through its terminator (the last element), in program order. `code` is
    /// the raw code, consulted for branch latencies.
    pub fn block_cost(code: &[u8], body: &[Instruction]) -> u32 {
        let mut rob: Vec<Entry> = Vec::with_capacity(body.len().min(256));
        let mut provider: [Option<u32>; 13] = [None; 13];
        let mut head = 0usize; // entries before `head` are gone
        let mut cur = 0usize; // next instruction of `body` to decode
        let mut cycle: u32 = 0;
        let mut dslots = DECODE_WIDTH;
        let mut starts = START_WIDTH;
        let mut free = UNITS;

        loop {
            let done = cur >= body.len();
            let live = rob.len() - head;

            // 1. Decode.
            if !done && live < ROB_SIZE {
                let ins = &body[cur];
                let (src, dst) = reg_sets(ins);
                let dec = decode_slots(ins, src, dst);
                if dec <= dslots {
                    if ins.opcode == Opcode::MoveReg {
                        provider[ins.rd as usize] = provider[ins.ra as usize];
                    } else {
                        let mut entry = Entry {
                            state: State::Decoded,
                            left: latency(code, ins),
                            deps: [0; 3],
                            dep_count: 0,
                            units: ins.opcode.pipeline().units.0,
                        };
                        for (r, slot) in provider.iter().enumerate() {
                            if let Some(p) = *slot
                                && src & (1 << r) != 0
                                && !entry.deps[..entry.dep_count as usize].contains(&p)
                            {
                                entry.deps[entry.dep_count as usize] = p;
                                entry.dep_count += 1;
                            }
                        }
                        let index = rob.len() as u32;
                        for (r, slot) in provider.iter_mut().enumerate() {
                            if dst & (1 << r) != 0 {
                                *slot = Some(index);
                            }
                        }
                        rob.push(entry);
                    }
                    dslots -= dec;
                    cur = if ins.opcode.is_terminator() { body.len() } else { cur + 1 };
                    continue;
                }
            }

            // 2. Start.
            if starts > 0 {
                let ready = (head..rob.len()).find(|&i| {
                    let e = &rob[i];
                    e.state == State::Waiting
                        && e.units.iter().zip(free.iter()).all(|(u, f)| u <= f)
                        && e.deps[..e.dep_count as usize].iter().all(|&d| rob[d as usize].left == 0)
                });
                if let Some(i) = ready {
                    let e = &mut rob[i];
                    e.state = State::Executing;
                    for (f, u) in free.iter_mut().zip(e.units.iter()) {
                        *f -= u;
                    }
                    starts -= 1;
                    continue;
                }
            }

            // 3. Finish.
            if done && live == 0 {
                return cost_at(cycle);
            }

            // 4. Next cycle.
            cycle += 1;
            dslots = DECODE_WIDTH;
            starts = START_WIDTH;
            for e in &rob[head..] {
                if e.state == State::Executing && e.left == 1 {
                    for (f, u) in free.iter_mut().zip(e.units.iter()) {
                        *f += u;
                    }
                }
            }
            let mut retiring = true;
            let mut new_head = head;
            for e in &mut rob[head..] {
                let before = e.state;
                if retiring && before == State::Finished {
                    new_head += 1;
                    continue;
                }
                retiring = false;
                match before {
                    State::Decoded => e.state = State::Waiting,
                    State::Executing if e.left == 0 => e.state = State::Finished,
                    _ => {}
                }
            }
            head = new_head;
            for e in &mut rob[head..] {
                if e.state == State::Executing && e.left > 0 {
                    e.left -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::blob::CodeBlob;
    use crate::program::decode::block_at;
    use crate::program::isa::Profile;

    /// The block starting at code offset 0 of `blob`.
    fn first_block(blob: &CodeBlob) -> Vec<Instruction> {
        block_at(blob, Profile::P8, 0)
    }

    /// The cost of the block at the start of `code` with instruction `starts`.
    fn cost(code: &[u8], starts: &[usize]) -> u32 {
        let blob = CodeBlob::from_parts(code.to_vec(), starts.iter().copied(), vec![]);
        block_cost(&blob.code, &first_block(&blob))
    }

    #[test]
    fn reference_costs_from_the_spec() {
        assert_eq!(cost(&[0], &[0]), 2, "trap");
        assert_eq!(cost(&[1], &[0]), 2, "fallthrough");
        assert_eq!(cost(&[40, 0], &[0]), 15, "jump");
        assert_eq!(cost(&[50, 0x00], &[0]), 22, "jump_ind");
        assert_eq!(cost(&[100, 0x12, 0], &[0, 2]), 2, "move_reg + trap");
        assert_eq!(cost(&[52, 0x01, 0], &[0, 2]), 25, "load + trap");
        assert_eq!(cost(&[203, 0x21, 3, 0], &[0, 3]), 60, "div_u_64 + trap");
        assert_eq!(cost(&[2, 0], &[0, 1]), 40, "unlikely + trap");
        assert_eq!(cost(&[10, 0], &[0, 1]), 100, "ecalli + trap");
    }

    /// Open question Q2: a conditional move reads its destination, so it waits
    /// for the multiply that produced it. `r7 = r7 * r10; r7 = r8 if r9 == 0;
    /// trap` costs 5 (3 if the destination were not a source).
    #[test]
    fn cmov_destination_is_a_source() {
        // mul_64 rD=7 ← r7 * r10 (rA = 7, rB = 10); cmov_iz rD=7 ← r8 if r9 == 0.
        let code = [202, 0xa7, 7, 218, 0x98, 7, 0];
        assert_eq!(cost(&code, &[0, 3, 6]), 5);
        // The immediate form likewise waits for its destination.
        let code = [202, 0xa7, 7, 147, 0x97, 1, 0];
        let with_dep = cost(&code, &[0, 3, 6]);
        let code = [202, 0xa6, 6, 147, 0x97, 1, 0];
        let without_dep = cost(&code, &[0, 3, 6]);
        assert!(with_dep > without_dep, "{with_dep} vs {without_dep}");
    }

    use crate::program::asm::{Assembler, Operands, Target};
    use crate::program::isa::Opcode as O;
    use proptest::prelude::*;

    /// Random blocks: up to 80 instructions (so the reorder buffer fills)
    /// with register choices that create dependencies, then a terminator.
    /// `(opcode choice, rA, rB, rD)` of one instruction.
    type RawOp = (usize, u8, u8, u8);

    fn arb_block() -> impl Strategy<Value = (Vec<RawOp>, usize, i8)> {
        let ops = proptest::collection::vec((0usize..1000, 0u8..6, 0u8..6, 0u8..6), 0..80);
        (ops, 0usize..1000, any::<i8>())
    }

    fn assemble(ops: &[RawOp], term: usize, offset: i8) -> (Vec<u8>, Vec<Instruction>) {
        let plain: Vec<O> = O::ALL.into_iter().filter(|o| o.in_profile(Profile::P8) && !o.is_terminator()).collect();
        let terms: Vec<O> = O::ALL.into_iter().filter(|o| o.in_profile(Profile::P8) && o.is_terminator()).collect();
        let mut asm = Assembler::new(Profile::P8);
        for &(op, ra, rb, rd) in ops {
            asm.push(plain[op % plain.len()], Operands { ra, rb, rd, imm: 7, imm2: 1, ..Operands::default() });
        }
        let target = Target::Offset(asm.pc().wrapping_add(offset as u32));
        asm.push(terms[term % terms.len()], Operands { ra: 1, rb: 2, target, ..Operands::default() });
        asm.push(O::Unlikely, Operands::default());
        let blob = asm.finish();
        let body = first_block(&blob);
        (blob.code, body)
    }

    /// The ops `Coster` makes of `body`.
    fn ops_of(code: &[u8], body: &[Instruction]) -> Vec<Op> {
        let mut ops = Vec::new();
        for ins in body {
            let op = Op::new(code, ins);
            ops.push(op);
            if op.is_terminator() {
                break;
            }
        }
        ops
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn every_way_equals_the_cycle_by_cycle_rules((ops, term, offset) in arb_block()) {
            let (code, body) = assemble(&ops, term, offset);
            let expected = reference::block_cost(&code, &body);
            prop_assert_eq!(Coster::default().cost_by(&code, &body).0, expected);
            prop_assert_eq!(simulate(&ops_of(&code, &body)), expected);
        }
    }

    /// The random blocks of the property above take each of the three ways
    /// often, so that it checks all of them.
    #[test]
    fn random_blocks_take_every_way() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut coster = Coster::default();
        let mut ways = std::collections::HashMap::new();
        for _ in 0..2000 {
            let (ops, term, offset) = arb_block().new_tree(&mut runner).expect("a block").current();
            let (code, body) = assemble(&ops, term, offset);
            *ways.entry(coster.cost_by(&code, &body).1).or_insert(0) += 1;
        }
        for way in [Way::Uncontended, Way::Calendar, Way::Simulation] {
            let n = ways.get(&way).copied().unwrap_or(0);
            assert!(n >= 50, "{way:?} taken {n} times of 2000: {ways:?}");
        }
    }

    /// Every block of every guest program costs the same by each way as by
    /// the cycle-by-cycle rules, and real code takes all three ways.
    #[test]
    fn guest_blocks_equal_the_cycle_by_cycle_rules() {
        use crate::program::{Program, StandardProgram};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin");
        let mut guests = 0;
        let mut ways = std::collections::HashMap::new();
        let mut coster = Coster::default();
        for entry in std::fs::read_dir(&dir).expect("guests/bin") {
            let path = entry.expect("an entry").path();
            if path.extension().is_none_or(|e| e != "jam") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("readable");
            let standard = StandardProgram::parse(&bytes).expect("a standard program");
            let program =
                Program::from_blob(&standard.code, Profile::P8, super::super::GasModel::Pipeline).expect("decodes");
            let code = program.code();
            for (block, priced) in program.blocks_with_costs() {
                let body = &program.instructions()[block.first as usize..block.end as usize];
                let expected = reference::block_cost(code, body);
                assert_eq!(priced, expected, "{} block at {}", path.display(), block.pc);
                let (cost, way) = coster.cost_by(code, body);
                assert_eq!(cost, expected, "{} block at {} ({way:?})", path.display(), block.pc);
                assert_eq!(simulate(&ops_of(code, body)), expected, "{} block at {}", path.display(), block.pc);
                *ways.entry(way).or_insert(0) += 1;
            }
            guests += 1;
        }
        assert!(guests >= 9, "{guests} guests in {}", dir.display());
        assert_eq!(ways.len(), 3, "{ways:?}");
    }

    /// A chain of divisions, each waiting for the one before.
    fn division_chain(n: usize) -> (Vec<u8>, Vec<Instruction>) {
        let mut asm = Assembler::new(Profile::P8);
        for _ in 0..n {
            asm.push(O::DivU64, Operands { ra: 1, rb: 2, rd: 1, ..Operands::default() });
        }
        asm.push(O::Trap, Operands::default());
        let blob = asm.finish();
        let body = first_block(&blob);
        (blob.code, body)
    }

    /// A schedule longer than the calendar goes to the simulation; a shorter
    /// one of the same kind stays in the calendar. Both cost what the rules
    /// say: 60 cycles a division.
    #[test]
    fn long_schedules_leave_the_calendar() {
        let mut coster = Coster::default();
        for (n, way) in [(200, Way::Calendar), (300, Way::Simulation)] {
            let (code, body) = division_chain(n);
            let (cost, taken) = coster.cost_by(&code, &body);
            assert_eq!(taken, way, "{n} divisions");
            assert_eq!(cost, reference::block_cost(&code, &body), "{n} divisions");
            assert!(cost >= 60 * n as u32, "{n} divisions cost {cost}");
        }
    }

    /// Blocks of at most five instructions skip the calendar only while
    /// their units cannot run short: four ALU users and a jump do, five
    /// ALU users (the branch is one) or two multiplications do not. Each
    /// costs what the rules say either way.
    #[test]
    fn small_blocks_skip_the_calendar_only_without_contention() {
        let add = |rd| (O::Add64, Operands { ra: 1, rb: 2, rd, ..Operands::default() });
        let mul = |rd| (O::Mul64, Operands { ra: 1, rb: 2, rd, ..Operands::default() });
        let jump = (O::Jump, Operands { target: Target::Offset(0), ..Operands::default() });
        let branch = (O::BranchEq, Operands { ra: 1, rb: 2, target: Target::Offset(0), ..Operands::default() });
        let cases = [
            (vec![add(3), add(4), add(5), add(6), jump], Way::Uncontended),
            (vec![add(3), add(4), add(5), add(6), branch], Way::Calendar),
            (vec![mul(3), mul(4), jump], Way::Calendar),
            (vec![mul(3), add(4), jump], Way::Uncontended),
        ];
        let mut coster = Coster::default();
        for (ops, way) in cases {
            let mut asm = Assembler::new(Profile::P8);
            for &(op, operands) in &ops {
                asm.push(op, operands);
            }
            let blob = asm.finish();
            let body = first_block(&blob);
            assert_eq!(body.len(), ops.len());
            let (cost, taken) = coster.cost_by(&blob.code, &body);
            assert_eq!(taken, way, "{ops:?}");
            assert_eq!(cost, reference::block_cost(&blob.code, &body), "{ops:?}");
        }
    }

    #[test]
    fn calendar_counts_units_across_words() {
        let mut cal = Calendar::default();
        for _ in 0..4 {
            assert!(cal.book(60, 130, 1));
        }
        let full = |cal: &Calendar, w: usize| cal.words.get(w).map_or(0, |word| word.alu[3]);
        assert_eq!(full(&cal, 0), u64::MAX << 60);
        assert_eq!(full(&cal, 1), u64::MAX);
        assert_eq!(full(&cal, 2), 0b11);
        assert_eq!(full(&cal, 3), 0, "past the end");
        // Cycles 130 and up have an ALU, 129 has not.
        assert!(cal.book(130, 131, 1));
        assert!(!cal.book(129, 131, 1));
        // A DIV needs an ALU as well.
        assert_eq!(cal.first_free(0, 5), 0);
        assert_eq!(cal.first_free(60, 5), 130);
        // The single DIV unit: any overlap is refused, a neighbour is not.
        cal.clear();
        assert_eq!(cal.first_free(70, 1), 70);
        assert!(cal.book(0, 64, 5));
        assert!(cal.book(64, 124, 5));
        assert!(!cal.book(123, 200, 5));
        assert_eq!(cal.first_free(0, 5), 124);
        assert_eq!(cal.first_free(0, 4), 0, "the MUL unit is another");
    }

    #[test]
    fn calendar_finds_the_first_cycle_with_room() {
        let mut cal = Calendar::default();
        // Five entries without units fill cycle 3's start slots.
        for _ in 0..5 {
            assert_eq!(cal.first_free(3, 0), 3);
            assert!(cal.book(3, 5, 0));
        }
        assert_eq!(cal.first_free(3, 0), 4);
        // Four loads from cycle 4 hold the ALUs through cycle 28; a MUL
        // must wait.
        for _ in 0..4 {
            assert_eq!(cal.first_free(4, 2), 4);
            assert!(cal.book(4, 4 + 25, 2));
        }
        assert_eq!(cal.first_free(4, 4), 29);
        assert_eq!(cal.first_free(4, 0), 4, "no units needed");
        assert!(cal.book(29, 32, 4));
        assert_eq!(cal.first_free(29, 4), 32, "the MUL unit is single");
        assert_eq!(cal.first_free(29, 1), 29, "an ALU is left");
        // A booking that overfills a cycle is refused.
        assert!(!cal.book(28, 30, 1));
    }

    #[test]
    fn unit_classes_match_the_table() {
        for op in O::ALL {
            let units = op.pipeline().units.0;
            assert_eq!(CLASS_UNITS[unit_class(units) as usize], units, "{op}");
        }
    }

    #[test]
    fn branch_to_trap_is_cheap() {
        // branch_eq_imm r0, 0, T=+3 (lands on trap) then trap.
        let code = [81, 0x10, 0, 3, 0];
        let cheap = cost(&code, &[0, 4]);
        // Same branch falling through to a non-trap, targeting a non-trap.
        let code = [81, 0x10, 0, 3, 1, 1];
        let dear = cost(&code, &[0, 4, 5]);
        assert!(cheap < dear, "{cheap} vs {dear}");
    }
}
