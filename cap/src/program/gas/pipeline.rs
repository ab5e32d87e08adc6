//! The GP 0.8 block cost: a deterministic simulation of an out-of-order CPU
//! (spec §8.2), driven by the per-instruction parameters of the ISA table.
//!
//! The simulation keeps a reorder buffer of at most 32 live entries. Entries
//! retire strictly in order, so the retired ("gone") entries always form a
//! prefix and the live ones fit a ring of 32 slots, whose states are bit
//! masks. Which entry currently provides each register is a 13-slot table
//! instead of per-entry register sets (each register is provided by at most
//! one entry), and cycles in which nothing can happen but countdowns are
//! skipped in one step. All three are exact re-statements of the spec's
//! rules, not approximations; [`reference`] transcribes the rules cycle by
//! cycle, and the tests check both agree.

use crate::program::decode::{INVALID_TARGET, Instruction};
use crate::program::isa::{DecodeSlots, Latency, OPCODE_COUNT, Opcode, RegUse};

const DECODE_WIDTH: u8 = 4;
const START_WIDTH: u8 = 5;
const ROB_SIZE: usize = 32;
const SLACK: u32 = 3;
const UNITS: [u8; 5] = [4, 4, 4, 1, 1];
const BRANCH_CHEAP: u8 = 1;
const BRANCH_EXPENSIVE: u8 = 20;

/// Register bit set over r0..r12.
type RegSet = u16;

/// Registers read and written by `ins`.
pub fn reg_sets(ins: &Instruction) -> (RegSet, RegSet) {
    let (a, b, d) = (1u16 << ins.ra, 1u16 << ins.rb, 1u16 << ins.rd);
    match ins.opcode.reg_use() {
        RegUse::Nothing => (0, 0),
        RegUse::WriteA => (0, a),
        RegUse::ReadA => (a, 0),
        RegUse::ReadAWriteD => (a, d),
        RegUse::ReadAB => (a | b, 0),
        RegUse::ReadBWriteA => (b, a),
        RegUse::ReadABWriteA => (a | b, a),
        RegUse::ReadABWriteD => (a | b, d),
        RegUse::ReadABDWriteD => (a | b | d, d),
    }
}

/// The code byte at `offset`, or 0 (`trap`) off the code.
fn code_byte(code: &[u8], offset: u32) -> u8 {
    if offset == INVALID_TARGET {
        return 0;
    }
    code.get(offset as usize).copied().unwrap_or(0)
}

fn latency(code: &[u8], ins: &Instruction) -> u8 {
    match ins.opcode.pipeline().latency {
        Latency::Cycles(n) => n,
        Latency::Branch => {
            const TRAP: u8 = 0;
            const UNLIKELY: u8 = 2;
            let cheap = |b: u8| b == TRAP || b == UNLIKELY;
            if cheap(code_byte(code, ins.next_pc)) || cheap(code_byte(code, ins.target)) {
                BRANCH_CHEAP
            } else {
                BRANCH_EXPENSIVE
            }
        }
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

/// The live part of the reorder buffer: a ring of 32 slots (entry `i`
/// lives in slot `i % 32` while `head <= i < tail`) with one bit mask per
/// state, so every per-cycle rule is a few mask operations.
struct Rob {
    head: u32,
    tail: u32,
    decoded: u32,
    waiting: u32,
    executing: u32,
    finished: u32,
    /// Live entries whose result is not ready (`left > 0`).
    pending: u32,
    /// Live entries by execution-unit class (see [`unit_class`]).
    class_slots: [u32; UNIT_CLASSES],
    /// The current cycle.
    cycle: u32,
    /// For executing entries: the cycle in which `left` reaches 0 (start
    /// cycle + latency), so `left = done_at - cycle` is never stored.
    done_at: [u32; ROB_SIZE],
    /// Executing entries by `done_at % WHEEL` (latencies are below
    /// `WHEEL`, so a slot holds one `done_at` at a time).
    wheel: [u32; WHEEL],
    /// Latency of each entry, until it starts.
    lat: [u8; ROB_SIZE],
    class: [u8; ROB_SIZE],
    /// Slots of the older live entries each entry depends on.
    dep_mask: [u32; ROB_SIZE],
}

/// Size of the completion wheel; above every latency (at most 100).
const WHEEL: usize = 128;

/// The distinct unit vectors of the ISA table: none, ALU, ALU+LOAD,
/// ALU+STORE, ALU+MUL, ALU+DIV.
const UNIT_CLASSES: usize = 6;
const CLASS_UNITS: [[u8; 5]; UNIT_CLASSES] =
    [[0, 0, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [1, 0, 0, 0, 1]];

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

/// [`unit_class`] of every opcode, computed at compile time.
const OPCODE_CLASS: [u8; OPCODE_COUNT] = {
    let mut table = [0; OPCODE_COUNT];
    let mut i = 0;
    while i < OPCODE_COUNT {
        let op = Opcode::ALL[i];
        table[op as usize] = unit_class(op.pipeline().units.0);
        i += 1;
    }
    table
};

// Classes 2.. need an ALU and one unit of kind `class - 1`; the fast paths
// of `Rob::startable`, `Rob::start` and `Rob::next_cycle` rely on it.
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
};

const _: () = assert!(UNIT_CLASSES == 6, "Rob::startable lists the classes one by one");

/// Takes (`sign` = -1) or returns (`sign` = 1) the units of `class`.
#[inline(always)]
fn adjust_units(free: &mut [u8; 5], class: u8, sign: i8) {
    let class = class as usize;
    if class >= 1 {
        free[0] = free[0].wrapping_add_signed(sign);
    }
    if class >= 2 {
        free[class - 1] = free[class - 1].wrapping_add_signed(sign);
    }
}

#[inline(always)]
fn slot(index: u32) -> usize {
    index as usize % ROB_SIZE
}

/// `(slot, age)` of the slots set in `mask`, oldest entry first; `age` is
/// the distance from the oldest live entry.
#[inline(always)]
fn by_age(mask: u32, head: u32) -> impl Iterator<Item = (usize, u32)> {
    let mut rotated = mask.rotate_right(head % ROB_SIZE as u32);
    std::iter::from_fn(move || {
        if rotated == 0 {
            return None;
        }
        let age = rotated.trailing_zeros();
        rotated &= rotated - 1;
        Some((slot(head.wrapping_add(age)), age))
    })
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

impl Rob {
    fn live(&self) -> usize {
        (self.tail - self.head) as usize
    }

    /// Slots of the `age` oldest live entries.
    #[inline(always)]
    fn older_than(&self, age: u32) -> u32 {
        let rel = if age >= 32 { u32::MAX } else { (1u32 << age) - 1 };
        rel.rotate_left(self.head % ROB_SIZE as u32)
    }

    /// Rule 2: the oldest waiting entry whose units are free and whose
    /// dependencies are done. A dependency is done when its `left` is 0 or
    /// it is gone; masking with the older entries keeps a slot reused by a
    /// younger entry from standing in for a gone dependency.
    fn startable(&self, free: &[u8; 5]) -> Option<usize> {
        let with = |c: usize| if free[c - 1] > 0 { self.class_slots[c] } else { 0 };
        let mut units_free = self.class_slots[0];
        if free[0] > 0 {
            units_free |= self.class_slots[1] | with(2) | with(3) | with(4) | with(5);
        }
        by_age(self.waiting & units_free, self.head)
            .find(|&(s, age)| self.dep_mask[s] & self.pending & self.older_than(age) == 0)
            .map(|(s, _)| s)
    }

    /// Cycles from now to the soonest `done_at` among executing entries.
    fn until_next_completion(&self) -> Option<u32> {
        bits(self.executing).map(|s| self.done_at[s] - self.cycle).min()
    }

    /// How many upcoming cycles are certainly idle, given that nothing can
    /// be decoded and no waiting entry can start now: cycles in which no
    /// entry can start, retire or change state, so that each only counts
    /// down `left` of the executing entries. That holds while no entry is
    /// decoded-but-not-waiting, the oldest entry is not finished (it would
    /// retire) and no executing entry has `left <= 1` (it would free its
    /// units or finish); with no unit freed and no dependency completing, no
    /// waiting entry becomes startable. Returns `min(left) - 1` then, else 0.
    fn idle_cycles(&self) -> u32 {
        let head_finished = self.live() > 0 && self.finished & (1 << slot(self.head)) != 0;
        if self.decoded != 0 || head_finished {
            return 0;
        }
        match self.until_next_completion() {
            Some(min_left) if min_left > 1 => min_left - 1,
            _ => 0,
        }
    }

    /// Starts slot `s` in the current cycle.
    fn start(&mut self, s: usize, free: &mut [u8; 5]) {
        self.waiting &= !(1 << s);
        self.executing |= 1 << s;
        adjust_units(free, self.class[s], -1);
        let done_at = self.cycle + u32::from(self.lat[s]);
        self.done_at[s] = done_at;
        let t = done_at as usize % WHEEL;
        self.wheel[t] |= 1 << s;
    }

    /// Rule 4: one cycle passes.
    fn next_cycle(&mut self, free: &mut [u8; 5]) {
        let now = self.cycle as usize % WHEEL;
        let next = (self.cycle as usize + 1) % WHEEL;
        // `left = 1`: the units come back, and `left` becomes 0 below.
        let freeing = self.wheel[next];
        for s in bits(freeing) {
            adjust_units(free, self.class[s], 1);
        }
        // Retire the finished prefix (states before this step), then move
        // decoded entries to waiting and finished executions to finished.
        let retiring =
            (!self.finished.rotate_right(self.head % ROB_SIZE as u32)).trailing_zeros().min(self.live() as u32);
        if retiring > 0 {
            let gone = self.older_than(retiring);
            self.finished &= !gone;
            for slots in &mut self.class_slots {
                *slots &= !gone;
            }
            self.head += retiring;
        }
        self.waiting |= self.decoded;
        self.decoded = 0;
        let finishing = self.wheel[now];
        self.executing &= !finishing;
        self.finished |= finishing;
        self.wheel[now] = 0;
        self.pending &= !freeing;
        self.cycle += 1;
    }
}

/// The cost of the basic block `body`: the instructions from a block start
/// through its terminator (the last element), in program order. `code` is
/// the raw code, consulted for branch latencies.
pub fn block_cost(code: &[u8], body: &[Instruction]) -> u32 {
    let mut rob = Rob {
        head: 0,
        tail: 0,
        decoded: 0,
        waiting: 0,
        executing: 0,
        finished: 0,
        pending: 0,
        class_slots: [0; UNIT_CLASSES],
        cycle: 0,
        done_at: [0; ROB_SIZE],
        wheel: [0; WHEEL],
        lat: [0; ROB_SIZE],
        class: [0; ROB_SIZE],
        dep_mask: [0; ROB_SIZE],
    };
    let mut provider: [Option<u32>; 13] = [None; 13];
    let mut cur = 0usize;
    let mut dslots = DECODE_WIDTH;
    let mut free = UNITS;

    // The rules are applied in batches: within a cycle, decoding cannot
    // enable a start (it only adds decoded entries) and starting cannot
    // enable a decode (it changes neither the decode budget nor the number
    // of live entries), so "repeat the first rule that applies" means: decode
    // while possible, then start while possible, then finish or advance.
    loop {
        // 1. Decode.
        while cur < body.len() && rob.live() < ROB_SIZE {
            let ins = &body[cur];
            let (src, dst) = reg_sets(ins);
            let dec = decode_slots(ins, src, dst);
            if dec > dslots {
                break;
            }
            if ins.opcode == Opcode::MoveReg {
                provider[ins.rd as usize] = provider[ins.ra as usize];
            } else {
                let index = rob.tail;
                let s = slot(index);
                rob.lat[s] = latency(code, ins);
                let class = OPCODE_CLASS[ins.opcode as usize];
                rob.class[s] = class;
                rob.class_slots[class as usize] |= 1 << s;
                rob.dep_mask[s] = 0;
                for r in bits(u32::from(src)) {
                    if let Some(p) = provider[r]
                        && p >= rob.head
                    {
                        rob.dep_mask[s] |= 1 << slot(p);
                    }
                }
                for r in bits(u32::from(dst)) {
                    provider[r] = Some(index);
                }
                if rob.lat[s] > 0 {
                    rob.pending |= 1 << s;
                }
                rob.decoded |= 1 << s;
                rob.tail += 1;
            }
            dslots -= dec;
            cur = if ins.opcode.is_terminator() { body.len() } else { cur + 1 };
        }
        let done = cur >= body.len();

        // 2. Start.
        let mut starts = START_WIDTH;
        while starts > 0
            && let Some(s) = rob.startable(&free)
        {
            rob.start(s, &mut free);
            starts -= 1;
        }

        // 3. Finish.
        if done && rob.live() == 0 {
            return rob.cycle.saturating_sub(SLACK).max(1);
        }

        // 4. Next cycle, jumping over cycles that are certainly idle (only
        // when rule 2 was tried and found nothing to start).
        if starts > 0 && (done || rob.live() >= ROB_SIZE) {
            rob.cycle += rob.idle_cycles();
        }
        dslots = DECODE_WIDTH;
        rob.next_cycle(&mut free);
    }
}
/// A direct transcription of the spec's rules, one cycle at a time, kept to
/// check the fast simulation against.
#[cfg(test)]
pub(crate) mod reference {
    use super::*;

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
    pub(crate) fn block_cost(code: &[u8], body: &[Instruction]) -> u32 {
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
                return cycle.saturating_sub(SLACK).max(1);
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
    use crate::program::decode::decode_at;
    use crate::program::isa::Profile;

    /// The block starting at code offset 0 of `blob`: instructions through
    /// the first terminator.
    fn first_block(blob: &CodeBlob) -> Vec<Instruction> {
        let mut body = Vec::new();
        let mut pc = 0u32;
        loop {
            let ins = decode_at(blob, Profile::P8, pc);
            body.push(ins);
            if ins.opcode.is_terminator() {
                return body;
            }
            pc = ins.next_pc;
        }
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_simulation_equals_the_cycle_by_cycle_rules((ops, term, offset) in arb_block()) {
            let (code, body) = assemble(&ops, term, offset);
            prop_assert_eq!(block_cost(&code, &body), reference::block_cost(&code, &body));
        }
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
