//! The persistent module cache: a new engine on the same directory (a
//! process restart) loads without compiling and runs exactly like a fresh
//! compile; truncated, corrupt, stale, hostile and untrusted files are
//! rejected by reason and rebuilt; concurrent writers leave one whole file.

use javm::disk_cache::{FILE_FORMAT, HEADER_LEN};
use javm::testing::GuestHost;
use javm::{Config, DiskCacheStats, Engine, EngineKind, Exit, GasModel, Module, Profile, Rejections};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;

fn guests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests")
}

fn guest(name: &str) -> Vec<u8> {
    std::fs::read(guests_dir().join("bin").join(name)).unwrap()
}

fn config(engine: EngineKind) -> Config {
    Config { engine, profile: Profile::P8, gas_model: Some(GasModel::Pipeline) }
}

/// A fresh, empty directory for test `name`.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("disk_cache").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A recompiler engine over `dir`, as a new process would make it.
fn engine(dir: &Path) -> Engine {
    Engine::new(config(EngineKind::Recompiler)).with_disk_cache(dir).unwrap()
}

fn stats(engine: &Engine) -> DiskCacheStats {
    engine.disk_cache_stats().expect("a disk cache")
}

/// The cache files in `dir` (temporary files start with a dot).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// The only cache file in `dir`.
fn the_file(dir: &Path) -> PathBuf {
    let files = files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// `file` with `payload` in place of its payload, the header's length and
/// checksum made to match: a file any checksum accepts.
fn reseal(file: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = file[..HEADER_LEN].to_vec();
    out[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    out[88..104].copy_from_slice(&xxhash_rust::xxh3::xxh3_128(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Runs sieve(1000): exit, gas left, registers and memory root.
fn run_sieve(module: &Module) -> (Exit, i64, [u64; 13], [u8; 32]) {
    let mut instance = module.instantiate_standard(&1000u32.to_le_bytes(), 0).unwrap();
    instance.set_gas(100_000_000);
    let exit = instance.run();
    (exit, instance.gas(), *instance.regs(), instance.memory_root())
}

/// Writes `bytes` as the only file of a warmed `dir`, loads `program` with a
/// new engine and returns its counters; the file must have been rebuilt
/// (the next engine hits) and the module must run like a fresh one.
fn reject(dir: &Path, program: &[u8], bytes: &[u8]) -> Rejections {
    let file = the_file(dir);
    std::fs::write(&file, bytes).unwrap();
    let e = engine(dir);
    let module = e.load(program).unwrap();
    let s = stats(&e);
    assert_eq!((s.hits, s.misses, s.rejected.total(), s.writes), (0, 0, 1, 1), "{s:?}");
    let fresh = Engine::with_cache_capacity(config(EngineKind::Recompiler), 0).load(program).unwrap();
    assert_eq!(run_sieve(&module), run_sieve(&fresh));
    let again = engine(dir);
    again.load(program).unwrap();
    assert_eq!(stats(&again).hits, 1, "the file was rebuilt");
    s.rejected
}

/// A directory warmed with sieve, and the file's bytes.
fn warmed(name: &str) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let dir = fresh_dir(name);
    let sieve = guest("sieve.jam");
    engine(&dir).load(&sieve).unwrap();
    let bytes = std::fs::read(the_file(&dir)).unwrap();
    (dir, sieve, bytes)
}

#[test]
fn a_restart_loads_without_compiling_and_runs_the_same() {
    let dir = fresh_dir("restart");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(guests_dir().join("expected.json")).unwrap()).unwrap();
    let guests = expected["guests"].as_array().unwrap();
    let first = engine(&dir);
    for g in guests {
        first.load(&std::fs::read(guests_dir().join(g["jam"].as_str().unwrap())).unwrap()).unwrap();
    }
    let s = stats(&first);
    assert_eq!((s.hits, s.misses, s.writes, s.rejected.total()), (0, guests.len() as u64, guests.len() as u64, 0));
    assert_eq!(files(&dir).len(), guests.len());
    // A new engine: nothing in memory, everything on disk.
    let second = engine(&dir);
    for g in guests {
        let blob = std::fs::read(guests_dir().join(g["jam"].as_str().unwrap())).unwrap();
        let cached = second.load(&blob).unwrap();
        let case = g["cases"].as_array().unwrap().last().unwrap();
        let args: Vec<u8> = (0..case["args"].as_str().unwrap().len() / 2)
            .map(|i| u8::from_str_radix(&case["args"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let run = |module: &Module| {
            let mut instance = module.instantiate_standard(&args, 0).unwrap();
            instance.set_gas(1 << 40);
            let exit = instance.run_with(&mut GuestHost::default());
            (exit, instance.gas(), *instance.regs(), instance.memory_root())
        };
        let expect = run(&cached);
        assert_eq!(expect.0, Exit::Halt, "{}", g["name"]);
        for kind in EngineKind::ALL {
            let fresh = Engine::with_cache_capacity(config(kind), 0).load(&blob).unwrap();
            assert_eq!(run(&fresh), expect, "{} on the {kind}", g["name"]);
        }
    }
    let s = stats(&second);
    assert_eq!((s.hits, s.compiles(), s.writes), (guests.len() as u64, 0, 0));
}

#[test]
fn the_same_code_shares_one_file_and_the_interpreter_keeps_none() {
    let dir = fresh_dir("sharing");
    let sieve = guest("sieve.jam");
    let code = javm::Engine::default().load(&sieve).unwrap().program().blob().to_bytes();
    let e = engine(&dir);
    e.load(&sieve).unwrap();
    // The raw code blob of the same program, and a caller-named load.
    e.load_blob(&code).unwrap();
    e.load_by_hash([7; 32], || &sieve).unwrap();
    assert_eq!((stats(&e).misses, stats(&e).hits), (1, 2));
    assert_eq!(files(&dir).len(), 1);
    // Another gas model is another file.
    let block = Config { gas_model: Some(GasModel::Block), ..config(EngineKind::Recompiler) };
    let other = Engine::new(block).with_disk_cache(&dir).unwrap();
    other.load(&sieve).unwrap();
    assert_eq!(files(&dir).len(), 2);
    let interp = Engine::new(config(EngineKind::Interpreter)).with_disk_cache(fresh_dir("interp")).unwrap();
    interp.load(&sieve).unwrap();
    assert_eq!(interp.disk_cache_stats(), Some(DiskCacheStats::default()));
    assert!(files(interp.disk_cache_dir().unwrap()).is_empty());
}

#[test]
fn truncated_files_are_rebuilt() {
    let (dir, sieve, bytes) = warmed("truncated");
    for len in [0, 1, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 1, bytes.len() / 2, bytes.len() - 1] {
        let r = reject(&dir, &sieve, &bytes[..len]);
        assert_eq!(r, Rejections { truncated: 1, ..Rejections::default() }, "{len} bytes");
    }
}

#[test]
fn corrupt_files_are_rebuilt() {
    let (dir, sieve, bytes) = warmed("corrupt");
    // The magic, the key, the padding, the checksum, the payload's first,
    // middle and last byte; and a byte too many.
    for at in [0, 7, 60, 121, 100, HEADER_LEN, (HEADER_LEN + bytes.len()) / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x20;
        let r = reject(&dir, &sieve, &flipped);
        assert_eq!(r, Rejections { corrupt: 1, ..Rejections::default() }, "byte {at}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(reject(&dir, &sieve, &longer).corrupt, 1);
}

#[test]
fn files_of_other_versions_and_cpu_features_are_stale() {
    let (dir, sieve, bytes) = warmed("stale");
    let patch = |at: usize, value: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + value.len()].copy_from_slice(value);
        b
    };
    let features = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    for (what, file) in [
        ("format", patch(8, &(FILE_FORMAT + 1).to_le_bytes())),
        ("version", patch(24, b"0.0.1-other\0")),
        ("features", patch(12, &(features ^ 1).to_le_bytes())),
    ] {
        let r = reject(&dir, &sieve, &file);
        assert_eq!(r, Rejections { stale: 1, ..Rejections::default() }, "{what}");
    }
    // A whole valid file of code for baseline x86-64 under this CPU's
    // header: the archive's own record of the extensions differs.
    let program = Engine::default().load(&sieve).unwrap().program().clone();
    let baseline = javm_recompiler::CompiledModule::compile(
        std::sync::Arc::new(program),
        &javm_recompiler::CompileOptions { force_fallbacks: true, lazy: false, ..Default::default() },
    )
    .unwrap();
    if features != 0 {
        let r = reject(&dir, &sieve, &reseal(&bytes, &baseline.to_archive().unwrap()));
        assert_eq!(r, Rejections { stale: 1, ..Rejections::default() });
    }
}

#[test]
fn files_with_a_valid_checksum_but_bad_tables_are_rejected() {
    let (dir, sieve, bytes) = warmed("hostile");
    let payload = &bytes[HEADER_LEN..];
    // The archive ends with its root; its last field is the code end.
    let mut past_end = payload.to_vec();
    let n = past_end.len();
    past_end[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let r = reject(&dir, &sieve, &reseal(&bytes, &past_end));
    assert_eq!(r, Rejections { tables: 1, ..Rejections::default() });
    // Bytes that are no archive at all.
    let r = reject(&dir, &sieve, &reseal(&bytes, &[0xA5; 64]));
    assert_eq!(r, Rejections { malformed: 1, ..Rejections::default() });
    // The archive of another program (another instruction count).
    let other = engine(&fresh_dir("hostile-other"));
    other.load(&guest("sort.jam")).unwrap();
    let sort = std::fs::read(the_file(other.disk_cache_dir().unwrap())).unwrap();
    let r = reject(&dir, &sieve, &reseal(&bytes, &sort[HEADER_LEN..]));
    assert_eq!(r, Rejections { tables: 1, ..Rejections::default() });
    // Any byte of the root changed: rejected somehow or loaded, never a
    // crash (the modules are not run: their code may be changed too).
    let root = 64.min(n);
    for at in n - root..n {
        for bit in [0x01, 0x80] {
            let mut changed = payload.to_vec();
            changed[at] ^= bit;
            std::fs::write(the_file(&dir), reseal(&bytes, &changed)).unwrap();
            let e = engine(&dir);
            e.load(&sieve).unwrap();
            assert_eq!(stats(&e).hits + stats(&e).rejected.total(), 1);
        }
    }
}

#[test]
fn untrusted_files_are_rebuilt() {
    let (dir, sieve, bytes) = warmed("untrusted");
    let file = the_file(&dir);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    for mode in [0o620, 0o602, 0o666] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = engine(&dir);
        e.load(&sieve).unwrap();
        assert_eq!(stats(&e).rejected, Rejections { untrusted: 1, ..Rejections::default() }, "mode {mode:o}");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "rebuilt");
    }
    // A symbolic link to a valid file.
    let elsewhere = dir.join(".elsewhere");
    std::fs::write(&elsewhere, &bytes).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let e = engine(&dir);
    e.load(&sieve).unwrap();
    assert_eq!(stats(&e).rejected.untrusted, 1);
    assert!(std::fs::symlink_metadata(&file).unwrap().is_file(), "replaced by a file");
    // Another user's file (only a privileged test run can make one).
    let path = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: chown on a path we own, with a valid C string.
    if unsafe { libc::chown(path.as_ptr(), 65534, 65534) } == 0 {
        let e = engine(&dir);
        e.load(&sieve).unwrap();
        assert_eq!(stats(&e).rejected.untrusted, 1);
    }
}

#[test]
fn the_directory_is_private_and_shared_ones_are_refused() {
    let dir = fresh_dir("private").join("a/b");
    let e = engine(&dir);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(e.disk_cache_dir(), Some(dir.as_path()));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    let err = Engine::default().with_disk_cache(&dir).unwrap_err().to_string();
    assert!(err.contains(&dir.display().to_string()) && err.contains("mode 770"), "{err}");
    let file = dir.join("plain");
    std::fs::write(&file, b"").unwrap();
    let err = Engine::default().with_disk_cache(&file).unwrap_err().to_string();
    assert!(err.contains("plain"), "{err}");
}

#[test]
fn concurrent_writers_leave_one_whole_file() {
    let dir = fresh_dir("concurrent");
    let sieve = guest("sieve.jam");
    let threads = 4;
    let barrier = Barrier::new(threads);
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let e = engine(&dir);
                    barrier.wait();
                    let module = e.load(&sieve).unwrap();
                    (stats(&e), run_sieve(&module))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (s, run) in &runs {
        assert_eq!(s.rejected.total() + s.write_errors, 0, "{s:?}");
        assert_eq!(*run, runs[0].1);
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
    let e = engine(&dir);
    e.load(&sieve).unwrap();
    assert_eq!(stats(&e).hits, 1);
}

#[test]
fn generated_programs_from_the_cache_run_like_the_interpreter() {
    use arbitrary::Unstructured;
    use javm::testing::generate::gen_case;
    use javm::testing::{Outcome, case_config, run_case, run_case_on, seeded_bytes};
    let dir = fresh_dir("generated");
    let mut ran = 0;
    for seed in 0..300 {
        let data = seeded_bytes(seed, 4096);
        let Ok(case) = gen_case(&mut Unstructured::new(&data)) else { continue };
        let expect = run_case(&case, EngineKind::Interpreter);
        let disk = || Engine::new(case_config(&case, EngineKind::Recompiler)).with_disk_cache(&dir).unwrap();
        // Compiled and written, then loaded by a new engine.
        let (first, second) = (disk(), disk());
        assert_eq!(run_case_on(&case, &first), expect, "seed {seed}, compiled");
        assert_eq!(run_case_on(&case, &second), expect, "seed {seed}, from the file");
        if matches!(expect, Outcome::Ran { .. }) {
            assert_eq!((stats(&first).compiles(), stats(&second).hits), (1, 1), "seed {seed}");
            ran += 1;
        }
    }
    assert!(ran > 200, "only {ran} programs ran");
}
