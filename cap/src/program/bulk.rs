//! Copy and fill loops, run in bulk.
//!
//! A block that branches back to itself and only moves bytes is a
//! [`BulkLoop`]: per iteration it loads words at addresses that advance by
//! a constant stride and stores them at a constant distance (a copy), or
//! stores values that do not change (a fill), and its registers change by
//! constants. [`find`] recognises one by evaluating the block symbolically:
//! each register an affine form (a combination of the registers at the
//! iteration's start, plus a constant), each loaded word the load that
//! produced it.
//!
//! [`BulkLoop::run`] then does, as one host copy or fill, as many whole
//! iterations as the branch, the gas left and the guest's page permissions
//! allow, and leaves the registers and gas exactly as running them one at
//! a time would. It stops before any iteration that would leave the loop,
//! run out of gas or touch a page the guest may not, so the engine runs
//! that one itself, under its own exit rules.
//!
//! The recompiler uses this; the interpreter does not, so that the
//! differential tests hold each against the other.

use super::decoded::Program;
use super::isa::Opcode;
use crate::PAGE_SIZE;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

const REGS: usize = 13;
const PAGE: u64 = PAGE_SIZE as u64;
/// Blocks longer than this are not looked at.
const MAX_BODY: usize = 32;
/// An iteration moves at most a page.
const MAX_WIDTH: u64 = PAGE;
/// Loop counters that step by more than this are not followed.
const MAX_STEP: u64 = 1 << 20;
/// At most this many iterations at once.
const MAX_ITERATIONS: u64 = 1 << 32;
/// The trigger asks the host to run a loop when about this many bytes are
/// left to move (see [`Trigger`]).
const TRIGGER_BYTES: u64 = 2048;

/// Iterations left that make a trigger fire, if set (see
/// [`set_trigger_iterations`]); else [`TRIGGER_BYTES`] worth, at least 16.
static TRIGGER_ITERATIONS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// Iterations [`BulkLoop::run`] ran on this thread.
    static RAN: Cell<u64> = const { Cell::new(0) };
}

/// Makes triggers compiled from now on fire when `iterations` (at least 1)
/// are left, or with 0 at the default distance. For tests that want the
/// bulk path taken on short loops; any setting gives the same results.
pub fn set_trigger_iterations(iterations: u32) {
    TRIGGER_ITERATIONS.store(iterations, Ordering::Relaxed);
}

/// How many iterations [`BulkLoop::run`] has run on this thread.
pub fn iterations_run() -> u64 {
    RAN.with(Cell::get)
}

/// `Σ coef[r] · r + konst` over the registers at an iteration's start,
/// in wrapping 64-bit arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Form {
    coef: [u64; REGS],
    konst: u64,
    /// The registers with a coefficient other than 0, one bit each.
    mask: u16,
}

impl Form {
    fn reg(r: usize) -> Form {
        let mut coef = [0; REGS];
        coef[r] = 1;
        Form { coef, konst: 0, mask: 1 << r }
    }

    fn constant(konst: u64) -> Form {
        Form { coef: [0; REGS], konst, mask: 0 }
    }

    fn plus(self, k: u64) -> Form {
        Form { konst: self.konst.wrapping_add(k), ..self }
    }

    /// `self + sign · other` (`sign` is 1 or −1).
    fn combine(self, other: Form, sign: u64) -> Form {
        let mut out = self;
        out.mask = 0;
        for (r, (c, o)) in out.coef.iter_mut().zip(other.coef).enumerate() {
            *c = c.wrapping_add(o.wrapping_mul(sign));
            out.mask |= u16::from(*c != 0) << r;
        }
        out.konst = out.konst.wrapping_add(other.konst.wrapping_mul(sign));
        out
    }

    fn eval(&self, regs: &[u64; REGS]) -> u64 {
        let mut acc = self.konst;
        let mut mask = self.mask;
        while mask != 0 {
            let r = mask.trailing_zeros() as usize;
            acc = acc.wrapping_add(self.coef[r].wrapping_mul(regs[r]));
            mask &= mask - 1;
        }
        acc
    }

    /// How much the form changes from one iteration to the next.
    fn step(&self, delta: &[u64; REGS]) -> u64 {
        Form { konst: 0, ..*self }.eval(delta)
    }

    /// The registers the form reads, one bit each.
    fn reads(&self) -> u16 {
        self.mask
    }

    /// The register the form is, plus a constant, if it is one.
    fn single(&self) -> Option<(u8, u64)> {
        let r = self.mask.trailing_zeros() as usize;
        (self.mask.is_power_of_two() && self.coef[r] == 1).then_some((r as u8, self.konst))
    }
}

/// A register's value: an affine form, or what a load of the iteration
/// read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Form(Form),
    Loaded(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Load {
    len: u8,
    signed: bool,
    addr: Form,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Store {
    len: u8,
    addr: Form,
    value: Value,
}

/// `a op b`, the loop's branch condition after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    LtU,
    GeU,
    LtS,
    GeS,
}

impl Cmp {
    fn holds(self, a: u64, b: u64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::LtU => a < b,
            Cmp::GeU => a >= b,
            Cmp::LtS => (a as i64) < (b as i64),
            Cmp::GeS => (a as i64) >= (b as i64),
        }
    }

    fn signed(self) -> bool {
        matches!(self, Cmp::LtS | Cmp::GeS)
    }
}

/// What an iteration moves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Each store writes a loaded word back at a constant distance.
    Copy { src: Form },
    /// Each store writes a value that does not change: `(offset in the
    /// iteration's bytes, length, value)`.
    Fill { pieces: Vec<(u32, u8, Form)> },
}

/// Where the loop moves to, as a check at the block's start that the
/// recompiler emits: with `left` the counter's distance to the limit
/// (`counter − limit` counting `down`, else `limit − counter`), the host
/// is asked to run the loop when `threshold ≤ left < 2^31`. A heuristic
/// only: [`BulkLoop::run`] decides exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// The guest register the branch compares.
    pub counter: u8,
    /// What it is compared with.
    pub limit: Limit,
    /// Whether the counter decreases.
    pub down: bool,
    /// The distance worth a trip to the host.
    pub threshold: u32,
}

/// The other side of a [`Trigger`]'s comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A guest register that the loop does not change.
    Reg(u8),
    /// A constant.
    Imm(i32),
}

/// A copy or fill loop (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkLoop {
    kind: Kind,
    loads: Vec<Load>,
    /// Per register, what it changes by per iteration (0 for those whose
    /// value at an iteration's start no form reads).
    delta: [u64; REGS],
    /// Per register, its value after an iteration.
    finals: [Value; REGS],
    cond: (Cmp, Form, Form),
    /// The lowest address an iteration stores to.
    dst: Form,
    /// Bytes an iteration stores (a contiguous run).
    width: u64,
    /// Whether addresses grow from one iteration to the next.
    up: bool,
    trigger: Option<Trigger>,
}

/// Guest memory as [`BulkLoop::run`] needs it.
pub trait BulkMemory {
    /// Whether the guest may read (with `write`, write) `page`.
    fn allows(&self, page: u32, write: bool) -> bool;
    /// Reads readable bytes at `addr`.
    fn read(&mut self, addr: u32, out: &mut [u8]);
    /// `memmove` of `len` bytes from `src` (readable) to `dst` (writable).
    /// `false` when it cannot be done now; nothing has changed then.
    fn copy(&mut self, dst: u32, src: u32, len: u64) -> bool;
    /// Fills `len` writable bytes at `dst` with `pattern` repeated.
    /// `false` when it cannot be done now; nothing has changed then.
    fn fill(&mut self, dst: u32, len: u64, pattern: &[u8]) -> bool;
}

/// The branch `ins` as `(cmp, a, b)`: the loop goes on while `a cmp b`.
fn condition(ins: &super::Instruction, regs: &[Value; REGS]) -> Option<(Cmp, Form, Form)> {
    let form = |r: u8| match regs[r as usize] {
        Value::Form(f) => Some(f),
        Value::Loaded(_) => None,
    };
    let imm = Form::constant(ins.imm);
    let (a, b) = (form(ins.ra)?, form(ins.rb));
    Some(match ins.opcode {
        Opcode::BranchEq => (Cmp::Eq, a, b?),
        Opcode::BranchNe => (Cmp::Ne, a, b?),
        Opcode::BranchLtU => (Cmp::LtU, a, b?),
        Opcode::BranchGeU => (Cmp::GeU, a, b?),
        Opcode::BranchLtS => (Cmp::LtS, a, b?),
        Opcode::BranchGeS => (Cmp::GeS, a, b?),
        Opcode::BranchEqImm => (Cmp::Eq, a, imm),
        Opcode::BranchNeImm => (Cmp::Ne, a, imm),
        Opcode::BranchLtUImm => (Cmp::LtU, a, imm),
        Opcode::BranchGeUImm => (Cmp::GeU, a, imm),
        Opcode::BranchLtSImm => (Cmp::LtS, a, imm),
        Opcode::BranchGeSImm => (Cmp::GeS, a, imm),
        Opcode::BranchLeUImm => (Cmp::GeU, imm, a),
        Opcode::BranchGtUImm => (Cmp::LtU, imm, a),
        Opcode::BranchLeSImm => (Cmp::GeS, imm, a),
        Opcode::BranchGtSImm => (Cmp::LtS, imm, a),
        _ => return None,
    })
}

/// The copy or fill loop that the block starting at instruction `index`
/// is, if it is one.
pub fn find(program: &Program, index: u32) -> Option<BulkLoop> {
    if index as usize >= program.instruction_count() || !program.is_block_start(program.instruction(index).pc) {
        return None;
    }
    let end = program.run_end(index);
    let ins = program.instructions_in(index..end);
    let (last, body) = ins.split_last()?;
    if body.len() > MAX_BODY || !last.opcode.is_terminator() || program.static_target(last.target) != Some(index) {
        return None;
    }
    // Most loops do more than move bytes: a look at the opcodes first.
    let moves = |op: Opcode| {
        matches!(
            op,
            Opcode::Unlikely
                | Opcode::LoadImm
                | Opcode::LoadImm64
                | Opcode::MoveReg
                | Opcode::AddImm64
                | Opcode::Add64
                | Opcode::Sub64
        ) || op.indirect_load().is_some()
            || op.indirect_store().is_some()
    };
    if !body.iter().all(|i| moves(i.opcode)) || !body.iter().any(|i| i.opcode.indirect_store().is_some()) {
        return None;
    }
    let mut regs: [Value; REGS] = std::array::from_fn(|r| Value::Form(Form::reg(r)));
    let mut loads = Vec::new();
    let mut stores: Vec<Store> = Vec::new();
    for ins in body {
        let (a, b, d) = (usize::from(ins.ra), usize::from(ins.rb), usize::from(ins.rd));
        let form = |r: usize| match regs[r] {
            Value::Form(f) => Some(f),
            Value::Loaded(_) => None,
        };
        match ins.opcode {
            Opcode::Unlikely => {}
            Opcode::LoadImm | Opcode::LoadImm64 => regs[a] = Value::Form(Form::constant(ins.imm)),
            Opcode::MoveReg => regs[d] = regs[a],
            Opcode::AddImm64 => regs[a] = Value::Form(form(b)?.plus(ins.imm)),
            Opcode::Add64 => regs[d] = Value::Form(form(a)?.combine(form(b)?, 1)),
            Opcode::Sub64 => regs[d] = Value::Form(form(a)?.combine(form(b)?, u64::MAX)),
            op => {
                if let Some((len, signed)) = op.indirect_load() {
                    // Every load before every store: an iteration's loads
                    // then read what the iterations before it left.
                    if !stores.is_empty() {
                        return None;
                    }
                    let addr = form(b)?.plus(ins.imm);
                    regs[a] = Value::Loaded(loads.len());
                    loads.push(Load { len, signed, addr });
                } else if let Some((len, immediate)) = op.indirect_store() {
                    let store = if immediate {
                        Store { len, addr: form(a)?.plus(ins.imm), value: Value::Form(Form::constant(ins.imm2)) }
                    } else {
                        Store { len, addr: form(b)?.plus(ins.imm), value: regs[a] }
                    };
                    stores.push(store);
                } else {
                    return None;
                }
            }
        }
    }
    let cond = condition(last, &regs)?;

    // Registers whose value at an iteration's start anything reads must
    // change by a constant.
    let value_reads = |v: &Value| match v {
        Value::Form(f) => f.reads(),
        Value::Loaded(_) => 0,
    };
    let read =
        loads.iter().map(|l| l.addr.reads()).chain(stores.iter().map(|s| s.addr.reads() | value_reads(&s.value)));
    let read = read.chain(regs.iter().map(value_reads)).fold(cond.1.reads() | cond.2.reads(), |m, r| m | r);
    let mut delta = [0u64; REGS];
    for r in (0..REGS).filter(|&r| read & 1 << r != 0) {
        match regs[r] {
            Value::Form(f) if f.single().is_some_and(|(s, _)| usize::from(s) == r) => delta[r] = f.konst,
            _ => return None,
        }
    }

    // The stores tile one run of bytes, which moves by its length.
    let first = *stores.first()?;
    let stride = first.addr.step(&delta);
    let width = stride.wrapping_neg().min(stride);
    if width == 0 || width > MAX_WIDTH {
        return None;
    }
    let mut pieces = Vec::with_capacity(stores.len());
    for s in &stores {
        if s.addr.coef != first.addr.coef {
            return None;
        }
        let offset = s.addr.konst.wrapping_sub(first.addr.konst) as i64;
        if offset.unsigned_abs() >= MAX_WIDTH {
            return None;
        }
        pieces.push((offset, *s));
    }
    pieces.sort_by_key(|&(offset, _)| offset);
    let low = pieces[0].0;
    let mut next = low;
    for &(offset, s) in &pieces {
        if offset != next {
            return None;
        }
        next += i64::from(s.len);
    }
    if (next - low) as u64 != width {
        return None;
    }
    let dst = first.addr.plus(low as u64);
    let kind = if loads.is_empty() {
        let mut fill = Vec::with_capacity(pieces.len());
        for &(offset, s) in &pieces {
            match s.value {
                Value::Form(f) if f.step(&delta) == 0 => fill.push(((offset - low) as u32, s.len, f)),
                _ => return None,
            }
        }
        Kind::Fill { pieces: fill }
    } else {
        // Each store writes one load's word, of its length, at one distance.
        // One bit per load (at most `MAX_BODY`).
        let mut used = 0u64;
        let mut distance = None;
        for &(_, s) in &pieces {
            let Value::Loaded(id) = s.value else { return None };
            let load = loads[id];
            if used & 1 << id != 0 || load.len != s.len || load.addr.coef != loads[0].addr.coef {
                return None;
            }
            used |= 1 << id;
            let d = s.addr.konst.wrapping_sub(load.addr.konst);
            if *distance.get_or_insert(d) != d {
                return None;
            }
        }
        if used != (1 << loads.len()) - 1 || loads[0].addr.step(&delta) != stride {
            return None;
        }
        // The lowest store's load reads the lowest source bytes.
        let Value::Loaded(lowest) = pieces[0].1.value else { return None };
        Kind::Copy { src: loads[lowest].addr }
    };
    let up = (stride as i64) > 0;
    let trigger = trigger(cond, &delta, width);
    Some(BulkLoop { kind, loads, delta, finals: regs, cond, dst, width, up, trigger })
}

/// The cheap check at the block's start (see [`Trigger`]), when the branch
/// compares one register that moves with one that does not, or with a
/// constant.
fn trigger((cmp, a, b): (Cmp, Form, Form), delta: &[u64; REGS], width: u64) -> Option<Trigger> {
    if cmp == Cmp::Eq {
        // Goes on once at most.
        return None;
    }
    let (moving, fixed) = match (a.step(delta), b.step(delta)) {
        (0, 0) => return None,
        (_, 0) => (a, b),
        (0, _) => (b, a),
        _ => return None,
    };
    let (counter, _) = moving.single()?;
    let limit = match fixed.single() {
        Some((r, 0)) => Limit::Reg(r),
        Some(_) => return None,
        None => Limit::Imm(i32::try_from(fixed.konst as i64).ok()?),
    };
    let step = moving.step(delta);
    let down = (step as i64) < 0;
    let step = if down { step.wrapping_neg() } else { step };
    let iterations = match TRIGGER_ITERATIONS.load(Ordering::Relaxed) {
        0 => (TRIGGER_BYTES / width).max(16),
        n => u64::from(n),
    };
    let threshold = u32::try_from(iterations.checked_mul(step)?).ok().filter(|&t| t < 1 << 30)?;
    Some(Trigger { counter, limit, down, threshold })
}

impl BulkLoop {
    /// The check the recompiler emits at the loop's start, if the branch
    /// has a shape it can estimate.
    pub fn trigger(&self) -> Option<Trigger> {
        self.trigger
    }

    /// Runs whole iterations from the loop's start with registers `regs`
    /// and `gas` left, nothing charged yet for the first, each iteration
    /// costing `cost`: as many as the branch continues for, the gas pays
    /// and the pages allow, then stops at the start of the next iteration
    /// (not charged). Returns how many ran; with 0 nothing changed.
    pub fn run(&self, regs: &mut [u64; REGS], gas: &mut i64, cost: u32, mem: &mut impl BulkMemory) -> u64 {
        let v0 = *regs;
        let mut k = self.iterations(&v0);
        if cost > 0 {
            k = k.min(u64::try_from(*gas).unwrap_or(0) / u64::from(cost));
        }
        let dst0 = self.dst.eval(&v0) as u32;
        k = k.min(self.in_bounds(mem, dst0, k, true));
        let src0 = match &self.kind {
            Kind::Copy { src } => {
                let src0 = src.eval(&v0) as u32;
                k = k.min(self.in_bounds(mem, src0, k, false));
                // Later iterations must not read what earlier ones wrote
                // (then the loop is a `memmove`).
                let distance = i64::from(dst0) - i64::from(src0);
                let toward = if self.up { distance > 0 } else { distance < 0 };
                if toward {
                    k = k.min(distance.unsigned_abs() / self.width);
                }
                Some(src0)
            }
            Kind::Fill { .. } => None,
        };
        if k == 0 {
            return 0;
        }
        let last = self.after(&v0, k - 1);
        let loaded: Vec<u64> = self
            .loads
            .iter()
            .map(|l| {
                let mut bytes = [0u8; 8];
                mem.read(l.addr.eval(&last) as u32, &mut bytes[..usize::from(l.len)]);
                let value = u64::from_le_bytes(bytes);
                let shift = 64 - 8 * u32::from(l.len);
                if l.signed { ((value << shift) as i64 >> shift) as u64 } else { value }
            })
            .collect();
        let len = k * self.width;
        let low = |x0: u32| if self.up { x0 } else { (u64::from(x0) - (k - 1) * self.width) as u32 };
        let done = match (&self.kind, src0) {
            (Kind::Copy { .. }, Some(src0)) => mem.copy(low(dst0), low(src0), len),
            (Kind::Fill { pieces }, _) => {
                let mut pattern = vec![0u8; self.width as usize];
                for &(offset, n, value) in pieces {
                    let at = offset as usize;
                    let n = usize::from(n);
                    pattern[at..at + n].copy_from_slice(&value.eval(&v0).to_le_bytes()[..n]);
                }
                mem.fill(low(dst0), len, &pattern)
            }
            (Kind::Copy { .. }, None) => false,
        };
        if !done {
            return 0;
        }
        for (r, value) in regs.iter_mut().zip(&self.finals) {
            *r = match *value {
                Value::Form(f) => f.eval(&last),
                Value::Loaded(id) => loaded[id],
            };
        }
        *gas -= (k * u64::from(cost)) as i64;
        RAN.with(|ran| ran.set(ran.get() + k));
        k
    }

    /// The registers at the start of iteration `j`.
    fn after(&self, v0: &[u64; REGS], j: u64) -> [u64; REGS] {
        std::array::from_fn(|r| v0[r].wrapping_add(self.delta[r].wrapping_mul(j)))
    }

    /// How many iterations in a row, from the first, the branch continues
    /// after (at most [`MAX_ITERATIONS`]; fewer where it cannot tell).
    fn iterations(&self, v0: &[u64; REGS]) -> u64 {
        let (cmp, a, b) = self.cond;
        let (a0, da, b0, db) = (a.eval(v0), a.step(&self.delta), b.eval(v0), b.step(&self.delta));
        let (x0, dx, y, moving_left) = match (da, db) {
            (0, 0) => return if cmp.holds(a0, b0) { MAX_ITERATIONS } else { 0 },
            (_, 0) => (a0, da, b0, true),
            (0, _) => (b0, db, a0, false),
            _ => return 0,
        };
        let down = (dx as i64) < 0;
        let step = if down { dx.wrapping_neg() } else { dx };
        if step > MAX_STEP {
            return 0;
        }
        let holds = |j: u64| {
            let x = x0.wrapping_add(dx.wrapping_mul(j));
            if moving_left { cmp.holds(x, y) } else { cmp.holds(y, x) }
        };
        match cmp {
            // Not equal until the counter reaches the limit, which it does
            // at a multiple of its step or (with steps up to MAX_STEP)
            // only after more than MAX_ITERATIONS.
            Cmp::Ne => {
                let gap = if down { x0.wrapping_sub(y) } else { y.wrapping_sub(x0) };
                if gap % step == 0 { (gap / step).min(MAX_ITERATIONS) } else { MAX_ITERATIONS }
            }
            Cmp::Eq => 0,
            _ => {
                // Until the counter wraps (as the comparison sees numbers),
                // the comparison is monotone: true for a prefix.
                let origin = if cmp.signed() { x0 ^ (1 << 63) } else { x0 };
                let room = if down { origin } else { u64::MAX - origin };
                let span = (room / step).saturating_add(1).min(MAX_ITERATIONS);
                if !holds(0) {
                    return 0;
                }
                // The largest n ≤ span with iterations 0..n all continuing.
                let (mut lo, mut hi) = (1, span);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    if holds(mid - 1) { lo = mid } else { hi = mid - 1 }
                }
                lo
            }
        }
    }

    /// How many of the first `k` iterations' byte runs from `x0` stay below
    /// 2^32 and on pages the guest may access (to write, with `write`).
    fn in_bounds(&self, mem: &impl BulkMemory, x0: u32, k: u64, write: bool) -> u64 {
        let (x0, w) = (u64::from(x0), self.width);
        if k == 0 || x0 + w > 1 << 32 {
            return 0;
        }
        if self.up {
            let k = k.min(((1 << 32) - x0) / w);
            let end = x0 + k * w;
            for page in x0 / PAGE..end.div_ceil(PAGE) {
                if !mem.allows(page as u32, write) {
                    return (page * PAGE).saturating_sub(x0) / w;
                }
            }
            k
        } else {
            let k = k.min(x0 / w + 1);
            let low = x0 - (k - 1) * w;
            for page in (low / PAGE..=(x0 + w - 1) / PAGE).rev() {
                if !mem.allows(page as u32, write) {
                    let floor = (page + 1) * PAGE;
                    return if x0 < floor { 0 } else { (x0 - floor) / w + 1 };
                }
            }
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::asm::{Assembler, Operands, Target};
    use crate::program::{GasModel, Profile};

    /// A fall-through, then the loop `body` branching back with `branch`
    /// (its operands; the target is filled in), then a trap.
    fn program(body: &[(Opcode, Operands)], branch: (Opcode, Operands)) -> Program {
        let mut asm = Assembler::new(Profile::P8);
        let head = asm.label();
        asm.push(Opcode::Fallthrough, Operands::default());
        asm.bind(head);
        for &(op, o) in body {
            asm.push(op, o);
        }
        asm.push(branch.0, Operands { target: Target::Label(head), ..branch.1 });
        asm.push(Opcode::Trap, Operands::default());
        Program::new(asm.finish(), Profile::P8, GasModel::Block).unwrap()
    }

    fn ops(ra: u8, rb: u8, rd: u8, imm: u64) -> Operands {
        Operands { ra, rb, rd, imm, ..Operands::default() }
    }

    /// The guests' 32-byte memset loop: four stores of r12 at r10, r11
    /// counts the bytes down while 31 (r0) < r11.
    fn memset32() -> Program {
        let mut body: Vec<_> = (0..4).map(|i| (Opcode::StoreIndU64, ops(12, 10, 0, 8 * i))).collect();
        body.push((Opcode::AddImm64, ops(11, 11, 0, (-32i64) as u64)));
        body.push((Opcode::AddImm64, ops(10, 10, 0, 32)));
        program(&body, (Opcode::BranchLtU, ops(0, 11, 0, 0)))
    }

    /// Four writable pages, byte for byte.
    struct Flat {
        bytes: Vec<u8>,
        writable: u32,
    }

    impl BulkMemory for Flat {
        fn allows(&self, page: u32, _write: bool) -> bool {
            page < self.writable
        }
        fn read(&mut self, addr: u32, out: &mut [u8]) {
            out.copy_from_slice(&self.bytes[addr as usize..addr as usize + out.len()]);
        }
        fn copy(&mut self, dst: u32, src: u32, len: u64) -> bool {
            self.bytes.copy_within(src as usize..(src as u64 + len) as usize, dst as usize);
            true
        }
        fn fill(&mut self, dst: u32, len: u64, pattern: &[u8]) -> bool {
            for (i, b) in self.bytes[dst as usize..(dst as u64 + len) as usize].iter_mut().enumerate() {
                *b = pattern[i % pattern.len()];
            }
            true
        }
    }

    #[test]
    fn the_memset_loop_is_a_fill_that_counts_down() {
        let l = find(&memset32(), 1).expect("a fill");
        assert!(matches!(l.kind, Kind::Fill { ref pieces } if pieces.len() == 4));
        assert_eq!((l.width, l.up), (32, true));
        // 2048 bytes are 64 iterations, 64 × 32 of the counter.
        let trigger = Trigger { counter: 11, limit: Limit::Reg(0), down: true, threshold: 2048 };
        assert_eq!(l.trigger(), Some(trigger));
        assert_eq!(find(&memset32(), 0), None, "the block before is no loop");
    }

    #[test]
    fn a_fill_runs_the_iterations_after_which_the_loop_goes_on() {
        let l = find(&memset32(), 1).unwrap();
        let mut mem = Flat { bytes: vec![0; 4 * PAGE_SIZE], writable: 4 };
        let mut regs = [0u64; REGS];
        (regs[0], regs[10], regs[11], regs[12]) = (31, 8, 100, 0x1122_3344_5566_7788);
        let mut gas = 1000;
        // After iteration 0 r11 is 68, after 1 36, after 2 4: the loop
        // leaves after the third, so two run in bulk.
        assert_eq!(l.run(&mut regs, &mut gas, 7, &mut mem), 2);
        assert_eq!((regs[10], regs[11], gas), (8 + 64, 36, 1000 - 14));
        let word = 0x1122_3344_5566_7788u64.to_le_bytes();
        assert!(mem.bytes[8..72].chunks(8).all(|c| c == word));
        assert!(mem.bytes[..8].iter().chain(&mem.bytes[72..]).all(|&b| b == 0));

        // Gas for one iteration only; then none.
        (regs[10], regs[11], gas) = (8, 1000, 13);
        assert_eq!(l.run(&mut regs, &mut gas, 7, &mut mem), 1);
        assert_eq!((regs[10], regs[11], gas), (40, 968, 6));
        assert_eq!(l.run(&mut regs, &mut gas, 7, &mut mem), 0);
        assert_eq!((regs[10], regs[11], gas), (40, 968, 6), "nothing changed");

        // Pages: the run stops before the first iteration that reaches page 1.
        mem.writable = 1;
        (regs[10], regs[11], gas) = (4000, 1 << 20, 1 << 40);
        assert_eq!(l.run(&mut regs, &mut gas, 7, &mut mem), 3, "4000 + 3 × 32 = 4096");
        assert_eq!(regs[10], 4096);
    }

    #[test]
    fn the_memmove_loop_is_a_copy_downward() {
        // memmove's backward loop: r11 = [r8 + r9 − 8]; [r7 + r9 − 8] = r11;
        // r9 −= 8 while 7 (r10) < r9.
        let body = [
            (Opcode::Add64, ops(8, 9, 11, 0)),
            (Opcode::LoadIndU64, ops(11, 11, 0, (-8i64) as u64)),
            (Opcode::Add64, ops(7, 9, 12, 0)),
            (Opcode::AddImm64, ops(9, 9, 0, (-8i64) as u64)),
            (Opcode::StoreIndU64, ops(11, 12, 0, (-8i64) as u64)),
        ];
        let p = program(&body, (Opcode::BranchLtU, ops(10, 9, 0, 0)));
        let l = find(&p, 1).expect("a copy");
        assert_eq!((l.width, l.up), (8, false));
        let mut mem = Flat { bytes: (0..4 * PAGE_SIZE).map(|i| i as u8).collect(), writable: 4 };
        let original = mem.bytes.clone();
        let mut regs = [0u64; REGS];
        // Move 64 bytes at 100 up by 3 (overlapping, copied backwards).
        (regs[7], regs[8], regs[9], regs[10]) = (103, 100, 64, 7);
        let mut gas = 1 << 20;
        assert_eq!(l.run(&mut regs, &mut gas, 6, &mut mem), 7, "the eighth iteration ends the loop");
        // r9 at 8; r11 and r12 as the seventh iteration left them.
        assert_eq!(regs[9], 8);
        assert_eq!(regs[12], 103 + 16);
        assert_eq!(regs[11], u64::from_le_bytes(original[108..116].try_into().unwrap()));
        assert_eq!(mem.bytes[111..167], original[108..164]);
        assert_eq!(mem.bytes[100..111], original[100..111]);
    }

    #[test]
    fn loops_that_do_more_than_move_bytes_are_not_bulk_loops() {
        let store = |off: u64| (Opcode::StoreIndU64, ops(12, 10, 0, off));
        let step = (Opcode::AddImm64, ops(10, 10, 0, 16));
        let branch = (Opcode::BranchNe, ops(10, 11, 0, 0));
        assert!(find(&program(&[store(0), store(8), step], branch), 1).is_some());
        // Stores that overlap, or leave a gap, or miss the stride.
        assert_eq!(find(&program(&[store(0), store(4), step], branch), 1), None);
        assert_eq!(find(&program(&[store(0), store(16), step], branch), 1), None);
        assert_eq!(find(&program(&[store(0), step], branch), 1), None);
        // A load after a store.
        let load = (Opcode::LoadIndU64, ops(12, 10, 0, 8));
        assert_eq!(find(&program(&[store(0), load, store(8), step], branch), 1), None);
        // A pointer that moves by a register's value.
        let by_reg = (Opcode::Add64, ops(10, 3, 10, 0));
        assert_eq!(find(&program(&[store(0), store(8), by_reg], branch), 1), None);
        // A stored value that changes.
        let change = (Opcode::AddImm64, ops(12, 12, 0, 1));
        assert_eq!(find(&program(&[store(0), store(8), step, change], branch), 1), None);
        // Anything else in the block.
        let xor = (Opcode::Xor, ops(12, 12, 12, 0));
        assert_eq!(find(&program(&[store(0), store(8), step, xor], branch), 1), None);
    }
}
