#!/usr/bin/env bash
# Rebuilds the PVM guest blobs in bin/ from the C sources in src/.
#
#   guests/build.sh            # compile + link every guest, then check them
#   guests/build.sh sieve sort # only these guests (and no check)
#
# Needs clang-19 and lld-19 (Debian: apt-get install clang-19 lld-19) and a
# Rust toolchain for the builder crate. Override the tools with CLANG=...
# and LLD=... . Intermediate files go to guests/build/ (not committed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

CLANG="${CLANG:-clang-19}"
LLD="${LLD:-ld.lld-19}"

# RV64E (the PVM has 13 registers) with the extensions the PolkaVM linker
# maps onto PVM instructions: M (mul/div), A, C, Zbb (bit manipulation) and
# XTheadCondMov (conditional moves). -mno-strict-align keeps word-sized
# copies word-sized. No floating point: no soft-float runtime is linked.
CFLAGS=(
  --target=riscv64-unknown-none-elf -march=rv64emac_zbb_xtheadcondmov -mabi=lp64e
  -mno-strict-align -O2 -fPIC -fvisibility=hidden -ffreestanding -fno-builtin
  -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-stack-protector
  -std=c11 -Wall -Wextra -Werror -Iinclude
)
# A relocatable-enough shared object: the PolkaVM linker needs the
# relocations (--emit-relocs) to rebuild the code for the PVM.
LDFLAGS=(
  -shared --emit-relocs --unique --apply-dynamic-relocs --no-allow-shlib-undefined
  -Bsymbolic --no-undefined -z norelro
)

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in src/*.c; do names+=("$(basename "$f" .c)"); done
fi

echo "building the builder..." >&2
cargo build --quiet --release --manifest-path builder/Cargo.toml
builder="${CARGO_TARGET_DIR:-builder/target}/release/javm-guest-builder"

mkdir -p build bin
for name in "${names[@]}"; do
  "$CLANG" "${CFLAGS[@]}" -c "src/$name.c" -o "build/$name.o"
  "$LLD" "${LDFLAGS[@]}" "build/$name.o" -o "build/$name.elf"
  "$builder" link "build/$name.elf" "bin/$name"
done

if [ "$#" -eq 0 ]; then
  "$builder" check .
fi
