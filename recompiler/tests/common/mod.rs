//! Guest programs shared by the recompiler's integration tests.

use javm_cap::program::{CodeBlob, GasModel, Opcode, Profile, Program};
use javm_recompiler::{CompileOptions, CompiledModule, release_idle_mappings};
use std::sync::{Arc, Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// One test of the binary at a time (they share the process's mapping
/// budget), starting with no idle window holding mappings.
pub fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    release_idle_mappings();
    guard
}

/// Compiles `(opcode, operand bytes)` pairs (P8, block gas model).
pub fn module(ops: &[(Opcode, &[u8])]) -> Arc<CompiledModule> {
    let (mut code, mut starts) = (Vec::new(), Vec::new());
    for &(op, operands) in ops {
        starts.push(code.len());
        code.push(op.code(Profile::P8).unwrap());
        code.extend_from_slice(operands);
    }
    let program = Program::new(CodeBlob::from_parts(code, starts, vec![]), Profile::P8, GasModel::Block).unwrap();
    Arc::new(CompiledModule::compile(Arc::new(program), &CompileOptions::default()).unwrap())
}

/// `load_ind_u64 r3, [r1]; add_imm_64 r3, r3, 1; store_ind_u64 [r1], r3;
/// trap`: adds one to the counter at `r1` and leaves it in `r3`.
#[allow(dead_code, reason = "not every test binary counts")]
pub fn counter() -> Arc<CompiledModule> {
    module(&[
        (Opcode::LoadIndU64, &[0x13]),
        (Opcode::AddImm64, &[0x33, 0x01]),
        (Opcode::StoreIndU64, &[0x13]),
        (Opcode::Trap, &[]),
    ])
}
