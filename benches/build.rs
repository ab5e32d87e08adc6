//! Compiles the C guests (`guests/src/*.c`) for the host with the system C
//! compiler and generates the table of their native entry points,
//! `javm_guest_<name>`, for `src/native.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let guests = manifest.join("../guests");
    let src = guests.join("src");
    let include = guests.join("include");

    let mut names: Vec<String> = std::fs::read_dir(&src)
        .expect("guests/src")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "c"))
        .map(|path| path.file_stem().expect("a file name").to_string_lossy().into_owned())
        .collect();
    names.sort();

    let mut build = cc::Build::new();
    build.include(&include).opt_level(2);
    for name in &names {
        build.file(src.join(format!("{name}.c")));
    }
    build.compile("javm_guests_native");

    let mut table = String::from("unsafe extern \"C\" {\n");
    for name in &names {
        writeln!(
            table,
            "    fn javm_guest_{name}(args: *const u8, len: usize, out: *mut u8, out_cap: usize) -> usize;"
        )
        .unwrap();
    }
    table.push_str("}\n\n/// Native entry points by guest name.\npub static ENTRIES: &[(&str, Entry)] = &[\n");
    for name in &names {
        writeln!(table, "    (\"{name}\", javm_guest_{name}),").unwrap();
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("native_guests.rs");
    std::fs::write(out, table).expect("write native_guests.rs");

    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", include.display());
}
