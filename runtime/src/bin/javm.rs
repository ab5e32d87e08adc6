//! The `javm` command-line tool.
fn main() {}
