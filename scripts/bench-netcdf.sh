#!/usr/bin/env bash
# bench-netcdf.sh — how fast is `taco pack-netcdf` on 100 monthly NetCDF-4 files of ~20 MiB, and
# does reading their time coordinates leave the data variables alone?
#
# What it measures
#   * 100 NetCDF-4 (HDF5) files are generated once with the Python netCDF4 package and reused:
#     t2m_YYYY-MM.nc for the 100 months from 2000-01 to 2008-04, one daily time step per day of the
#     month (28-31), `double time(time)` in "hours since 1900-01-01" (gregorian calendar; stored
#     chunked, one chunk, so a reader has to follow the chunk index), `float lat(361)`,
#     `float lon(480)` and `float t2m(time, lat, lon)` of seeded random values, CONTIGUOUS and
#     uncompressed: 28-31 x 361 x 480 x 4 bytes = 18.5-20.5 MiB per file, ~2 GiB in all. Written
#     by one Python process into DIR.tmp, renamed to DIR; a marker file beside DIR records the
#     layout.
#   * Wall time from a warm page cache (every file read once first, untimed), each tool run ROUNDS
#     times with the order rotated every round:
#       cat        `cat -- *.nc > out.bin`   run inside DIR (the copying floor: same directory, same
#                  byte-sorted order = month order, no durability)
#       cat+sync   the same followed by `sync out.bin`   (informational: the floor with the
#                                                         durability taco gives — it fsyncs)
#       taco       `taco pack-netcdf -q --force DIR -o out.taco`   (may also write out.taco.meta.json)
#     Before every timed command its previous outputs are removed and `sync` is run (outside the
#     timing). One extra round 0 runs first and is left out of the report (it warms the write path).
#     Wall time from bash's $EPOCHREALTIME around the process; peak RSS and CPU from
#     `/usr/bin/time -f '%M %U %S'`.
#   * Ratios computed per round, then the median: taco/cat (target <= 1.3) and taco/(cat+sync).
#   * taco peak RSS (held to the 128 MiB of the other pack benchmarks). PASS/FAIL is printed; exit
#     status is 0 regardless — this is a report, not a test.
#   * Sanity on the last archive: `taco validate --level deep` passes; every member is STORED
#     (Python's zipfile); the central directory holds the 100 files in month order with their sizes,
#     the first and last read back byte-for-byte; the index (out.taco.meta.json, else the member
#     TACO_INDEX.json; read loosely: `members`, else its longest list) lists 100 items whose
#     start/end times equal each file's first/last time step (ISO strings, or numbers in the file's
#     own unit, Unix seconds or milliseconds are all accepted) and run in month order.
#   * What taco reads of the sources besides the copy (one extra run, outside the timings), two ways:
#       - /proc/PID/io of one `taco pack-netcdf`: rchar (bytes through read-like syscalls, including
#         copy_file_range/sendfile) read after the process exits but before it is reaped
#         (waitid WNOWAIT), minus the rchar of `taco --version` (start-up), against the source size.
#       - `strace -f -y -s 0` of one run, every read, pread64, readv, preadv(2), lseek, mmap,
#         copy_file_range, sendfile and splice on a source file turned into byte ranges (file
#         positions followed through lseek). Per file: full passes of the copy syscalls and of the
#         read syscalls (minimum coverage over the file), bytes read beyond those passes, how many
#         of them fall inside t2m's data (its byte range found by searching the file for t2m's first
#         and last values), and the time lookup's own reads when the copy goes through a copy
#         syscall: reads on opens of the file that never copy, plus reads on the copying open by the
#         copying thread before its first copy (a CRC thread reading alongside is not the lookup).
#         PASS when, for every file, t2m bytes read beyond the whole-file passes and t2m bytes read
#         by the lookup are both <= 1 % of t2m (reading t2m would be 100 %).
#   * With PROFILE=1 (or PROFILE=auto, the default, when a target fails): `strace -c -f` of one
#     taco run, and the top of `strace -c -w -f` of another (wall time per syscall). Always:
#     `strace -c -f` of one cat and whether cat uses copy_file_range.
#   Ends with a markdown summary (machine, date, command) to paste into BENCHMARKS.md.
#
# How to run (as root on Linux; installs `time`/`strace` with apt-get and netCDF4 (with numpy) with
# pip if missing — the version scripts/setup.sh pins as NETCDF4_VERSION=..., if it pins one; builds
# target/release/taco if missing; if taco has no pack-netcdf subcommand yet it only generates the
# files and stops):
#   bash scripts/bench-netcdf.sh
#   ROUNDS=5 BENCH_DIR=/tmp/taco-bench-netcdf KEEP=0 PROFILE=auto bash scripts/bench-netcdf.sh 2>&1 | tee out.txt
# Needs ~8.5 GiB free in BENCH_DIR (the 2 GiB of sources are kept and reused; the outputs are
# deleted at the end unless KEEP=1). Run it on an otherwise idle machine: the load average is
# printed at the start and the end.
set -euo pipefail
export LC_ALL=C

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_settings /tmp/taco-bench-netcdf

NCDIR=$BENCH_DIR/src/netcdf
MARKER=$BENCH_DIR/src/netcdf.layout

# The layout: N_FILES months from START_YEAR-01, daily steps, a NLAT x NLON grid.
N_FILES=100
START_YEAR=2000
NLAT=361
NLON=480
SEED=20240701
LAYOUT="v1 files=$N_FILES start=$START_YEAR-01 daily grid=${NLAT}x$NLON time=f8-chunked t2m=f4-contiguous-uncompressed seed=$SEED"

# ---------------------------------------------------------------------------------------------
bench_tools -j2
# netCDF4: the version scripts/setup.sh pins (NETCDF4_VERSION=...) if it pins one, else the latest
# if none is installed. Its wheel brings numpy and the netCDF-C/HDF5 libraries.
NETCDF4_PIN=$(sed -n 's/^NETCDF4_VERSION=\([0-9][0-9a-z.]*\).*/\1/p' "$REPO/scripts/setup.sh" 2>/dev/null | head -1)
if [[ -n $NETCDF4_PIN ]]; then
    if ! python3 -c 'import sys, netCDF4; sys.exit(netCDF4.__version__ != sys.argv[1])' \
        "$NETCDF4_PIN" 2>/dev/null; then
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "netCDF4==$NETCDF4_PIN"
    fi
elif ! python3 -c 'import netCDF4, numpy' 2>/dev/null; then
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check netCDF4
fi
HAVE_PACK_NETCDF=0
"$TACO" pack-netcdf --help >/dev/null 2>&1 && HAVE_PACK_NETCDF=1
say "taco:    $TACO ($("$TACO" --version 2>/dev/null || echo '?'), built $(date -u -r "$TACO" '+%F %T UTC'); pack-netcdf: $( ((HAVE_PACK_NETCDF)) && echo yes || echo MISSING))"
say "cat:     $(cat --version | head -1)"
NC_VERSIONS=$("$PY" -c 'import netCDF4, numpy; print(f"netCDF4 {netCDF4.__version__} (netCDF-C {netCDF4.__netcdf4libversion__}, HDF5 {netCDF4.__hdf5libversion__}), numpy {numpy.__version__}")')
say "python:  $PY ($("$PY" --version 2>&1)), $NC_VERSIONS"
say_strace_and_loadavg

mkdir -p "$(dirname "$NCDIR")" "$OUT" "$TMP"
: >"$RESULTS"

# ---------------------------------------------------------------------------------------------
section "NetCDF files in $NCDIR"
GEN_PY='
import calendar, datetime as dt, os, sys
import netCDF4, numpy as np
root, n, year0, nlat, nlon, seed = sys.argv[1], *map(int, sys.argv[2:7])
tmp = root + ".tmp"
os.makedirs(tmp)
epoch = dt.datetime(1900, 1, 1)
total = 0
for i in range(n):
    y, m = year0 + i // 12, i % 12 + 1
    days = calendar.monthrange(y, m)[1]
    t0 = (dt.datetime(y, m, 1) - epoch) // dt.timedelta(hours=1)
    path = f"{tmp}/t2m_{y:04d}-{m:02d}.nc"
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.title = f"bench-netcdf: random 2 m temperature, {y:04d}-{m:02d}"
        ds.Conventions = "CF-1.8"
        ds.createDimension("time", days)
        ds.createDimension("lat", nlat)
        ds.createDimension("lon", nlon)
        # The coordinate: chunked (one chunk), no filters.
        t = ds.createVariable("time", "f8", ("time",), chunksizes=(days,))
        t.units, t.calendar, t.standard_name, t.axis = "hours since 1900-01-01", "gregorian", "time", "T"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lon = ds.createVariable("lon", "f4", ("lon",))
        lon.units = "degrees_east"
        # The data: contiguous, uncompressed, so the file really is ~20 MiB.
        v = ds.createVariable("t2m", "f4", ("time", "lat", "lon"), contiguous=True)
        v.units, v.long_name = "K", "2 metre temperature"
        t[:] = t0 + 24.0 * np.arange(days)
        lat[:] = np.linspace(90, -90, nlat, dtype=np.float32)
        lon[:] = np.linspace(0, 360, nlon, endpoint=False, dtype=np.float32)
        rng = np.random.default_rng(seed + i)
        v[:] = (220 + 100 * rng.random((days, nlat, nlon), dtype=np.float32)).astype(np.float32)
    total += os.path.getsize(path)
os.rename(tmp, root)
print(f"{n} files, {total} bytes")
'
# shape_ok: the marker matches this layout and DIR holds exactly N_FILES *.nc files and nothing else.
shape_ok() {
    [[ -d $NCDIR && -f $MARKER && $(<"$MARKER") == "$LAYOUT" ]] || return 1
    [[ $(find "$NCDIR" -mindepth 1 | wc -l) -eq $N_FILES && $(find "$NCDIR" -type f -name '*.nc' | wc -l) -eq $N_FILES ]]
}
if shape_ok; then
    say "reusing $N_FILES files ($LAYOUT)"
else
    say "generating $N_FILES NetCDF-4 files with netCDF4: $LAYOUT"
    rm -rf "$NCDIR" "$NCDIR.tmp" "$MARKER"
    t0=${EPOCHREALTIME/./}
    /usr/bin/time -f '%M' -o "$TMP/gen.rss" "$PY" -c "$GEN_PY" "$NCDIR" "$N_FILES" "$START_YEAR" "$NLAT" "$NLON" "$SEED"
    sync
    t1=${EPOCHREALTIME/./}
    say "generated (and synced) in $(((t1 - t0) / 1000)) ms, python peak RSS $(($(tail -1 "$TMP/gen.rss") / 1024)) MiB"
    printf '%s' "$LAYOUT" >"$MARKER"
    shape_ok || { say "generated files have the wrong shape"; exit 1; }
fi
SRC_BYTES=$(find "$NCDIR" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
SRC_INFO=$("$PY" - "$NCDIR" "$SRC_BYTES" <<'PY'
import os, sys, netCDF4
root, total = sys.argv[1], int(sys.argv[2])
names = sorted(os.listdir(root))
sizes = [os.path.getsize(os.path.join(root, f)) for f in names]
with netCDF4.Dataset(os.path.join(root, names[0])) as ds:
    t, v = ds["time"], ds["t2m"]
    desc = (f"time {t.dtype}({t.size}) '{t.units}' chunking {t.chunking()} filters "
            f"{ {k: x for k, x in (t.filters() or {}).items() if x} or 'none'}, "
            f"t2m {v.dtype}{v.shape} chunking {v.chunking()} filters "
            f"{ {k: x for k, x in (v.filters() or {}).items() if x} or 'none'}, "
            f"format {ds.data_model}")
print(f"{len(names)} NetCDF-4 files {names[0]} .. {names[-1]}, {min(sizes) / 2**20:.1f}-"
      f"{max(sizes) / 2**20:.1f} MiB each, {total} bytes ({total / 2**30:.2f} GiB) in all; first file: {desc}")
PY
)
say "$SRC_INFO"

if ((HAVE_PACK_NETCDF == 0)); then
    section "stop"
    say "$TACO has no pack-netcdf subcommand yet; only the files were generated/checked."
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# The cat command, run inside DIR: $0 = output file, $1 = "sync" to fsync it afterwards. The glob
# is byte-sorted (LC_ALL=C), which for these names is month order.
CAT_SH='cat -- *.nc >"$0" && { [ "$1" != sync ] || sync "$0"; }'

run_tool() { # run_tool ROUND TOOL
    cat_or_taco_round "$1" "$2" "$NCDIR" pack-netcdf -q --force "$NCDIR"
}

TOOLS=(cat cat+sync taco)
section "$ROUNDS rounds, order rotated each round"
say "warm-up: reading every file once into the page cache (untimed): $(cd "$NCDIR" && cat -- *.nc | wc -c) bytes"
say "round 0 warms up every tool and is left out of the report"
rotate_rounds 0 run_tool
CAT_BYTES=$(stat -c %s "$OUT/out.bin")
rm -f "$OUT/out.bin" "$OUT/out.cs"

# ---------------------------------------------------------------------------------------------
section "sanity: the last archive"
ARCHIVE=$OUT/out.taco
META=$ARCHIVE.meta.json
if [[ -f $ARCHIVE ]]; then
    ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")
    say "archive: $ARCHIVE_BYTES bytes (sources $SRC_BYTES bytes, cat output $CAT_BYTES bytes; overhead $((ARCHIVE_BYTES - SRC_BYTES)) bytes: ZIP headers, central directory, any index member)"
else
    ARCHIVE_BYTES=0
    say "archive: MISSING"
fi
if [[ -f $META ]]; then
    say "index:   $(stat -c %s "$META") bytes ($META)"
else
    say "index:   no $META; looking for an index member in the archive"
fi
validate_deep "$ARCHIVE"
set +e
"$TACO" ls --json "$ARCHIVE" >"$TMP/ls.json" 2>"$TMP/ls.err"
LS_RC=$?
"$TACO" header --json "$ARCHIVE" >"$TMP/header.json" 2>/dev/null
set -e
((LS_RC == 0)) || { say "taco ls --json failed (exit $LS_RC):"; sed 's/^/  /' "$TMP/ls.err"; }
# Prints lines, then as its last line a JSON object of verdicts for the summary. Field names of the
# index are read loosely so that a renamed field shows up as a clear FAIL line, not a traceback.
set +e
"$PY" - "$ARCHIVE" "$META" "$TMP/ls.json" "$TMP/header.json" "$NCDIR" >"$TMP/sanity.txt" 2>&1 <<'PY'
import datetime as dt, json, os, re, struct, sys, zipfile
import netCDF4
archive, meta_path, ls_path, header_path, root = sys.argv[1:6]
verdict = {"stored": "FAIL", "members": "FAIL", "index": "FAIL", "index_count": 0, "times": "FAIL"}
names = sorted(f for f in os.listdir(root) if f.endswith(".nc"))
n = len(names)
UTC = dt.timezone.utc

# --- ground truth: each file's first and last time step, read with netCDF4
truth = []
for f in names:
    with netCDF4.Dataset(os.path.join(root, f)) as ds:
        t = ds["time"]
        m = re.fullmatch(r"hours since (\d{4})-(\d\d)-(\d\d)(?:[ T]00:00(?::00(?:\.0*)?)?)?", t.units.strip())
        assert m, f"unexpected units {t.units!r}"
        base = dt.datetime(*map(int, m.groups()), tzinfo=UTC)
        raw = [float(t[0]), float(t[-1])]
        truth.append((raw, [base + dt.timedelta(hours=h) for h in raw]))
months_ok = all(a[1][1] < b[1][0] for a, b in zip(truth, truth[1:]))
print(f"  sources: {n} files, first {names[0]} {truth[0][1][0]:%Y-%m-%d %H:%M} .. {truth[0][1][1]:%Y-%m-%d %H:%M}, "
      f"last {names[-1]} {truth[-1][1][0]:%Y-%m-%d %H:%M} .. {truth[-1][1][1]:%Y-%m-%d %H:%M}; "
      f"name order is time order: {months_ok}")

# --- STORED, through Python's zipfile
try:
    infos = zipfile.ZipFile(archive).infolist()
    methods = sorted({i.compress_type for i in infos})
    verdict["stored"] = "PASS" if methods == [zipfile.ZIP_STORED] else "FAIL"
    print(f"  zipfile opens it: {len(infos)} members, compression methods {methods} "
          f"(0 = STORED): {verdict['stored']}")
except Exception as e:
    infos = []
    print(f"  zipfile: FAIL: {type(e).__name__}: {e}")

# --- the central directory (taco ls --json)
try:
    members = sorted(json.load(open(ls_path))["members"], key=lambda m: m["header_offset"])
except Exception as e:
    print(f"  taco ls --json: FAIL: {type(e).__name__}: {e}")
    members = []
nc = [m for m in members if m["name"].endswith(".nc")]
other = [m["name"] for m in members if not m["name"].endswith(".nc")]
in_order = [os.path.basename(m["name"]) for m in nc] == names
sizes_ok = all(m["size"] == os.path.getsize(os.path.join(root, os.path.basename(m["name"]))) for m in nc
               if os.path.basename(m["name"]) in names)
def data_at(f, header_offset):
    f.seek(header_offset)
    h = f.read(30)
    if h[:4] != b"PK\x03\x04":
        raise ValueError(f"no local header at {header_offset}")
    nl, xl = struct.unpack("<HH", h[26:30])
    return header_offset + 30 + nl + xl
bytes_ok = False
if nc:
    try:
        with open(archive, "rb") as f:
            bytes_ok = True
            for m in (nc[0], nc[-1]):
                f.seek(data_at(f, m["header_offset"]))
                bytes_ok &= f.read(m["size"]) == open(os.path.join(root, os.path.basename(m["name"])), "rb").read()
    except Exception as e:
        print(f"  read-back: FAIL: {type(e).__name__}: {e}")
        bytes_ok = False
verdict["members"] = "PASS" if len(nc) == n and in_order and sizes_ok and bytes_ok else "FAIL"
print(f"  central directory: {len(members)} members, {len(nc)} *.nc (first name {nc[0]['name'] if nc else None!r}), "
      f"others {other}; month order: {in_order}; sizes equal the files': {sizes_ok}; first and last "
      f"read back byte-for-byte: {bytes_ok}: {verdict['members']}")
try:
    h = json.load(open(header_path))
    print(f"  TACO header: {h.get('count')} entries: " + ", ".join(
        f"{e['offset']}+{e['length']}" for e in h.get("entries", [])))
except Exception as e:
    print(f"  TACO header: unreadable ({type(e).__name__}: {e})")

# --- the index: OUT.meta.json, else an index-like JSON member of the archive
meta, where = None, None
if os.path.exists(meta_path):
    meta, where = json.load(open(meta_path)), os.path.basename(meta_path)
else:
    for i in infos:
        if i.filename.lower().endswith(".json"):
            meta, where = json.loads(zipfile.ZipFile(archive).read(i)), f"member {i.filename}"
            break
if meta is not None and os.path.exists(meta_path):
    inner = [i.filename for i in infos if i.filename.lower().endswith(".json")]
    if inner:
        same = json.loads(zipfile.ZipFile(archive).read(inner[0])) == meta
        print(f"  index member {inner[0]} in the archive equals {os.path.basename(meta_path)}: {same}")
def containers(node, path, depth):
    if isinstance(node, list):
        yield path, node
    if depth < 3 and isinstance(node, dict):
        for k, v in node.items():
            yield from containers(v, f"{path}.{k}", depth + 1)
items = []
if meta is None:
    print("  index: FAIL: neither a .meta.json beside the archive nor a .json member")
else:
    if isinstance(meta, dict) and isinstance(meta.get("members"), list):
        path, items = "$.members", meta["members"]
    else:
        path, items = max(containers(meta, "$", 0), key=lambda pc: len(pc[1]), default=("$", []))
    keys = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
    head = {k: v for k, v in meta.items() if not isinstance(v, (list, dict))} if isinstance(meta, dict) else {}
    print(f"  index ({where}): top-level keys {keys} {json.dumps(head)}; {path}: {len(items)} items; "
          f"first: {json.dumps(items[0])[:300] if items else None}")
    verdict["index_count"] = len(items)
    verdict["index"] = "PASS" if len(items) == n else "FAIL"
    print(f"  index lists {len(items)} items, files {n}: {verdict['index']}")

# start/end of an item: keys naming a start and an end (at the top or one level down), or a
# two-element list under a key naming time.
START = re.compile(r"start|begin|first|min|from", re.I)
END = re.compile(r"end|stop|last|max|to$|until", re.I)
NOT = re.compile(r"offset|byte|len|size|crc|index|count", re.I)
def start_end(item):
    spots = [item] + [v for v in item.values() if isinstance(v, dict)]
    for d in spots:
        s = [k for k in d if START.search(k) and not NOT.search(k) and not isinstance(d[k], (dict, list))]
        e = [k for k in d if END.search(k) and not NOT.search(k) and not isinstance(d[k], (dict, list))]
        if s and e:
            return d[s[0]], d[e[0]], f"{s[0]}/{e[0]}"
    for k, v in item.items():
        if re.search("time", k, re.I) and isinstance(v, list) and len(v) == 2:
            return v[0], v[1], f"{k}[0]/{k}[1]"
    return None, None, None
def same_time(value, raw, when):
    if isinstance(value, str):
        try:
            t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return False
        else:
            return (t if t.tzinfo else t.replace(tzinfo=UTC)) == when
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        unix = when.timestamp()
        return any(abs(value - c) <= 1e-6 * max(1.0, abs(c)) for c in (raw, unix, unix * 1000))
    return False
def item_name(item):
    for k in ("name", "path", "member", "file", "filename", "key"):
        if isinstance(item.get(k), str):
            return os.path.basename(item[k])
    return None
if items:
    dicts = [x for x in items if isinstance(x, dict)]
    bad, shown, keys_used = [], 0, set()
    for i, item in enumerate(dicts):
        s, e, k = start_end(item)
        keys_used.add(k)
        nm = item_name(item)
        j = names.index(nm) if nm in names else i
        ok = (s is not None and j < n and same_time(s, truth[j][0][0], truth[j][1][0])
              and same_time(e, truth[j][0][1], truth[j][1][1]) and j == i)
        if not ok:
            bad.append(i)
            if shown < 3:
                shown += 1
                print(f"  index item {i} ({nm}): start {s!r} end {e!r}; expected file {names[min(j, n - 1)]} "
                      f"{truth[min(j, n - 1)][1][0]:%Y-%m-%dT%H:%M}Z .. {truth[min(j, n - 1)][1][1]:%Y-%m-%dT%H:%M}Z")
    verdict["times"] = "PASS" if len(dicts) == n and not bad and months_ok else "FAIL"
    print(f"  start/end fields {sorted(map(str, keys_used))}; item i is file i (names in month order) and its "
          f"start/end equal that file's first/last time step for {len(dicts) - len(bad)} of {len(dicts)} "
          f"items; months follow each other: {months_ok}: {verdict['times']}")
print(json.dumps(verdict))
PY
SANITY_RC=$?
set -e
sed '$d' "$TMP/sanity.txt"
SANITY_JSON=$(tail -1 "$TMP/sanity.txt")
if ! "$PY" -c 'import json, sys; json.loads(sys.argv[1])' "$SANITY_JSON" 2>/dev/null; then
    say "sanity script failed (exit $SANITY_RC): $SANITY_JSON"
    SANITY_JSON='{"stored": "FAIL", "members": "FAIL", "index": "FAIL", "index_count": 0, "times": "FAIL"}'
fi

# ---------------------------------------------------------------------------------------------
section "what taco reads of the sources (one extra run each, not in the timings)"
# 1. /proc/PID/io after exit: the zombie's counters are read before it is reaped.
rm -f "$OUT/out.taco" "$OUT/out.taco.meta.json"; sync
"$PY" - "$SRC_BYTES" "$N_FILES" "$TACO" pack-netcdf -q --force "$NCDIR" -o "$OUT/out.taco" >"$TMP/procio.txt" <<'PY'
import os, subprocess, sys
src, n, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def io(argv):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    d = dict(l.split(": ") for l in open(f"/proc/{p.pid}/io").read().split("\n") if l)
    rc = p.wait()
    return {k: int(v) for k, v in d.items()}, rc
base, _ = io([argv[0], "--version"])
run, rc = io(argv)
extra = run["rchar"] - base["rchar"]
k = round(extra / src)
print(f"  taco pack-netcdf (exit {rc}): rchar {run['rchar']} bytes in {run['syscr']} read-like syscalls, "
      f"read_bytes (from disk) {run['read_bytes']}, wchar {run['wchar']}; taco --version: rchar {base['rchar']}")
print(f"  rchar minus start-up = {extra} bytes = {extra / src:.4f} x the {src} source bytes "
      f"= {k} x sources {extra - k * src:+d} bytes ({(extra - k * src) / n / 1024:+.1f} KiB per file)")
print(f"PROCIO {k} {extra - k * src:+d}")
PY
grep -v '^PROCIO ' "$TMP/procio.txt"
read -r _ PROCIO_PASSES PROCIO_EXTRA < <(grep '^PROCIO ' "$TMP/procio.txt")
say "  (rchar counts read, pread64, readv and the bytes copy_file_range/sendfile move, not page faults on an mmap;"
say "   so N x sources are N whole passes over the files — the copy and any CRC pass — and the rest is everything else)"

# 2. strace of every read-like syscall, turned into byte ranges per source file.
rm -f "$OUT/out.taco" "$OUT/out.taco.meta.json"; sync
STRACE_SET=openat,open,read,pread64,readv,preadv,preadv2,lseek,mmap,copy_file_range,sendfile,splice
t0=${EPOCHREALTIME/./}
strace -f -qq -y -s 0 -e trace=$STRACE_SET -o "$TMP/taco.reads" \
    "$TACO" pack-netcdf -q --force "$NCDIR" -o "$OUT/out.taco" >/dev/null
t1=${EPOCHREALTIME/./}
say "  strace -f -y -s 0 -e trace=$STRACE_SET of one run: $(wc -l <"$TMP/taco.reads") lines, wall under strace $(((t1 - t0) / 1000)) ms"
set +e
"$PY" - "$TMP/taco.reads" "$NCDIR" >"$TMP/reads.txt" 2>&1 <<'PY'
import collections, json, os, re, statistics as st, sys
import netCDF4, numpy as np
trace, root = sys.argv[1], os.path.realpath(sys.argv[2])
names = sorted(f for f in os.listdir(root) if f.endswith(".nc"))
paths = {os.path.join(root, f): f for f in names}
COPY = {"copy_file_range", "sendfile", "splice"}

# --- t2m's data range and the time chunk's offset in each file, found by their bytes
regions, time_at = {}, {}
for f in names:
    p = os.path.join(root, f)
    with netCDF4.Dataset(p) as ds:
        v = ds["t2m"]
        first = np.asarray(v[0, 0, :16], dtype="<f4").tobytes()
        last = np.asarray(v[-1, -1, -16:], dtype="<f4").tobytes()
        nbytes = v.size * 4
        tbytes = np.asarray(ds["time"][:], dtype="<f8").tobytes()
    data = open(p, "rb").read()
    off = data.find(first)
    assert off >= 0 and data[off + nbytes - 64:off + nbytes] == last, f"t2m not found contiguous in {f}"
    regions[f] = (off, off + nbytes, len(data))
    time_at[f] = data.find(tbytes)

# --- the trace: one record per syscall on a source file
def split_args(s):
    out, depth, cur, q = [], 0, "", False
    for ch in s:
        if q:
            cur += ch
            if ch == '"':
                q = False
            continue
        if ch == '"':
            q = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip()); cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out
FD = re.compile(r"^(\d+)<(.*)>$")
LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+)(?:<(.*?)>)?")
def ptr(a):                                   # NULL, or [N] / [N => M]
    m = re.match(r"\[(\d+)", a)
    return int(m.group(1)) if m else None
pending, pos, inst = {}, {}, {}
events = collections.defaultdict(list)          # file -> [(seq, kind, syscall, start, length, open, tid)]
mmaps = collections.defaultdict(int)
first_copy = {}
counts = collections.Counter()
seq = 0
for raw in open(trace):
    raw = raw.rstrip("\n")
    seq += 1                                    # a call is ordered by when it started
    m = re.match(r"^(\d+)\s+(.*)<unfinished \.\.\.>$", raw)
    if m:
        pending[m.group(1)] = (m.group(2), seq)
        continue
    at = seq
    m = re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", raw)
    if m:
        head, at = pending.pop(m.group(1), ("", seq))
        raw = f"{m.group(1)} {head}{m.group(2)}"
    m = LINE.match(raw)
    if not m:
        continue
    pid, call, args, ret, retpath = m.groups()
    a = split_args(args)
    if call in ("openat", "open"):
        if retpath and retpath in paths:
            pos[(ret, retpath)] = 0
            inst[(ret, retpath)] = seq             # which open of the file an fd stands for
        continue
    ret = ret if ret.startswith("0x") else int(ret)
    def src(i):
        fm = FD.match(a[i]) if i < len(a) else None
        return (fm.group(1), fm.group(2)) if fm and fm.group(2) in paths else None
    if call == "mmap":
        k = src(4)
        if k:
            mmaps[paths[k[1]]] += int(a[1])
        continue
    if not isinstance(ret, int) or ret < 0:
        continue
    if call == "lseek":
        k = src(0)
        if k:
            pos[k] = ret
        continue
    if call in ("read", "readv", "pread64", "preadv", "preadv2"):
        k = src(0)
        if not k:
            continue
        if call in ("read", "readv"):
            start = pos.get(k, 0); pos[k] = start + ret
        else:
            start = int(a[3])
        kind = "read"
    elif call in COPY:
        i_fd, i_off = {"copy_file_range": (0, 1), "splice": (0, 1), "sendfile": (1, 2)}[call]
        k = src(i_fd)
        if not k:
            continue
        start = ptr(a[i_off])
        if start is None:
            start = pos.get(k, 0); pos[k] = start + ret
        kind = "copy"
        first_copy.setdefault(inst.get(k), (at, pid))
    else:
        continue
    if ret:
        f = paths[k[1]]
        events[f].append((at, kind, call, start, ret, inst.get(k), pid))
        counts[(kind, call)] += 1

def min_cover(iv, lo, hi):
    """Minimum number of intervals covering a byte of [lo, hi)."""
    if hi <= lo:
        return 0
    d = collections.Counter()
    for s, n in iv:
        s, e = max(s, lo), min(s + n, hi)
        if s < e:
            d[s] += 1
            d[e] -= 1
    pts = sorted(set(d) | {lo, hi})
    cur, best = 0, None
    for a, b in zip(pts, pts[1:]):
        cur += d[a]
        if b > a:
            best = cur if best is None else min(best, cur)
    return best or 0
def lookup(e):
    """A read that is not the copy's: on an open of the file that never copies, or on the copying
    open by the copying thread before its first copy syscall (the CRC thread reads alongside)."""
    q, kind, _, _, _, op, tid = e
    fc = first_copy.get(op)
    return kind == "read" and (fc is None or (tid == fc[1] and q < fc[0]))
def inside(iv, lo, hi):
    return sum(max(0, min(s + n, hi) - max(s, lo)) for s, n in iv)

rows = []
for f in names:
    lo, hi, size = regions[f]
    ev = events.get(f, [])
    cp = [(s, n) for _, k, _, s, n, _, _ in ev if k == "copy"]
    rd = [(s, n) for _, k, _, s, n, _, _ in ev if k == "read"]
    pc, pr = min_cover(cp, 0, size), min_cover(rd, 0, size)
    passes = pc + pr
    total = sum(n for _, n in cp + rd)
    t2m_total = inside(cp + rd, lo, hi)
    pre = [(e[3], e[4]) for e in ev if lookup(e)] if cp else []
    rows.append(dict(f=f, size=size, region=(lo, hi), passes_copy=pc, passes_read=pr,
                     total=total, extra=total - passes * size, t2m_extra=t2m_total - passes * (hi - lo),
                     pre=sum(n for _, n in pre), pre_calls=len(pre), pre_t2m=inside(pre, lo, hi),
                     calls=len(ev), mmap=mmaps.get(f, 0)))
srcs = sum(r["size"] for r in rows)
print(f"  syscalls on the source files: " + ", ".join(f"{c} {k}:{n}" for (k, c), n in sorted(counts.items())) +
      (f"; mmap of a source file: {sum(mmaps.values())} bytes mapped (page faults on it are invisible here)"
       if mmaps else "; no source file is mmap'd"))
r0 = rows[0]
print(f"  layout of {r0['f']}: {r0['size']} bytes, t2m data at [{r0['region'][0]}, {r0['region'][1]}) "
      f"({(r0['region'][1] - r0['region'][0]) / 2**20:.2f} MiB, {100 * (r0['region'][1] - r0['region'][0]) / r0['size']:.2f} % "
      f"of the file), the time chunk at {time_at[r0['f']]}, HDF5 metadata and the other variables elsewhere")
pcs = collections.Counter((r["passes_copy"], r["passes_read"]) for r in rows)
print(f"  whole-file passes per file (copy syscalls, read syscalls): " +
      ", ".join(f"({a}, {b}) x {n}" for (a, b), n in sorted(pcs.items())))
def dist(key):
    xs = [r[key] for r in rows]
    return f"min {min(xs)}, median {st.median(xs):.0f}, max {max(xs)}, total {sum(xs)}"
print(f"  bytes read beyond those passes, per file:            {dist('extra')}")
print(f"  ... of which inside t2m's data, per file:            {dist('t2m_extra')}")
if any(r["pre_calls"] for r in rows):
    print(f"  reads other than the copy's (the time lookup: on opens that never copy, or before the first copy), per file: bytes {dist('pre')}; "
          f"calls {dist('pre_calls')}; inside t2m's data: {dist('pre_t2m')}")
    ev = [e for e in events[r0["f"]] if lookup(e)]
    lo, hi, size = r0["region"][0], r0["region"][1], r0["size"]
    where = lambda s, n: ("t2m data" if s >= lo and s + n <= hi else "overlaps t2m" if s < hi and s + n > lo
                          else "before t2m" if s + n <= lo else "after t2m")
    # Consecutive identical reads are shown once with a count.
    runs = []
    for q, k, c, s, n, _, _ in ev:
        if runs and runs[-1][:3] == [c, s, n]:
            runs[-1][3] += 1
        else:
            runs.append([c, s, n, 1])
    print(f"  {r0['f']}: its {len(ev)} time-lookup reads (syscall(offset+length): where):")
    shown = runs if len(runs) <= 60 else runs[:40] + [None] + runs[-10:]
    for x in shown:
        if x is None:
            print(f"    ... {len(runs) - 50} more")
            continue
        c, s, n, times = x
        print(f"    {c}({s}+{n}){f' x{times}' if times > 1 else ''}: {where(s, n)}")
elif not any(r["passes_copy"] for r in rows):
    print("  no copy syscall on the sources: the copy and the time lookup both use read calls; only the "
          "bytes beyond the whole-file passes tell the lookup's reads apart")
limit = max(r["region"][1] - r["region"][0] for r in rows) // 100
ok = all(r["t2m_extra"] <= limit and r["pre_t2m"] <= limit for r in rows) and not mmaps \
    and all(r["passes_read"] + r["passes_copy"] >= 1 for r in rows)
verdict = "PASS" if ok else "FAIL"
worst = max(rows, key=lambda r: r["t2m_extra"])
worst_pre = max(rows, key=lambda r: r["pre_t2m"])
print(f"  the time lookup leaves t2m alone (every file: t2m bytes read beyond the whole-file passes, and "
      f"by the time lookup, <= 1 % of t2m = {limit} bytes; worst: {worst['t2m_extra']} "
      f"({worst['f']}) and {worst_pre['pre_t2m']} ({worst_pre['f']})): {verdict}")
summary = dict(verdict=verdict, passes=" ".join(f"{a}+{b}" for a, b in sorted(pcs)),
               extra_median=st.median(r["extra"] for r in rows), extra_max=max(r["extra"] for r in rows),
               t2m_max=worst["t2m_extra"], pre_median=st.median(r["pre"] for r in rows) if rows else 0)
print("READS " + json.dumps(summary))
PY
READS_RC=$?
set -e
grep -v '^READS ' "$TMP/reads.txt"
READS_JSON=$(sed -n 's/^READS //p' "$TMP/reads.txt")
if [[ -z $READS_JSON ]]; then
    say "  read analysis failed (exit $READS_RC)"
    READS_JSON='{"verdict": "FAIL", "passes": "?", "extra_median": 0, "extra_max": 0, "t2m_max": 0, "pre_median": 0}'
fi

# ---------------------------------------------------------------------------------------------
section "cat's copy path (strace -c -f of one cat)"
rm -f "$OUT/out.bin"; sync
(cd "$NCDIR" && strace -c -f -o "$TMP/cat.strace" sh -c "$CAT_SH" "$OUT/out.bin" nosync)
cat "$TMP/cat.strace"
note_copy_file_range "$TMP/cat.strace"
rm -f "$OUT/out.bin"

# ---------------------------------------------------------------------------------------------
section "report"
report_vs_cat 1.3 128

if want_profile 'target <= .*: FAIL'; then
    section "profile: strace -c -f of one taco pack-netcdf"
    rm -f "$OUT/out.taco" "$OUT/out.taco.meta.json"; sync
    t0=${EPOCHREALTIME/./}
    strace -c -f -o "$TMP/taco.strace" "$TACO" pack-netcdf -q --force "$NCDIR" -o "$OUT/out.taco" >/dev/null
    t1=${EPOCHREALTIME/./}
    cat "$TMP/taco.strace"
    say "(wall under strace: $(((t1 - t0) / 1000)) ms)"
    # strace -c counts system CPU time; -w counts each call's wall time, which is where the fsync
    # (writeback of the whole archive) and waits on the CRC thread show up.
    say ""
    say "the same with -w (wall time in each syscall, the threads' times added up):"
    rm -f "$OUT/out.taco" "$OUT/out.taco.meta.json"; sync
    strace -c -w -f -o "$TMP/taco.strace-w" "$TACO" pack-netcdf -q --force "$NCDIR" -o "$OUT/out.taco" >/dev/null
    head -14 "$TMP/taco.strace-w"
    tail -2 "$TMP/taco.strace-w"
fi

if [[ $KEEP != 1 ]]; then
    rm -f "$OUT"/out.*
    say "deleted the outputs (KEEP=1 keeps them); the sources stay in $NCDIR for reuse"
fi

# ---------------------------------------------------------------------------------------------
markdown_summary_head
"$PY" - "$RESULTS.json" "$SANITY_JSON" "$READS_JSON" <<PY
import json, sys
r = json.load(open(sys.argv[1]))
s = json.loads(sys.argv[2])
rd = json.loads(sys.argv[3])
print("Command: \`$CMDLINE\` (taco $("$TACO" --version 2>/dev/null | awk '{print $NF}'), "
      "$(cat --version | head -1), $NC_VERSIONS; the cat baseline is \`cat -- *.nc > out\` inside the "
      "directory). Warm page cache; median of $ROUNDS rounds after a warm-up round; ratios are per-round "
      "medians. cat uses copy_file_range: $CAT_CFR.")
print()
print("Source: $SRC_INFO. Archive: $ARCHIVE_BYTES bytes.")
print()
print("Wall times: median (min) over the rounds.")
print()
print("| cat | cat+sync | taco pack-netcdf | taco/cat | target taco/cat | taco/cat+sync | taco peak RSS | validate --level deep | STORED | members in month order | index items | start/end times |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
m, lo = r["m"], r["lo"]
w = lambda t: f"{m[t]:.3f} ({lo[t]:.3f}) s"
print(f"| {w('cat')} | {w('cat+sync')} | {w('taco')} | {r['r_cat']:.2f} | "
      f"<= 1.3: {'PASS' if r['ok_cat'] else 'FAIL'} | {r['r_cs']:.2f} | "
      f"{r['rss']:.1f} MiB (<= 128: {'PASS' if r['ok_rss'] else 'FAIL'}) | $VALIDATE | {s['stored']} | "
      f"{s['members']} | {s['index_count']} ({s['index']}) | {s['times']} |")
print()
print(f"Reads of the sources (one extra run): /proc/PID/io rchar minus start-up = $PROCIO_PASSES x the "
      f"$SRC_BYTES source bytes $PROCIO_EXTRA bytes; strace: whole-file passes per file (copy syscalls + "
      f"read syscalls) {rd['passes']}, bytes read beyond them per file median {rd['extra_median']:.0f} "
      f"(max {rd['extra_max']}), of them inside t2m's data at most {rd['t2m_max']} per file; time-lookup "
      f"reads (on opens that never copy, or before the first copy) median {rd['pre_median']:.0f} bytes per file; "
      f"time lookup leaves t2m alone: {rd['verdict']}.")
PY
exit 0
