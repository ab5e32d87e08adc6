//! Fingerprints the sources that decide the generated code and its tables
//! (this crate's, and the program decoder that numbers the instructions),
//! so that a persistent module cache never reuses code built by other
//! sources under the same version number.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets the manifest dir"));
    let mut hash = Sha256::new();
    for dir in ["src", "../cap/src/program"] {
        println!("cargo:rerun-if-changed={dir}");
        let mut found = Vec::new();
        files(&manifest.join(dir), &mut found);
        found.sort();
        for path in found {
            let name = path.strip_prefix(&manifest).unwrap_or(&path);
            hash.update(name.to_string_lossy().as_bytes());
            hash.update(std::fs::read(&path).unwrap_or_default());
        }
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=JAVM_CODEGEN_FINGERPRINT={hex}");
}
