#!/usr/bin/env bash
# A first look at taco: build the CLI, pack the sample pipeline stage shipped in examples/,
# then read the archive back: header, listing, deep validation, and one entry by byte range.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p taco-cli
taco=target/release/taco
out=examples/out/stage1.taco
mkdir -p examples/out

run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$taco" pack --force --entry-per-file "$out" examples/data/pipeline/stage1
run "$taco" header "$out"
run "$taco" ls "$out"
run "$taco" validate --level deep "$out"
printf '\n$ %s | head -n 3\n' "$taco get $out --entry 1"
"$taco" get "$out" --entry 1 | head -n 3
run unzip -l "$out"
