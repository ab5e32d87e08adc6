//! javm-guest-builder: links the C guests into PVM blobs and checks them.
//!
//! ```text
//! javm-guest-builder link <in.elf> <out-stem>       # writes <out-stem>.polkavm and <out-stem>.jam
//! javm-guest-builder check <guests-dir> [--write]   # PolkaVM vs native on every case; compares
//!                                                   # with (or --write rewrites) expected.json
//! javm-guest-builder bench <guests-dir> [--runs N] [--only NAME]
//! javm-guest-builder stats <guests-dir>             # opcode histogram of the blobs
//! ```

mod cases;
mod link;
mod native;
mod pvm;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use polkavm::{BackendKind, SandboxKind};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        write!(s, "{b:02x}").unwrap();
        s
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn cmd_link(args: &[String]) -> Result<(), String> {
    let [elf, stem] = args else {
        return Err("usage: link <in.elf> <out-stem>".into());
    };
    let linked = link::link_elf(&read(Path::new(elf))?)?;
    let stem = PathBuf::from(stem);
    write(&stem.with_extension("polkavm"), &linked.polkavm)?;
    write(&stem.with_extension("jam"), &linked.jam)?;
    let code = &linked.code;
    let p = &linked.program;
    println!(
        "{}: code {} B ({} instructions, {} jump-table entries), o {} B, w {} B, z {} pages, s {} B, .jam {} B",
        stem.file_name().unwrap().to_string_lossy(),
        code.code.len(),
        code.mask.iter().map(|b| b.count_ones()).sum::<u32>(),
        code.jump_table.len(),
        p.ro_data.len(),
        p.rw_data.len(),
        p.heap_pages,
        p.stack_size,
        linked.jam.len()
    );
    Ok(())
}

struct Guest {
    name: String,
    polkavm: Vec<u8>,
    jam: Vec<u8>,
    native: native::NativeEntry,
}

/// Every guest that has a native build and a committed `.polkavm`; also
/// checks that the `.jam` next to it is exactly the conversion of it.
fn load_guests(dir: &Path, only: Option<&str>) -> Result<Vec<Guest>, String> {
    let mut guests = Vec::new();
    for (name, entry) in native::NATIVE_GUESTS {
        if only.is_some_and(|o| o != *name) {
            continue;
        }
        let polkavm = read(&dir.join("bin").join(format!("{name}.polkavm")))?;
        let jam = read(&dir.join("bin").join(format!("{name}.jam")))?;
        let linked = link::convert(polkavm.clone()).map_err(|e| format!("{name}: {e}"))?;
        if linked.jam != jam {
            return Err(format!("{name}: bin/{name}.jam is not the conversion of bin/{name}.polkavm"));
        }
        let decoded = javm_cap::program::StandardProgram::parse(&jam).map_err(|e| format!("{name}.jam: {e}"))?;
        assert_eq!(decoded, linked.program);
        guests.push(Guest { name: name.to_string(), polkavm, jam, native: *entry });
    }
    if guests.is_empty() {
        return Err("no guests found".into());
    }
    // The C harness keeps its own list; it must name every guest.
    let header = String::from_utf8(read(&dir.join("native").join("javm_guests.h"))?).unwrap_or_default();
    for (name, _) in native::NATIVE_GUESTS {
        if !header.contains(&format!("X({name})")) {
            return Err(format!("native/javm_guests.h does not list guest `{name}`"));
        }
    }
    Ok(guests)
}

fn cmd_check(args: &[String]) -> Result<(), String> {
    let dir = PathBuf::from(args.first().ok_or("usage: check <guests-dir> [--write]")?);
    let write_expected = args.iter().any(|a| a == "--write");
    let guests = load_guests(&dir, None)?;
    let vm = pvm::Vm::new(BackendKind::Interpreter, SandboxKind::Generic)?;

    let mut json = String::new();
    json.push_str("{\n  \"version\": 1,\n");
    json.push_str("  \"comment\": \"Expected outputs of the guests in bin/. Args and outputs are hex. Entry: code offset 0, GP standard-program registers. Host calls: 0 = gas (charges 10, r7 = gas left), 100 = log (charges 10). gas_* = gas used as measured by PolkaVM 0.37 with sync metering, including 10 per host call: naive = 1 per instruction, l2hit = GP 0.8 pipeline model with CacheModel::L2Hit.\",\n");
    json.push_str("  \"guests\": [\n");
    let mut failures = 0;
    for (gi, g) in guests.iter().enumerate() {
        let naive = vm.load(&g.polkavm, pvm::Costs::Naive)?;
        let full = vm.load(&g.polkavm, pvm::Costs::FullL2Hit)?;
        let from_jam = vm.load_jam(&g.jam, pvm::Costs::Naive)?;
        let _ = writeln!(
            json,
            "    {{\n      \"name\": \"{0}\",\n      \"jam\": \"bin/{0}.jam\",\n      \"polkavm\": \"bin/{0}.polkavm\",\n      \"native_symbol\": \"javm_guest_{0}\",\n      \"cases\": [",
            g.name
        );
        let cases = cases::cases(&g.name);
        for (ci, case) in cases.iter().enumerate() {
            let native_out = native::run(g.native, &case.args);
            let a = pvm::run(&naive, &case.args).map_err(|e| format!("{} {}: {e}", g.name, case.name))?;
            let b = pvm::run(&full, &case.args).map_err(|e| format!("{} {}: {e}", g.name, case.name))?;
            let c = pvm::run(&from_jam, &case.args).map_err(|e| format!("{}.jam {}: {e}", g.name, case.name))?;
            // The .jam, run with the same cost model, must behave exactly as the .polkavm.
            let ok =
                a.output == native_out && b.output == native_out && c.output == a.output && c.gas_used == a.gas_used;
            if !ok {
                failures += 1;
            }
            println!(
                "{:<10} {:<8} args={:<16} {} out={} gas naive={} l2hit={} host_calls={}{}",
                g.name,
                case.name,
                hex(&case.args),
                if ok { "OK  " } else { "FAIL" },
                hex(&a.output),
                a.gas_used,
                b.gas_used,
                a.host_calls,
                if ok { String::new() } else { format!(" native={}", hex(&native_out)) }
            );
            for (level, target, msg) in a.logs.iter().take(2) {
                println!("           log[{level}] {target}: {msg}");
            }
            let _ = writeln!(
                json,
                "        {{ \"name\": \"{}\", \"args\": \"{}\", \"output\": \"{}\", \"gas_naive\": {}, \"gas_l2hit\": {}, \"host_calls\": {} }}{}",
                case.name,
                hex(&case.args),
                hex(&a.output),
                a.gas_used,
                b.gas_used,
                a.host_calls,
                if ci + 1 < cases.len() { "," } else { "" }
            );
        }
        let _ = writeln!(json, "      ]\n    }}{}", if gi + 1 < guests.len() { "," } else { "" });
    }
    json.push_str("  ]\n}\n");

    if failures > 0 {
        return Err(format!("{failures} case(s) differ between PolkaVM and native"));
    }
    let path = dir.join("expected.json");
    if write_expected {
        write(&path, json.as_bytes())?;
        println!("wrote {}", path.display());
    } else {
        let old = read(&path)?;
        if old != json.as_bytes() {
            return Err(format!("{} is out of date (run `check --write`)", path.display()));
        }
        println!("{} is up to date", path.display());
    }
    Ok(())
}

fn min_time(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn cmd_bench(args: &[String]) -> Result<(), String> {
    let dir = PathBuf::from(args.first().ok_or("usage: bench <guests-dir> [--runs N] [--only NAME]")?);
    let mut runs = 5;
    let mut only = None;

    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().and_then(|n| n.parse().ok()).ok_or("--runs N")?,
            "--only" => only = it.next().cloned(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let guests = load_guests(&dir, only.as_deref())?;
    let interp = pvm::Vm::new(BackendKind::Interpreter, SandboxKind::Generic)?;
    let jit_linux = pvm::Vm::new(BackendKind::Compiler, SandboxKind::Linux)?;
    let jit_generic = pvm::Vm::new(BackendKind::Compiler, SandboxKind::Generic)?;
    println!("min of {runs} runs, default arguments, gas metering sync with the L2Hit model; time spent in run() only");
    println!(
        "| guest | native ms | interpreter ms | recompiler ms (linux sandbox) | recompiler ms (generic sandbox) | gas (L2Hit) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for g in &guests {
        let args: &[u8] = &[];
        let t_native = min_time(runs, || {
            let t = Instant::now();
            std::hint::black_box(native::run(g.native, args));
            t.elapsed()
        });
        let m_i = interp.load(&g.polkavm, pvm::Costs::FullL2Hit)?;
        let m_l = jit_linux.load(&g.polkavm, pvm::Costs::FullL2Hit)?;
        let m_g = jit_generic.load(&g.polkavm, pvm::Costs::FullL2Hit)?;
        let mut gas = 0;
        let mut time_vm = |m: &polkavm::Module| -> Result<Duration, String> {
            let mut best = Duration::MAX;
            for _ in 0..runs {
                let r = pvm::run(m, args)?;
                gas = r.gas_used;
                best = best.min(r.elapsed);
            }
            Ok(best)
        };
        let t_i = time_vm(&m_i)?;
        let t_l = time_vm(&m_l)?;
        let t_g = time_vm(&m_g)?;
        println!("| {} | {} | {} | {} | {} | {} |", g.name, ms(t_native), ms(t_i), ms(t_l), ms(t_g), gas);
    }
    Ok(())
}

fn cmd_stats(args: &[String]) -> Result<(), String> {
    use polkavm::program::Instruction;
    let dir = PathBuf::from(args.first().ok_or("usage: stats <guests-dir>")?);
    let guests = load_guests(&dir, None)?;
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for g in &guests {
        let blob = polkavm::ProgramBlob::parse(g.polkavm.clone().into()).map_err(|e| e.to_string())?;
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for inst in blob.instructions() {
            let name = match inst.kind {
                Instruction::invalid => "invalid".to_string(),
                k => k.opcode().name().to_string(),
            };
            *per.entry(name.clone()).or_default() += 1;
            *total.entry(name).or_default() += 1;
        }
        let n: usize = per.values().sum();
        let pick = |k: &str| per.get(k).copied().unwrap_or(0);
        println!(
            "{:<10} {:>6} instructions, {:>3} distinct opcodes; unlikely {}, cmov {}, jump_ind {}, ecalli {}",
            g.name,
            n,
            per.len(),
            pick("unlikely"),
            per.iter().filter(|(k, _)| k.starts_with("cmov")).map(|(_, v)| v).sum::<usize>(),
            pick("jump_indirect") + pick("load_imm_and_jump_indirect"),
            pick("ecalli"),
        );
    }
    let mut v: Vec<_> = total.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("\nall guests, {} distinct opcodes:", v.len());
    for chunk in v.chunks(4) {
        let line: Vec<String> = chunk.iter().map(|(k, n)| format!("{k:<28} {n:>5}")).collect();
        println!("  {}", line.join("  "));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("link") => cmd_link(&args[1..]),
        Some("check") => cmd_check(&args[1..]),
        Some("bench") => cmd_bench(&args[1..]),
        Some("stats") => cmd_stats(&args[1..]),
        _ => Err("usage: javm-guest-builder link|check|bench|stats ... (see the source header)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
