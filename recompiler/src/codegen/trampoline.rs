//! Entry and exit trampolines, and the stubs dynamic jumps share: the
//! first code of every module, which its regions jump to.
//!
//! `enter` is called from Rust as `extern "sysv64" fn(base: *mut u8) -> u32`:
//! it saves the callee-saved host registers, reserves the spill slots,
//! loads the guest registers, the scratch register and (with `fsgsbase`)
//! the gas counter from the context and jumps to `ctx.entry`. `exit` stores
//! them back and returns the exit code found in `ecx`.

use super::assembler::Assembler;
use super::emit;
use super::regs::{BASE_SLOT, FRAME, GUEST_TO_HOST, host};
use crate::cpu::Features;
use crate::ctx;
use crate::error::CompileError;
use crate::exit_code::{CODE_COMPILE_JUMP, CODE_DYN_PANIC};
use dynasmrt::{DynasmApi, DynasmLabelApi};

/// Module offsets of the shared code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trampolines {
    pub enter: u32,
    pub exit: u32,
    /// Where invalid jump-table entries point.
    pub dyn_panic: u32,
    /// Where entries whose target is not compiled yet point.
    pub compile_jump: u32,
    /// Bytes of the shared code (the first region follows).
    pub len: u32,
}

/// Assembles the shared code for `features` at module offset 0.
pub(crate) fn trampolines(features: Features) -> Result<(Vec<u8>, Trampolines), CompileError> {
    let mut ops = Assembler::default();
    let exit_label = ops.new_dynamic_label();
    let offsets = emit_trampolines(&mut ops, features, exit_label);
    let code = ops.commit().map_err(|e| CompileError::Memory(format!("unresolved label: {e}")))?.to_vec();
    Ok((code, offsets))
}

fn emit_trampolines(ops: &mut Assembler, features: Features, exit_label: dynasmrt::DynamicLabel) -> Trampolines {
    let enter = ops.offset().0 as u32;
    emit!(ops
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
    if features.fsgsbase {
        // GS base = window base while guest code runs. It is left set
        // afterwards (nothing else in x86-64 Linux user space uses GS),
        // so a resumed instance pays only the read (≈ 2 ns; a write
        // costs ≈ 20 ns).
        let same = ops.new_dynamic_label();
        emit!(ops
            ; rdgsbase rax
            ; cmp rax, r15
            ; je =>same
            ; wrgsbase r15
            ; =>same
        );
    }
    for g in 0..GUEST_TO_HOST.len() as u8 {
        let slot = ctx::REGS + 8 * i32::from(g);
        emit!(ops ; mov Rq(host(g)), [r15 + slot]);
    }
    emit!(ops ; mov rcx, [r15 + ctx::RCX]);
    if features.fsgsbase {
        emit!(ops
            ; mov r15, [r15 + ctx::GAS]
            ; gs jmp QWORD [ctx::ENTRY]
        );
    } else {
        emit!(ops ; jmp QWORD [r15 + ctx::ENTRY]);
    }

    let exit = ops.offset().0 as u32;
    emit!(ops ; =>exit_label);
    if features.fsgsbase {
        emit!(ops
            ; gs mov [ctx::GAS], r15
            ; mov r15, [rsp + BASE_SLOT]
        );
    }
    for g in 0..GUEST_TO_HOST.len() as u8 {
        let slot = ctx::REGS + 8 * i32::from(g);
        emit!(ops ; mov [r15 + slot], Rq(host(g)));
    }
    emit!(ops
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

    let dyn_panic = ops.offset().0 as u32;
    emit!(ops ; mov ecx, CODE_DYN_PANIC as i32 ; jmp =>exit_label);

    // The entry's address (in `rcx`) goes to the context for the host.
    let compile_jump = ops.offset().0 as u32;
    if features.fsgsbase {
        emit!(ops ; gs mov [ctx::RCX], rcx);
    } else {
        emit!(ops ; mov [r15 + ctx::RCX], rcx);
    }
    emit!(ops ; mov ecx, CODE_COMPILE_JUMP as i32 ; jmp =>exit_label);
    Trampolines { enter, exit, dyn_panic, compile_jump, len: ops.offset().0 as u32 }
}
