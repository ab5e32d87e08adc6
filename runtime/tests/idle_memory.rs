//! Guest memory given back to the OS between runs (`release_idle_memory`)
//! comes back as fresh pages: later guests run exactly as before.

use javm::harness::decode_hex;
use javm::testing::on_every_engine;
use javm::{Config, Engine, EngineKind, Exit, GasModel, Profile};

/// Runs the `memops` guest (it fills and copies a buffer) and returns its
/// output and the memory root.
fn memops(engine: EngineKind) -> (Vec<u8>, [u8; 32]) {
    let blob = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../guests/bin/memops.jam")).unwrap();
    let args = decode_hex("0100000000200000").unwrap();
    let config = Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) };
    let mut instance = Engine::new(config).load(&blob).unwrap().instantiate_standard(&args, 0).unwrap();
    instance.set_gas(1 << 40);
    loop {
        match instance.run() {
            Exit::Host(_) => continue,
            exit => assert_eq!(exit, Exit::Halt),
        }
        break;
    }
    let mut out = vec![0u8; instance.reg(8) as usize];
    instance.read_memory(instance.reg(7) as u32, &mut out).unwrap();
    (out, instance.memory_root())
}

#[test]
fn released_memory_comes_back_as_fresh_pages() {
    on_every_engine(|engine| {
        let first = memops(engine);
        // The guest wrote pages; with its instance gone they are idle.
        assert!(javm::release_idle_memory() > 0);
        assert_eq!(javm::release_idle_memory(), 0, "nothing left to give");
        assert_eq!(memops(engine), first);
    });
}
