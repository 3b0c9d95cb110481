# bench-lib.sh — what scripts/bench-pack.sh, bench-parquet.sh and bench-tiles.sh share: settings,
# tool checks, the timed run, round rotation, the cat-vs-taco report, `taco validate`, and the
# machine line of the markdown summary. Not run on its own; each script sources it:
#   source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
# Helpers that time or report use the globals set by bench_settings (TMP, RESULTS, ...).

say() { printf '%s\n' "$*"; }
section() { printf '\n=== %s ===\n' "$*"; }

# bench_settings DEFAULT_BENCH_DIR: REPO, TACO, BENCH_DIR, ROUNDS, KEEP, PROFILE (the last four
# overridable from the environment, TACO too), CMDLINE (how to repeat this run), OUT, TMP, RESULTS.
bench_settings() {
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    TACO=${TACO:-$REPO/target/release/taco}
    BENCH_DIR=${BENCH_DIR:-$1}
    ROUNDS=${ROUNDS:-5}
    KEEP=${KEEP:-0}
    PROFILE=${PROFILE:-auto}
    CMDLINE="ROUNDS=$ROUNDS BENCH_DIR=$BENCH_DIR KEEP=$KEEP PROFILE=$PROFILE bash scripts/$(basename "$0")"
    OUT=$BENCH_DIR/out
    TMP=$BENCH_DIR/tmp
    RESULTS=$TMP/results.tsv
}

# ---------------------------------------------------------------------------------------------
# tools

APT_UPDATED=0
need_deb() { # need_deb BINARY PACKAGE
    if [[ ! -x $1 ]] && ! command -v "$1" >/dev/null 2>&1; then
        if ((APT_UPDATED == 0)); then apt-get update -qq; APT_UPDATED=1; fi
        apt-get install -y -qq "$2"
    fi
}

# bench_tools [CARGO_ARG...]: section "tools"; builds $TACO if missing (extra cargo arguments
# given), installs /usr/bin/time and strace if missing, needs python3 and sets PY.
bench_tools() {
    section "tools"
    if [[ ! -x $TACO ]]; then
        say "building $TACO"
        (cd "$REPO" && cargo build --release -p taco-cli "$@")
    fi
    need_deb /usr/bin/time time
    need_deb strace strace
    command -v python3 >/dev/null || { say "python3 is required"; exit 1; }
    # The real interpreter, not a pyenv shim (a shim adds tens of ms to every process).
    PY=$(python3 -c 'import sys; print(sys.executable)')
}

# say_strace_and_loadavg: the last lines of the "tools" section; sets LOAD_START.
say_strace_and_loadavg() {
    say "strace:  $(strace -V | head -1)"
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    say "loadavg at start: $LOAD_START"
}

# ---------------------------------------------------------------------------------------------
# timed runs

# fresh_output TOOL: sets OUTFILE to where TOOL of the cat/cat+sync/taco comparison writes
# ($OUT/out.bin, out.cs, out.taco), removes it and its .meta.json and runs `sync` (all before the
# timing), so no run pays for another's dirty pages.
fresh_output() {
    case $1 in
        cat) OUTFILE=$OUT/out.bin ;;
        cat+sync) OUTFILE=$OUT/out.cs ;;
        taco) OUTFILE=$OUT/out.taco ;;
    esac
    rm -f "$OUTFILE" "$OUTFILE.meta.json"
    sync
}

# timed [--in DIR] [--out FILE] CMD...: one run of CMD under `/usr/bin/time -f '%M %U %S'`, wall
# time from $EPOCHREALTIME around the process. --in runs it in DIR (in a subshell), --out sends its
# stdout to FILE (not both). Sets WALL (seconds, 6 decimals), RSS (peak KiB), USR and SYS (CPU s).
timed() {
    local dir="" stdout="" t0 t1
    while :; do
        case $1 in
            --in) dir=$2; shift 2 ;;
            --out) stdout=$2; shift 2 ;;
            *) break ;;
        esac
    done
    if [[ -n $dir && -n $stdout ]]; then
        say "timed: --in and --out do not go together"
        exit 1
    fi
    if [[ -n $dir ]]; then
        t0=${EPOCHREALTIME/./}
        (cd "$dir" && /usr/bin/time -f '%M %U %S' -o "$TMP/rss" "$@")
        t1=${EPOCHREALTIME/./}
    elif [[ -n $stdout ]]; then
        t0=${EPOCHREALTIME/./}
        /usr/bin/time -f '%M %U %S' -o "$TMP/rss" "$@" >"$stdout"
        t1=${EPOCHREALTIME/./}
    else
        t0=${EPOCHREALTIME/./}
        /usr/bin/time -f '%M %U %S' -o "$TMP/rss" "$@"
        t1=${EPOCHREALTIME/./}
    fi
    read -r RSS USR SYS < <(tail -1 "$TMP/rss")
    printf -v WALL '%d.%06d' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000))
}

# print_round ROUND TOOL [SUFFIX]: the progress line of the last timed run.
print_round() {
    printf '  round %s %-9s wall %8ss  user %5ss sys %5ss  rss %7s KiB%s\n' "$1" "$2" "$WALL" \
        "$USR" "$SYS" "$RSS" "${3-}"
}

# record_round ROUND TOOL [SUFFIX]: appends "round tool wall_s rss_kib user_s sys_s" of the last
# timed run to $RESULTS and prints its progress line.
record_round() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$WALL" "$RSS" "$USR" "$SYS" >>"$RESULTS"
    print_round "$@"
}

# One timed round of a directory benchmark against cat: `cat` and `cat+sync` run $CAT_SH inside
# DIR ($0 = output file, $1 = sync|nosync); `taco` runs TACO_ARGS... -o OUTPUT. Records the row.
cat_or_taco_round() { # cat_or_taco_round ROUND TOOL DIR TACO_ARGS...
    local round=$1 tool=$2 dir=$3
    shift 3
    fresh_output "$tool"
    case $tool in
        cat) timed --in "$dir" sh -c "$CAT_SH" "$OUTFILE" nosync ;;
        cat+sync) timed --in "$dir" sh -c "$CAT_SH" "$OUTFILE" sync ;;
        taco) timed --out /dev/null "$TACO" "$@" -o "$OUTFILE" ;;
    esac
    record_round "$round" "$tool" "$( ((round == 0)) && echo '   (warm-up, not in the report)')"
}

# rotate_rounds FIRST CMD...: for rounds FIRST..ROUNDS, runs `CMD... ROUND TOOL` for every tool in
# TOOLS, starting one tool later each round.
rotate_rounds() {
    local first=$1 r k n=${#TOOLS[@]}
    shift
    for ((r = first; r <= ROUNDS; r++)); do
        for ((k = 0; k < n; k++)); do
            "$@" "$r" "${TOOLS[$(((k + r + n - 1) % n))]}"
        done
    done
}

# ---------------------------------------------------------------------------------------------
# checks and reports

# note_copy_file_range STRACE_C_FILE: sets CAT_CFR from a `strace -c` summary of cat and says it.
note_copy_file_range() {
    if grep -q copy_file_range "$1"; then
        CAT_CFR="yes (in-kernel copy; no user-space buffer)"
    else
        CAT_CFR="no (read/write through a user-space buffer)"
    fi
    say "cat uses copy_file_range: $CAT_CFR"
}

# validate_deep ARCHIVE: `taco validate --level deep`, its output indented; sets VALIDATE.
validate_deep() {
    local rc=0
    "$TACO" validate --level deep "$1" >"$TMP/validate.txt" 2>&1 || rc=$?
    sed 's/^/  /' "$TMP/validate.txt" | head -20
    if ((rc == 0)); then VALIDATE="PASS"; else VALIDATE="FAIL (exit $rc)"; fi
    say "taco validate --level deep: $VALIDATE"
}

# report_vs_cat TARGET RSS_TARGET_MIB: the report of the tools cat, cat+sync and taco over rounds
# 1..ROUNDS of $RESULTS (rows written by record_round; round 0 is left out): median and min walls,
# per-round median ratios, taco's peak RSS, PASS/FAIL against the targets. Written to
# $TMP/report.txt and printed; the numbers go to $RESULTS.json.
report_vs_cat() {
    "$PY" - "$RESULTS" "$ROUNDS" "$1" "$2" >"$TMP/report.txt" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
target, rss_target = float(sys.argv[3]), int(sys.argv[4])
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
           rss=max(x["taco"][1] for x in rs) / 1024, target=target, rss_target=rss_target)
res["ok_cat"] = res["r_cat"] <= res["target"]
res["ok_rss"] = res["rss"] <= res["rss_target"]
print(f"                     median wall     min wall   median user+sys")
for t in TOOLS:
    print(f"  {t:<18} {m[t]:10.3f} s {lo[t]:10.3f} s {cpu[t]:10.2f} s")
print(f"  median ratio taco/cat        {res['r_cat']:7.2f}   target <= {target}: "
      f"{'PASS' if res['ok_cat'] else 'FAIL'}   (ratio of min walls {lo['taco'] / lo['cat']:.2f})")
print(f"  median ratio taco/cat+sync   {res['r_cs']:7.2f}   (same durability; informational; "
      f"ratio of min walls {lo['taco'] / lo['cat+sync']:.2f})")
print(f"  taco peak RSS  {res['rss']:7.1f} MiB   target <= {rss_target} MiB: "
      f"{'PASS' if res['ok_rss'] else 'FAIL'}")
for t in TOOLS:
    print(f"  rounds {t:<10} " + " ".join(f"{x[t][0]:.2f}" for x in rs))
print(f"  rounds taco RSS   " + " ".join(f"{x['taco'][1] / 1024:.1f}" for x in rs) + " MiB")
json.dump(res, open(sys.argv[1] + ".json", "w"))
PY
    cat "$TMP/report.txt"
}

# want_profile PATTERN: PROFILE=1, or PROFILE=auto and a line of the report matches PATTERN.
want_profile() {
    [[ $PROFILE == 1 ]] || { [[ $PROFILE == auto ]] && grep -q "$1" "$TMP/report.txt"; }
}

# markdown_summary_head: sets LOAD_END, starts the "markdown summary" section and prints its first
# paragraph (machine, date, load average) and a blank line.
markdown_summary_head() {
    local fstype cpu virt="" f
    LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
    section "markdown summary"
    fstype=$(findmnt -n -o FSTYPE -T "$BENCH_DIR" 2>/dev/null || df -T "$BENCH_DIR" | awk 'NR==2{print $2}')
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    for f in /sys/bus/virtio/drivers/virtio_balloon/virtio*/features; do
        # Feature bit 5 = free page reporting: freed guest pages go back to the host and cost a host
        # fault when the page cache touches them again, which makes write timings noisy.
        [[ -r $f && $(cut -c6 "$f") == 1 ]] && virt=" VM with virtio-balloon free page reporting (write timings are noisy)."
    done
    printf 'Machine: %s CPUs (%s), %s, bench dir on %s, kernel %s. Date: %s. Load average start/end: %s / %s.%s\n\n' \
        "$(nproc)" "$cpu" "$(awk '/MemTotal/{printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)" \
        "$fstype" "$(uname -r)" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$LOAD_START" "$LOAD_END" "$virt"
}
