//! The committed guests (`guests/bin`) and `guests/expected.json`.

use javm::harness::decode_hex;
use serde_json::Value;
use std::path::PathBuf;

/// The `guests/` directory of the repository.
pub fn guests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guests")
}

/// One argument set of a guest and what it must produce.
#[derive(Clone, Debug)]
pub struct Case {
    /// Case name (`default` is the bench workload, `small` a short run).
    pub name: String,
    /// Argument bytes.
    pub args: Vec<u8>,
    /// Expected output bytes.
    pub output: Vec<u8>,
    /// Gas used under the block model (PolkaVM's naive cost model).
    pub gas_naive: i64,
    /// Gas used under the pipeline model (PolkaVM's Full L2-hit model).
    pub gas_l2hit: i64,
    /// Host calls the run makes.
    pub host_calls: u64,
}

/// A guest: both containers and its cases.
#[derive(Clone, Debug)]
pub struct Guest {
    /// Guest name (also the native symbol suffix).
    pub name: String,
    /// The GP standard program (`bin/<name>.jam`).
    pub jam: Vec<u8>,
    /// The PolkaVM container (`bin/<name>.polkavm`).
    pub polkavm: Vec<u8>,
    /// Argument sets with expected results.
    pub cases: Vec<Case>,
}

impl Guest {
    /// The case called `name`.
    ///
    /// # Panics
    ///
    /// If there is none.
    pub fn case(&self, name: &str) -> &Case {
        self.cases.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{}: no case {name}", self.name))
    }
}

/// The guest called `name` among `all`.
///
/// # Panics
///
/// If there is none.
pub fn named<'a>(all: &'a [Guest], name: &str) -> &'a Guest {
    all.iter().find(|g| g.name == name).unwrap_or_else(|| panic!("no guest {name}"))
}

/// Every guest of `expected.json`, in file order (alphabetical).
///
/// # Panics
///
/// If the file or a blob is missing or malformed.
pub fn load() -> Vec<Guest> {
    let dir = guests_dir();
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("guests/expected.json");
    let json: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    let str_of = |v: &Value, key: &str| v[key].as_str().unwrap_or_else(|| panic!("expected.json: no {key}")).to_owned();
    let hex = |v: &Value, key: &str| decode_hex(&str_of(v, key)).expect("expected.json: hex");
    let read = |rel: String| std::fs::read(dir.join(&rel)).unwrap_or_else(|e| panic!("guests/{rel}: {e}"));
    json["guests"]
        .as_array()
        .expect("expected.json: guests")
        .iter()
        .map(|g| Guest {
            name: str_of(g, "name"),
            jam: read(str_of(g, "jam")),
            polkavm: read(str_of(g, "polkavm")),
            cases: g["cases"]
                .as_array()
                .expect("expected.json: cases")
                .iter()
                .map(|c| Case {
                    name: str_of(c, "name"),
                    args: hex(c, "args"),
                    output: hex(c, "output"),
                    gas_naive: c["gas_naive"].as_i64().expect("gas_naive"),
                    gas_l2hit: c["gas_l2hit"].as_i64().expect("gas_l2hit"),
                    host_calls: c["host_calls"].as_u64().unwrap_or(0),
                })
                .collect(),
        })
        .collect()
}
