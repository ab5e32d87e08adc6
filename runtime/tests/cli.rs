//! The `javm` command line, as a user runs it.

use std::path::Path;
use std::process::Command;

fn javm(args: &[&str]) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_javm")).args(args).current_dir(root).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn run_prints_one_json_object() {
    let (code, stdout, _) =
        javm(&["run", "guests/bin/sieve.jam", "--args-hex", "64000000", "--json", "--gas", "100000000"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["status"], "halt");
    // 25 primes below 100, summing to 1060.
    assert_eq!(v["output_hex"], "19000000000000002404000000000000");
    assert_eq!(v["regs"].as_array().unwrap().len(), 13);
    assert_eq!(v["gas"].as_i64().unwrap() + v["gas_used"].as_i64().unwrap(), 100_000_000);
}

#[test]
fn run_reports_out_of_gas_and_host_calls() {
    let (code, stdout, _) = javm(&["run", "guests/bin/sieve.jam", "--gas", "1000", "--json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["status"], "out-of-gas");
    assert_eq!(v["output_hex"], "");
    // The hostcall guest logs through host call 100 and reads gas through 0.
    let (code, stdout, stderr) = javm(&["run", "guests/bin/hostcall.jam", "--args-hex", "0a00000003000000", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("hostcall"), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["status"], "halt");
}

#[test]
fn bad_input_is_a_clear_error() {
    let (code, _, stderr) = javm(&["run", "Cargo.toml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid program"), "{stderr}");
    let (code, _, stderr) = javm(&["run", "guests/bin/sieve.jam", "--args-hex", "abc"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--args-hex"), "{stderr}");
    let (code, _, stderr) = javm(&["run", "no/such/file.jam"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no/such/file.jam"), "{stderr}");
}

#[test]
fn vectors_and_trace_summaries() {
    let (code, stdout, _) = javm(&["vectors", "runtime/tests/vectors/pvm-v0.4/programs/inst_add_32.json"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "1 passed, 0 failed");
    // Forcing the wrong gas model fails, naming the field.
    let (code, stdout, _) = javm(&[
        "vectors",
        "--gas-model",
        "pipeline",
        "runtime/tests/vectors/pvm-v0.4/programs/inst_div_unsigned_64.json",
    ]);
    assert_eq!(code, 1);
    assert!(stdout.contains("FAIL inst_div_unsigned_64: gas:"), "{stdout}");
    assert!(stdout.ends_with("0 passed, 1 failed\n"));
    let (code, stdout, _) = javm(&["trace", "runtime/tests/vectors/jip6"]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn disasm_shows_blocks_and_gas() {
    let (code, stdout, _) = javm(&["disasm", "guests/bin/sieve.jam"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("; profile p8, gas model pipeline\n@0: ; block, gas "), "{stdout}");
    assert!(stdout.contains("      0: jump @"), "{stdout}");
}

#[test]
fn every_compilation_gives_the_same_run() {
    let run = |compile: &str| {
        javm(&[
            "run",
            "guests/bin/sieve.jam",
            "--engine",
            "jit",
            "--compile",
            compile,
            "--args-hex",
            "64000000",
            "--json",
        ])
    };
    let (code, expected, stderr) = run("eager");
    assert_eq!(code, 0, "{stderr}");
    assert!(expected.contains("19000000000000002404000000000000"), "{expected}");
    for compile in ["lazy", "lazy:1", "lazy:500"] {
        assert_eq!(run(compile), (0, expected.clone(), String::new()), "--compile {compile}");
    }
    let (code, tiered, _) = javm(&[
        "run",
        "guests/bin/sieve.jam",
        "--engine",
        "jit",
        "--tier-up",
        "1000",
        "--args-hex",
        "64000000",
        "--json",
    ]);
    assert_eq!((code, tiered), (0, expected.clone()), "--tier-up 1000 switches mid-run");
    for bad in ["lazy:0", "later"] {
        let (code, _, stderr) = run(bad);
        assert_eq!(code, 1, "--compile {bad}");
        assert!(stderr.contains("expected lazy, lazy:N with N > 0, or eager"), "{stderr}");
    }
}

#[test]
fn native_disasm_lists_the_whole_program() {
    let (code, stdout, _) = javm(&["disasm", "--native", "guests/bin/sieve.jam"]);
    assert_eq!(code, 0);
    let (_, plain, _) = javm(&["disasm", "guests/bin/sieve.jam"]);
    // Every instruction of the plain listing, and one stub section for the
    // one region.
    let instructions = plain.lines().filter(|l| !l.starts_with(';') && !l.starts_with('@')).count();
    let native = stdout.lines().filter(|l| l.len() > 8 && l.as_bytes()[6] == b':').count();
    assert_eq!(native, instructions, "{stdout}");
    assert_eq!(stdout.matches("; exit stubs").count(), 1);
}

#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The reader is gone before the command starts: its first print fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_javm"))
        .args(["disasm", "guests/bin/keccak.jam"])
        .current_dir(root)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.is_empty(), "stderr: {stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE));
}

#[test]
fn trace_accepts_plain_jip6_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixture = std::fs::read_to_string(root.join("runtime/tests/vectors/jip6/test-service-accumulate.log")).unwrap();
    // The same trace as JAM tools write it: the items alone, one a line.
    let plain: String = fixture
        .lines()
        .filter_map(|l| l.strip_prefix("TRACE [")?.split_once("] "))
        .map(|(_, item)| format!("{item}\n"))
        .collect();
    let dir = std::env::temp_dir().join(format!("javm-cli-plain-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plain.trace");
    std::fs::write(&file, plain).unwrap();
    let (code, stdout, _) =
        javm(&["trace", file.to_str().unwrap(), "runtime/tests/vectors/jip6/test-service-accumulate.log"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("2 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    for args in [
        &["run", "guests/bin/sieve.jam", "--engine", "foo"][..],
        &["run", "guests/bin/sieve.jam", "--gas", "abc"],
        &["run", "guests/bin/sieve.jam", "--no-such-flag"],
        &["no-such-command"],
        &[],
    ] {
        let (code, stdout, stderr) = javm(args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert!(!stderr.is_empty(), "{args:?}: no message");
    }
    assert!(javm(&["run", "x", "--engine", "foo"]).2.contains("unknown engine \"foo\""));
    let (code, stdout, _) = javm(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Usage"), "{stdout}");
}

#[test]
fn negative_gas_runs_out_at_once() {
    let (code, stdout, stderr) = javm(&["run", "guests/bin/sieve.jam", "--gas", "-1", "--json"]);
    assert_eq!(code, 2, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["status"], "out-of-gas");
    assert_eq!(v["gas"].as_i64(), Some(-1));
}

/// A scratch file path unique to this test process.
fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("javm-cli-{}-{name}", std::process::id()))
}

#[test]
fn run_traces_every_step_as_a_json_line() {
    let out = scratch("steps.jsonl");
    let out_arg = out.to_str().unwrap();
    for engine in ["interp", "jit"] {
        let (code, _, stderr) = javm(&[
            "run",
            "guests/bin/hostcall.jam",
            "--args-hex",
            "0a00000003000000",
            "--gas-model",
            "instruction",
            "--engine",
            engine,
            "--trace-steps",
            out_arg,
        ]);
        assert_eq!(code, 0, "{stderr}");
        let lines: Vec<serde_json::Value> =
            std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        // guests/expected.json: 1,225 gas under PolkaVM's naive model, 10 of
        // them for each of the 13 host calls, 1 for each other instruction.
        assert_eq!(lines.len(), 1225 - 13 * 10, "{engine}");
        assert_eq!(lines.iter().filter(|l| l["exit"] == "host").count(), 13);
        assert_eq!(lines.last().unwrap()["exit"], "halt");
        assert!(lines.iter().all(|l| l["op"].is_string() && l["pc"].is_u64()));
    }
    let _ = std::fs::remove_file(out);
}

#[test]
fn a_recorded_run_replays_with_javm_trace() {
    let out = scratch("run.trace");
    let out_arg = out.to_str().unwrap();
    let (code, _, stderr) = javm(&[
        "run",
        "guests/bin/hostcall.jam",
        "--args-hex",
        "0a00000003000000",
        "--engine",
        "jit",
        "--record-trace",
        out_arg,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("program 0x") && text.lines().any(|l| l.starts_with("ecalli=100 ")), "{text:.200}");
    assert!(text.lines().last().unwrap().starts_with("HALT pc="));
    for engine in ["interp", "jit"] {
        let (code, stdout, _) = javm(&["trace", "--profile", "p8", "--engine", engine, out_arg]);
        assert_eq!(code, 0, "{engine}: {stdout}");
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
    // Replayed under another gas model, the gas at the first host call differs.
    let (code, stdout, _) = javm(&["trace", "--profile", "p8", "--gas-model", "block", out_arg]);
    assert_eq!(code, 1, "{stdout}");
    let _ = std::fs::remove_file(out);
}

#[test]
fn cross_check_runs_both_engines_to_the_same_end() {
    let (code, stdout, stderr) =
        javm(&["run", "guests/bin/hostcall.jam", "--args-hex", "0a00000003000000", "--cross-check", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["status"], "halt");
    assert_eq!(v["output_hex"], "0a000000000000000a0000000000000003000000000000007a08e6d10bf7e0cb");
    // The guest's log lines are printed once, not once per engine.
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[test]
fn cache_dir_keeps_the_recompilers_code_for_later_runs() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache-dir");
    let _ = std::fs::remove_dir_all(&dir);
    let cache = dir.to_str().unwrap();
    let run =
        ["run", "guests/bin/sieve.jam", "--engine", "jit", "--args-hex", "64000000", "--json", "--cache-dir", cache];
    let (code, first, stderr) = javm(&run);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let inode = std::fs::metadata(&files[0]).unwrap().ino();
    // The second run loads the file: a compile would have replaced it.
    let (code, second, _) = javm(&run);
    assert_eq!((code, &second), (0, &first));
    assert_eq!(std::fs::metadata(&files[0]).unwrap().ino(), inode);
    let (code, uncached, _) = javm(&run[..7]);
    assert_eq!((code, uncached), (0, first));
    // Traces compile their programs into the same directory.
    let (code, stdout, _) = javm(&["trace", "runtime/tests/vectors/jip6", "--engine", "jit", "--cache-dir", cache]);
    assert_eq!(code, 0, "{stdout}");
    assert!(std::fs::read_dir(&dir).unwrap().count() > 1);
    // A directory others may write is refused, by name.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, _, stderr) = javm(&run);
    assert_eq!(code, 1);
    assert!(stderr.contains("--cache-dir") && stderr.contains(cache), "{stderr}");
}
