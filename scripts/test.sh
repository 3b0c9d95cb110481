#!/usr/bin/env bash
# The one command that runs every test: installs tools, builds the CLI, runs the Rust tests,
# then the end-to-end suite in tests/ against the freshly built binary.
# Exits non-zero if any stage fails (later stages still run when a test stage fails).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

echo "== cargo build --release -p taco-cli (and the library examples the suite runs)"
cargo build --release -p taco-cli
cargo build --release -p taco-examples --example front_door --example many_members

echo "== the Python package: build the wheel (maturin, release) and install it"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
  --no-build-isolation --force-reinstall --no-deps ./python

status=0

echo "== cargo fmt --check, cargo clippy"
cargo fmt --all -- --check || status=1
cargo clippy --workspace --all-targets -j2 -- -D warnings || status=1

echo "== mypy: the Python package type-checks against the extension's stubs"
python3 -m mypy --ignore-missing-imports python/taco_archive || status=1

echo "== taco-reader without its remote feature: builds clean and pulls in no HTTP stack"
cargo clippy -p taco-reader --all-targets -j2 -- -D warnings || status=1
if cargo tree -p taco-reader -e normal --prefix none | grep -qE '^(tokio|object_store|reqwest) '; then
  echo "test.sh: taco-reader without --features remote depends on an HTTP stack" >&2
  status=1
fi

echo "== cargo doc of the libraries: every intra-doc link resolves"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --exclude taco-cli --exclude taco-examples -j2 -q || status=1

echo "== cargo test --workspace"
cargo test --workspace -j2 || status=1

echo "== library examples"
cargo run -q -p taco-examples --example snapshot || status=1
cargo run -q -p taco-examples --example progressive || status=1

echo "== pytest tests/"
# Wherever cargo puts its output (CARGO_TARGET_DIR included).
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
TACO_BIN="$target_dir/release/taco" python3 -m pytest -q -ra -p no:cacheprovider tests/ || status=1

if [[ $status -ne 0 ]]; then
  echo "test.sh: FAILED" >&2
fi
exit "$status"
