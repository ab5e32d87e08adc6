//! Print the hex cap root of `DataCap::from_bytes(FILE contents)`.
//!
//! Usage: `cap_root FILE`. Prints one line; errors go to stderr with a
//! non-zero exit status.

use std::process::ExitCode;

use javm_cap::DataCap;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: cap_root FILE");
        return ExitCode::from(2);
    };
    let content = match std::fs::read(&path) {
        Ok(content) => content,
        Err(e) => {
            eprintln!("cap_root: cannot read {}: {e}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    let root = DataCap::from_bytes(&content).and_then(|cap| cap.hash_tree_root());
    match root {
        Ok(root) => {
            let hex: String = root.iter().map(|b| format!("{b:02x}")).collect();
            println!("{hex}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cap_root: {e}");
            ExitCode::FAILURE
        }
    }
}
