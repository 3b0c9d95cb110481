#!/usr/bin/env bash
# bench-remote.sh — how fast does `taco get` fetch entries over HTTP, against curl and against itself?
#
# What it measures
#   * Input: 7 split directories s0..s6, each holding one 64 MiB file of random bytes
#     (/dev/urandom), packed with `taco pack-splits` — entry i is the span of split i (~64 MiB).
#     Everything lives in one temp dir (mktemp -d under BENCH_DIR, default /tmp) that is removed
#     on exit, nginx included. The archive is read once with `cat > /dev/null` before any timing
#     (the page cache cannot be dropped; this way nginx serves it from memory for every tool).
#   * A local nginx on 127.0.0.1 (a free port; its own config, pid, logs and temp paths in the
#     temp dir; one worker, sendfile) serves the archive twice:
#       /archive.taco           as is
#       /limited/archive.taco   with `limit_rate $LIMIT_RATE` (default 100m = 100 MiB/s per
#                               request): a stand-in for the per-connection throughput cap of S3
#                               and CDNs, where one connection cannot fill the pipe
#   * (A) one 64 MiB entry (entry $A_ENTRY), each tool ROUNDS times, order rotated every round:
#       curl        `curl -s -f -r START-END -o FILE URL`            (the same byte range)
#       curl+sync   the same followed by `sync FILE`  (informational: `taco get -o FILE` commits
#                   atomically and fsyncs the file; curl does not)
#       taco        `taco get -q URL --entry N -o FILE`
#     Target: median taco <= 1.2 x median curl (the ratio of medians; the ratio of min walls and
#     the median of per-round ratios are shown too).
#   * (B) all 7 entries (7 x ~64 MiB), each way ROUNDS times, order rotated every round:
#       jobs7       `taco get -q URL --entry 0,1,2,3,4,5,6 -o DIR --jobs 7`   (7 concurrent ranges)
#       jobs1       the same with `--jobs 1`                                   (one after another)
#       seq7        7 separate `taco get -q URL --entry i -o DIR/entry-i` runs, one after another
#                   (each also fsyncs its file: single-file output is atomic + durable)
#       curl7       7 `curl -r` of the same ranges in parallel  (informational: the floor)
#     Target: jobs7 faster than jobs1 and than seq7 (ratios jobs7/jobs1 and jobs7/seq7 < 1).
#   * Both (A) and (B) run against each of the two URLs. An extra round 0 before the timed rounds
#     warms every tool and is left out of the report. Before every timed run the tool's previous
#     output is removed and `sync` is run (outside the timing). Wall time from $EPOCHREALTIME
#     around the process, peak RSS and CPU from /usr/bin/time (bench-lib.sh's `timed`).
#   * Sanity (PASS/FAIL lines): every file fetched in every round equals (`cmp`) the output of
#     `taco get ARCHIVE --entry N -o` on the local file; nginx's access log shows exactly 2
#     requests for one `taco get --entry N` (the 157-byte header, then the entry's range), and
#     1 + 7 requests for `--entry 0,...,6`, with --jobs 7 running all 7 at once (the log's
#     start/end times overlap) over 7 connections. `strace` counts the fsyncs of each way.
#   PASS/FAIL is printed; exit status is 0 regardless — this is a report, not a test.
#   Ends with a markdown summary (machine, date, command) to paste into BENCHMARKS.md.
#
# How to run (as root on Linux; installs time/strace/nginx/curl with apt-get if missing; builds
# target/release/taco if missing; TACO (or TACO_BIN) overrides the binary):
#   bash scripts/bench-remote.sh
#   ROUNDS=5 BENCH_DIR=/tmp LIMIT_RATE=100m bash scripts/bench-remote.sh 2>&1 | tee out.txt
# Needs ~3 GiB free in BENCH_DIR while it runs (sources are deleted once packed). KEEP=1 keeps the
# temp dir. ~2.5 minutes with ROUNDS=5 on 2 vCPUs (1m45s with ROUNDS=3). Run it on an otherwise
# idle machine: the load average is printed at the start and the end.
set -euo pipefail
export LC_ALL=C

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
[[ -z ${TACO:-} && -n ${TACO_BIN:-} ]] && TACO=$TACO_BIN
PARENT=${BENCH_DIR:-/tmp}
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/taco-bench-remote.XXXXXX")
BENCH_DIR=$WORK
bench_settings "$WORK"
LIMIT_RATE=${LIMIT_RATE:-100m}
CMDLINE="ROUNDS=$ROUNDS BENCH_DIR=$PARENT LIMIT_RATE=$LIMIT_RATE bash scripts/$(basename "$0")"

N_ENTRIES=7
ENTRY_MIB=64
A_ENTRY=3
SRC=$WORK/src
ARCHIVE=$WORK/www/archive.taco
REF=$WORK/ref
NGX=$WORK/nginx
ACCESS_LOG=$NGX/logs/access.log
CHECKS=$TMP/checks.tsv # scenario part tool round PASS|FAIL detail
NGINX_PID=""

cleanup() {
    if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    if [[ $KEEP == 1 ]]; then
        say "kept $WORK (KEEP=1)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
bench_tools
need_deb nginx nginx
need_deb curl curl
say "taco:    $TACO ($("$TACO" --version 2>/dev/null || echo '?'), built $(date -u -r "$TACO" '+%F %T UTC'))"
say "curl:    $(curl --version | head -1 | cut -d' ' -f1-3)"
say "nginx:   $(nginx -v 2>&1 | sed 's/^nginx version: //')"
say "python:  $PY ($("$PY" --version 2>&1))"
say "workdir: $WORK (removed on exit)"
say_strace_and_loadavg

mkdir -p "$OUT" "$TMP" "$SRC" "$REF" "$(dirname "$ARCHIVE")" "$NGX/logs" "$NGX/tmp"
: >"$CHECKS"

# ---------------------------------------------------------------------------------------------
section "data"
t0=${EPOCHREALTIME/./}
for ((i = 0; i < N_ENTRIES; i++)); do
    mkdir -p "$SRC/s$i"
    head -c "${ENTRY_MIB}M" /dev/urandom >"$SRC/s$i/data.bin"
done
"$TACO" pack-splits -q --force "$SRC" -o "$ARCHIVE"
rm -rf "$SRC"
t1=${EPOCHREALTIME/./}
ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")
say "$N_ENTRIES splits s0..s$((N_ENTRIES - 1)) of one $ENTRY_MIB MiB /dev/urandom file each, packed with taco pack-splits in $(((t1 - t0) / 1000)) ms (sources deleted): $ARCHIVE_BYTES bytes"
"$TACO" header "$ARCHIVE" | sed 's/^/  /'
"$TACO" header --json "$ARCHIVE" >"$TMP/header.json"
mapfile -t OFFSETS < <("$PY" -c 'import json,sys; [print(e["offset"], e["length"]) for e in json.load(open(sys.argv[1]))["entries"]]' "$TMP/header.json")
((${#OFFSETS[@]} == N_ENTRIES)) || { say "expected $N_ENTRIES entries, got ${#OFFSETS[@]}"; exit 1; }
RANGES=() # "START-END" (inclusive, as curl -r and HTTP Range want)
for ((i = 0; i < N_ENTRIES; i++)); do
    read -r off len <<<"${OFFSETS[$i]}"
    RANGES+=("$off-$((off + len - 1))")
done
say "entry $A_ENTRY (part A): bytes ${RANGES[$A_ENTRY]}"
# The reference bytes: the local archive, read by taco itself.
for ((i = 0; i < N_ENTRIES; i++)); do
    "$TACO" get -q "$ARCHIVE" --entry "$i" -o "$REF/entry-$i"
done
say "reference: taco get ARCHIVE --entry N -o $REF/entry-N (local file) for N = 0..$((N_ENTRIES - 1))"
cat "$ARCHIVE" >/dev/null
say "warm-up: read the archive once with cat > /dev/null (untimed), so nginx serves it from memory"

# ---------------------------------------------------------------------------------------------
section "nginx"
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
write_nginx_conf() { # write_nginx_conf PORT
    local user=""
    [[ $(id -u) == 0 ]] && user="user root;"
    cat >"$NGX/nginx.conf" <<EOF
$user
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log notice;
events { worker_connections 256; }
http {
    log_format bench '\$msec \$request_time \$connection \$status \$request_method \$uri "\$http_range" \$body_bytes_sent';
    access_log $ACCESS_LOG bench;
    client_body_temp_path $NGX/tmp/client;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    server {
        listen 127.0.0.1:$1;
        root $WORK/www;
        location / { }
        location /limited/ {
            alias $WORK/www/;
            limit_rate $LIMIT_RATE;
        }
    }
}
EOF
}
# A port picked free can be taken before nginx binds it: retry with a new one.
for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    write_nginx_conf "$PORT"
    nginx -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" -g 'daemon off;' \
        </dev/null >>"$NGX/logs/stderr.log" 2>&1 &
    NGINX_PID=$!
    up=0
    for _ in $(seq 100); do # at most ~10 s
        kill -0 "$NGINX_PID" 2>/dev/null || break
        if curl -s -f -o /dev/null -r 0-0 "http://127.0.0.1:$PORT/archive.taco"; then up=1; break; fi
        sleep 0.1
    done
    ((up)) && break
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    say "nginx did not come up on port $PORT (attempt $attempt):"
    tail -3 "$NGX/logs/error.log" "$NGX/logs/stderr.log" 2>/dev/null | sed 's/^/  /'
done
[[ -n $NGINX_PID ]] || { say "nginx did not start"; exit 1; }
URL_PLAIN="http://127.0.0.1:$PORT/archive.taco"
URL_LIMITED="http://127.0.0.1:$PORT/limited/archive.taco"
say "nginx pid $NGINX_PID on 127.0.0.1:$PORT (1 worker, sendfile on, config $NGX/nginx.conf)"
say "  as is:        $URL_PLAIN"
say "  rate-limited: $URL_LIMITED   (limit_rate $LIMIT_RATE per request: a stand-in for the"
say "                per-connection throughput cap of S3/CDNs)"

# ---------------------------------------------------------------------------------------------
# Timed runs. URL and SCEN are set per scenario; RESULTS per part (record_round appends to it).

# check_same SCEN PART TOOL ROUND FILE REF: cmp FILE REF into $CHECKS.
check_same() {
    if cmp -s "$5" "$6"; then
        printf '%s\t%s\t%s\t%s\tPASS\t\n' "$1" "$2" "$3" "$4" >>"$CHECKS"
    else
        printf '%s\t%s\t%s\t%s\tFAIL\t%s differs from %s (or is missing)\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$CHECKS"
        say "  FAIL: $5 differs from $6 (or is missing)"
    fi
}

# run_timed CMD...: timed, but a failing command is reported (and caught by the byte checks)
# instead of stopping the script.
run_timed() {
    local rc=0
    timed --out "$TMP/stdout" "$@" 2>"$TMP/stderr" || rc=$?
    if ((rc != 0)); then
        say "  command failed (exit $rc): $*"
        sed 's/^/    /' "$TMP/stderr" | head -5
    fi
}

warm_note() { (($1 == 0)) && echo '   (warm-up, not in the report)' || true; }

a_round() { # a_round ROUND TOOL: one 64 MiB entry
    local round=$1 tool=$2 f=$OUT/a-$2.bin
    rm -f "$f"
    sync
    case $tool in
        curl) run_timed curl -s -f -r "${RANGES[$A_ENTRY]}" -o "$f" "$URL" ;;
        curl+sync) run_timed sh -c 'curl -s -f -r "$0" -o "$1" "$2" && sync "$1"' \
            "${RANGES[$A_ENTRY]}" "$f" "$URL" ;;
        taco) run_timed "$TACO" get -q "$URL" --entry "$A_ENTRY" -o "$f" ;;
    esac
    record_round "$round" "$tool" "$(warm_note "$round")"
    check_same "$SCEN" A "$tool" "$round" "$f" "$REF/entry-$A_ENTRY"
}

ALL_ENTRIES=$(seq -s, 0 $((N_ENTRIES - 1)))
# 7 separate taco get runs, one after another: $0 = taco, $1 = URL, $2 = DIR, $3 = count.
SEQ_SH='i=0; while [ "$i" -lt "$3" ]; do "$0" get -q "$1" --entry "$i" -o "$2/entry-$i" || exit 1; i=$((i + 1)); done'
# 7 curl in parallel: $0 = URL, $1 = DIR, then the ranges.
CURL7_SH='url=$0 dir=$1; shift; i=0; pids=""
for r in "$@"; do curl -s -f -r "$r" -o "$dir/entry-$i" "$url" & pids="$pids $!"; i=$((i + 1)); done
rc=0; for p in $pids; do wait "$p" || rc=1; done; exit $rc'

b_round() { # b_round ROUND TOOL: all 7 entries
    local round=$1 tool=$2 d=$OUT/b-$2 i
    rm -rf "$d"
    mkdir -p "$d"
    sync
    case $tool in
        jobs7) run_timed "$TACO" get -q "$URL" --entry "$ALL_ENTRIES" -o "$d" --jobs "$N_ENTRIES" ;;
        jobs1) run_timed "$TACO" get -q "$URL" --entry "$ALL_ENTRIES" -o "$d" --jobs 1 ;;
        seq7) run_timed sh -c "$SEQ_SH" "$TACO" "$URL" "$d" "$N_ENTRIES" ;;
        curl7) run_timed sh -c "$CURL7_SH" "$URL" "$d" "${RANGES[@]}" ;;
    esac
    record_round "$round" "$tool" "$(warm_note "$round")"
    for ((i = 0; i < N_ENTRIES; i++)); do
        check_same "$SCEN" B "$tool" "$round" "$d/entry-$i" "$REF/entry-$i"
    done
}

for SCEN in plain limited; do
    if [[ $SCEN == plain ]]; then URL=$URL_PLAIN; what="nginx as is"; else URL=$URL_LIMITED; what="nginx with limit_rate $LIMIT_RATE per connection"; fi
    section "(A) one ${ENTRY_MIB} MiB entry, $what: $ROUNDS rounds, order rotated each round"
    say "round 0 warms up every tool and is left out of the report"
    RESULTS=$TMP/a-$SCEN.tsv
    : >"$RESULTS"
    TOOLS=(curl curl+sync taco)
    rotate_rounds 0 a_round
    rm -f "$OUT"/a-*.bin

    section "(B) $N_ENTRIES entries, $what: $ROUNDS rounds, order rotated each round"
    say "round 0 warms up every way and is left out of the report"
    RESULTS=$TMP/b-$SCEN.tsv
    : >"$RESULTS"
    TOOLS=(jobs7 jobs1 seq7 curl7)
    rotate_rounds 0 b_round
    rm -rf "$OUT"/b-*
done

# ---------------------------------------------------------------------------------------------
section "sanity"
# log_since LINE_COUNT EXPECTED: waits (bounded) until the access log has EXPECTED lines after
# LINE_COUNT and then stops growing (nginx writes a line when the response has been sent), and
# prints those lines.
log_since() {
    local before=$1 want=$2 n prev=-1
    for _ in $(seq 50); do
        n=$(($(wc -l <"$ACCESS_LOG") - before))
        ((n >= want)) && break
        sleep 0.1
    done
    for _ in $(seq 20); do
        n=$(($(wc -l <"$ACCESS_LOG") - before))
        ((n == prev)) && break
        prev=$n
        sleep 0.2
    done
    tail -n +$((before + 1)) "$ACCESS_LOG"
}

# requests_check LABEL EXPECTED_COUNT EXPECTED_RANGES CMD...: runs CMD, prints the requests it
# caused and PASS/FAIL: exactly EXPECTED_COUNT requests, all 206, ranges (sorted) as expected;
# the concurrency seen by nginx goes into CONC.
requests_check() {
    local label=$1 want=$2 ranges=$3 before got verdict
    shift 3
    before=$(wc -l <"$ACCESS_LOG")
    "$@" >/dev/null 2>"$TMP/stderr" || { say "  command failed: $*"; sed 's/^/    /' "$TMP/stderr"; }
    log_since "$before" "$want" >"$TMP/log.txt"
    sed 's/^/    /' "$TMP/log.txt"
    got=$(wc -l <"$TMP/log.txt")
    CONC=$("$PY" - "$TMP/log.txt" <<'PY'
import sys
ev = []
conns = set()
for line in open(sys.argv[1]):
    f = line.split()
    end, dur = float(f[0]), float(f[1])
    conns.add(f[2])
    ev += [(end - dur, 1), (end, -1)]
cur = best = 0
for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
    cur += d
    best = max(best, cur)
print(best, len(conns))
PY
)
    local seen
    seen=$(awk '{gsub(/"/, "", $7); print $4, $5, $7}' "$TMP/log.txt" | sort | tr '\n' ';')
    if ((got == want)) && [[ $seen == "$ranges" ]]; then verdict=PASS; else verdict=FAIL; fi
    say "  $label: $got requests (expected $want, all 206: bytes=0-156 and the entries' ranges): $verdict"
    printf 'requests\t%s\t%s\t-\t%s\t%s requests\n' "$label" "-" "$verdict" "$got" >>"$CHECKS"
}

expected_ranges() { # expected_ranges ENTRY...: "206 GET bytes=0-156;206 GET bytes=S-E;..." sorted
    {
        echo "206 GET bytes=0-156"
        for i in "$@"; do echo "206 GET bytes=${RANGES[$i]}"; done
    } | sort | tr '\n' ';'
}

say "nginx access log: \$msec \$request_time \$connection \$status \$request_method \$uri \$http_range \$body_bytes_sent"
declare -A CONCURRENCY
for SCEN in plain limited; do
    [[ $SCEN == plain ]] && URL=$URL_PLAIN || URL=$URL_LIMITED
    rm -rf "$OUT/s"
    mkdir -p "$OUT/s"
    say "$SCEN: taco get --entry $A_ENTRY -o FILE"
    requests_check "$SCEN: one taco get --entry $A_ENTRY = header + entry" 2 "$(expected_ranges "$A_ENTRY")" \
        "$TACO" get -q "$URL" --entry "$A_ENTRY" -o "$OUT/s/one.bin"
    for jobs in "$N_ENTRIES" 1; do
        say "$SCEN: taco get --entry $ALL_ENTRIES -o DIR --jobs $jobs"
        requests_check "$SCEN: taco get --entry $ALL_ENTRIES --jobs $jobs = header + $N_ENTRIES entries" \
            $((N_ENTRIES + 1)) "$(expected_ranges $(seq 0 $((N_ENTRIES - 1))))" \
            "$TACO" get -q -f "$URL" --entry "$ALL_ENTRIES" -o "$OUT/s/d$jobs" --jobs "$jobs"
        read -r conc conns <<<"$CONC"
        CONCURRENCY[$SCEN.$jobs]="$conc at once over $conns connections"
        if ((jobs == N_ENTRIES)); then
            ((conc >= N_ENTRIES)) && v=PASS || v=FAIL
            say "  nginx served at most $conc requests at once, over $conns connections (expected $N_ENTRIES entry requests at once): $v"
            printf 'requests\t%s: --jobs %s concurrency\t-\t-\t%s\t%s at once\n' "$SCEN" "$jobs" "$v" "$conc" >>"$CHECKS"
        else
            say "  nginx served at most $conc request(s) at once, over $conns connection(s)"
        fi
    done
done
rm -rf "$OUT/s"

declare -A FSYNCS
say "fsync calls (strace -f -c -e trace=fsync,fdatasync, one run each, nginx as is):"
mkdir -p "$OUT/s"
for mode in one many; do
    if [[ $mode == one ]]; then
        args=(--entry "$A_ENTRY" -o "$OUT/s/one.bin")
        desc="taco get --entry $A_ENTRY -o FILE"
    else
        args=(--entry "$ALL_ENTRIES" -o "$OUT/s/d" --jobs "$N_ENTRIES")
        desc="taco get --entry $ALL_ENTRIES -o DIR --jobs $N_ENTRIES"
    fi
    strace -f -c -e trace=fsync,fdatasync -o "$TMP/fsync.strace" "$TACO" get -q -f "$URL_PLAIN" "${args[@]}" >/dev/null
    n=$(awk '$NF == "total" {print $(NF-1) + 0; found = 1} END {if (!found) print 0}' "$TMP/fsync.strace")
    say "  $desc: $n"
    FSYNCS[$mode]=$n
done
if ((FSYNCS[one] > 0 && FSYNCS[many] == 0)); then
    say "  (so seq7 pays fsyncs for every file — single-file -o is atomic + durable — and jobs1/jobs7 none;"
    say "   curl never fsyncs, curl+sync once)"
fi
rm -rf "$OUT/s"

say "bytes of every fetched file against the local taco get (every round, warm-up included):"
awk -F'\t' '$1 != "requests" {
    k = $1 " " $2 " " $3; n[k]++; if ($5 == "PASS") ok[k]++
    if (!(k in seen)) { seen[k] = 1; order[++m] = k }
} END {
    for (i = 1; i <= m; i++) { k = order[i]; split(k, p, " ")
        printf "  %-8s (%s) %-10s %3d of %3d files equal: %s\n", p[1], p[2], p[3], ok[k], n[k], (ok[k] == n[k] ? "PASS" : "FAIL") }
}' "$CHECKS"
BYTES_OK=$(awk -F'\t' '$1 != "requests" && $5 != "PASS" {bad++} END {print bad ? "FAIL" : "PASS"}' "$CHECKS")
REQ_OK=$(awk -F'\t' '$1 == "requests" && $5 != "PASS" {bad++} END {print bad ? "FAIL" : "PASS"}' "$CHECKS")
say "all fetched bytes equal: $BYTES_OK; request counts and concurrency: $REQ_OK"

# ---------------------------------------------------------------------------------------------
# report_rounds RESULTS TITLE TOOLS PAIRS: medians, mins and median CPU of each tool over rounds
# 1..ROUNDS of RESULTS (record_round rows), then for each pair "num/den[<=target]" the ratio of
# medians (PASS/FAIL when a target is given), the ratio of min walls and the median of per-round
# ratios; peak RSS of every tool. Prints; the numbers go to RESULTS.json.
report_rounds() {
    "$PY" - "$1" "$ROUNDS" "$2" "$3" "$4" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
path, rounds, title, tools, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(), sys.argv[5].split()
d = defaultdict(dict)
for line in open(path):
    if line.strip():
        r, tool, wall, rss, usr, sys_ = line.rstrip("\n").split("\t")
        d[int(r)][tool] = (float(wall), int(rss), float(usr) + float(sys_))
rs = [d[r] for r in range(1, rounds + 1)]
med = {t: st.median(x[t][0] for x in rs) for t in tools}
lo = {t: min(x[t][0] for x in rs) for t in tools}
cpu = {t: st.median(x[t][2] for x in rs) for t in tools}
rss = {t: max(x[t][1] for x in rs) / 1024 for t in tools}
print(f"{title}")
print(f"                 median wall     min wall  median user+sys   peak RSS")
for t in tools:
    print(f"  {t:<12} {med[t]:10.3f} s {lo[t]:10.3f} s {cpu[t]:10.2f} s {rss[t]:10.1f} MiB")
res = dict(m=med, lo=lo, cpu=cpu, rss=rss, ratios={})
for p in pairs:
    spec, _, target = p.partition("<=")
    a, b = spec.split("/")
    r_med, r_lo = med[a] / med[b], lo[a] / lo[b]
    r_per = st.median(x[a][0] / x[b][0] for x in rs)
    verdict = ""
    if target:
        ok = r_med <= float(target)
        verdict = f"   target <= {target}: {'PASS' if ok else 'FAIL'}"
    else:
        ok = None
    res["ratios"][spec] = dict(med=r_med, lo=r_lo, per_round=r_per, target=target or None, ok=ok)
    print(f"  {a}/{b}: ratio of medians {r_med:5.2f}{verdict}   (ratio of min walls {r_lo:.2f}, "
          f"median of per-round ratios {r_per:.2f})")
for t in tools:
    print(f"  rounds {t:<10} " + " ".join(f"{x[t][0]:.3f}" for x in rs))
json.dump(res, open(path + ".json", "w"))
PY
}

section "report"
MIB=$(awk -v b="$(cut -d- -f2 <<<"${RANGES[$A_ENTRY]}")" -v a="$(cut -d- -f1 <<<"${RANGES[$A_ENTRY]}")" 'BEGIN {printf "%.2f", (b - a + 1) / 1048576}')
for SCEN in plain limited; do
    [[ $SCEN == plain ]] && what="nginx as is" || what="nginx with limit_rate $LIMIT_RATE per connection (stand-in for an S3/CDN per-connection cap)"
    report_rounds "$TMP/a-$SCEN.tsv" "(A) one entry ($MIB MiB), $what" "curl curl+sync taco" "taco/curl<=1.2 taco/curl+sync"
    echo
    report_rounds "$TMP/b-$SCEN.tsv" "(B) $N_ENTRIES entries, $what" "jobs7 jobs1 seq7 curl7" "jobs7/jobs1<=0.999 jobs7/seq7<=0.999 jobs7/curl7"
    say "  nginx concurrency (sanity runs): --jobs $N_ENTRIES ${CONCURRENCY[$SCEN.$N_ENTRIES]}; --jobs 1 ${CONCURRENCY[$SCEN.1]}"
    echo
done
say "(B) targets: jobs7 faster than jobs1 and than seq7, i.e. ratio of medians < 1 (checked as <= 0.999)."

# ---------------------------------------------------------------------------------------------
markdown_summary_head
"$PY" - "$TMP" "$LIMIT_RATE" "$BYTES_OK" "$REQ_OK" <<PY
import json, sys
tmp, limit, bytes_ok, req_ok = sys.argv[1:5]
print("Command: \`$CMDLINE\` (taco $("$TACO" --version 2>/dev/null | awk '{print $NF}'), "
      "$(curl --version | head -1 | cut -d' ' -f1-2), $(nginx -v 2>&1 | sed 's/^nginx version: //') on 127.0.0.1, 1 worker, sendfile). "
      "Archive: $N_ENTRIES entries of ~$ENTRY_MIB MiB of random bytes (\`taco pack-splits\`), $ARCHIVE_BYTES bytes, "
      "in the page cache. Median of $ROUNDS rounds after a warm-up round, order rotated every round; "
      f"outputs written to disk, removed and \`sync\`ed before each run. \"limited\": \`limit_rate {limit}\` per connection, "
      "a stand-in for the per-connection throughput cap of S3/CDNs.")
print()
print(f"Every fetched file equal to the local \`taco get\`: {bytes_ok}. nginx log: 2 requests for one entry "
      f"(header + entry), 1 + $N_ENTRIES for all, $N_ENTRIES at once with --jobs $N_ENTRIES: {req_ok}.")
print()
print("Wall times: median (min) over the rounds.")
print()
print("| nginx | curl -r | curl -r + sync | taco get --entry $A_ENTRY | taco / curl | target ≤ 1.2 | taco / (curl + sync) |")
print("|---|---|---|---|---|---|---|")
w = lambda r, t: f"{r['m'][t]:.3f} ({r['lo'][t]:.3f}) s"
for scen in ("plain", "limited"):
    r = json.load(open(f"{tmp}/a-{scen}.tsv.json"))
    a, s = r["ratios"]["taco/curl"], r["ratios"]["taco/curl+sync"]
    name = "as is" if scen == "plain" else f"limit_rate {limit}"
    print(f"| {name} | {w(r, 'curl')} | {w(r, 'curl+sync')} | {w(r, 'taco')} | {a['med']:.2f} (mins: {a['lo']:.2f}) | "
          f"{'met' if a['ok'] else '**not met**'} | {s['med']:.2f} |")
print()
print("| nginx | --jobs 7 | --jobs 1 | 7 × taco get | 7 × curl -r in parallel | jobs7 / jobs1 | jobs7 / 7 runs | jobs7 / curl×7 | taco peak RSS (jobs7) |")
print("|---|---|---|---|---|---|---|---|---|")
for scen in ("plain", "limited"):
    r = json.load(open(f"{tmp}/b-{scen}.tsv.json"))
    q = r["ratios"]
    name = "as is" if scen == "plain" else f"limit_rate {limit}"
    f = lambda k: f"{q[k]['med']:.2f}" + ("" if q[k]["ok"] is None else (" (met)" if q[k]["ok"] else " (**not met**)"))
    print(f"| {name} | {w(r, 'jobs7')} | {w(r, 'jobs1')} | {w(r, 'seq7')} | {w(r, 'curl7')} | "
          f"{f('jobs7/jobs1')} | {f('jobs7/seq7')} | {f('jobs7/curl7')} | {r['rss']['jobs7']:.1f} MiB |")
PY
exit 0
