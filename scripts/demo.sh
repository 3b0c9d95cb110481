#!/usr/bin/env bash
# A first look at taco: build the CLI, pack the sample data shipped in examples/ (a pipeline
# stage and a Parquet file with 10 row groups), then read the archives back: header, listing,
# deep validation, and entries fetched by byte range; then the same from Python
# (taco_archive, installed from python/).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p taco-cli
# Wherever cargo puts its output (CARGO_TARGET_DIR, a workspace setting), ask it.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
taco="$target_dir/release/taco"
out=examples/out/stage1.taco
mkdir -p examples/out

run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$taco" pack --force --entry-per-file "$out" examples/data/pipeline/stage1
run "$taco" info "$out"
run "$taco" ls "$out"
run "$taco" validate --level deep "$out"
printf '\n$ %s | head -n 3\n' "$taco get $out --entry 1"
"$taco" get "$out" --entry 1 | head -n 3
run unzip -l "$out"

# Parquet: split into self-contained parts; entry 2 is a Parquet file on its own.
pq_out=examples/out/observations.taco
run "$taco" pack-parquet --force -o "$pq_out" examples/data/parquet/observations.parquet
run "$taco" header "$pq_out"
run "$taco" get "$pq_out" --entry 2 -o examples/out/entry2.parquet --force
if python3 -c 'import pyarrow' 2>/dev/null; then
  printf '\n$ python3: pyarrow reads entry 2 on its own\n'
  python3 -c 'import pyarrow.parquet as pq; t = pq.read_table("examples/out/entry2.parquet", use_threads=False); print(t.num_rows, "rows;", t.schema.names)'
else
  printf '\n(skipped: reading entry 2 with pyarrow — pyarrow is not installed yet; the Python part below installs it)\n'
fi

# Tiles and ML splits: each zoom level / split is one span entry.
run "$taco" pack-tiles --force -o examples/out/tiles.taco examples/data/tiles
run "$taco" info examples/out/tiles.taco
rm -rf examples/out/zoom2 examples/out/val
run "$taco" get examples/out/tiles.taco --entry 2 --extract-to examples/out/zoom2
# One tile through the lookup directory at the front; the manifest as a Parquet table.
run "$taco" get examples/out/tiles.taco --tile 3/5/2 -o examples/out/tile-3-5-2.png --force
run "$taco" manifest examples/out/tiles.taco -o examples/out/tiles-manifest.parquet --force
if python3 -c 'import pyarrow' 2>/dev/null; then
  printf '\n$ python3: pyarrow reads the manifest\n'
  python3 -c 'import pyarrow.parquet as pq; t = pq.read_table("examples/out/tiles-manifest.parquet"); print(t.num_rows, "members; zoom 3:", sum(1 for z in t.column("z").to_pylist() if z == 3), "tiles")'
else
  printf '\n(skipped: reading the manifest with pyarrow — pyarrow is not installed yet)\n'
fi
run "$taco" pack-splits --force -o examples/out/ml_data.taco examples/data/ml_data
run "$taco" get examples/out/ml_data.taco --entry 1 --extract-to examples/out/val
run find examples/out/val -type f

# NetCDF: files ordered by their time coordinate, selected by time.
run "$taco" pack-netcdf --force -o examples/out/climate.taco examples/data/climate
run "$taco" query examples/out/climate.taco --time 2024-02

# Python: build and install the package in python/ (a pyo3 extension built by maturin), then
# pack and read the same sample data from Python.
printf '\n$ python3 -m pip install ./python pyarrow==26.0.1\n'
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
  ./python "pyarrow==26.0.1"
run python3 examples/python_demo.py
