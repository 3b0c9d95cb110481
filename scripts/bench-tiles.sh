#!/usr/bin/env bash
# bench-tiles.sh — how fast and how lean is `taco pack-tiles` on a pyramid of 100 000 small tiles?
#
# What it measures
#   * A tile pyramid DIR/{z}/{x}/{y}.png is generated once and reused: zooms 0-8 complete
#     (1 + 4 + ... + 65 536 = 87 381 tiles) plus 12 619 tiles of zoom 9 picked at random (seeded)
#     = 100 000 tiles, each 1536-2560 random bytes (uniform, ~2 KiB on average, ~195 MiB in all).
#     Zoom 8 has only 4^8 = 65 536 tiles, so "zooms 0-7 + 78 155 tiles of zoom 8" cannot exist;
#     the partial zoom 9 makes the walk see a sparse level too. Written by one Python process
#     (random.Random(seed).randbytes, no numpy) into DIR.tmp, renamed to DIR, and a marker file
#     beside DIR (not inside it: every file in DIR must be a tile) records the layout.
#   * Wall time from a warm page cache (every tile read once first, untimed), each tool run ROUNDS
#     times with the order rotated every round:
#       cat        `find . -type f -print0 | sort -z | xargs -0 cat > out.bin`   run inside DIR
#                  (the copying floor with the same directory walk and the same byte-sorted file
#                  order, no durability; xargs splits the 100 000 names over several cat processes,
#                  the count is printed — all of them are inside the timing)
#       cat+sync   the same followed by `sync out.bin`   (informational: the floor with the
#                                                         durability taco gives — it fsyncs)
#       taco       `taco pack-tiles -q --force DIR -o out.taco`   (also writes out.taco.meta.json)
#     Before every timed command its previous outputs are removed and `sync` is run (outside the
#     timing), so no tool pays for another's dirty pages. One extra round 0 runs first and is left
#     out of the report: it warms the write path (page allocation, the filesystem's free-space
#     state). Wall time from bash's $EPOCHREALTIME around the process (microseconds); peak RSS and
#     CPU from `/usr/bin/time -f '%M %U %S'` (for the cat pipelines: the largest process of the
#     pipeline, CPU of all of them).
#   * Ratios computed per round, then the median: taco/cat (target <= 2.0) and taco/(cat+sync).
#   * taco peak RSS (target <= 128 MiB). PASS/FAIL is printed; exit status is 0 regardless — this
#     is a report, not a test.
#   * Sanity on the last archive: `taco validate --level deep` passes; the index
#     (out.taco.meta.json, read loosely: its longest list or map) lists as many items as there are
#     tiles; the central directory (`taco ls --json`) holds every tile once with its source's size,
#     and 2 000 tiles picked at random read back from the archive byte-for-byte equal to their
#     files (and through the index's offset/length too, when it has such fields); order is zoom by
#     zoom, and within a zoom it is a Hilbert curve: consecutive tiles of a complete zoom are edge
#     neighbours, and every zoom's order is strictly increasing along the textbook Hilbert index
#     under one of the 8 symmetries of the square (which corner the curve starts from and which
#     way it turns, and y up or down, are the implementation's choice).
#   * With PROFILE=1 (or PROFILE=auto, the default, when a target fails): `strace -c -f` of one
#     taco run. Always: `strace -c -f` of one cat pipeline and whether cat uses copy_file_range
#     (that makes the cat baseline an in-kernel copy).
#   Ends with a markdown summary (machine, date, command) to paste into BENCHMARKS.md.
#
# How to run (as root on Linux; installs `time`/`strace` with apt-get if missing; builds
# target/release/taco if missing; if taco has no pack-tiles subcommand yet it only generates the
# tiles and stops):
#   bash scripts/bench-tiles.sh
#   ROUNDS=5 BENCH_DIR=/tmp/taco-bench-tiles KEEP=0 PROFILE=auto bash scripts/bench-tiles.sh 2>&1 | tee out.txt
# Needs ~1.5 GiB free in BENCH_DIR (the ~400 MiB of tiles on disk — 4 KiB blocks — are kept and
# reused; outputs are deleted at the end unless KEEP=1). Run it on an otherwise idle machine: the
# load average is printed at the start and the end.
set -euo pipefail
export LC_ALL=C

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_settings /tmp/taco-bench-tiles

TILES=$BENCH_DIR/src/tiles
MARKER=$BENCH_DIR/src/tiles.layout

# The layout. FULL_ZOOMS complete levels 0..FULL_ZOOMS-1, then EXTRA tiles of level FULL_ZOOMS.
FULL_ZOOMS=9
EXTRA=12619
MIN_SIZE=1536
MAX_SIZE=2560
SEED=20240607
N_TILES=$(((4 ** FULL_ZOOMS - 1) / 3 + EXTRA))
LAYOUT="v1 full_zooms=$FULL_ZOOMS extra=$EXTRA sizes=$MIN_SIZE-$MAX_SIZE seed=$SEED tiles=$N_TILES"

# ---------------------------------------------------------------------------------------------
bench_tools -j2
HAVE_PACK_TILES=0
"$TACO" pack-tiles --help >/dev/null 2>&1 && HAVE_PACK_TILES=1
say "taco:    $TACO ($("$TACO" --version 2>/dev/null || echo '?'), built $(date -u -r "$TACO" '+%F %T UTC'); pack-tiles: $( ((HAVE_PACK_TILES)) && echo yes || echo MISSING))"
say "cat:     $(cat --version | head -1)"
say "xargs:   $(xargs --version | head -1)"
say "python:  $PY ($("$PY" --version 2>&1))"
say_strace_and_loadavg

mkdir -p "$(dirname "$TILES")" "$OUT" "$TMP"
: >"$RESULTS"

# ---------------------------------------------------------------------------------------------
section "tiles in $TILES"
GEN_PY='
import os, random, sys
root, full, extra, lo, hi, seed = sys.argv[1], *map(int, sys.argv[2:7])
rnd = random.Random(seed)
tiles = [(z, x, y) for z in range(full) for x in range(1 << z) for y in range(1 << z)]
side = 1 << full
tiles += sorted((full, i // side, i % side) for i in rnd.sample(range(side * side), extra))
tmp = root + ".tmp"
made = set()
total = 0
for z, x, y in tiles:
    d = f"{tmp}/{z}/{x}"
    if (z, x) not in made:
        os.makedirs(d)
        made.add((z, x))
    data = rnd.randbytes(rnd.randint(lo, hi))
    total += len(data)
    with open(f"{d}/{y}.png", "wb") as f:
        f.write(data)
os.rename(tmp, root)
print(f"{len(tiles)} tiles, {total} bytes")
'
# shape_ok: the marker matches this layout and DIR holds exactly N_TILES regular files.
shape_ok() {
    [[ -d $TILES && -f $MARKER && $(<"$MARKER") == "$LAYOUT" ]] || return 1
    [[ $(find "$TILES" -type f | wc -l) -eq $N_TILES ]]
}
if shape_ok; then
    say "reusing $N_TILES tiles ($LAYOUT)"
else
    say "generating $N_TILES tiles: zooms 0-$((FULL_ZOOMS - 1)) complete + $EXTRA random tiles of zoom $FULL_ZOOMS, $MIN_SIZE-$MAX_SIZE random bytes each"
    rm -rf "$TILES" "$TILES.tmp" "$MARKER"
    t0=${EPOCHREALTIME/./}
    "$PY" -c "$GEN_PY" "$TILES" "$FULL_ZOOMS" "$EXTRA" "$MIN_SIZE" "$MAX_SIZE" "$SEED"
    sync
    t1=${EPOCHREALTIME/./}
    say "generated (and synced) in $(((t1 - t0) / 1000)) ms"
    printf '%s' "$LAYOUT" >"$MARKER"
    shape_ok || { say "generated tiles have the wrong shape"; exit 1; }
fi
SRC_BYTES=$(find "$TILES" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
SRC_INFO="$N_TILES tiles (zooms 0-$((FULL_ZOOMS - 1)) complete, $EXTRA random tiles of zoom $FULL_ZOOMS), $MIN_SIZE-$MAX_SIZE random bytes each, $SRC_BYTES bytes ($(awk -v b="$SRC_BYTES" 'BEGIN {printf "%.1f MiB", b / 1048576}')) in all, $(find "$TILES" -type d | wc -l) directories"
say "$SRC_INFO"

if ((HAVE_PACK_TILES == 0)); then
    section "stop"
    say "$TACO has no pack-tiles subcommand yet; only the tiles were generated/checked."
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# The cat pipeline, run inside DIR: $0 = output file, $1 = "sync" to fsync it afterwards.
CAT_SH='find . -type f -print0 | sort -z | xargs -0 cat >"$0" && { [ "$1" != sync ] || sync "$0"; }'

run_tool() { # run_tool ROUND TOOL
    cat_or_taco_round "$1" "$2" "$TILES" pack-tiles -q --force "$TILES"
}

TOOLS=(cat cat+sync taco)
section "$ROUNDS rounds, order rotated each round"
say "warm-up: reading every tile once into the page cache (untimed)"
WARM_BYTES=$(cd "$TILES" && find . -type f -print0 | sort -z | xargs -0 --verbose cat 2>"$TMP/xargs.txt" | wc -c)
CAT_PROCS=$(wc -l <"$TMP/xargs.txt")
say "read $WARM_BYTES bytes; xargs ran $CAT_PROCS cat processes for the $N_TILES names (its 128 KiB command buffer), all inside the cat timings"
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
    say "archive: $ARCHIVE_BYTES bytes (tiles $SRC_BYTES bytes, cat output $CAT_BYTES bytes; (archive - tiles) / tiles = $(((ARCHIVE_BYTES - SRC_BYTES) / N_TILES)) bytes/tile: ZIP headers, central directory, any index member)"
else
    ARCHIVE_BYTES=0
    say "archive: MISSING"
fi
if [[ -f $META ]]; then
    say "index:   $(stat -c %s "$META") bytes ($META)"
else
    say "index:   MISSING ($META)"
fi
validate_deep "$ARCHIVE"
set +e
"$TACO" ls --json "$ARCHIVE" >"$TMP/ls.json" 2>"$TMP/ls.err"
LS_RC=$?
set -e
((LS_RC == 0)) || { say "taco ls --json failed (exit $LS_RC):"; sed 's/^/  /' "$TMP/ls.err"; }
# Checks index count, members, bytes and order. Prints lines, then the last line: a JSON object of
# verdicts for the summary. The index's layout is read loosely (the longest list or map anywhere in
# it counts as the list of tiles; offset/length keys under several names), so a renamed field shows
# up as a clear FAIL line rather than a traceback.
set +e
"$PY" - "$ARCHIVE" "$META" "$TMP/ls.json" "$TILES" "$N_TILES" "$SEED" >"$TMP/sanity.txt" 2>&1 <<'PY'
import json, os, random, re, struct, sys
archive, meta_path, ls_path, tiles, n_tiles, seed = sys.argv[1:7]
n_tiles, seed = int(n_tiles), int(seed)
verdict = {}
TILE = re.compile(r"(?:^|/)(\d+)/(\d+)/(\d+)\.[A-Za-z0-9]+$")

# --- the index
def containers(node, path, depth):
    if isinstance(node, (list, dict)):
        yield path, node
    if depth < 3 and isinstance(node, dict):
        for k, v in node.items():
            yield from containers(v, f"{path}.{k}", depth + 1)
try:
    meta = json.load(open(meta_path))
    if isinstance(meta, dict) and isinstance(meta.get("members"), list):
        where, items = "$.members", meta["members"]
    else:
        where, items = max(containers(meta, "$", 0), key=lambda pc: len(pc[1]))
    keys = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
    first = items[0] if isinstance(items, list) and items else (next(iter(items.items())) if items else None)
    print(f"  index: top-level keys {keys}; longest list/map {where}: {len(items)} items; first: "
          f"{json.dumps(first)[:200]}")
    if isinstance(meta, dict) and isinstance(meta.get("entries"), list):
        print(f"  index entries: {len(meta['entries'])}: " + ", ".join(
            f"{e.get('label', e.get('index', '?'))} {e.get('length', '?')} B" for e in meta["entries"]
            if isinstance(e, dict)))
    if isinstance(meta, dict) and isinstance(meta.get("tiles"), dict):
        print(f"  index tiles: " + json.dumps({k: v for k, v in meta["tiles"].items()
                                              if not isinstance(v, (list, dict))}))
    verdict["index_count"] = len(items)
    verdict["index"] = "PASS" if len(items) == n_tiles else "FAIL"
    print(f"  index lists {len(items)} items, tiles {n_tiles}: {verdict['index']}")
except Exception as e:
    print(f"  index: FAIL: {type(e).__name__}: {e}")
    items, verdict["index_count"], verdict["index"] = None, 0, "FAIL"

# --- the central directory
try:
    members = json.load(open(ls_path))["members"]
except Exception as e:
    print(f"  taco ls --json: FAIL: {type(e).__name__}: {e}")
    members = []
members.sort(key=lambda m: m["header_offset"])
tile_members, other = [], []
for m in members:
    t = TILE.search(m["name"])
    (tile_members if t else other).append((m, t))
names = {tuple(map(int, t.groups())) for _, t in tile_members}
print(f"  central directory: {len(members)} members, {len(tile_members)} named like Z/X/Y.EXT "
      f"({len(names)} distinct z/x/y), others: {[m['name'] for m, _ in other][:5]}; "
      f"first tile member name: {tile_members[0][0]['name'] if tile_members else None!r}")
src = {}
for dirpath, _, files in os.walk(tiles):
    for f in files:
        p = os.path.join(dirpath, f)
        t = TILE.search(os.path.relpath(p, tiles))
        src[tuple(map(int, t.groups()))] = p
size_bad = sum(1 for m, t in tile_members
               if os.path.getsize(src.get(tuple(map(int, t.groups())), "/dev/null")) != m["size"])
ok = len(tile_members) == n_tiles == len(names) and set(src) == names and size_bad == 0
verdict["members"] = "PASS" if ok else "FAIL"
print(f"  every tile once, sizes equal to the files' (mismatches: {size_bad}): {verdict['members']}")

# --- bytes of a sample, through the local headers, and through the index when it has offsets
rnd = random.Random(seed + 1)
sample = rnd.sample(tile_members, min(2000, len(tile_members)))
def data_at(f, header_offset):
    f.seek(header_offset)
    h = f.read(30)
    if h[:4] != b"PK\x03\x04":
        raise ValueError(f"no local header at {header_offset}")
    n, x = struct.unpack("<HH", h[26:30])
    return header_offset + 30 + n + x
bad = 0
with open(archive, "rb") as f:
    for m, t in sample:
        f.seek(data_at(f, m["header_offset"]))
        if f.read(m["size"]) != open(src[tuple(map(int, t.groups()))], "rb").read():
            bad += 1
verdict["bytes"] = "PASS" if sample and bad == 0 else "FAIL"
print(f"  {len(sample)} random tiles read back through the local headers equal their files "
      f"(mismatches: {bad}): {verdict['bytes']}")
def pick(d, *names):
    return next((d[n] for n in names if n in d), None)
if isinstance(items, dict):
    entries = [dict(v, name=k) if isinstance(v, dict) else {"name": k} for k, v in items.items()]
else:
    entries = [e for e in (items or []) if isinstance(e, dict)]
by_zxy = {}
for e in entries:
    z, x, y = pick(e, "z", "zoom"), pick(e, "x", "col", "column"), pick(e, "y", "row")
    if z is None or x is None or y is None:
        t = TILE.search(str(pick(e, "name", "path", "member", "key") or ""))
        if not t:
            continue
        z, x, y = map(int, t.groups())
    off = pick(e, "offset", "data_offset", "start")
    length = pick(e, "length", "len", "size", "data_len", "data_length")
    if off is not None and length is not None:
        by_zxy[(int(z), int(x), int(y))] = (int(off), int(length))
if by_zxy:
    bad = 0
    with open(archive, "rb") as f:
        for m, t in sample:
            zxy = tuple(map(int, t.groups()))
            if zxy not in by_zxy:
                bad += 1
                continue
            off, length = by_zxy[zxy]
            f.seek(off)
            bad += f.read(length) != open(src[zxy], "rb").read()
    verdict["index_bytes"] = "PASS" if bad == 0 else "FAIL"
    print(f"  the same tiles read through the index's offset/length equal their files "
          f"(mismatches: {bad}): {verdict['index_bytes']}")
else:
    verdict["index_bytes"] = "n/a"
    print("  the index has no recognizable z/x/y + offset/length fields: index byte check skipped")

# --- order: zoom-major, then Hilbert within each zoom
def hilbert(n, x, y):                      # position of cell (x, y) along the n x n curve
    d, s = 0, n >> 1
    while s:
        rx, ry = int(x & s > 0), int(y & s > 0)
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x, y = x & (s - 1), y & (s - 1)
        s >>= 1
    return d
SYMS = [(sw, fx, fy) for sw in (0, 1) for fx in (0, 1) for fy in (0, 1)]
def sym(n, x, y, s):
    sw, fx, fy = s
    x, y = (n - 1 - x if fx else x), (n - 1 - y if fy else y)
    return (y, x) if sw else (x, y)
order = [tuple(map(int, t.groups())) for _, t in tile_members]
zooms = [z for z, _, _ in order]
zoom_major = zooms == sorted(zooms)
levels = {}
for z, x, y in order:
    levels.setdefault(z, []).append((x, y))
adjacent, hilbert_ok, report = True, True, []
for z, cells in sorted(levels.items()):
    n = 1 << z
    if len(cells) == n * n and n > 1:
        adjacent &= all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells, cells[1:]))
    fits = []
    for s in SYMS:
        ds = [hilbert(n, *sym(n, x, y, s)) for x, y in cells]
        if all(a < b for a, b in zip(ds, ds[1:])):
            fits.append(s)
    hilbert_ok &= bool(fits)
    if z > 0:
        report.append(f"z{z}:{len(fits)}")
verdict["order"] = "PASS" if zoom_major and adjacent and hilbert_ok and order else "FAIL"
print(f"  zoom-major: {zoom_major}; complete zooms walk edge to edge: {adjacent}; every zoom strictly "
      f"increasing along the Hilbert index under some square symmetry: {hilbert_ok} (symmetries that "
      f"fit, per zoom: {' '.join(report)}): {verdict['order']}")
print(json.dumps(verdict))
PY
SANITY_RC=$?
set -e
sed '$d' "$TMP/sanity.txt"
SANITY_JSON=$(tail -1 "$TMP/sanity.txt")
if ! "$PY" -c 'import json, sys; json.loads(sys.argv[1])' "$SANITY_JSON" 2>/dev/null; then
    say "sanity script failed (exit $SANITY_RC): $SANITY_JSON"
    SANITY_JSON='{"index_count": 0, "index": "FAIL", "members": "FAIL", "bytes": "FAIL", "index_bytes": "FAIL", "order": "FAIL"}'
fi

# per_tile STRACE_C_FILE: the busiest syscalls of a `strace -c` summary, as calls per tile.
per_tile() {
    awk -v n="$N_TILES" '$NF != "total" && $4 ~ /^[0-9]+$/ && $4 >= n / 10 {
        printf "%s %.2f\n", $NF, $4 / n }' "$1" | sort -k2,2gr | head -8 | tr '\n' ' '
}

# ---------------------------------------------------------------------------------------------
section "cat's copy path (strace -c -f of one cat pipeline)"
rm -f "$OUT/out.bin"; sync
(cd "$TILES" && strace -c -f -o "$TMP/cat.strace" sh -c "$CAT_SH" "$OUT/out.bin" nosync)
cat "$TMP/cat.strace"
say "calls per tile (cat pipeline): $(per_tile "$TMP/cat.strace")"
note_copy_file_range "$TMP/cat.strace"
rm -f "$OUT/out.bin"

# ---------------------------------------------------------------------------------------------
section "report"
report_vs_cat 2.0 128

if want_profile 'target <= .*: FAIL'; then
    section "profile: strace -c -f of one taco pack-tiles"
    rm -f "$OUT/out.taco" "$OUT/out.taco.meta.json"; sync
    t0=${EPOCHREALTIME/./}
    strace -c -f -o "$TMP/taco.strace" "$TACO" pack-tiles -q --force "$TILES" -o "$OUT/out.taco" >/dev/null
    t1=${EPOCHREALTIME/./}
    cat "$TMP/taco.strace"
    say "calls per tile (taco): $(per_tile "$TMP/taco.strace")"
    say "(wall under strace: $(((t1 - t0) / 1000)) ms)"
fi

if [[ $KEEP != 1 ]]; then
    rm -f "$OUT"/out.*
    say "deleted the outputs (KEEP=1 keeps them); the tiles stay in $TILES for reuse"
fi

# ---------------------------------------------------------------------------------------------
markdown_summary_head
"$PY" - "$RESULTS.json" "$SANITY_JSON" <<PY
import json, sys
r = json.load(open(sys.argv[1]))
s = json.loads(sys.argv[2])
print("Command: \`$CMDLINE\` (taco $("$TACO" --version 2>/dev/null | awk '{print $NF}'), "
      "$(cat --version | head -1); the cat baseline is \`find . -type f -print0 | sort -z | xargs -0 cat > out\` "
      "inside the tile directory, which xargs runs as $CAT_PROCS cat processes). "
      "Warm page cache; median of $ROUNDS rounds after a warm-up round; ratios are per-round medians. "
      "cat uses copy_file_range: $CAT_CFR.")
print()
print("Source: $SRC_INFO. Archive: $ARCHIVE_BYTES bytes.")
print()
print("Wall times: median (min) over the rounds.")
print()
print("| cat | cat+sync | taco pack-tiles | taco/cat | target taco/cat | taco/cat+sync | taco peak RSS | validate --level deep | index items | tiles read back | order |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
m, lo = r["m"], r["lo"]
w = lambda t: f"{m[t]:.3f} ({lo[t]:.3f}) s"
back = s["bytes"] if s["index_bytes"] == "n/a" else f"{s['bytes']} (via index: {s['index_bytes']})"
print(f"| {w('cat')} | {w('cat+sync')} | {w('taco')} | {r['r_cat']:.2f} | "
      f"<= 2.0: {'PASS' if r['ok_cat'] else 'FAIL'} | {r['r_cs']:.2f} | "
      f"{r['rss']:.1f} MiB (<= 128: {'PASS' if r['ok_rss'] else 'FAIL'}) | $VALIDATE | "
      f"{s['index_count']} ({s['index']}) | {back} | {s['order']} |")
PY
exit 0
