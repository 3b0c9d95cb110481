#!/usr/bin/env bash
# bench-pack.sh — how fast and how lean is `taco pack`, and does `taco header` read only 157 bytes?
#
# What it measures
#   * Wall time of packing two datasets from a warm page cache, each tool run ROUNDS times with the
#     order rotated every round:
#       cat        `cat FILES... > out.cat`                  (the copying floor, no durability)
#       cat+fsync  `cat FILES... > out.cs && sync out.cs`    (the floor with the same durability that
#                                                             taco gives: taco fsyncs before rename)
#       taco       `taco pack -q --force out.taco DIR`
#       tacozip    `tacozip.create(out.tz, FILES, arc_files=NAMES)` (tacozip 0.13.0, the reference);
#                  timed twice: the whole python process (same footing as the others; used for the
#                  ratio) and the create() call alone (time.perf_counter inside python).
#     Datasets: big = 100 files x 10 MiB, small = 20 000 files x 4 KiB in 100 subdirectories.
#     All tools read the same files in the same (byte-sorted) order and write to the same disk.
#     Before every timed command its previous output is removed and `sync` is run (outside the
#     timing), so no tool pays for another's dirty pages.
#     Wall time comes from bash's $EPOCHREALTIME around the process (microseconds); peak RSS from
#     `/usr/bin/time -f '%M %U %S'` (max RSS KiB, user and system CPU seconds).
#   * Ratios computed per round, then the median: taco/cat, taco/(cat+fsync), taco/tacozip.
#   * Targets (PASS/FAIL is printed, exit status is 0 regardless — this is a report, not a test):
#       big   median taco/cat <= 1.1     small median taco/cat <= 2.0     taco peak RSS <= 64 MiB
#   * taco's peak RSS on big, small and one 2 GiB file, to show memory does not grow with input size.
#   * `taco header` on a 5 GiB archive (packed from a sparse 5 GiB file) under strace: the syscalls on
#     the archive's fd and the total bytes read from it (expected: 157).
#   * With PROFILE=1 (or PROFILE=auto, the default, when the big-set target fails): `strace -c -f`
#     and `perf stat` of one taco pack vs one cat of the big set. Always: whether cat uses
#     copy_file_range (that makes the cat baseline an in-kernel copy).
#   Ends with a markdown summary (machine, date, command) to paste into BENCHMARKS.md.
#
# How to run (as root on Linux; installs `time`/`strace` with apt-get and tacozip with pip if missing;
# builds target/release/taco if missing):
#   bash scripts/bench-pack.sh
#   ROUNDS=5 BENCH_DIR=/tmp/taco-bench KEEP=0 PROFILE=auto bash scripts/bench-pack.sh 2>&1 | tee out.txt
# Needs ~13 GiB free in BENCH_DIR (sources 3.1 GiB are kept and reused; outputs and the 5 GiB files
# are deleted at the end unless KEEP=1). Run it on an otherwise idle machine: the load average is
# printed at the start and the end.
set -euo pipefail
export LC_ALL=C

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_settings /tmp/taco-bench

MIB=$((1 << 20))
SRC=$BENCH_DIR/src

# ---------------------------------------------------------------------------------------------
bench_tools
if ! python3 -c 'import sys, tacozip; sys.exit(tacozip.__version__ != "0.13.0")' 2>/dev/null; then
    python3 -m pip install -q 'tacozip==0.13.0'
fi
say "taco:    $TACO ($("$TACO" --version 2>/dev/null || echo '?'))"
say "cat:     $(cat --version | head -1)"
say "python:  $PY ($("$PY" --version 2>&1)), tacozip $("$PY" -c 'import tacozip; print(tacozip.__version__)')"
say_strace_and_loadavg

mkdir -p "$SRC" "$OUT" "$TMP"
: >"$RESULTS"

# ---------------------------------------------------------------------------------------------
section "sources in $SRC"
# shape_ok DIR COUNT SIZE: exactly COUNT regular files, each SIZE bytes.
shape_ok() {
    [[ -d $1 ]] || return 1
    local n bad
    n=$(find "$1" -type f | wc -l)
    bad=$(find "$1" -type f ! -size "$3"c | head -1)
    [[ $n -eq $2 && -z $bad ]]
}
if shape_ok "$SRC/big" 100 $((10 * MIB)); then
    say "big: reusing 100 x 10 MiB"
else
    say "big: writing 100 x 10 MiB from /dev/urandom"
    rm -rf "$SRC/big" && mkdir -p "$SRC/big"
    for i in $(seq -w 0 99); do head -c $((10 * MIB)) /dev/urandom >"$SRC/big/f0$i.bin"; done
fi
if shape_ok "$SRC/small" 20000 4096; then
    say "small: reusing 20000 x 4 KiB"
else
    say "small: writing 20000 x 4 KiB in 100 subdirectories"
    rm -rf "$SRC/small"
    "$PY" - "$SRC/small" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    sub = os.path.join(root, f"d{d:02d}")
    os.makedirs(sub)
    for f in range(200):
        with open(os.path.join(sub, f"f{d * 200 + f:05d}.bin"), "wb") as fh:
            fh.write(os.urandom(4096))
PY
fi
if shape_ok "$SRC/one2g" 1 $((2048 * MIB)); then
    say "one2g: reusing 1 x 2 GiB"
else
    say "one2g: writing 1 x 2 GiB from /dev/urandom"
    rm -rf "$SRC/one2g" && mkdir -p "$SRC/one2g"
    dd if=/dev/urandom of="$SRC/one2g/blob.bin" bs=16M count=128 iflag=fullblock status=none
fi
for ds in big small one2g; do
    (cd "$SRC" && find "$ds" -type f | sort) >"$TMP/$ds.list"
done

# ---------------------------------------------------------------------------------------------
# One timed run. Appends "dataset round tool wall_s rss_kib inner_s user_s sys_s" to $RESULTS.
PY_CREATE='
import sys, time, tacozip
lst, out = sys.argv[1], sys.argv[2]
with open(lst) as f:
    files = [line.rstrip("\n") for line in f]
t = time.perf_counter()
tacozip.create(out, files, arc_files=files)
print(f"{time.perf_counter() - t:.6f}")
'
run_tool() { # run_tool DATASET ROUND TOOL  (cwd = $SRC, FILES = the dataset's sorted file list)
    local ds=$1 round=$2 tool=$3 out inner=-
    case $tool in
        cat) out=$OUT/out.cat ;;
        cat+fsync) out=$OUT/out.cs ;;
        taco) out=$OUT/out.taco ;;
        tacozip) out=$OUT/out.tz ;;
    esac
    rm -f "$out"
    sync
    case $tool in
        cat) timed --out "$out" cat "${FILES[@]}" ;;
        cat+fsync) timed sh -c 'cat "$@" >"$0" && sync "$0"' "$out" "${FILES[@]}" ;;
        taco) timed --out /dev/null "$TACO" pack -q --force "$out" "$ds" ;;
        tacozip)
            timed --out "$TMP/inner" "$PY" -c "$PY_CREATE" "$TMP/$ds.list" "$out"
            inner=$(<"$TMP/inner") ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ds" "$round" "$tool" "$WALL" "$RSS" "$inner" \
        "$USR" "$SYS" >>"$RESULTS"
    print_round "$round" "$tool" "$([[ $inner != - ]] && echo "  create() ${inner}s")"
}

TOOLS=(cat cat+fsync taco tacozip)
cd "$SRC"
for ds in big small; do
    section "dataset $ds: $ROUNDS rounds, order rotated each round"
    mapfile -t FILES <"$TMP/$ds.list"
    say "warm-up: reading ${#FILES[@]} files into the page cache (untimed)"
    cat "${FILES[@]}" >/dev/null
    rotate_rounds 1 run_tool "$ds"
done
rm -f "$OUT"/out.cat "$OUT"/out.cs "$OUT"/out.tz

section "taco RSS vs input size: one pack of 1 x 2 GiB"
mapfile -t FILES <"$TMP/one2g.list"
cat "${FILES[@]}" >/dev/null
run_tool one2g 1 taco
rm -f "$OUT/out.taco"

# ---------------------------------------------------------------------------------------------
section "cat's copy path (strace -c -f of one cat of the big set)"
mapfile -t FILES <"$TMP/big.list"
rm -f "$OUT/out.cat"
strace -c -f -o "$TMP/cat.strace" cat "${FILES[@]}" >"$OUT/out.cat"
cat "$TMP/cat.strace"
note_copy_file_range "$TMP/cat.strace"
rm -f "$OUT/out.cat"

# ---------------------------------------------------------------------------------------------
section "report"
"$PY" - "$RESULTS" "$ROUNDS" >"$TMP/report.txt" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
d = defaultdict(dict)          # (ds, round) -> tool -> (wall, rss_kib, inner, user+sys)
for ds, r, tool, wall, rss, inner, usr, sys_ in rows:
    d[(ds, int(r))][tool] = (float(wall), int(rss), None if inner == "-" else float(inner),
                             float(usr) + float(sys_))
med = st.median
TOOLS = ("cat", "cat+fsync", "taco", "tacozip")
out = {}
for ds, target in (("big", 1.1), ("small", 2.0)):
    rs = [d[(ds, r)] for r in range(1, rounds + 1)]
    m = {t: med(x[t][0] for x in rs) for t in TOOLS}
    lo = {t: min(x[t][0] for x in rs) for t in TOOLS}
    cpu = {t: med(x[t][3] for x in rs) for t in TOOLS}
    m["create"] = med(x["tacozip"][2] for x in rs)
    lo["create"] = min(x["tacozip"][2] for x in rs)
    ratio = lambda a, b: med(x[a][0] / x[b][0] for x in rs)
    res = dict(m=m, lo=lo, cpu=cpu, r_cat=ratio("taco", "cat"), r_cs=ratio("taco", "cat+fsync"),
               r_tz=ratio("taco", "tacozip"),
               r_tzc=med(x["taco"][0] / x["tacozip"][2] for x in rs),
               rss=max(x["taco"][1] for x in rs) / 1024,
               tz_rss=max(x["tacozip"][1] for x in rs) / 1024, target=target)
    out[ds] = res
    print(f"[{ds}]                 median wall     min wall   median user+sys")
    for t in TOOLS:
        print(f"  {t:<18} {m[t]:10.3f} s {lo[t]:10.3f} s {cpu[t]:10.2f} s")
    print(f"  {'tacozip create()':<18} {m['create']:10.3f} s {lo['create']:10.3f} s   (inside python)")
    print(f"  median ratio taco/cat        {res['r_cat']:7.2f}   target <= {target}: "
          f"{'PASS' if res['r_cat'] <= target else 'FAIL'}   (ratio of min walls {lo['taco'] / lo['cat']:.2f})")
    print(f"  median ratio taco/cat+fsync  {res['r_cs']:7.2f}   (same durability; informational: "
          f"{'would PASS' if res['r_cs'] <= target else 'would FAIL'} at {target}; "
          f"ratio of min walls {lo['taco'] / lo['cat+fsync']:.2f})")
    print(f"  median ratio taco/tacozip    {res['r_tz']:7.2f}   (process wall; vs create() alone "
          f"{res['r_tzc']:.2f})")
    print(f"  taco peak RSS  {res['rss']:7.1f} MiB   target <= 64 MiB: "
          f"{'PASS' if res['rss'] <= 64 else 'FAIL'}   (tacozip process: {res['tz_rss']:.1f} MiB)")
    walls = {t: " ".join(f"{x[t][0]:.2f}" for x in rs) for t in TOOLS}
    for t in TOOLS:
        print(f"  rounds {t:<10} {walls[t]}")
one = d[("one2g", 1)]["taco"]
out["one2g"] = dict(rss=one[1] / 1024, wall=one[0])
print("[taco peak RSS vs input size]")
print(f"  big   100 x 10 MiB (1000 MiB) {out['big']['rss']:7.1f} MiB")
print(f"  small 20000 x 4 KiB (78 MiB)  {out['small']['rss']:7.1f} MiB")
print(f"  one2g 1 x 2 GiB               {out['one2g']['rss']:7.1f} MiB   (pack took {one[0]:.2f} s)   "
      f"target <= 64 MiB: {'PASS' if out['one2g']['rss'] <= 64 else 'FAIL'}")
json.dump(out, open(sys.argv[1] + ".json", "w"))
PY
cat "$TMP/report.txt"

if want_profile 'target <= 1.1: FAIL'; then
    section "profile: one taco pack vs one cat of the big set"
    cat "${FILES[@]}" >/dev/null
    rm -f "$OUT/out.taco"; sync
    say "--- strace -c -f taco pack"
    strace -c -f -o "$TMP/taco.strace" "$TACO" pack -q --force "$OUT/out.taco" big >/dev/null
    cat "$TMP/taco.strace"
    if perf stat -e task-clock true >/dev/null 2>&1; then
        rm -f "$OUT/out.taco" "$OUT/out.cat"; sync
        say "--- perf stat taco pack"
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults -- \
            "$TACO" pack -q --force "$OUT/out.taco" big 2>&1 >/dev/null | sed '/^$/d'
        abbrev() { sed -E -e '/^$/d' -e 's#( big/f[0-9]+\.bin)+# big/*.bin#'; }
        sync
        say "--- perf stat cat"
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$TMP/perf.cat" -- \
            cat "${FILES[@]}" >"$OUT/out.cat"
        abbrev <"$TMP/perf.cat"
        rm -f "$OUT/out.cat"; sync
        say "--- perf stat cat + fsync"
        perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$TMP/perf.cs" -- \
            sh -c 'cat "$@" >"$0" && sync "$0"' "$OUT/out.cat" "${FILES[@]}"
        abbrev <"$TMP/perf.cs"
    else
        say "(perf stat unavailable here)"
    fi
    rm -f "$OUT/out.taco" "$OUT/out.cat"
fi

# ---------------------------------------------------------------------------------------------
section "taco header on a 5 GiB archive"
HUGE_SRC=$BENCH_DIR/huge-src
HUGE=$BENCH_DIR/huge.taco
if [[ -f $HUGE && $(stat -c %s "$HUGE") -gt $((5 << 30)) ]]; then
    say "reusing $HUGE"
else
    mkdir -p "$HUGE_SRC"
    rm -f "$HUGE_SRC/zero5g.bin"
    truncate -s 5G "$HUGE_SRC/zero5g.bin"
    t0=${EPOCHREALTIME/./}
    "$TACO" pack -q --force "$HUGE" "$HUGE_SRC"
    t1=${EPOCHREALTIME/./}
    say "packed sparse 5 GiB source in $(((t1 - t0) / 1000)) ms"
fi
say "archive size: $(stat -c %s "$HUGE") bytes"
"$TACO" header "$HUGE"
strace -f -e trace=openat,read,pread64,readv,preadv,preadv2,lseek,mmap,close \
    -o "$TMP/trace.txt" "$TACO" header "$HUGE" >/dev/null
HEADER_BYTES=$("$PY" - "$TMP/trace.txt" "$HUGE" <<'PY'
import re, sys
trace, path = sys.argv[1], sys.argv[2]
fds, total, lines = set(), 0, []
for line in open(trace):
    m = re.search(r'openat\(AT_FDCWD, "([^"]*)".*\) = (\d+)', line)
    if m and m.group(1) == path:
        fds.add(m.group(2)); lines.append(line.rstrip()); continue
    m = re.search(r'(\w+)\((\d+)[,)].*= (-?\d+)', line)
    if not m or m.group(2) not in fds:
        continue
    call, fd, ret = m.group(1), m.group(2), int(m.group(3))
    if call == "mmap":
        continue  # fd is mmap's 5th argument; handled below
    lines.append(line.rstrip())
    if call in ("read", "pread64", "readv", "preadv", "preadv2") and ret > 0:
        total += ret
    if call == "close":
        fds.discard(fd)
for line in open(trace):
    m = re.search(r'mmap\([^,]*, [^,]*, [^,]*, [^,]*, (\d+),', line)
    if m and m.group(1) in fds:
        lines.append(line.rstrip() + "   <-- mmap of the archive")
print("\n".join(lines), file=sys.stderr)
print(total)
PY
)
say "total bytes read from the archive fd: $HEADER_BYTES  $([[ $HEADER_BYTES == 157 ]] && echo '(== 157: PASS)' || echo '(!= 157: FAIL)')"

if [[ $KEEP != 1 ]]; then
    rm -rf "$HUGE" "$HUGE_SRC"
    rm -f "$OUT"/out.*
    say "deleted the 5 GiB files and the outputs (KEEP=1 keeps them); sources stay in $SRC for reuse"
fi

# ---------------------------------------------------------------------------------------------
markdown_summary_head
"$PY" - "$RESULTS.json" <<PY
import json, sys
o = json.load(open(sys.argv[1]))
print("Command: \`$CMDLINE\` (taco $("$TACO" --version 2>/dev/null | awk '{print $NF}'), "
      "$(cat --version | head -1), tacozip 0.13.0). Warm page cache; median of $ROUNDS rounds; "
      "ratios are per-round medians. cat uses copy_file_range: $CAT_CFR.")
print()
print("Wall times: median (min) over the rounds.")
print()
print("| dataset | cat | cat+fsync | taco | tacozip process / create() | taco/cat | taco/cat+fsync | taco/tacozip | target taco/cat | taco peak RSS |")
print("|---|---|---|---|---|---|---|---|---|---|")
for ds, label in (("big", "100 x 10 MiB"), ("small", "20 000 x 4 KiB")):
    r = o[ds]; m = r["m"]
    ok = "PASS" if r["r_cat"] <= r["target"] else "FAIL"
    rss_ok = "PASS" if r["rss"] <= 64 else "FAIL"
    lo = r["lo"]
    w = lambda t: f"{m[t]:.3f} ({lo[t]:.3f}) s"
    print(f"| {label} | {w('cat')} | {w('cat+fsync')} | {w('taco')} | "
          f"{w('tacozip')} / {w('create')} | {r['r_cat']:.2f} | {r['r_cs']:.2f} | "
          f"{r['r_tz']:.2f} | <= {r['target']}: {ok} | {r['rss']:.1f} MiB ({rss_ok}) |")
print()
print("| taco peak RSS | 100 x 10 MiB | 20 000 x 4 KiB | 1 x 2 GiB |")
print("|---|---|---|---|")
print(f"| MiB | {o['big']['rss']:.1f} | {o['small']['rss']:.1f} | {o['one2g']['rss']:.1f} |")
print()
print("\`taco header\` on a 5 GiB archive: $HEADER_BYTES bytes read from the archive "
      "($([[ $HEADER_BYTES == 157 ]] && echo PASS || echo FAIL), expected 157).")
PY
exit 0
