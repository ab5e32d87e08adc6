//! Runs the official PVM test vectors: v0.4 (single-shot, P7 with block
//! gas) and v0.5 (multi-step, P8 with pipeline gas), spec §13.

use crate::api::{Config, Engine, Instance};
use javm_cap::PAGE_SIZE;
use javm_cap::program::{GasModel, Profile};
use javm_cap::space::Access;
use javm_cap::vm::Exit;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// A chunk of memory contents.
#[derive(Clone, Debug, Deserialize)]
pub struct MemoryChunk {
    /// Start address.
    pub address: u32,
    /// Bytes.
    pub contents: Vec<u8>,
}

/// A page-map entry.
#[derive(Clone, Debug, Deserialize)]
pub struct PageMapEntry {
    /// Start address (page-aligned).
    pub address: u32,
    /// Length in bytes (whole pages).
    pub length: u32,
    /// Writable, else read-only.
    #[serde(rename = "is-writable")]
    pub is_writable: bool,
}

/// A v0.4 vector.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VectorV04 {
    /// Test name.
    pub name: String,
    /// Registers before.
    pub initial_regs: [u64; 13],
    /// Entry pc.
    pub initial_pc: u32,
    /// Accessible memory.
    pub initial_page_map: Vec<PageMapEntry>,
    /// Non-zero initial memory.
    pub initial_memory: Vec<MemoryChunk>,
    /// Gas before.
    pub initial_gas: i64,
    /// The raw code blob.
    pub program: Vec<u8>,
    /// `panic`, `halt` or `page-fault`.
    pub expected_status: String,
    /// Registers after.
    pub expected_regs: [u64; 13],
    /// Final pc.
    pub expected_pc: u32,
    /// Non-zero memory after.
    pub expected_memory: Vec<MemoryChunk>,
    /// Gas after.
    pub expected_gas: i64,
    /// Page-fault address, for `page-fault`.
    #[serde(default)]
    pub expected_page_fault_address: Option<u32>,
}

/// A v0.5 `assert` step.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Assert {
    /// `panic`, `halt`, `page-fault`, `out-of-gas` or `ecalli`.
    pub status: String,
    /// Gas left.
    pub gas: Option<i64>,
    /// pc.
    pub pc: Option<u32>,
    /// Registers.
    pub regs: Option<[u64; 13]>,
    /// Non-zero memory.
    pub memory: Option<Vec<MemoryChunk>>,
    /// Page-fault address.
    pub page_fault_address: Option<u32>,
    /// Host-call id.
    pub hostcall: Option<u32>,
}

/// A v0.5 `set-reg` step.
#[derive(Clone, Debug, Deserialize)]
pub struct SetReg {
    /// Register index.
    pub reg: usize,
    /// New value.
    pub value: u64,
}

/// One v0.5 step.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Run to the next exit.
    Run {},
    /// Check the state.
    Assert(Assert),
    /// Map a zero-filled range.
    Map(PageMapEntry),
    /// Write bytes ignoring protection.
    Write(MemoryChunk),
    /// Set a register.
    SetReg(SetReg),
}

/// A v0.5 block-cost entry.
#[derive(Clone, Debug, Deserialize)]
pub struct BlockCost {
    /// Block start.
    pub pc: u32,
    /// Its cost.
    pub cost: u32,
}

/// A v0.5 vector.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VectorV05 {
    /// Test name.
    pub name: String,
    /// Entry pc.
    pub initial_pc: u32,
    /// Gas before.
    pub initial_gas: i64,
    /// The raw code blob.
    pub program: Vec<u8>,
    /// Cost of every block start.
    pub block_gas_costs: Vec<BlockCost>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// A parsed vector of either version.
#[derive(Clone, Debug)]
pub enum Vector {
    /// v0.4.
    V04(Box<VectorV04>),
    /// v0.5.
    V05(Box<VectorV05>),
}

impl Vector {
    /// Whether a JSON document has the shape of a test vector (a `program`
    /// and a `name`), as opposed to e.g. a schema file beside the vectors.
    pub fn is_vector(json: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(json)
            .is_ok_and(|v| v.get("program").is_some() && v.get("name").is_some())
    }

    /// Parses a vector file's JSON; the version is told by its fields.
    pub fn parse(json: &str) -> Result<Vector, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        if value.get("steps").is_some() {
            serde_json::from_value(value).map(|v| Vector::V05(Box::new(v))).map_err(|e| format!("bad v0.5 vector: {e}"))
        } else {
            serde_json::from_value(value).map(|v| Vector::V04(Box::new(v))).map_err(|e| format!("bad v0.4 vector: {e}"))
        }
    }

    /// The test name.
    pub fn name(&self) -> &str {
        match self {
            Vector::V04(v) => &v.name,
            Vector::V05(v) => &v.name,
        }
    }

    /// The profile and gas model the vector format implies.
    pub fn default_config(&self) -> (Profile, GasModel) {
        match self {
            Vector::V04(_) => (Profile::P7, GasModel::Block),
            Vector::V05(_) => (Profile::P8, GasModel::Pipeline),
        }
    }
}

/// The first field that differs from the expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Where (step number for v0.5) and which field.
    pub field: String,
    /// Expected value.
    pub expected: String,
    /// Actual value.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, got {}", self.field, self.expected, self.actual)
    }
}

fn check<T: PartialEq + fmt::Debug>(field: impl Into<String>, expected: T, actual: T) -> Result<(), Mismatch> {
    if expected == actual {
        Ok(())
    } else {
        Err(Mismatch { field: field.into(), expected: format!("{expected:?}"), actual: format!("{actual:?}") })
    }
}

/// Every non-zero byte of accessible memory, by address.
fn nonzero_memory(instance: &mut Instance) -> BTreeMap<u32, u8> {
    let mut out = BTreeMap::new();
    let space = instance.address_space();
    let ranges: Vec<(u32, u32)> = space
        .mappings()
        .iter()
        .map(|m| (m.start_page * PAGE_SIZE as u32, m.cap.page_count() * PAGE_SIZE as u32))
        .collect();
    for (start, len) in ranges {
        let mut buf = vec![0u8; len as usize];
        space.read(start, &mut buf).expect("mapped memory is readable");
        for (i, &b) in buf.iter().enumerate() {
            if b != 0 {
                out.insert(start + i as u32, b);
            }
        }
    }
    out
}

fn expected_memory(chunks: &[MemoryChunk]) -> BTreeMap<u32, u8> {
    let mut out = BTreeMap::new();
    for chunk in chunks {
        for (i, &b) in chunk.contents.iter().enumerate() {
            if b != 0 {
                out.insert(chunk.address.wrapping_add(i as u32), b);
            }
        }
    }
    out
}

fn check_memory(field: &str, expected: &[MemoryChunk], instance: &mut Instance) -> Result<(), Mismatch> {
    let want = expected_memory(expected);
    let have = nonzero_memory(instance);
    if want == have {
        return Ok(());
    }
    let first = want
        .iter()
        .map(|(&a, &b)| (a, Some(b), have.get(&a).copied()))
        .chain(have.iter().map(|(&a, &b)| (a, want.get(&a).copied(), Some(b))))
        .filter(|(_, w, h)| w != h)
        .min_by_key(|(a, _, _)| *a)
        .expect("maps differ");
    Err(Mismatch {
        field: format!("{field} byte at 0x{:08x}", first.0),
        expected: format!("{:?}", first.1.unwrap_or(0)),
        actual: format!("{:?}", first.2.unwrap_or(0)),
    })
}

fn status_name(exit: Exit, host_word: &str) -> String {
    match exit {
        Exit::Host(_) => host_word.to_string(),
        other => other.status().to_string(),
    }
}

/// Runs one vector under `config`.
pub fn run_vector(vector: &Vector, config: Config) -> Result<(), Mismatch> {
    match vector {
        Vector::V04(v) => run_v04(v, config),
        Vector::V05(v) => run_v05(v, config),
    }
}

fn load(program: &[u8], config: Config, pc: u32) -> Result<Instance, Mismatch> {
    match Engine::new(config).load_blob(program) {
        Ok(module) => module.instantiate(Default::default(), pc).map_err(|e| Mismatch {
            field: "instantiate".into(),
            expected: "an instance".into(),
            actual: e.to_string(),
        }),
        // The official vectors hold valid blobs only: one the engine refuses
        // is a failure, whatever status the vector expects.
        Err(e @ crate::api::Error::Program(_)) => {
            Err(Mismatch { field: "program".into(), expected: "a valid blob".into(), actual: e.to_string() })
        }
        Err(e) => Err(Mismatch { field: "load".into(), expected: "a module".into(), actual: e.to_string() }),
    }
}

fn run_v04(v: &VectorV04, config: Config) -> Result<(), Mismatch> {
    let mut instance = load(&v.program, config, v.initial_pc)?;
    for entry in &v.initial_page_map {
        let access = if entry.is_writable { Access::Write } else { Access::Read };
        instance.address_space().map_zeroed(entry.address.into(), entry.length.into(), access).map_err(|e| {
            Mismatch { field: "initial-page-map".into(), expected: "mappable".into(), actual: e.to_string() }
        })?;
    }
    for chunk in &v.initial_memory {
        instance.address_space().poke(chunk.address, &chunk.contents).map_err(|e| Mismatch {
            field: "initial-memory".into(),
            expected: "writable".into(),
            actual: e.to_string(),
        })?;
    }
    for (i, &r) in v.initial_regs.iter().enumerate() {
        instance.set_reg(i, r);
    }
    instance.set_gas(v.initial_gas);
    let exit = instance.run();
    check("status", v.expected_status.clone(), status_name(exit, "host"))?;
    if let Exit::PageFault(addr) = exit {
        check("page-fault-address", v.expected_page_fault_address, Some(addr))?;
    }
    check("pc", v.expected_pc, instance.pc())?;
    check("regs", v.expected_regs, *instance.regs())?;
    check("gas", v.expected_gas, instance.gas())?;
    check_memory("memory", &v.expected_memory, &mut instance)
}

fn run_v05(v: &VectorV05, config: Config) -> Result<(), Mismatch> {
    let mut instance = load(&v.program, config, v.initial_pc)?;
    // Block costs of the pipeline model.
    if config.effective_gas_model() == GasModel::Pipeline {
        let program = instance.module().program();
        let actual: Vec<(u32, u32)> =
            program.blocks_with_costs().filter(|(b, _)| b.is_target).map(|(b, cost)| (b.pc, cost)).collect();
        let expected: Vec<(u32, u32)> = v.block_gas_costs.iter().map(|b| (b.pc, b.cost)).collect();
        check("block-gas-costs", expected, actual)?;
    }
    instance.set_gas(v.initial_gas);
    let mut last_exit = None;
    for (n, step) in v.steps.iter().enumerate() {
        let at = |field: &str| format!("step {n} {field}");
        match step {
            Step::Run {} => last_exit = Some(instance.run()),
            Step::SetReg(SetReg { reg, value }) => instance.set_reg(*reg, *value),
            Step::Map(m) => {
                let access = if m.is_writable { Access::Write } else { Access::Read };
                instance
                    .address_space()
                    .map_zeroed(m.address.into(), m.length.into(), access)
                    .map_err(|e| Mismatch { field: at("map"), expected: "mappable".into(), actual: e.to_string() })?;
            }
            Step::Write(chunk) => {
                instance.address_space().poke(chunk.address, &chunk.contents).map_err(|e| Mismatch {
                    field: at("write"),
                    expected: "mapped".into(),
                    actual: e.to_string(),
                })?;
            }
            Step::Assert(a) => {
                let exit = last_exit.ok_or_else(|| Mismatch {
                    field: at("assert"),
                    expected: "a run before".into(),
                    actual: "none".into(),
                })?;
                check(at("status"), a.status.clone(), status_name(exit, "ecalli"))?;
                if let Some(pc) = a.pc {
                    check(at("pc"), pc, instance.pc())?;
                }
                if let Some(regs) = a.regs {
                    check(at("regs"), regs, *instance.regs())?;
                }
                if let Some(gas) = a.gas {
                    check(at("gas"), gas, instance.gas())?;
                }
                if let Some(addr) = a.page_fault_address {
                    check(at("page-fault-address"), Exit::PageFault(addr), exit)?;
                }
                if let Some(id) = a.hostcall {
                    check(at("hostcall"), Exit::Host(id), exit)?;
                }
                if let Some(memory) = &a.memory {
                    check_memory(&at("memory"), memory, &mut instance)?;
                }
            }
        }
    }
    Ok(())
}
