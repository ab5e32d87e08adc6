//! Conformance harness: the PVM test vectors ([`vectors`]) and JIP-6 trace
//! replay ([`trace`]), with a summary shared by the CLI and the tests.

pub mod trace;
pub mod vectors;

use std::path::{Path, PathBuf};

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
