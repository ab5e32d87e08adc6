//! Entry and exit trampolines.
//!
//! `enter` is called from Rust as `extern "sysv64" fn(base: *mut u8) -> u32`:
//! it saves the callee-saved host registers, reserves the spill slots,
//! loads the guest registers, the scratch register and (with `fsgsbase`)
//! the gas counter from the context and jumps to `ctx.entry`. `exit` stores
//! them back and returns the exit code found in `ecx`.

use super::regs::{BASE_SLOT, FRAME, GUEST_TO_HOST, host};
use super::{Compiler, emit};
use crate::ctx;
use crate::exit_code::CODE_DYN_PANIC;
use dynasmrt::{DynasmApi, DynasmLabelApi};

impl Compiler<'_> {
    /// Emits `enter`, `exit` and the dynamic-jump panic stub; returns their
    /// offsets.
    pub(super) fn trampolines(&mut self) -> (usize, usize, usize) {
        let enter = self.ops.offset().0;
        emit!(self.ops
            ; push rbx
            ; push rbp
            ; push r12
            ; push r13
            ; push r14
            ; push r15
            ; sub rsp, FRAME
            ; mov [rsp + BASE_SLOT], rdi
            ; mov r15, rdi
            ; mov [r15 + ctx::HOST_RSP], rsp
        );
        if self.features.fsgsbase {
            // GS base = window base while guest code runs. It is left set
            // afterwards (nothing else in x86-64 Linux user space uses GS),
            // so a resumed instance pays only the read (≈ 2 ns; a write
            // costs ≈ 20 ns).
            let same = self.ops.new_dynamic_label();
            emit!(self.ops
                ; rdgsbase rax
                ; cmp rax, r15
                ; je =>same
                ; wrgsbase r15
                ; =>same
            );
        }
        for g in 0..GUEST_TO_HOST.len() as u8 {
            let slot = ctx::REGS + 8 * i32::from(g);
            emit!(self.ops ; mov Rq(host(g)), [r15 + slot]);
        }
        emit!(self.ops ; mov rcx, [r15 + ctx::RCX]);
        if self.features.fsgsbase {
            emit!(self.ops
                ; mov r15, [r15 + ctx::GAS]
                ; gs jmp QWORD [ctx::ENTRY]
            );
        } else {
            emit!(self.ops ; jmp QWORD [r15 + ctx::ENTRY]);
        }

        let exit_label = self.exit_label;
        let exit = self.ops.offset().0;
        emit!(self.ops ; =>exit_label);
        if self.features.fsgsbase {
            emit!(self.ops
                ; gs mov [ctx::GAS], r15
                ; mov r15, [rsp + BASE_SLOT]
            );
        }
        for g in 0..GUEST_TO_HOST.len() as u8 {
            let slot = ctx::REGS + 8 * i32::from(g);
            emit!(self.ops ; mov [r15 + slot], Rq(host(g)));
        }
        emit!(self.ops
            ; mov eax, ecx
            ; mov rsp, [r15 + ctx::HOST_RSP]
            ; add rsp, FRAME
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop r12
            ; pop rbp
            ; pop rbx
            ; ret
        );

        let dyn_panic = self.ops.offset().0;
        emit!(self.ops ; mov ecx, CODE_DYN_PANIC as i32 ; jmp =>exit_label);
        (enter, exit, dyn_panic)
    }
}
