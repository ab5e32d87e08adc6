//! The `javm` command-line tool: run programs, conformance vectors and
//! traces, and disassemble.

use clap::{Args, Parser, Subcommand};
use javm::harness::cross_check::cross_check;
use javm::harness::record::record_run;
use javm::harness::trace::{parse_traces, replay_with};
use javm::harness::vectors::{Vector, run_vector};
use javm::harness::{Summary, collect_files, decode_hex, encode_hex};
use javm::{Compilation, Config, Engine, EngineKind, Exit, GasModel, HostCalls, HostResult, Instance, Module, Profile};
use std::path::PathBuf;
use std::process::ExitCode;

/// A JIT-backed runtime for JAM's PVM.
#[derive(Parser)]
#[command(name = "javm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a standard program (`.jam`), service blob or `.polkavm` container
    /// with GP initialisation. Exit code 0 on halt, 2 on any other guest
    /// status, 1 on bad input (usage errors included), 3 when --cross-check
    /// finds the engines differ.
    Run(RunArgs),
    /// Run PVM test vectors (v0.4 single-shot, v0.5 multi-step): files or
    /// folders of `.json` files.
    Vectors(VectorArgs),
    /// Replay JIP-6 PVM IO traces.
    Trace(TraceArgs),
    /// Print a program's instructions with pc, block starts and block gas.
    Disasm(DisasmArgs),
}

#[derive(Args, Clone, Copy)]
struct EngineArgs {
    /// Engine: `interp` or `jit`.
    #[arg(long, default_value = "interp")]
    engine: EngineKind,
}

/// How programs are loaded: when the recompiler compiles, and where it
/// keeps its code.
#[derive(Args)]
struct CacheArgs {
    /// When the recompiler compiles: `lazy` (each region of the program on
    /// its first entry), `lazy:N` (regions of at least N instructions) or
    /// `eager` (the whole program at load).
    #[arg(long, default_value = "lazy", value_name = "WHEN")]
    compile: Compilation,
    /// With --engine jit: interpret each program until it has run GAS gas
    /// (over all its runs), then switch to compiled code.
    #[arg(long, default_value_t = 0, value_name = "GAS")]
    tier_up: u64,
    /// Keep the recompiler's code in this directory (created with mode
    /// 0700), so that later runs load it instead of compiling again. The
    /// directory must be as trusted as this binary. Programs kept there are
    /// compiled whole.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// An engine with `config`, the compilation and the cache directory, if
    /// any.
    fn engine(&self, config: Config) -> Result<Engine, String> {
        let engine = Engine::new(config).with_compilation(self.compile).with_tier_up(self.tier_up);
        match &self.cache_dir {
            Some(dir) => engine.with_disk_cache(dir).map_err(|e| format!("--cache-dir: {e}")),
            None => Ok(engine),
        }
    }
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    match s {
        "p8" | "P8" => Ok(Profile::P8),
        "p7" | "P7" => Ok(Profile::P7),
        other => Err(format!("unknown profile {other:?} (expected p8 or p7)")),
    }
}

#[derive(Args)]
struct RunArgs {
    /// The program file.
    program: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    cache: CacheArgs,
    /// Instruction-set profile: `p8` (GP 0.8, default) or `p7` (GP 0.7.2).
    #[arg(long, default_value = "p8", value_parser = parse_profile)]
    profile: Profile,
    /// Gas model: `pipeline`, `block` or `instruction` (default: the
    /// profile's, pipeline for p8 and instruction for p7).
    #[arg(long)]
    gas_model: Option<GasModel>,
    /// Gas limit (a signed 64-bit number; a negative one runs out at the
    /// first block).
    #[arg(long, default_value_t = i64::MAX, allow_negative_numbers = true)]
    gas: i64,
    /// Entry point (code offset; GP: 0 refine / is-authorized, 5 accumulate).
    #[arg(long, default_value_t = 0)]
    entry: u32,
    /// Argument bytes, hex.
    #[arg(long, default_value = "")]
    args_hex: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// Run one instruction at a time and write what each did to FILE, one
    /// JSON object per line (pc, op, gas, the register written, the memory
    /// read or written, the exit).
    #[arg(long, value_name = "FILE", conflicts_with = "record_trace")]
    trace_steps: Option<PathBuf>,
    /// Write the run as a JIP-6 PVM IO trace to FILE, for `javm trace` (with
    /// the same --profile and --gas-model) or other JAM implementations.
    #[arg(long, value_name = "FILE")]
    record_trace: Option<PathBuf>,
    /// Run on both engines side by side (--engine is ignored), compare them
    /// at every exit, and when they differ, print both and the block where
    /// they part (exit code 3).
    #[arg(long, conflicts_with_all = ["trace_steps", "record_trace"])]
    cross_check: bool,
}

#[derive(Args)]
struct VectorArgs {
    /// Vector files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Override the profile the vector format implies (v0.4 → p7, v0.5 → p8).
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    /// Override the gas model the format implies (v0.4 → block, v0.5 → pipeline).
    #[arg(long)]
    gas_model: Option<GasModel>,
}

#[derive(Args)]
struct TraceArgs {
    /// Trace files (plain JIP-6 lines, or runner logs with `TRACE [...]`
    /// lines) or folders of `.log`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    cache: CacheArgs,
    /// Profile (JIP-6 traces of GP 0.7.2 services are p7).
    #[arg(long, default_value = "p7", value_parser = parse_profile)]
    profile: Profile,
    /// Gas model (default: the profile's).
    #[arg(long)]
    gas_model: Option<GasModel>,
}

#[derive(Args)]
struct DisasmArgs {
    /// The program file (standard program, service blob, `.polkavm`, or a
    /// raw code blob).
    program: PathBuf,
    /// Profile.
    #[arg(long, default_value = "p8", value_parser = parse_profile)]
    profile: Profile,
    /// Gas model for the block costs (default: the profile's).
    #[arg(long)]
    gas_model: Option<GasModel>,
    /// Print the x86-64 code the recompiler generates for each instruction.
    #[arg(long)]
    native: bool,
}

fn main() -> ExitCode {
    // Like any Unix filter, stop quietly when the reader of stdout goes away
    // (`javm disasm … | head`): Rust ignores SIGPIPE, so a print would fail.
    // SAFETY: restoring the default action of one signal at start-up, before
    // any other thread exists.
    let _ =
        unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    // Usage errors are bad input (exit 1); 2 means a guest did not halt.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Vectors(args) => vectors(args),
        Command::Trace(args) => trace(args),
        Command::Disasm(args) => disasm(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("javm: {message}");
            ExitCode::from(1)
        }
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The host functions of `javm run`: 0 `gas` and 100 JIP-1 `log` (printed
/// to stderr when `log` is set).
struct CliHost {
    log: bool,
}

const HOST_GAS: u32 = 0;
const HOST_LOG: u32 = 100;
const GAS_CALL_COST: i64 = 10;

impl HostCalls for CliHost {
    fn call(&mut self, id: u32, instance: &mut Instance) -> HostResult {
        match id {
            HOST_GAS => {
                if instance.gas() < GAS_CALL_COST {
                    return HostResult::Exit(Exit::OutOfGas);
                }
                let left = instance.gas() - GAS_CALL_COST;
                instance.set_gas(left);
                instance.set_reg(7, left as u64);
                HostResult::Continue
            }
            HOST_LOG => {
                let level = instance.reg(7);
                let target_ptr = instance.reg(8);
                let text_is_empty = |_: usize| target_ptr == 0;
                let mut text = |ptr: usize, len: usize| {
                    let (addr, len) = (instance.reg(ptr) as u32, instance.reg(len).min(1 << 16) as usize);
                    let mut buf = vec![0u8; len];
                    match instance.read_memory(addr, &mut buf) {
                        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
                        Err(_) => format!("<unreadable 0x{addr:08x}+{len}>"),
                    }
                };
                let target = if text_is_empty(8) { String::new() } else { text(8, 9) };
                let message = text(10, 11);
                let level = match level {
                    0 => "FATAL",
                    1 => "WARN",
                    2 => "INFO",
                    3 => "DEBUG",
                    _ => "TRACE",
                };
                if self.log {
                    eprintln!("[{level}] {target}: {message}");
                }
                HostResult::Continue
            }
            _ => HostResult::Stop,
        }
    }
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    let config = Config { engine: args.engine.engine, profile: args.profile, gas_model: args.gas_model };
    let bytes = read(&args.program)?;
    let guest_args = decode_hex(&args.args_hex).map_err(|e| format!("--args-hex: {e}"))?;
    let start = |engine| -> Result<Instance, String> {
        let module = args
            .cache
            .engine(Config { engine, ..config })?
            .load(&bytes)
            .map_err(|e| format!("{}: {e}", args.program.display()))?;
        let mut instance = module.instantiate_standard(&guest_args, args.entry).map_err(|e| e.to_string())?;
        instance.set_gas(args.gas);
        Ok(instance)
    };
    let mut instance = start(if args.cross_check { EngineKind::Interpreter } else { config.engine })?;
    let exit = if args.cross_check {
        let mut other = start(EngineKind::Recompiler)?;
        match cross_check(&mut instance, &mut other, &mut CliHost { log: true }, &mut CliHost { log: false }) {
            Ok(exit) => exit,
            Err(divergence) => {
                eprintln!("javm: interpreter (first) and recompiler (second): {divergence}");
                return Ok(ExitCode::from(3));
            }
        }
    } else if let Some(path) = &args.trace_steps {
        trace_steps(&mut instance, path)?
    } else if let Some(path) = &args.record_trace {
        let (exit, trace) = record_run(&mut instance, &bytes, &guest_args, &mut CliHost { log: true });
        std::fs::write(path, trace.to_jip6()).map_err(|e| format!("{}: {e}", path.display()))?;
        exit
    } else {
        instance.run_with(&mut CliHost { log: true })
    };
    let output = match exit {
        Exit::Halt => {
            let (ptr, len) = (instance.reg(7) as u32, instance.reg(8));
            let mut buf = vec![0u8; len.min(1 << 24) as usize];
            // An unreadable output is an empty one (spec §11.4).
            if len <= 1 << 24 && instance.read_memory(ptr, &mut buf).is_ok() { buf } else { Vec::new() }
        }
        _ => Vec::new(),
    };
    let gas_used = args.gas.saturating_sub(instance.gas().max(0));
    if args.json {
        let mut obj = serde_json::json!({
            "status": exit.status(),
            "pc": instance.pc(),
            "gas": instance.gas(),
            "gas_used": gas_used,
            "regs": instance.regs(),
            "output_hex": encode_hex(&output),
        });
        match exit {
            Exit::PageFault(addr) => obj["page_fault_address"] = addr.into(),
            Exit::Host(id) => obj["host_id"] = id.into(),
            _ => {}
        }
        println!("{obj}");
    } else {
        println!("status: {exit}");
        println!("pc: {}", instance.pc());
        println!("gas left: {}, used: {gas_used}", instance.gas());
        for (i, r) in instance.regs().iter().enumerate() {
            println!("r{i:<2} = 0x{r:016x}");
        }
        if exit == Exit::Halt {
            println!("output: {}", encode_hex(&output));
        }
    }
    Ok(if exit == Exit::Halt { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Runs `instance` one instruction at a time, writing each step's record to
/// `path` as a JSON line.
fn trace_steps(instance: &mut Instance, path: &PathBuf) -> Result<Exit, String> {
    use std::io::Write;
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    let mut error = None;
    let exit = instance.trace_with(&mut CliHost { log: true }, |record| {
        if error.is_none() {
            error = writeln!(out, "{}", record.to_json()).err();
        }
    });
    match error {
        Some(e) => Err(failed(e)),
        None => out.flush().map(|()| exit).map_err(failed),
    }
}

fn finish(summary: &Summary) -> ExitCode {
    for (name, why) in &summary.failures {
        println!("FAIL {name}: {why}");
    }
    println!("{}", summary.line());
    if summary.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn vectors(args: VectorArgs) -> Result<ExitCode, String> {
    let files = collect_files(&args.paths, "json").map_err(|e| e.to_string())?;
    let mut summary = Summary::default();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string());
        // Other JSON found while walking a folder (schemas) is not a vector.
        let named = args.paths.contains(&file);
        if let Ok(text) = &text
            && !named
            && !Vector::is_vector(text)
        {
            continue;
        }
        let result = text.and_then(|text| Vector::parse(&text));
        let vector = match result {
            Ok(v) => v,
            Err(e) => {
                summary.record(&name, Err(e));
                continue;
            }
        };
        let (profile, gas_model) = vector.default_config();
        let config = Config {
            engine: args.engine.engine,
            profile: args.profile.unwrap_or(profile),
            gas_model: Some(args.gas_model.unwrap_or(gas_model)),
        };
        summary.record(vector.name(), run_vector(&vector, config).map_err(|m| m.to_string()));
    }
    Ok(finish(&summary))
}

fn trace(args: TraceArgs) -> Result<ExitCode, String> {
    let config = Config { engine: args.engine.engine, profile: args.profile, gas_model: args.gas_model };
    // One engine for every file: each distinct program is built once.
    let engine = args.cache.engine(config)?;
    let mut summary = Summary::default();
    for file in collect_files(&args.files, "log").map_err(|e| e.to_string())? {
        let name = file.display().to_string();
        let traces = std::fs::read_to_string(&file).map_err(|e| e.to_string()).and_then(|t| parse_traces(&t));
        match traces {
            Ok(traces) if traces.is_empty() => summary.record(
                &name,
                Err("no trace in file (expected JIP-6 lines such as `program 0x…`, plain or behind `TRACE [...] `)"
                    .into()),
            ),
            Ok(traces) => {
                for (i, t) in traces.iter().enumerate() {
                    summary.record(&format!("{name}#{i}"), replay_with(t, &engine).map_err(|m| m.to_string()));
                }
            }
            Err(e) => summary.record(&name, Err(e)),
        }
    }
    Ok(finish(&summary))
}

fn disasm(args: DisasmArgs) -> Result<ExitCode, String> {
    let engine = if args.native { EngineKind::Recompiler } else { EngineKind::Interpreter };
    let config = Config { engine, profile: args.profile, gas_model: args.gas_model };
    let bytes = read(&args.program)?;
    // The whole program's code, not only what a run would reach.
    let engine = Engine::new(config).with_compilation(Compilation::Eager);
    let module: Module = match engine.load(&bytes) {
        Ok(m) => m,
        Err(standard_error) => engine
            .load_blob(&bytes)
            .map_err(|_| format!("{}: {standard_error} (nor is it a raw code blob)", args.program.display()))?,
    };
    if args.native {
        print!("{}", module.native_disasm().unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let program = module.program();
    println!("; profile {}, gas model {}", config.profile, config.effective_gas_model());
    for (i, ins) in program.instructions().iter().enumerate() {
        let k = program.block_of(i as u32);
        if program.blocks()[k as usize].first == i as u32 {
            println!("@{}: ; block, gas {}", ins.pc, program.block_cost(k));
        }
        println!("  {:>6}: {}", ins.pc, javm_cap::program::disasm::format_instruction(ins));
    }
    Ok(ExitCode::SUCCESS)
}
