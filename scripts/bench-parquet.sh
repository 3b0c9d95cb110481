#!/usr/bin/env bash
# bench-parquet.sh — how fast and how lean is `taco pack-parquet` on a ~1 GiB Parquet file?
#
# What it measures
#   * A ~1 GiB Parquet file (64 row groups of ~16 MiB; random int64, float64, binary and hex-string
#     columns, so snappy barely shrinks them) is generated once with pyarrow and reused.
#   * Wall time from a warm page cache, each tool run ROUNDS times with the order rotated every round:
#       cat        `cat in.parquet > out.bin`                     (the copying floor, no durability)
#       cat+sync   `cat in.parquet > out.bin && sync out.bin`     (informational: the floor with the
#                                                                  durability taco gives — it fsyncs)
#       taco       `taco pack-parquet -q --force in.parquet -o out.taco`
#     Before every timed command its previous outputs are removed and `sync` is run (outside the
#     timing), so no tool pays for another's dirty pages. One extra round 0 runs first and is left out
#     of the report: it warms the write path (page allocation, the filesystem's free-space state). Wall time from bash's $EPOCHREALTIME around
#     the process (microseconds); peak RSS and CPU from `/usr/bin/time -f '%M %U %S'`.
#   * Ratios computed per round, then the median: taco/cat (target <= 1.5) and taco/(cat+sync).
#   * taco peak RSS (target <= 128 MiB). PASS/FAIL is printed; exit status is 0 regardless — this is
#     a report, not a test.
#   * Sanity: `taco validate --level deep` on the archive; pyarrow reads entry 0's bytes (sliced from
#     the archive at the offset/length given by out.taco.meta.json) as a Parquet file with rows, its
#     first row group equals the source's first row group, and the entries' rows add up to the source's.
#   * With PROFILE=1 (or PROFILE=auto, the default, when a target fails): `strace -c -f` of one taco
#     run. Always: whether cat uses copy_file_range (that makes the cat baseline an in-kernel copy).
#   Ends with a markdown summary (machine, date, command) to paste into BENCHMARKS.md.
#
# How to run (as root on Linux; installs `time`/`strace` with apt-get and pyarrow with pip if missing
# (the version scripts/setup.sh pins, if it pins one);
# builds target/release/taco if missing):
#   bash scripts/bench-parquet.sh
#   ROUNDS=5 BENCH_DIR=/tmp/taco-bench-parquet KEEP=0 PROFILE=auto bash scripts/bench-parquet.sh 2>&1 | tee out.txt
# Needs ~4.5 GiB free in BENCH_DIR (the 1 GiB source is kept and reused; outputs are deleted at the
# end unless KEEP=1). Run it on an otherwise idle machine: the load average is printed at the start
# and the end.
set -euo pipefail
export LC_ALL=C

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_settings /tmp/taco-bench-parquet

SRC=$BENCH_DIR/src/bench.parquet

# ---------------------------------------------------------------------------------------------
bench_tools -j2
# pyarrow: the version scripts/setup.sh pins (PYARROW_VERSION=...) if it pins one, else the latest
# if none is installed.
PYARROW_PIN=$(sed -n 's/^PYARROW_VERSION=\([0-9][0-9.]*\).*/\1/p' "$REPO/scripts/setup.sh" 2>/dev/null | head -1)
if [[ -n $PYARROW_PIN ]]; then
    if ! python3 -c 'import sys, pyarrow.parquet, pyarrow; sys.exit(pyarrow.__version__ != sys.argv[1])' \
        "$PYARROW_PIN" 2>/dev/null; then
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "pyarrow==$PYARROW_PIN"
    fi
elif ! python3 -c 'import pyarrow.parquet' 2>/dev/null; then
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check pyarrow
fi
HAVE_PACK_PARQUET=0
"$TACO" pack-parquet --help >/dev/null 2>&1 && HAVE_PACK_PARQUET=1
say "taco:    $TACO ($("$TACO" --version 2>/dev/null || echo '?'); pack-parquet: $( ((HAVE_PACK_PARQUET)) && echo yes || echo MISSING))"
say "cat:     $(cat --version | head -1)"
say "python:  $PY ($("$PY" --version 2>&1)), pyarrow $("$PY" -c 'import pyarrow; print(pyarrow.__version__)')"
say_strace_and_loadavg

mkdir -p "$(dirname "$SRC")" "$OUT" "$TMP"
: >"$RESULTS"

# ---------------------------------------------------------------------------------------------
section "source $SRC"
# 64 row groups x 262 144 rows x 68 bytes of values per row (8 int64 + 8 float64 + 4+28 binary +
# 4+16 hex string, counting Parquet's PLAIN length prefixes) = 64 x 17 MiB, ~16 MiB each once snappy
# (pyarrow's default) has squeezed the hex digits a little; random bytes it cannot shrink. No
# dictionaries (random values would only make the writer try and give up). Written one row group at a time through pq.ParquetWriter,
# so Python holds one ~16 MiB row group at a time; written to a temporary name and renamed. Random
# bytes come from a seeded random.Random and pyarrow.compute.random: no numpy needed (pyarrow no
# longer pulls it in). N_GROUPS, not GROUPS: bash ignores assignments to its own GROUPS array.
GEN_PY='
import os, random, sys, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
path, groups, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BIN, HEX = 28, 16
schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("blob", pa.binary()), ("tag", pa.string())])
rnd = random.Random(20240601)
def fixed_width(typ, n, width, data):
    offsets = pa.array(range(0, (n + 1) * width, width), type=pa.int32()).buffers()[1]
    return pa.Array.from_buffers(typ, n, [None, offsets, pa.py_buffer(data)])
tmp = path + ".tmp"
with pq.ParquetWriter(tmp, schema, compression="snappy", use_dictionary=False) as w:
    for g in range(groups):
        ids = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(rnd.randbytes(rows * 8))])
        t = pa.table([ids, pc.random(rows, initializer=g),
                      fixed_width(pa.binary(), rows, BIN, rnd.randbytes(rows * BIN)),
                      fixed_width(pa.string(), rows, HEX, rnd.randbytes(rows * HEX // 2).hex().encode())],
                     schema=schema)
        w.write_table(t, row_group_size=rows)
os.rename(tmp, path)
'
N_GROUPS=64
ROWS_PER_GROUP=262144
# shape_ok: the file exists, has $N_GROUPS row groups and is 0.9-1.1 GiB.
shape_ok() {
    [[ -f $SRC ]] || return 1
    "$PY" - "$SRC" "$N_GROUPS" <<'PY' >/dev/null 2>&1
import os, sys, pyarrow.parquet as pq
p, g = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(p)
sys.exit(0 if pq.read_metadata(p).num_row_groups == g and 0.9 * 2**30 <= size <= 1.1 * 2**30 else 1)
PY
}
if shape_ok; then
    say "reusing $SRC"
else
    say "generating $SRC: $N_GROUPS row groups x $ROWS_PER_GROUP rows with pyarrow"
    rm -f "$SRC" "$SRC.tmp"
    t0=${EPOCHREALTIME/./}
    /usr/bin/time -f '%M' -o "$TMP/gen.rss" "$PY" -c "$GEN_PY" "$SRC" "$N_GROUPS" "$ROWS_PER_GROUP"
    t1=${EPOCHREALTIME/./}
    say "generated in $(((t1 - t0) / 1000)) ms, python peak RSS $(($(tail -1 "$TMP/gen.rss") / 1024)) MiB"
    shape_ok || { say "generated file has the wrong shape"; exit 1; }
fi
SRC_INFO=$("$PY" - "$SRC" <<'PY'
import os, sys, pyarrow.parquet as pq
p = sys.argv[1]
m = pq.read_metadata(p)
sizes = [m.row_group(i).total_byte_size for i in range(m.num_row_groups)]
comp = [sum(m.row_group(i).column(c).total_compressed_size for c in range(m.num_columns))
        for i in range(m.num_row_groups)]
codec = m.row_group(0).column(0).compression
print(f"{os.path.getsize(p)} bytes ({os.path.getsize(p) / 2**30:.3f} GiB), {m.num_rows} rows, "
      f"{m.num_row_groups} row groups of {min(comp) / 2**20:.1f}-{max(comp) / 2**20:.1f} MiB stored "
      f"({sum(sizes) / 2**20:.0f} MiB uncompressed in all), {m.num_columns} columns, {codec}, "
      f"footer {m.serialized_size} bytes")
PY
)
say "$SRC_INFO"
SRC_BYTES=$(stat -c %s "$SRC")

if ((HAVE_PACK_PARQUET == 0)); then
    section "stop"
    say "$TACO has no pack-parquet subcommand yet; only the source was generated/checked."
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# One timed run. Appends "round tool wall_s rss_kib user_s sys_s" to $RESULTS.
run_tool() { # run_tool ROUND TOOL
    local round=$1 tool=$2
    fresh_output "$tool"
    case $tool in
        cat) timed --out "$OUTFILE" cat "$SRC" ;;
        cat+sync) timed sh -c 'cat "$1" >"$0" && sync "$0"' "$OUTFILE" "$SRC" ;;
        taco) timed --out /dev/null "$TACO" pack-parquet -q --force "$SRC" -o "$OUTFILE" ;;
    esac
    record_round "$round" "$tool"
}

TOOLS=(cat cat+sync taco)
section "$ROUNDS rounds, order rotated each round"
say "warm-up: reading $SRC into the page cache (untimed)"
cat "$SRC" >/dev/null
say "round 0 warms up every tool and is left out of the report (the first ~1 GiB of writes after a"
say "quiet spell is often several times slower on a VM)"
rotate_rounds 0 run_tool
rm -f "$OUT/out.bin" "$OUT/out.cs"

# ---------------------------------------------------------------------------------------------
section "sanity: the last archive"
ARCHIVE=$OUT/out.taco
META=$ARCHIVE.meta.json
if [[ -f $ARCHIVE ]]; then
    say "archive: $(stat -c %s "$ARCHIVE") bytes (source $SRC_BYTES bytes)"
else
    say "archive: MISSING"
fi
validate_deep "$ARCHIVE"
# The index's key names are read loosely (offset/length, or data_offset/data_len), so a renamed field
# shows up as a clear FAIL line rather than a traceback.
set +e
"$PY" - "$ARCHIVE" "$META" "$SRC" >"$TMP/pyarrow.txt" 2>&1 <<'PY'
import io, json, sys
import pyarrow.parquet as pq
archive, meta_path, src = sys.argv[1:4]
def pick(d, *names):
    for n in names:
        if n in d:
            return d[n]
    raise KeyError(f"none of {names} in entry keys {sorted(d)}")
meta = json.load(open(meta_path))
entries = meta.get("entries") if isinstance(meta, dict) else None
if not entries:
    sys.exit(f"FAIL: {meta_path} has no non-empty 'entries' list (top-level keys: "
             f"{sorted(meta) if isinstance(meta, dict) else type(meta).__name__})")
entries = sorted(entries, key=lambda e: e.get("index", 0))
src_meta = pq.read_metadata(src)
total, ok = 0, True
with open(archive, "rb") as f:
    for i, e in enumerate(entries):
        off, length = int(pick(e, "offset", "data_offset")), int(pick(e, "length", "len", "data_len"))
        f.seek(off)
        buf = f.read(length)
        m = pq.read_metadata(io.BytesIO(buf))
        total += m.num_rows
        print(f"  entry {i}: offset {off} length {length} ({length / 2**20:.1f} MiB) kind "
              f"{e.get('kind', '?')} label {e.get('label', '?')!r}: {m.num_row_groups} row groups, "
              f"{m.num_rows} rows")
        if i == 0:
            if m.num_rows <= 0:
                ok = False
                print("  entry 0: FAIL: no rows")
            part = pq.ParquetFile(io.BytesIO(buf)).read_row_group(0)
            orig = pq.ParquetFile(src).read_row_group(0)
            same = part.equals(orig)
            ok &= same
            print(f"  entry 0, row group 0 decoded by pyarrow equals the source's row group 0: {same}")
        del buf
print(f"  rows in all entries: {total}, in the source: {src_meta.num_rows}: "
      f"{'equal' if total == src_meta.num_rows else 'DIFFERENT'}")
ok &= total == src_meta.num_rows
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
PYARROW_RC=$?
set -e
grep -v '^PASS$' "$TMP/pyarrow.txt" || true
if ((PYARROW_RC == 0)); then PYARROW_OK="PASS"; else PYARROW_OK="FAIL"; fi
say "pyarrow reads entry 0 from the archive: $PYARROW_OK"

# ---------------------------------------------------------------------------------------------
section "cat's copy path (strace -c -f of one cat)"
rm -f "$OUT/out.bin"
strace -c -f -o "$TMP/cat.strace" cat "$SRC" >"$OUT/out.bin"
cat "$TMP/cat.strace"
note_copy_file_range "$TMP/cat.strace"
rm -f "$OUT/out.bin"

# ---------------------------------------------------------------------------------------------
section "report"
report_vs_cat 1.5 128

if want_profile 'target <= .*: FAIL'; then
    section "profile: strace -c -f of one taco pack-parquet"
    cat "$SRC" >/dev/null
    rm -f "$OUT/out.taco" "$OUT/out.taco.meta.json"; sync
    t0=${EPOCHREALTIME/./}
    strace -c -f -o "$TMP/taco.strace" "$TACO" pack-parquet -q --force "$SRC" -o "$OUT/out.taco" >/dev/null
    t1=${EPOCHREALTIME/./}
    cat "$TMP/taco.strace"
    say "(wall under strace: $(((t1 - t0) / 1000)) ms)"
fi

if [[ $KEEP != 1 ]]; then
    rm -f "$OUT"/out.*
    say "deleted the outputs (KEEP=1 keeps them); the source stays in $SRC for reuse"
fi

# ---------------------------------------------------------------------------------------------
markdown_summary_head
"$PY" - "$RESULTS.json" <<PY
import json, sys
r = json.load(open(sys.argv[1]))
print("Command: \`$CMDLINE\` (taco $("$TACO" --version 2>/dev/null | awk '{print $NF}'), "
      "$(cat --version | head -1), pyarrow $("$PY" -c 'import pyarrow; print(pyarrow.__version__)')). "
      "Warm page cache; median of $ROUNDS rounds; ratios are per-round medians. "
      "cat uses copy_file_range: $CAT_CFR.")
print()
print("Source: $SRC_INFO.")
print()
print("Wall times: median (min) over the rounds.")
print()
print("| cat | cat+sync | taco pack-parquet | taco/cat | target taco/cat | taco/cat+sync | taco peak RSS | validate --level deep | pyarrow reads entry 0 |")
print("|---|---|---|---|---|---|---|---|---|")
m, lo = r["m"], r["lo"]
w = lambda t: f"{m[t]:.3f} ({lo[t]:.3f}) s"
print(f"| {w('cat')} | {w('cat+sync')} | {w('taco')} | {r['r_cat']:.2f} | "
      f"<= 1.5: {'PASS' if r['ok_cat'] else 'FAIL'} | {r['r_cs']:.2f} | "
      f"{r['rss']:.1f} MiB (<= 128: {'PASS' if r['ok_rss'] else 'FAIL'}) | $VALIDATE | $PYARROW_OK |")
PY
exit 0
