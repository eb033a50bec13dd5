#!/bin/sh
# Prints the fuzz targets, one a line: the [[bin]] names of fuzz/Cargo.toml, the one list
# (the Makefile's FUZZ_TARGETS, scripts/fuzz-seeds.sh and the tests read it from there).
cd "$(dirname "$0")/.." || exit 1
sed -n '/^\[\[bin\]\]/,/^name *=/s/^name *= *"\(.*\)"/\1/p' fuzz/Cargo.toml
