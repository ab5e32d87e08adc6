//! Compiles every guest in `../src/*.c` natively (with the system C
//! compiler, via the `cc` crate) and generates the table of their entry
//! points, `javm_guest_<name>`. The benches crate can do the same.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let guests = manifest.join("..");
    let src = guests.join("src");
    let include = guests.join("include");

    let mut names = Vec::new();
    for entry in std::fs::read_dir(&src).expect("guests/src") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "c") {
            names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();

    let mut build = cc::Build::new();
    build.include(&include).opt_level(2).warnings(true);
    for name in &names {
        build.file(src.join(format!("{name}.c")));
    }
    build.compile("javm_guests_native");

    let mut table = String::new();
    table.push_str("unsafe extern \"C\" {\n");
    for name in &names {
        writeln!(
            table,
            "    fn javm_guest_{name}(args: *const u8, args_len: usize, out: *mut u8, out_cap: usize) -> usize;"
        )
        .unwrap();
    }
    table.push_str(
        "}\n\n/// Native entry points, by guest name.\npub static NATIVE_GUESTS: &[(&str, NativeEntry)] = &[\n",
    );
    for name in &names {
        writeln!(table, "    (\"{name}\", javm_guest_{name}),").unwrap();
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("native_guests.rs");
    std::fs::write(out, table).unwrap();

    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", include.display());
}
