//! Conformance harness: the PVM test vectors ([`vectors`]), JIP-6 trace
//! replay ([`trace`]) and recording ([`record`]), and running two engines
//! side by side ([`cross_check`]), with a summary shared by the CLI and the
//! tests.

pub mod cross_check;
pub mod record;
pub mod trace;
pub mod vectors;

use std::path::{Path, PathBuf};

/// Decodes hex digits (an optional `0x` prefix allowed).
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex digit pair at offset {i}")))
        .collect()
}

/// Lower-case hex of `bytes`, no prefix.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Outcome of running a set of cases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// `(case name, first difference)` of every failure.
    pub failures: Vec<(String, String)>,
}

impl Summary {
    /// Records one case.
    pub fn record(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(why) => self.failures.push((name.to_string(), why)),
        }
    }

    /// `N passed, M failed`.
    pub fn line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failures.len())
    }
}

/// Every file under `paths` (folders are walked recursively, in name order)
/// whose name ends with `extension`; files named directly are kept whatever
/// their extension.
pub fn collect_files(paths: &[PathBuf], extension: &str) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, extension, out)?;
            } else if path.extension().is_some_and(|e| e == extension) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, extension, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}
