//! The interpreter loop: one `match` over the pre-decoded ops, gas charged
//! by the rules of [`meter`] (spec §8): once per block on entry, or under
//! the `instruction` gas model a run pre-paid up to its terminator when the
//! gas covers it and instructions one at a time when it does not — the
//! per-instruction result of spec §8.3 at block speed.

use super::alu;
use super::code::{Dispatch, InterpCode, Op, op_of, with_fused_pairs};
use super::registers::RegisterFile;
use javm_cap::program::decoded::{DynamicTarget, NO_INDEX, resolve_dynamic};
use javm_cap::program::gas::meter::{self, OutOfGas};
use javm_cap::program::{GasModel, Opcode, Program};
use javm_cap::vm::{Exit, GuestMemory, MemFault, VmState};

/// Why [`run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The guest exited.
    Exit(Exit),
    /// `to_block_end` was set and a block boundary was reached; the state's
    /// pc is the next block's first instruction and nothing is charged for it.
    BlockEnd,
}

/// What one instruction did.
enum Flow {
    /// Continue with the next instruction in the same block.
    Next,
    /// Continue at this instruction index, which starts a new block.
    Jump(u32),
    /// Exit. `charged` says whether the instruction itself costs gas under
    /// the instruction model (memory exceptions do not, spec §9.2).
    Exit { exit: Exit, charged: bool },
}

/// Runs from `state.pc` until an exit (or, with `to_block_end`, the end of
/// the current block). `state` is updated as spec §9 reports it.
pub fn run<M: GuestMemory>(
    program: &Program,
    code: &InterpCode,
    state: &mut VmState,
    mem: &mut M,
    file: &mut RegisterFile,
    to_block_end: bool,
) -> Stop {
    let regs = file.slots();
    let Some(idx) = program.index_of(state.pc) else {
        return lone_trap(code.gas_model, || code.lone_trap_cost, state);
    };
    match (code.gas_model == GasModel::Instruction, to_block_end) {
        (true, false) => run_inner::<M, true, false>(program, code, state, mem, regs, idx),
        (true, true) => run_inner::<M, true, true>(program, code, state, mem, regs, idx),
        (false, false) => run_inner::<M, false, false>(program, code, state, mem, regs, idx),
        (false, true) => run_inner::<M, false, true>(program, code, state, mem, regs, idx),
    }
}

/// A pc outside the instruction stream (only reachable in P7): a `trap`
/// there, charged like a block of one trap.
fn lone_trap(gas_model: GasModel, cost: impl FnOnce() -> u32, state: &mut VmState) -> Stop {
    let paid = if gas_model == GasModel::Instruction {
        meter::pay_one(&mut state.gas)
    } else if !state.charged {
        meter::pay(&mut state.gas, cost())
    } else {
        Ok(())
    };
    Stop::Exit(if paid == Err(OutOfGas) { Exit::OutOfGas } else { Exit::Panic })
}

/// Element `idx` of one of `code`'s per-op tables (its entries, or the
/// program's run ends), without a bounds check.
///
/// # Safety
///
/// `idx` is an index the interpreter reaches (see [`InterpCode`]): the start
/// index, a jump target other than [`NO_INDEX`], or the successor of an op
/// that is not the last; `table` is one of the tables of that length.
#[inline(always)]
unsafe fn at<T>(table: &[T], idx: usize) -> &T {
    debug_assert!(idx < table.len(), "op {idx} of {}", table.len());
    // SAFETY: in bounds, by the caller's contract.
    unsafe { table.get_unchecked(idx) }
}

/// Enters op `idx` with nothing paid for it: under the instruction model
/// pre-pays its run (or the one instruction) and returns the index one past
/// what is paid, under the others pays the block and steps over the hints
/// at `idx`. Returns the op to run next and the paid end.
///
/// # Safety
///
/// As for [`at`].
#[inline(always)]
unsafe fn enter<const PER_INSTRUCTION: bool>(
    program: &Program,
    code: &InterpCode,
    run_ends: &[u32],
    gas: &mut i64,
    idx: usize,
) -> Result<(usize, usize), OutOfGas> {
    if PER_INSTRUCTION {
        // SAFETY: by the caller's contract; the entries and run ends are
        // one per op.
        unsafe { at(&code.entry, idx) }.open(code, program, idx as u32);
        // SAFETY: as above.
        let run_end = unsafe { *at(run_ends, idx) };
        meter::enter_run(gas, idx as u32, run_end).map(|end| (idx, end as usize))
    } else {
        // SAFETY: by the caller's contract.
        let entry = unsafe { at(&code.entry, idx) };
        meter::pay(gas, entry.charge(code, program, idx as u32)).map(|()| (idx + entry.skip() as usize, 0))
    }
}

/// The loop, for one gas model and one stopping rule. Blocks are charged on
/// the way into them (the jump's arm), so the loop carries no "charged"
/// state: after any exit but running out of gas the current block is paid.
#[inline(always)]
fn run_inner<M: GuestMemory, const PER_INSTRUCTION: bool, const TO_BLOCK_END: bool>(
    program: &Program,
    code: &InterpCode,
    state: &mut VmState,
    mem: &mut M,
    regs: &mut [u64; 256],
    start: u32,
) -> Stop {
    let jump_targets = &code.jump_targets[..];
    // What the instruction model pre-pays up to. (Reading its entry charge
    // from `code.entry` instead made keccak run about 2× slower under that
    // model.)
    let run_ends = program.run_ends();
    regs[..13].copy_from_slice(&state.regs);
    let mut gas = state.gas;
    // The op to run: every value it takes is one the interpreter reaches,
    // in a span built (see [`InterpCode`]), which the unchecked reads
    // below rely on.
    let mut idx = start as usize;
    code.prepare(program, start);
    // Instruction model: ops below this index are paid for.
    let mut paid_end = 0usize;

    /// Enters op `idx` (nothing paid for it yet), or stops the run out of
    /// gas.
    macro_rules! enter_or_stop {
        ($run:lifetime) => {
            // SAFETY: `idx` is reached (see its declaration).
            match unsafe { enter::<PER_INSTRUCTION>(program, code, run_ends, &mut gas, idx) } {
                Ok((next, end)) => {
                    idx = next;
                    paid_end = end;
                }
                Err(OutOfGas) => break $run Stop::Exit(Exit::OutOfGas),
            }
        };
    }

    let stop = 'run: {
        if PER_INSTRUCTION || !state.charged {
            enter_or_stop!('run);
        }
        loop {
            // SAFETY: `idx` is reached (see its declaration).
            let op = unsafe { code.op_unchecked(idx) };
            /// The dispatch: one arm per instruction through `step`, and one
            /// per fused pair running both halves (the second reports its
            /// own index if it exits).
            macro_rules! dispatch {
                ($($opcode:ident,)* ; $($pair:ident = $first:ident + $second:ident,)*) => {
                    match op.dispatch {
                        $(Dispatch::$opcode => step(Opcode::$opcode, op, regs, mem, jump_targets, idx as u32),)*
                        $(Dispatch::$pair => match step(Opcode::$first, op, regs, mem, jump_targets, idx as u32) {
                            Flow::Next => {
                                idx += 1;
                                // SAFETY: the successor of a pair's first
                                // op, which is not a terminator, so not the
                                // last op.
                                let second = unsafe { code.op_unchecked(idx) };
                                step(Opcode::$second, second, regs, mem, jump_targets, idx as u32)
                            }
                            flow => flow,
                        },)*
                    }
                };
            }
            let flow = javm_cap::with_opcodes!(with_fused_pairs dispatch);
            match flow {
                Flow::Next => {
                    idx += 1;
                    if PER_INSTRUCTION && idx >= paid_end {
                        enter_or_stop!('run);
                    }
                }
                Flow::Jump(target) => {
                    idx = target as usize;
                    if TO_BLOCK_END {
                        break 'run Stop::BlockEnd;
                    }
                    enter_or_stop!('run);
                }
                Flow::Exit { exit, charged: self_charged } => {
                    if PER_INSTRUCTION {
                        meter::refund(&mut gas, idx as u32, paid_end as u32, self_charged);
                    }
                    break 'run Stop::Exit(exit);
                }
            }
        }
    };
    state.regs.copy_from_slice(&regs[..13]);
    state.pc = program.instruction(idx as u32).pc;
    state.gas = gas;
    // What is left paid for: the block of an exit, unless the exit is that
    // it could not be paid.
    state.charged = !PER_INSTRUCTION && matches!(stop, Stop::Exit(exit) if exit != Exit::OutOfGas);
    stop
}

/// What [`step_one`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stepped {
    /// `None` when the guest goes on (`state.pc` is then the next
    /// instruction); otherwise the exit, reported as [`run`] reports it.
    pub exit: Option<Exit>,
    /// Whether the instruction ran (and so wrote its destination register,
    /// if it has one): false when it could not be paid for or its memory
    /// access faulted.
    pub ran: bool,
}

/// Executes exactly the one instruction at `state.pc`, charging what a run
/// charges on its way through it: under the block and pipeline models the
/// block's cost when it is entered with nothing paid, under the instruction
/// model one unit.
pub fn step_one<M: GuestMemory>(
    program: &Program,
    code: &InterpCode,
    state: &mut VmState,
    mem: &mut M,
    file: &mut RegisterFile,
) -> Stepped {
    let Some(idx) = program.index_of(state.pc) else {
        return lone_trap_step(lone_trap(code.gas_model, || code.lone_trap_cost, state));
    };
    let op = code.op(program, idx);
    step_at(
        program,
        idx,
        op,
        || code.entry[idx as usize].charge(code, program, idx),
        &code.jump_targets,
        state,
        mem,
        file,
    )
}

/// [`step_one`] for a program the interpreter has no [`InterpCode`] of
/// (the recompiler's, handing it one block): the op is made from the
/// instruction, and the charge read from the program.
pub fn step_decoded<M: GuestMemory>(
    program: &Program,
    state: &mut VmState,
    mem: &mut M,
    file: &mut RegisterFile,
) -> Stepped {
    let Some(idx) = program.index_of(state.pc) else {
        return lone_trap_step(lone_trap(program.gas_model(), || program.lone_trap_cost(), state));
    };
    let op = op_of(program, program.instruction(idx));
    step_at(program, idx, &op, || program.entry_charge(idx), program.jump_targets(), state, mem, file)
}

/// [`step_one`]'s report of a [`lone_trap`].
fn lone_trap_step(stop: Stop) -> Stepped {
    let Stop::Exit(exit) = stop else { unreachable!("a lone trap exits") };
    Stepped { exit: Some(exit), ran: exit != Exit::OutOfGas }
}

/// [`step_one`] of instruction `idx`, run as `op`, its block charged
/// `charge()` when entered with nothing paid.
#[allow(clippy::too_many_arguments)]
fn step_at<M: GuestMemory>(
    program: &Program,
    idx: u32,
    op: &Op,
    charge: impl FnOnce() -> u32,
    jump_targets: &[u32],
    state: &mut VmState,
    mem: &mut M,
    file: &mut RegisterFile,
) -> Stepped {
    let per_instruction = program.gas_model() == GasModel::Instruction;
    let mut gas = state.gas;
    let paid = if per_instruction {
        meter::pay_one(&mut gas)
    } else if !state.charged {
        meter::pay(&mut gas, charge())
    } else {
        Ok(())
    };
    if paid == Err(OutOfGas) {
        state.gas = gas;
        state.charged = false;
        return Stepped { exit: Some(Exit::OutOfGas), ran: false };
    }
    let regs = file.slots();
    regs[..13].copy_from_slice(&state.regs);
    // The instruction alone, never as half of a fused pair.
    let opcode = program.instruction(idx).opcode;
    let (next, charged, stepped) = match step(opcode, op, regs, mem, jump_targets, idx) {
        Flow::Next => (idx + 1, !per_instruction, Stepped { exit: None, ran: true }),
        Flow::Jump(target) => (target, false, Stepped { exit: None, ran: true }),
        Flow::Exit { exit, charged: ran } => {
            if per_instruction && !ran {
                gas += 1;
            }
            (idx, !per_instruction, Stepped { exit: Some(exit), ran })
        }
    };
    state.regs.copy_from_slice(&regs[..13]);
    state.pc = program.instruction(next).pc;
    state.gas = gas;
    state.charged = charged;
    stepped
}

#[inline(always)]
fn mem_exit(fault: MemFault) -> Flow {
    Flow::Exit { exit: fault.exit(), charged: false }
}

#[inline(always)]
fn jump(target: u32) -> Flow {
    if target == NO_INDEX { Flow::Exit { exit: Exit::Panic, charged: true } } else { Flow::Jump(target) }
}

#[inline(always)]
fn branch(cond: bool, target: u32, idx: u32) -> Flow {
    if cond { jump(target) } else { Flow::Jump(idx + 1) }
}

#[inline(always)]
fn dynamic(jump_targets: &[u32], address: u64) -> Flow {
    match resolve_dynamic(jump_targets, address as u32) {
        DynamicTarget::Halt => Flow::Exit { exit: Exit::Halt, charged: true },
        DynamicTarget::Panic => Flow::Exit { exit: Exit::Panic, charged: true },
        DynamicTarget::Jump(i) => Flow::Jump(i),
    }
}

/// Executes `opcode` with `op`'s operands.
#[inline(always)]
fn step<M: GuestMemory>(
    opcode: Opcode,
    op: &Op,
    regs: &mut [u64; 256],
    mem: &mut M,
    jump_targets: &[u32],
    idx: u32,
) -> Flow {
    let (a, b, d) = (op.a as usize, op.b as usize, op.d as usize);
    let (x, y) = (op.imm, op.imm2());

    macro_rules! load {
        ($addr:expr, $n:literal, $conv:expr) => {{
            match mem.load::<$n>($addr as u32) {
                Ok(bytes) => {
                    regs[a] = $conv(bytes);
                    Flow::Next
                }
                Err(fault) => mem_exit(fault),
            }
        }};
    }
    macro_rules! store {
        ($addr:expr, $n:literal, $value:expr) => {{
            let value: u64 = $value;
            let mut bytes = [0u8; $n];
            bytes.copy_from_slice(&value.to_le_bytes()[..$n]);
            match mem.store::<$n>($addr as u32, bytes) {
                Ok(()) => Flow::Next,
                Err(fault) => mem_exit(fault),
            }
        }};
    }
    macro_rules! set {
        ($reg:expr, $value:expr) => {{
            regs[$reg] = $value;
            Flow::Next
        }};
    }

    let u8v = |b: [u8; 1]| u64::from(b[0]);
    let i8v = |b: [u8; 1]| b[0] as i8 as i64 as u64;
    let u16v = |b: [u8; 2]| u64::from(u16::from_le_bytes(b));
    let i16v = |b: [u8; 2]| i16::from_le_bytes(b) as i64 as u64;
    let u32v = |b: [u8; 4]| u64::from(u32::from_le_bytes(b));
    let i32v = |b: [u8; 4]| i32::from_le_bytes(b) as i64 as u64;
    let u64v = u64::from_le_bytes;

    match opcode {
        Opcode::Trap => Flow::Exit { exit: Exit::Panic, charged: true },
        Opcode::Fallthrough => Flow::Jump(idx + 1),
        Opcode::Unlikely => Flow::Next,
        Opcode::Ecalli => Flow::Exit { exit: Exit::Host(x as u32), charged: true },
        Opcode::LoadImm64 | Opcode::LoadImm => set!(a, x),

        Opcode::StoreImmU8 => store!(x, 1, y),
        Opcode::StoreImmU16 => store!(x, 2, y),
        Opcode::StoreImmU32 => store!(x, 4, y),
        Opcode::StoreImmU64 => store!(x, 8, y),

        Opcode::Jump => jump(op.aux),
        Opcode::JumpInd => dynamic(jump_targets, regs[a].wrapping_add(x)),
        Opcode::LoadU8 => load!(x, 1, u8v),
        Opcode::LoadI8 => load!(x, 1, i8v),
        Opcode::LoadU16 => load!(x, 2, u16v),
        Opcode::LoadI16 => load!(x, 2, i16v),
        Opcode::LoadU32 => load!(x, 4, u32v),
        Opcode::LoadI32 => load!(x, 4, i32v),
        Opcode::LoadU64 => load!(x, 8, u64v),
        Opcode::StoreU8 => store!(x, 1, regs[a]),
        Opcode::StoreU16 => store!(x, 2, regs[a]),
        Opcode::StoreU32 => store!(x, 4, regs[a]),
        Opcode::StoreU64 => store!(x, 8, regs[a]),

        Opcode::StoreImmIndU8 => store!(regs[a].wrapping_add(x), 1, y),
        Opcode::StoreImmIndU16 => store!(regs[a].wrapping_add(x), 2, y),
        Opcode::StoreImmIndU32 => store!(regs[a].wrapping_add(x), 4, y),
        Opcode::StoreImmIndU64 => store!(regs[a].wrapping_add(x), 8, y),

        Opcode::LoadImmJump => {
            regs[a] = x;
            jump(op.aux)
        }
        Opcode::BranchEqImm => branch(regs[a] == x, op.aux, idx),
        Opcode::BranchNeImm => branch(regs[a] != x, op.aux, idx),
        Opcode::BranchLtUImm => branch(regs[a] < x, op.aux, idx),
        Opcode::BranchLeUImm => branch(regs[a] <= x, op.aux, idx),
        Opcode::BranchGeUImm => branch(regs[a] >= x, op.aux, idx),
        Opcode::BranchGtUImm => branch(regs[a] > x, op.aux, idx),
        Opcode::BranchLtSImm => branch((regs[a] as i64) < (x as i64), op.aux, idx),
        Opcode::BranchLeSImm => branch((regs[a] as i64) <= (x as i64), op.aux, idx),
        Opcode::BranchGeSImm => branch((regs[a] as i64) >= (x as i64), op.aux, idx),
        Opcode::BranchGtSImm => branch((regs[a] as i64) > (x as i64), op.aux, idx),

        Opcode::MoveReg => set!(d, regs[a]),
        Opcode::Sbrk => {
            let size = regs[a];
            set!(d, mem.sbrk(size))
        }
        Opcode::CountSetBits64 => set!(d, u64::from(regs[a].count_ones())),
        Opcode::CountSetBits32 => set!(d, u64::from((regs[a] as u32).count_ones())),
        Opcode::LeadingZeroBits64 => set!(d, u64::from(regs[a].leading_zeros())),
        Opcode::LeadingZeroBits32 => set!(d, u64::from((regs[a] as u32).leading_zeros())),
        Opcode::TrailingZeroBits64 => set!(d, u64::from(regs[a].trailing_zeros())),
        Opcode::TrailingZeroBits32 => set!(d, u64::from((regs[a] as u32).trailing_zeros())),
        Opcode::SignExtend8 => set!(d, regs[a] as i8 as i64 as u64),
        Opcode::SignExtend16 => set!(d, regs[a] as i16 as i64 as u64),
        Opcode::ZeroExtend16 => set!(d, u64::from(regs[a] as u16)),
        Opcode::ReverseBytes => set!(d, regs[a].swap_bytes()),

        Opcode::StoreIndU8 => store!(regs[b].wrapping_add(x), 1, regs[a]),
        Opcode::StoreIndU16 => store!(regs[b].wrapping_add(x), 2, regs[a]),
        Opcode::StoreIndU32 => store!(regs[b].wrapping_add(x), 4, regs[a]),
        Opcode::StoreIndU64 => store!(regs[b].wrapping_add(x), 8, regs[a]),
        Opcode::LoadIndU8 => load!(regs[b].wrapping_add(x), 1, u8v),
        Opcode::LoadIndI8 => load!(regs[b].wrapping_add(x), 1, i8v),
        Opcode::LoadIndU16 => load!(regs[b].wrapping_add(x), 2, u16v),
        Opcode::LoadIndI16 => load!(regs[b].wrapping_add(x), 2, i16v),
        Opcode::LoadIndU32 => load!(regs[b].wrapping_add(x), 4, u32v),
        Opcode::LoadIndI32 => load!(regs[b].wrapping_add(x), 4, i32v),
        Opcode::LoadIndU64 => load!(regs[b].wrapping_add(x), 8, u64v),
        Opcode::AddImm32 => set!(a, alu::sx32(regs[b].wrapping_add(x))),
        Opcode::AndImm => set!(a, regs[b] & x),
        Opcode::XorImm => set!(a, regs[b] ^ x),
        Opcode::OrImm => set!(a, regs[b] | x),
        Opcode::MulImm32 => set!(a, alu::sx32(regs[b].wrapping_mul(x))),
        Opcode::SetLtUImm => set!(a, u64::from(regs[b] < x)),
        Opcode::SetLtSImm => set!(a, alu::lt_s(regs[b], x)),
        Opcode::ShloLImm32 => set!(a, alu::shl_32(regs[b], x)),
        Opcode::ShloRImm32 => set!(a, alu::shr_32(regs[b], x)),
        Opcode::SharRImm32 => set!(a, alu::sar_32(regs[b], x)),
        Opcode::NegAddImm32 => set!(a, alu::sx32(x.wrapping_sub(regs[b]))),
        Opcode::SetGtUImm => set!(a, u64::from(regs[b] > x)),
        Opcode::SetGtSImm => set!(a, alu::lt_s(x, regs[b])),
        Opcode::ShloLImmAlt32 => set!(a, alu::shl_32(x, regs[b])),
        Opcode::ShloRImmAlt32 => set!(a, alu::shr_32(x, regs[b])),
        Opcode::SharRImmAlt32 => set!(a, alu::sar_32(x, regs[b])),
        Opcode::CmovIzImm => set!(a, if regs[b] == 0 { x } else { regs[a] }),
        Opcode::CmovNzImm => set!(a, if regs[b] != 0 { x } else { regs[a] }),
        Opcode::AddImm64 => set!(a, regs[b].wrapping_add(x)),
        Opcode::MulImm64 => set!(a, regs[b].wrapping_mul(x)),
        Opcode::ShloLImm64 => set!(a, alu::shl_64(regs[b], x)),
        Opcode::ShloRImm64 => set!(a, alu::shr_64(regs[b], x)),
        Opcode::SharRImm64 => set!(a, alu::sar_64(regs[b], x)),
        Opcode::NegAddImm64 => set!(a, x.wrapping_sub(regs[b])),
        Opcode::ShloLImmAlt64 => set!(a, alu::shl_64(x, regs[b])),
        Opcode::ShloRImmAlt64 => set!(a, alu::shr_64(x, regs[b])),
        Opcode::SharRImmAlt64 => set!(a, alu::sar_64(x, regs[b])),
        Opcode::RotR64Imm => set!(a, regs[b].rotate_right((x & 63) as u32)),
        Opcode::RotR64ImmAlt => set!(a, x.rotate_right((regs[b] & 63) as u32)),
        Opcode::RotR32Imm => set!(a, alu::rotr_32(regs[b], x)),
        Opcode::RotR32ImmAlt => set!(a, alu::rotr_32(x, regs[b])),

        Opcode::BranchEq => branch(regs[a] == regs[b], op.aux, idx),
        Opcode::BranchNe => branch(regs[a] != regs[b], op.aux, idx),
        Opcode::BranchLtU => branch(regs[a] < regs[b], op.aux, idx),
        Opcode::BranchLtS => branch((regs[a] as i64) < (regs[b] as i64), op.aux, idx),
        Opcode::BranchGeU => branch(regs[a] >= regs[b], op.aux, idx),
        Opcode::BranchGeS => branch((regs[a] as i64) >= (regs[b] as i64), op.aux, idx),

        Opcode::LoadImmJumpInd => {
            let address = regs[b].wrapping_add(y);
            regs[a] = x;
            dynamic(jump_targets, address)
        }

        Opcode::Add32 => set!(d, alu::sx32(regs[a].wrapping_add(regs[b]))),
        Opcode::Sub32 => set!(d, alu::sx32(regs[a].wrapping_sub(regs[b]))),
        Opcode::Mul32 => set!(d, alu::sx32(regs[a].wrapping_mul(regs[b]))),
        Opcode::DivU32 => set!(d, alu::div_u_32(regs[a], regs[b])),
        Opcode::DivS32 => set!(d, alu::div_s_32(regs[a], regs[b])),
        Opcode::RemU32 => set!(d, alu::rem_u_32(regs[a], regs[b])),
        Opcode::RemS32 => set!(d, alu::rem_s_32(regs[a], regs[b])),
        Opcode::ShloL32 => set!(d, alu::shl_32(regs[a], regs[b])),
        Opcode::ShloR32 => set!(d, alu::shr_32(regs[a], regs[b])),
        Opcode::SharR32 => set!(d, alu::sar_32(regs[a], regs[b])),
        Opcode::Add64 => set!(d, regs[a].wrapping_add(regs[b])),
        Opcode::Sub64 => set!(d, regs[a].wrapping_sub(regs[b])),
        Opcode::Mul64 => set!(d, regs[a].wrapping_mul(regs[b])),
        Opcode::DivU64 => set!(d, alu::div_u_64(regs[a], regs[b])),
        Opcode::DivS64 => set!(d, alu::div_s_64(regs[a], regs[b])),
        Opcode::RemU64 => set!(d, alu::rem_u_64(regs[a], regs[b])),
        Opcode::RemS64 => set!(d, alu::rem_s_64(regs[a], regs[b])),
        Opcode::ShloL64 => set!(d, alu::shl_64(regs[a], regs[b])),
        Opcode::ShloR64 => set!(d, alu::shr_64(regs[a], regs[b])),
        Opcode::SharR64 => set!(d, alu::sar_64(regs[a], regs[b])),
        Opcode::And => set!(d, regs[a] & regs[b]),
        Opcode::Xor => set!(d, regs[a] ^ regs[b]),
        Opcode::Or => set!(d, regs[a] | regs[b]),
        Opcode::MulUpperSS => set!(d, alu::mul_upper_s_s(regs[a], regs[b])),
        Opcode::MulUpperUU => set!(d, alu::mul_upper_u_u(regs[a], regs[b])),
        Opcode::MulUpperSU => set!(d, alu::mul_upper_s_u(regs[a], regs[b])),
        Opcode::SetLtU => set!(d, u64::from(regs[a] < regs[b])),
        Opcode::SetLtS => set!(d, alu::lt_s(regs[a], regs[b])),
        Opcode::CmovIz => set!(d, if regs[b] == 0 { regs[a] } else { regs[d] }),
        Opcode::CmovNz => set!(d, if regs[b] != 0 { regs[a] } else { regs[d] }),
        Opcode::RotL64 => set!(d, regs[a].rotate_left((regs[b] & 63) as u32)),
        Opcode::RotL32 => set!(d, alu::rotl_32(regs[a], regs[b])),
        Opcode::RotR64 => set!(d, regs[a].rotate_right((regs[b] & 63) as u32)),
        Opcode::RotR32 => set!(d, alu::rotr_32(regs[a], regs[b])),
        Opcode::AndInv => set!(d, regs[a] & !regs[b]),
        Opcode::OrInv => set!(d, regs[a] | !regs[b]),
        Opcode::Xnor => set!(d, !(regs[a] ^ regs[b])),
        Opcode::Max => set!(d, (regs[a] as i64).max(regs[b] as i64) as u64),
        Opcode::MaxU => set!(d, regs[a].max(regs[b])),
        Opcode::Min => set!(d, (regs[a] as i64).min(regs[b] as i64) as u64),
        Opcode::MinU => set!(d, regs[a].min(regs[b])),
    }
}
