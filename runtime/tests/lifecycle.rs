//! Fork, snapshot and reset on both engines: a fork or a snapshot goes on
//! exactly as the original would, on either engine; forks are independent;
//! reset returns to the starting state; mismatched snapshots are errors.

use javm::harness::encode_hex;
use javm::testing::{GuestHost, on_every_engine};
use javm::{
    Config, Engine, EngineKind, Error, Exit, GasModel, HostCalls, HostResult, Instance, Module, Profile, Snapshot,
};
use std::path::Path;

fn guest(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/bin").join(name)).unwrap()
}

fn module(engine: EngineKind, name: &str) -> Module {
    let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
    Engine::new(config).load(&guest(name)).unwrap()
}

/// Everything observable after a run: exit, pc, gas, registers, output and
/// memory root.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    exit: Exit,
    pc: u32,
    gas: i64,
    regs: [u64; 13],
    output: String,
    root: String,
}

fn finish(instance: &mut Instance) -> Outcome {
    let exit = instance.run_with(&mut GuestHost::default());
    let mut out = vec![0u8; (instance.reg(8) as usize).min(1 << 16)];
    let output = match (exit, instance.read_memory(instance.reg(7) as u32, &mut out)) {
        (Exit::Halt, Ok(())) => encode_hex(&out),
        _ => String::new(),
    };
    Outcome {
        exit,
        pc: instance.pc(),
        gas: instance.gas(),
        regs: *instance.regs(),
        output,
        root: encode_hex(&instance.memory_root()),
    }
}

/// `hostcall` with 10 gas calls and a log every third.
fn hostcall(engine: EngineKind) -> Instance {
    let mut instance = module(engine, "hostcall.jam").instantiate_standard(&[10, 0, 0, 0, 3, 0, 0, 0], 0).unwrap();
    instance.set_gas(10_000_000);
    instance
}

#[test]
fn a_fork_after_a_host_call_goes_on_like_the_original() {
    on_every_engine(|engine| {
        let expect = finish(&mut hostcall(engine));
        assert_eq!(expect.exit, Exit::Halt);
        let mut original = hostcall(engine);
        // Stop at the fourth host call, then fork.
        for _ in 0..4 {
            let id = host_id(original.run());
            assert_eq!(GuestHost::default().call(id, &mut original), HostResult::Continue);
        }
        let mut fork = original.fork().unwrap();
        assert_eq!((fork.pc(), fork.gas(), fork.regs()), (original.pc(), original.gas(), original.regs()));
        assert_eq!(fork.memory_root(), original.memory_root(), "a fork's root equals the original's");
        let forked = finish(&mut fork);
        assert_eq!(forked, expect, "the fork");
        assert_eq!(finish(&mut original), expect, "the original after the fork");
    });
}

/// The id of a host-call exit.
fn host_id(exit: Exit) -> u32 {
    match exit {
        Exit::Host(id) => id,
        other => panic!("not a host call: {other}"),
    }
}

#[test]
fn forks_are_independent() {
    on_every_engine(|engine| {
        let mut original = module(engine, "sieve.jam").instantiate_standard(&1000u32.to_le_bytes(), 0).unwrap();
        original.set_gas(100_000_000);
        assert_eq!(original.run(), Exit::Halt);
        let root = original.memory_root();
        let mut fork = original.fork().unwrap();
        let (addr, len) = (original.reg(7) as u32, original.reg(8) as usize);
        let mut before = vec![0u8; len];
        original.read_memory(addr, &mut before).unwrap();
        // The fork writes over the output; the original does not see it.
        fork.write_memory(addr, &vec![0xEE; len]).unwrap();
        let mut seen = vec![0u8; len];
        original.read_memory(addr, &mut seen).unwrap();
        assert_eq!(seen, before);
        assert_eq!(original.memory_root(), root);
        assert_ne!(fork.memory_root(), root);
        // And the other way round.
        let mut fork2 = original.fork().unwrap();
        original.write_memory(addr, &vec![0x11; len]).unwrap();
        fork2.read_memory(addr, &mut seen).unwrap();
        assert_eq!(seen, before);
        assert_eq!(fork2.memory_root(), root);
    });
}

#[test]
fn snapshots_cross_engines_mid_run() {
    // Out of gas in the middle of sieve, snapshot on one engine, then go on
    // on both: the same end as the run that never stopped.
    let args = 5000u32.to_le_bytes();
    let straight = {
        let mut i = module(EngineKind::Interpreter, "sieve.jam").instantiate_standard(&args, 0).unwrap();
        i.set_gas(100_000_000);
        finish(&mut i)
    };
    assert_eq!(straight.exit, Exit::Halt);
    for from in EngineKind::ALL {
        let mut first = module(from, "sieve.jam").instantiate_standard(&args, 0).unwrap();
        first.set_gas(20_000);
        assert_eq!(first.run(), Exit::OutOfGas, "{from}");
        let snapshot: Snapshot = first.snapshot();
        assert_eq!(snapshot.state().pc, first.pc());
        assert_eq!(snapshot.memory_root(), first.memory_root());
        for to in EngineKind::ALL {
            let mut next = module(to, "sieve.jam").instantiate_from(&snapshot).unwrap();
            assert_eq!(next.module().config().engine, to, "the instance runs its own module, not the snapshot's");
            assert_eq!(next.memory_root(), snapshot.memory_root(), "{from} → {to}");
            next.set_gas(100_000_000);
            let end = finish(&mut next);
            // Out of gas at a block start charges nothing, so only the gas
            // given differs from the straight run.
            assert_eq!(
                (end.exit, end.pc, end.regs, &end.output, &end.root),
                (straight.exit, straight.pc, straight.regs, &straight.output, &straight.root),
                "{from} → {to}"
            );
        }
    }
}

#[test]
fn reset_returns_to_the_starting_state() {
    on_every_engine(|engine| {
        let mut instance = hostcall(engine);
        // As instantiated: gas 0 (hostcall() then gave it gas).
        let start = (instance.pc(), 0, *instance.regs(), instance.memory_root());
        let first = finish(&mut instance);
        instance.reset().unwrap();
        assert_eq!((instance.pc(), instance.gas(), *instance.regs(), instance.memory_root()), start);
        instance.set_gas(10_000_000);
        assert_eq!(finish(&mut instance), first, "a run after reset");
        // reset_to a snapshot taken mid-run, twice.
        instance.reset().unwrap();
        instance.set_gas(10_000_000);
        let id = host_id(instance.run());
        assert_eq!(GuestHost::default().call(id, &mut instance), HostResult::Continue);
        let mid = instance.snapshot();
        let a = finish(&mut instance);
        instance.reset_to(&mid).unwrap();
        let b = finish(&mut instance);
        instance.reset_to(&mid).unwrap();
        assert_eq!(finish(&mut instance), b);
        assert_eq!(a, b);
        assert_eq!(a, first);
    });
}

#[test]
fn reset_of_an_instance_of_the_modules_own_memory() {
    // The module's registers are a standard program's zeros: the run gets
    // the standard ones (no arguments) set by hand, which reset undoes.
    let standard = javm_cap::program::standard::initial_registers(0);
    let start_run = |instance: &mut Instance| {
        for (i, &value) in standard.iter().enumerate() {
            instance.set_reg(i, value);
        }
        instance.set_gas(10_000_000);
        finish(instance)
    };
    on_every_engine(|engine| {
        let module = module(engine, "sieve.jam");
        let mut instance = module.instantiate_at(0).unwrap();
        let start = (instance.pc(), 0, *instance.regs(), instance.memory_root());
        assert_ne!(start.2, standard);
        // Sieve's default bound runs out of this gas, having written memory.
        let first = start_run(&mut instance);
        assert_eq!(first.exit, Exit::OutOfGas);
        assert_ne!(first.root, encode_hex(&start.3), "the run wrote memory");
        instance.reset().unwrap();
        assert_eq!((instance.pc(), instance.gas(), *instance.regs(), instance.memory_root()), start);
        assert_eq!(start_run(&mut instance), first, "a run after reset");
        // A second instance starts where the reset one did.
        let mut other = module.instantiate_at(0).unwrap();
        assert_eq!((other.pc(), other.gas(), *other.regs(), other.memory_root()), start);
    });
}

#[test]
fn mismatched_snapshots_are_errors() {
    on_every_engine(|engine| {
        let mut sieve = module(engine, "sieve.jam").instantiate_standard(&[], 0).unwrap();
        let snapshot = sieve.snapshot();
        let sort = module(engine, "sort.jam");
        assert!(matches!(sort.instantiate_from(&snapshot), Err(Error::SnapshotMismatch)));
        let mut other = sort.instantiate_standard(&[], 0).unwrap();
        assert!(matches!(other.reset_to(&snapshot), Err(Error::SnapshotMismatch)));
        let block = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Block) };
        let sieve_block = Engine::new(block).load(&guest("sieve.jam")).unwrap();
        assert!(matches!(sieve_block.instantiate_from(&snapshot), Err(Error::SnapshotMismatch)));
    });
}

#[test]
fn snapshots_are_shared_across_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let mut instance =
        module(EngineKind::Interpreter, "sieve.jam").instantiate_standard(&100u32.to_le_bytes(), 0).unwrap();
    let snapshot = instance.snapshot();
    send_sync(&snapshot);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = EngineKind::ALL
            .into_iter()
            .map(|engine| {
                let snapshot = snapshot.clone();
                s.spawn(move || {
                    let mut i = module(engine, "sieve.jam").instantiate_from(&snapshot).unwrap();
                    i.set_gas(10_000_000);
                    finish(&mut i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0].exit, Exit::Halt);
}
