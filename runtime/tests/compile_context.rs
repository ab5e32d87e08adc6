//! The recompiler's compile buffers belong to the engine: one module's
//! compile after another's, a lazy module's regions and engines given the
//! same context reuse them, and what they compile runs as a fresh compile.

use javm::{Compilation, CompileContext, Config, Engine, EngineKind, Exit, GasModel, Profile};
use std::path::Path;
use std::sync::Arc;

fn guest(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin").join(name)).unwrap()
}

fn engine(context: &Arc<CompileContext>, compilation: Compilation) -> Engine {
    let config = Config { engine: EngineKind::Recompiler, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
    // No module cache: every load compiles.
    Engine::with_cache_capacity(config, 0).with_compilation(compilation).with_compile_context(context.clone())
}

/// Runs sieve(1000): exit, gas left, registers and memory root.
fn run_sieve(module: &javm::Module) -> (Exit, i64, [u64; 13], [u8; 32]) {
    let mut instance = module.instantiate_standard(&1000u32.to_le_bytes(), 0).unwrap();
    instance.set_gas(100_000_000);
    let exit = instance.run();
    (exit, instance.gas(), *instance.regs(), instance.memory_root())
}

#[test]
fn loads_reuse_the_engines_compile_buffers() {
    let context = Arc::new(CompileContext::default());
    let eager = engine(&context, Compilation::Eager);
    // The largest guest first: the buffer it leaves serves the others.
    let bigmul = eager.load(&guest("bigmul.jam")).unwrap();
    let kept = context.kept_bytes();
    assert!(kept > 0, "the compile's buffer is kept");
    let sieve_jam = guest("sieve.jam");
    let sieve = eager.load(&sieve_jam).unwrap();
    drop(eager.load(&guest("bigmul.jam")).unwrap());
    assert_eq!(context.kept_bytes(), kept, "later compiles assembled in the same buffer");
    // Another engine given the context, compiling lazily: its regions are
    // assembled there too, and its runs equal the whole compile's.
    let lazy = engine(&context, Compilation::default()).load(&sieve_jam).unwrap();
    let expected = run_sieve(&sieve);
    assert_eq!(expected.0, Exit::Halt);
    assert_eq!(run_sieve(&lazy), expected);
    assert!(lazy.compiled_instructions().unwrap() > 0);
    assert_eq!(context.kept_bytes(), kept);
    drop(bigmul);
}
