//! Compilation on first entry: a lazy module starts with only its shared
//! code, and each region (a run of whole segments,
//! [`CompileOptions::region`](crate::CompileOptions::region) instructions
//! or more) is compiled the first time execution reaches it.
//!
//! How execution reaches code that is not compiled yet:
//! - a run starts at an instruction not compiled: the run loop compiles
//!   its region before entering;
//! - a static jump, branch or fall-through out of a region goes straight
//!   to the target's gas prologue when the target is compiled already,
//!   else through a thunk, which jumps there once it is compiled and
//!   until then exits with a `Compile` site; the run loop compiles the
//!   target, patches every thunk waiting for it and continues at its
//!   prologue, so the target's gas is charged exactly once, there;
//! - a dynamic jump through a table entry not filled yet reaches the
//!   shared compile stub; the run loop compiles the target, fills the entry
//!   in and continues at the prologue.
//!
//! Each of these continues in native code, so a run's exits, pc, gas,
//! registers and memory are those of a module compiled in one piece. If a
//! region cannot be compiled (the module's code block is full), the run
//! hands that block to the interpreter instead, which is exact too.

use crate::codegen::{self, Placement, starts_segment};
use crate::error::CompileError;
use crate::module::CompiledModule;
use std::sync::atomic::Ordering;

impl CompiledModule {
    /// Compiles the region holding instruction `index`, unless it is
    /// compiled already. Safe to call from any thread.
    pub(crate) fn ensure_compiled(&self, index: u32) -> Result<(), CompileError> {
        if self.map.is_compiled(index) {
            return Ok(());
        }
        let mut lazy = self.lazy();
        if self.map.is_compiled(index) {
            return Ok(());
        }
        if lazy.failed || self.map.is_full() {
            return Err(CompileError::TooLarge("the module's code block is full".into()));
        }
        let span = self.region_around(index);
        let place = Placement {
            base: lazy.used,
            exit: self.shared.exit,
            compiled: &|t| self.map.prologue(t),
            dynamic_targets: &self.dynamic_targets,
        };
        let code = self.code_memory();
        let stored = self.context.with_scratch(|scratch| {
            codegen::compile_region(scratch, self.program(), self.features(), span, &place, |bytes| {
                let end = place.base as usize + bytes.len();
                if end > code.capacity() {
                    return Err(CompileError::TooLarge(format!("{end} bytes of code, over the module's block")));
                }
                // SAFETY: past `used`, nothing of the block is published: no
                // code runs there and no one else writes it (we hold the lock).
                unsafe { code.write(place.base as usize, bytes) };
                Ok(())
            })
        });
        let region = match stored {
            Ok((region, ())) => region,
            Err(e) => {
                lazy.failed = true;
                return Err(e);
            }
        };
        self.map.publish(&region.tables);
        lazy.used = place.base + region.len;
        // Thunks waiting for a segment of this region now jump there.
        let (first, end) = span;
        for t in first..end {
            if let Some(prologue) = self.map.prologue(t)
                && let Some(sites) = lazy.pending.remove(&t)
            {
                for at in sites {
                    code.patch(at as usize, prologue.wrapping_sub(at + 4));
                }
            }
        }
        for patch in region.patches {
            lazy.pending.entry(patch.target).or_default().push(patch.at);
        }
        Ok(())
    }

    /// Compiles the target of jump-table entry `slot` and fills the entry
    /// in; returns the target's instruction index.
    pub(crate) fn ensure_jump_target(&self, slot: usize) -> Result<u32, CompileError> {
        let target = self.program().jump_targets()[slot];
        self.ensure_compiled(target)?;
        self.jump_table[slot].store(self.prologue_addr(target), Ordering::Release);
        Ok(target)
    }

    /// The region to compile for instruction `index`: from the start of
    /// its segment, whole segments up to the module's region size, then on
    /// while the next segment branches back into the region (a loop that
    /// would otherwise jump between regions on every lap), up to four
    /// times that size; never past a compiled segment or the end.
    fn region_around(&self, index: u32) -> (u32, u32) {
        let program = self.program();
        let n = program.instruction_count() as u32;
        let mut first = index;
        while !starts_segment(program, first) {
            first -= 1;
        }
        let mut end = program.run_end(first);
        let grows = |end: u32| end < n && !self.map.is_compiled(end);
        while grows(end) && end - first < self.region {
            end = program.run_end(end);
        }
        let limit = self.region.saturating_mul(4);
        while grows(end) && end - first < limit {
            let next = program.run_end(end);
            let closes_a_loop = program
                .instructions_in(end..next)
                .iter()
                .filter(|ins| codegen::has_static_target(ins.opcode))
                .any(|ins| program.static_target(ins.target).is_some_and(|t| (first..end).contains(&t)));
            if !closes_a_loop {
                break;
            }
            end = next;
        }
        (first, end)
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu::Features;
    use crate::{CompileContext, CompiledModule, JitExit, JitInstance};
    use javm_cap::program::asm::{Assembler, Operands, Target};
    use javm_cap::program::{GasModel, Opcode, Profile, Program};
    use javm_cap::space::AddressSpace;
    use javm_cap::vm::{Exit, VmState};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    fn op(ra: u8, imm: u64, target: Target) -> Operands {
        Operands { ra, rb: ra, imm, target, ..Operands::default() }
    }

    /// ```text
    /// 0  A: load_imm r1, 3; jump C
    /// 1  B: (never run) 40 × add_imm_64 r2, r2, 1; trap
    /// 2  C: add_imm_64 r1, r1, -1; jump D
    /// 3  D: branch_ne_imm r1, 0, C      (back to C: 3 laps)
    /// 4     load_imm r0, <entry 1>; jump_ind r0, 0   (to F, through the table)
    /// 5  E: (never run) trap
    /// 6  F: ecalli 9
    /// ```
    /// Block gas: A 2, C 2, D 1, the dynamic jump's 2, F 2 (the `ecalli`
    /// and the `trap` after it).
    fn program() -> Arc<Program> {
        let mut asm = Assembler::new(Profile::P8);
        let [c, d, e, f] = [asm.label(), asm.label(), asm.label(), asm.label()];
        asm.push(Opcode::LoadImm, op(1, 3, Target::Offset(0)));
        asm.push(Opcode::Jump, op(0, 0, Target::Label(c)));
        for _ in 0..40 {
            asm.push(Opcode::AddImm64, Operands { ra: 2, rb: 2, imm: 1, ..Operands::default() });
        }
        asm.push(Opcode::Trap, Operands::default());
        asm.bind(c);
        asm.push(Opcode::AddImm64, Operands { ra: 1, rb: 1, imm: u64::MAX, ..Operands::default() });
        asm.push(Opcode::Jump, op(0, 0, Target::Label(d)));
        asm.bind(d);
        asm.push(Opcode::BranchNeImm, op(1, 0, Target::Label(c)));
        let to_e = asm.jump_table_entry(Target::Label(e));
        let to_f = asm.jump_table_entry(Target::Label(f));
        assert_eq!((to_e, to_f), (2, 4));
        asm.push(Opcode::LoadImm, op(0, u64::from(to_f), Target::Offset(0)));
        asm.push(Opcode::JumpInd, op(0, 0, Target::Offset(0)));
        asm.bind(e);
        asm.push(Opcode::Trap, Operands::default());
        asm.bind(f);
        asm.push(Opcode::Ecalli, Operands { imm: 9, ..Operands::default() });
        asm.push(Opcode::Trap, Operands::default());
        Arc::new(Program::new(asm.finish(), Profile::P8, GasModel::Block).unwrap())
    }

    fn run(module: &Arc<CompiledModule>, gas: i64) -> (JitExit, VmState) {
        let mut jit = JitInstance::new(module.clone(), AddressSpace::new()).unwrap();
        let mut state = VmState { gas, ..VmState::default() };
        (jit.run(&mut state), state)
    }

    fn lazy(region: u32) -> Arc<CompiledModule> {
        Arc::new(CompiledModule::lazy_for(program(), Features::detect(), region, &Arc::default()).unwrap())
    }

    #[test]
    fn a_lazy_run_compiles_only_the_blocks_it_reaches() {
        let eager = Arc::new(CompiledModule::compile_for(program(), Features::detect(), &Arc::default()).unwrap());
        let expected = run(&eager, 100);
        // A 2 + 3 × (C 2 + D 1) + the jump's 2 + F 2: 15 gas; at F's ecalli.
        let ecalli = program().instructions().iter().find(|i| i.opcode == Opcode::Ecalli).unwrap().pc;
        assert_eq!(expected.0, JitExit::Exit(Exit::Host(9)));
        assert_eq!((expected.1.pc, expected.1.gas, expected.1.regs[1]), (ecalli, 100 - 15, 0));
        for region in [1, 2, 64] {
            let module = lazy(region);
            assert_eq!(module.compiled_instructions(), 0, "a load compiles nothing");
            assert_eq!(run(&module, 100), expected, "region {region}");
            if region == 1 {
                // A (2), C (2), D (1), the jump's (2), F (2): not B's 41
                // nor E's 1.
                assert_eq!(module.compiled_instructions(), 9);
            }
            // Every jump into compiled code is patched; the table entry to
            // F is filled in, the one to E is not.
            let lazy = module.lazy();
            let prologue = |i: u32| module.map.prologue(i);
            assert!(lazy.pending.keys().all(|&t| prologue(t).is_none()), "region {region}");
            drop(lazy);
            let table: Vec<u64> = module.jump_table.iter().map(|e| e.load(Ordering::Relaxed)).collect();
            let targets = module.program().jump_targets();
            assert_eq!(table[1], module.prologue_addr(targets[1]));
            if region == 1 {
                assert_eq!(table[0], module.code_base() as u64 + u64::from(module.shared.compile_jump));
            }
            // A second run compiles nothing more and ends the same.
            let compiled = module.compiled_instructions();
            assert_eq!(run(&module, 100), expected);
            assert_eq!(module.compiled_instructions(), compiled);
        }
    }

    #[test]
    fn regions_are_compiled_in_the_context_the_module_was_made_with() {
        let context = Arc::new(CompileContext::default());
        CompiledModule::compile_for(program(), Features::detect(), &context).unwrap();
        let kept = context.kept_bytes();
        assert!(kept > 0, "the whole compile's buffer is kept");
        let module = Arc::new(CompiledModule::lazy_for(program(), Features::detect(), 1, &context).unwrap());
        run(&module, 100);
        assert_eq!(module.compiled_instructions(), 9);
        // The run's regions, smaller than the whole program, were
        // assembled in the buffer the whole compile left: none grew, and
        // none was made besides it.
        assert_eq!(context.kept_bytes(), kept);
        assert_eq!(format!("{context:?}"), "CompileContext { kept: 1 }");
    }

    #[test]
    fn out_of_gas_at_a_block_not_compiled_yet_charges_nothing_for_it() {
        let eager = Arc::new(CompiledModule::compile_for(program(), Features::detect(), &Arc::default()).unwrap());
        for gas in 0..16 {
            let expected = run(&eager, gas);
            assert_eq!(run(&lazy(1), gas), expected, "gas {gas}");
        }
        // With 4 gas: A (2) and C (2) run, D cannot be entered.
        let (exit, state) = run(&lazy(1), 4);
        let d = program().blocks()[3].pc;
        assert_eq!((exit, state.pc, state.gas, state.charged), (JitExit::Exit(Exit::OutOfGas), d, 0, false));
    }

    #[test]
    fn a_block_that_cannot_be_compiled_is_interpreted() {
        let module = lazy(1);
        module.ensure_compiled(0).unwrap();
        module.lazy().failed = true;
        // A runs natively and jumps to C, which is handed over uncharged.
        let (exit, state) = run(&module, 100);
        let c = program().blocks()[2].pc;
        assert_eq!((exit, state.pc, state.gas, state.charged), (JitExit::Interpret, c, 98, false));
        // Entering at C directly is interpreted too.
        let mut jit = JitInstance::new(module.clone(), AddressSpace::new()).unwrap();
        let mut at_c = VmState { pc: c, gas: 100, ..VmState::default() };
        assert_eq!(jit.run(&mut at_c), JitExit::Interpret);
        assert_eq!((at_c.pc, at_c.gas), (c, 100));
    }

    /// Segments as small and as costly to compile as they come: a division
    /// (the longest code) and a branch back, each head a dynamic-jump
    /// target (64-byte aligned), compiled one segment at a time from the
    /// end, so that every jump out of a segment needs a compile stub.
    #[test]
    fn the_worst_segments_fit_the_code_block() {
        let mut asm = Assembler::new(Profile::P8);
        let labels: Vec<usize> = (0..300).map(|_| asm.label()).collect();
        for (k, &label) in labels.iter().enumerate() {
            asm.bind(label);
            asm.jump_table_entry(Target::Label(label));
            asm.push(Opcode::RemS64, Operands { ra: 1, rb: 2, rd: 3, ..Operands::default() });
            let back = labels[k.saturating_sub(1)];
            asm.push(Opcode::BranchEqImm, op(1, 7, Target::Label(back)));
        }
        asm.push(Opcode::Trap, Operands::default());
        let program = Arc::new(Program::new(asm.finish(), Profile::P8, GasModel::Instruction).unwrap());
        let module = CompiledModule::lazy_for(program.clone(), Features::NONE, 1, &Arc::default()).unwrap();
        for i in (0..program.instructions().len() as u32).rev() {
            module.ensure_compiled(i).unwrap();
        }
        assert_eq!(module.compiled_instructions(), program.instructions().len());
        let used = module.code_size();
        assert!(used < module.code_memory().capacity() / 2, "{used} of {}", module.code_memory().capacity());
    }
}
