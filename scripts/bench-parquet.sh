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

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TACO=${TACO:-$REPO/target/release/taco}
BENCH_DIR=${BENCH_DIR:-/tmp/taco-bench-parquet}
ROUNDS=${ROUNDS:-5}
KEEP=${KEEP:-0}
PROFILE=${PROFILE:-auto}
CMDLINE="ROUNDS=$ROUNDS BENCH_DIR=$BENCH_DIR KEEP=$KEEP PROFILE=$PROFILE bash scripts/bench-parquet.sh"

SRC=$BENCH_DIR/src/bench.parquet
OUT=$BENCH_DIR/out
TMP=$BENCH_DIR/tmp
RESULTS=$TMP/results.tsv

say() { printf '%s\n' "$*"; }
section() { printf '\n=== %s ===\n' "$*"; }

# ---------------------------------------------------------------------------------------------
section "tools"
if [[ ! -x $TACO ]]; then
    say "building $TACO"
    (cd "$REPO" && cargo build --release -p taco-cli -j2)
fi
apt_updated=0
need_deb() { # need_deb BINARY PACKAGE
    if [[ ! -x $1 ]] && ! command -v "$1" >/dev/null 2>&1; then
        if ((apt_updated == 0)); then apt-get update -qq; apt_updated=1; fi
        apt-get install -y -qq "$2"
    fi
}
need_deb /usr/bin/time time
need_deb strace strace
command -v python3 >/dev/null || { say "python3 is required"; exit 1; }
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
# The real interpreter, not a pyenv shim (a shim adds tens of ms to every process).
PY=$(python3 -c 'import sys; print(sys.executable)')
HAVE_PACK_PARQUET=0
"$TACO" pack-parquet --help >/dev/null 2>&1 && HAVE_PACK_PARQUET=1
say "taco:    $TACO ($("$TACO" --version 2>/dev/null || echo '?'); pack-parquet: $( ((HAVE_PACK_PARQUET)) && echo yes || echo MISSING))"
say "cat:     $(cat --version | head -1)"
say "python:  $PY ($("$PY" --version 2>&1)), pyarrow $("$PY" -c 'import pyarrow; print(pyarrow.__version__)')"
say "strace:  $(strace -V | head -1)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "loadavg at start: $LOAD_START"

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
    local round=$1 tool=$2 out t0 t1
    case $tool in
        cat) out=$OUT/out.bin ;;
        cat+sync) out=$OUT/out.cs ;;
        taco) out=$OUT/out.taco ;;
    esac
    rm -f "$out" "$out.meta.json"
    sync
    case $tool in
        cat)
            t0=${EPOCHREALTIME/./}
            /usr/bin/time -f '%M %U %S' -o "$TMP/rss" cat "$SRC" >"$out"
            t1=${EPOCHREALTIME/./} ;;
        cat+sync)
            t0=${EPOCHREALTIME/./}
            /usr/bin/time -f '%M %U %S' -o "$TMP/rss" sh -c 'cat "$1" >"$0" && sync "$0"' "$out" "$SRC"
            t1=${EPOCHREALTIME/./} ;;
        taco)
            t0=${EPOCHREALTIME/./}
            /usr/bin/time -f '%M %U %S' -o "$TMP/rss" "$TACO" pack-parquet -q --force "$SRC" -o "$out" >/dev/null
            t1=${EPOCHREALTIME/./} ;;
    esac
    local rss usr sys wall
    read -r rss usr sys < <(tail -1 "$TMP/rss")
    wall=$(printf '%d.%06d' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000)))
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$tool" "$wall" "$rss" "$usr" "$sys" >>"$RESULTS"
    printf '  round %s %-9s wall %8ss  user %5ss sys %5ss  rss %7s KiB\n' "$round" "$tool" "$wall" \
        "$usr" "$sys" "$rss"
}

TOOLS=(cat cat+sync taco)
section "$ROUNDS rounds, order rotated each round"
say "warm-up: reading $SRC into the page cache (untimed)"
cat "$SRC" >/dev/null
say "round 0 warms up every tool and is left out of the report (the first ~1 GiB of writes after a"
say "quiet spell is often several times slower on a VM)"
for ((r = 0; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#TOOLS[@]}; k++)); do
        run_tool "$r" "${TOOLS[$(((k + r - 1) % ${#TOOLS[@]}))]}"
    done
done
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
set +e
"$TACO" validate --level deep "$ARCHIVE" >"$TMP/validate.txt" 2>&1
VALIDATE_RC=$?
set -e
sed 's/^/  /' "$TMP/validate.txt" | head -20
if ((VALIDATE_RC == 0)); then VALIDATE="PASS"; else VALIDATE="FAIL (exit $VALIDATE_RC)"; fi
say "taco validate --level deep: $VALIDATE"
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
if grep -q copy_file_range "$TMP/cat.strace"; then
    CAT_CFR="yes (in-kernel copy; no user-space buffer)"
else
    CAT_CFR="no (read/write through a user-space buffer)"
fi
say "cat uses copy_file_range: $CAT_CFR"
rm -f "$OUT/out.bin"

# ---------------------------------------------------------------------------------------------
section "report"
"$PY" - "$RESULTS" "$ROUNDS" >"$TMP/report.txt" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
d = defaultdict(dict)          # round -> tool -> (wall, rss_kib, user+sys)
for r, tool, wall, rss, usr, sys_ in rows:
    d[int(r)][tool] = (float(wall), int(rss), float(usr) + float(sys_))
med = st.median
TOOLS = ("cat", "cat+sync", "taco")
rs = [d[r] for r in range(1, rounds + 1)]
m = {t: med(x[t][0] for x in rs) for t in TOOLS}
lo = {t: min(x[t][0] for x in rs) for t in TOOLS}
cpu = {t: med(x[t][2] for x in rs) for t in TOOLS}
ratio = lambda a, b: med(x[a][0] / x[b][0] for x in rs)
res = dict(m=m, lo=lo, cpu=cpu, r_cat=ratio("taco", "cat"), r_cs=ratio("taco", "cat+sync"),
           rss=max(x["taco"][1] for x in rs) / 1024, target=1.5, rss_target=128)
res["ok_cat"] = res["r_cat"] <= res["target"]
res["ok_rss"] = res["rss"] <= res["rss_target"]
print(f"                     median wall     min wall   median user+sys")
for t in TOOLS:
    print(f"  {t:<18} {m[t]:10.3f} s {lo[t]:10.3f} s {cpu[t]:10.2f} s")
print(f"  median ratio taco/cat        {res['r_cat']:7.2f}   target <= 1.5: "
      f"{'PASS' if res['ok_cat'] else 'FAIL'}   (ratio of min walls {lo['taco'] / lo['cat']:.2f})")
print(f"  median ratio taco/cat+sync   {res['r_cs']:7.2f}   (same durability; informational; "
      f"ratio of min walls {lo['taco'] / lo['cat+sync']:.2f})")
print(f"  taco peak RSS  {res['rss']:7.1f} MiB   target <= 128 MiB: {'PASS' if res['ok_rss'] else 'FAIL'}")
for t in TOOLS:
    print(f"  rounds {t:<10} " + " ".join(f"{x[t][0]:.2f}" for x in rs))
print(f"  rounds taco RSS   " + " ".join(f"{x['taco'][1] / 1024:.1f}" for x in rs) + " MiB")
json.dump(res, open(sys.argv[1] + ".json", "w"))
PY
cat "$TMP/report.txt"

if [[ $PROFILE == 1 ]] || { [[ $PROFILE == auto ]] && grep -q 'target <= .*: FAIL' "$TMP/report.txt"; }; then
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
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
section "markdown summary"
FSTYPE=$(findmnt -n -o FSTYPE -T "$BENCH_DIR" 2>/dev/null || df -T "$BENCH_DIR" | awk 'NR==2{print $2}')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
VIRT=""
for f in /sys/bus/virtio/drivers/virtio_balloon/virtio*/features; do
    # Feature bit 5 = free page reporting: freed guest pages go back to the host and cost a host
    # fault when the page cache touches them again, which makes write timings noisy.
    [[ -r $f && $(cut -c6 "$f") == 1 ]] && VIRT=" VM with virtio-balloon free page reporting (write timings are noisy)."
done
"$PY" - "$RESULTS.json" <<PY
import json, sys
r = json.load(open(sys.argv[1]))
print("Machine: $(nproc) CPUs ($CPU), $(awk '/MemTotal/{printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), "
      "bench dir on $FSTYPE, kernel $(uname -r). Date: $(date -u '+%Y-%m-%d %H:%M UTC'). "
      "Load average start/end: $LOAD_START / $LOAD_END.$VIRT")
print()
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
