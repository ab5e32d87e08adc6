//! Single steps: one instruction at a time on either engine (the
//! recompiler hands the step to the interpreter, over its own memory), and
//! tracing runs that record what every instruction did.

use super::{Backend, HostCalls, Instance};
use crate::interp::{self, Stepped};
use javm_cap::program::Opcode;
use javm_cap::vm::{Exit, GuestMemory, MemFault};

/// A guest memory access one instruction made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryAccess {
    /// Guest address of the first byte.
    pub address: u32,
    /// The bytes read, or written.
    pub bytes: Vec<u8>,
    /// A store (else a load).
    pub write: bool,
}

/// What one instruction did, as a tracing run records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// Its pc.
    pub pc: u32,
    /// The instruction (`trap` for a pc outside the instruction stream).
    pub opcode: Opcode,
    /// The register it wrote and the value written (none when it does not
    /// write one, or did not run: out of gas, or its access faulted).
    pub register: Option<(u8, u64)>,
    /// The memory it read or wrote (a faulting access is not listed; the
    /// exit names its address).
    pub memory: Vec<MemoryAccess>,
    /// Gas left after it.
    pub gas: i64,
    /// How the guest stopped at it, if it did.
    pub exit: Option<Exit>,
}

impl StepRecord {
    /// The record as one JSON object: `pc`, `op` (mnemonic), `gas`, and when
    /// present `reg` (`[index, value]`), `mem` (`[{addr, write, hex}]`) and
    /// `exit` (its status, with `host_id` or `page_fault_address`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut line = serde_json::json!({ "pc": self.pc, "op": self.opcode.mnemonic(), "gas": self.gas });
        if let Some((reg, value)) = self.register {
            line["reg"] = serde_json::json!([reg, value]);
        }
        if !self.memory.is_empty() {
            let accesses: Vec<_> = self
                .memory
                .iter()
                .map(|a| {
                    serde_json::json!({ "addr": a.address, "write": a.write, "hex": crate::harness::encode_hex(&a.bytes) })
                })
                .collect();
            line["mem"] = accesses.into();
        }
        if let Some(exit) = self.exit {
            line["exit"] = exit.status().into();
            match exit {
                Exit::Host(id) => line["host_id"] = id.into(),
                Exit::PageFault(address) => line["page_fault_address"] = address.into(),
                _ => {}
            }
        }
        line
    }
}

/// Guest memory that logs every access that succeeds.
struct Recording<'a, M> {
    inner: &'a mut M,
    log: &'a mut Vec<MemoryAccess>,
}

impl<M: GuestMemory> GuestMemory for Recording<'_, M> {
    fn read_bytes(&mut self, addr: u32, out: &mut [u8]) -> Result<(), MemFault> {
        self.inner.read_bytes(addr, out)?;
        self.log.push(MemoryAccess { address: addr, bytes: out.to_vec(), write: false });
        Ok(())
    }

    fn write_bytes(&mut self, addr: u32, data: &[u8]) -> Result<(), MemFault> {
        self.inner.write_bytes(addr, data)?;
        self.log.push(MemoryAccess { address: addr, bytes: data.to_vec(), write: true });
        Ok(())
    }

    fn load<const N: usize>(&mut self, addr: u32) -> Result<[u8; N], MemFault> {
        let bytes = self.inner.load::<N>(addr)?;
        self.log.push(MemoryAccess { address: addr, bytes: bytes.to_vec(), write: false });
        Ok(bytes)
    }

    fn store<const N: usize>(&mut self, addr: u32, bytes: [u8; N]) -> Result<(), MemFault> {
        self.inner.store::<N>(addr, bytes)?;
        self.log.push(MemoryAccess { address: addr, bytes: bytes.to_vec(), write: true });
        Ok(())
    }

    fn sbrk(&mut self, size: u64) -> u64 {
        self.inner.sbrk(size)
    }
}

impl Instance {
    /// Executes exactly one instruction, with the gas a run charges for it
    /// (under the block and pipeline models a block's cost is paid by the
    /// step that enters it). `None` when the guest goes on; otherwise the
    /// exit, as [`run`](Instance::run) would report it there — a host call
    /// included (the next step or run resumes after it).
    pub fn step(&mut self) -> Option<Exit> {
        self.step_logged(None).0.exit
    }

    /// As [`step`](Instance::step), recording what the instruction did.
    pub fn step_traced(&mut self) -> StepRecord {
        let mut memory = Vec::new();
        let (stepped, pc) = self.step_logged(Some(&mut memory));
        let program = self.module().program();
        let instruction = program.index_of(pc).map(|i| program.instruction(i));
        let register = match instruction.and_then(|i| i.written_register()) {
            Some(reg) if stepped.ran => Some((reg, self.state.regs[reg as usize])),
            _ => None,
        };
        StepRecord {
            pc,
            opcode: instruction.map_or(Opcode::Trap, |i| i.opcode),
            register,
            memory,
            gas: self.state.gas,
            exit: stepped.exit,
        }
    }

    /// Runs one step at a time, handing every host call to `host` as
    /// [`run_with`](Instance::run_with) does and every step's record to
    /// `on_step`, until an exit the host does not continue from.
    pub fn trace_with(&mut self, host: &mut impl HostCalls, mut on_step: impl FnMut(&StepRecord)) -> Exit {
        self.drive(host, |instance| {
            let record = instance.step_traced();
            on_step(&record);
            record.exit
        })
    }

    /// One step, logging its memory accesses into `log`; also returns the
    /// pc it ran at.
    fn step_logged(&mut self, log: Option<&mut Vec<MemoryAccess>>) -> (Stepped, u32) {
        if let Err(exit) = self.begin() {
            return (Stepped { exit: Some(exit), ran: false }, self.state.pc);
        }
        let pc = self.state.pc;
        let module = self.origin.module();
        let (program, code) = (module.program(), module.interp_code());
        let (state, file) = (&mut self.state, &mut self.registers);
        /// One step over `mem`, logged into `log` when there is one.
        fn one<M: GuestMemory>(
            program: &javm_cap::program::Program,
            code: &crate::interp::InterpCode,
            state: &mut javm_cap::vm::VmState,
            mem: &mut M,
            file: &mut crate::interp::RegisterFile,
            log: Option<&mut Vec<MemoryAccess>>,
        ) -> Stepped {
            match log {
                None => interp::step_one(program, code, state, mem, file),
                Some(log) => interp::step_one(program, code, state, &mut Recording { inner: mem, log }, file),
            }
        }
        let stepped = match &mut self.backend {
            Backend::Interp(space) => one(program, code, state, &mut space.cached(), file, log),
            Backend::Jit(jit) => one(program, code, state, &mut jit.memory(), file, log),
        };
        self.after_host = matches!(stepped.exit, Some(Exit::Host(_)));
        (stepped, pc)
    }
}
