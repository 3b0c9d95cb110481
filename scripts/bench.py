#!/usr/bin/env python3
"""taco's benchmarks: one driver for every figure in BENCHMARKS.md.

    python3 scripts/bench.py pack|parquet|tiles|netcdf|remote|regress|all
        [--rounds N] [--keep] [--dir DIR] [--taco PATH] [--profile auto|0|1] [--small]
        [--write-md] [--md FILE] [--base PATH]

Method (the core, shared by every dataset): each target is a ratio against a baseline run in the
same invocation (cat, tacozip, curl, an older taco). A case is a list of commands; in every round
each command runs once, in an order rotated by one each round; before each run its previous output
is removed and `sync` is run, outside the timing. Some cases run an extra round 0 first, left out
of the report (it warms the write path). Wall time is measured around the process; peak RSS and
CPU come from `/usr/bin/time -f '%M %U %S'`. For every pair the report gives the median of the
per-round ratios, the ratio of the medians and the ratio of the minimum walls; each target is
checked on the one its table has always used. The report ends with a markdown table shaped like
the one in BENCHMARKS.md and the command that repeats the run; --write-md puts the table between
`<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` in BENCHMARKS.md. A benchmark is a
report, not a test: the exit status is 0 whatever the ratios and checks say.

Datasets (one setup function each, below the core):
  pack     `taco pack` vs cat, cat + fsync, tacozip.create: 100 x 10 MiB and 20 000 x 4 KiB;
           peak RSS on 1 x 2 GiB; bytes `taco header` reads of a 5 GiB (ZIP64) archive
  parquet  `taco pack-parquet` of a ~1 GiB Parquet file (64 row groups) vs cat
  tiles    `taco pack-tiles` of 100 000 tiles vs find | sort | xargs cat
  index    index v2 at 10^6 tiles: pack-tiles vs cat + sync, peak RSS, get --tile time and bytes
  netcdf   `taco pack-netcdf` of 100 NetCDF-4 files (~2 GiB) vs cat; what it reads of them
  remote   `taco get` from a local nginx vs curl -r, and 7 entries --jobs 7 vs --jobs 1
  regress  two taco builds (--base OLD, --taco NEW) on pack's datasets: pack, validate --level deep

Settings also come from the environment, as the old scripts/bench-*.sh took them: ROUNDS,
BENCH_DIR, KEEP=1, TACO (or TACO_BIN), PROFILE, and LIMIT_RATE (remote, default 100m). --small
shrinks every dataset for a smoke run (its own directories; not for BENCHMARKS.md). Sources are
generated once per layout and reused (a NAME.layout file beside them records it). Runs as root on
Linux; installs time/strace/nginx/curl with apt-get and the Python packages at the versions
scripts/setup.sh pins, when missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import itertools
import json
import os
import random
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TACO = str(REPO / "target/release/taco")
PY = sys.executable  # the real interpreter, not a pyenv shim (a shim adds tens of ms per process)
MIB = 1 << 20
DEVNULL = subprocess.DEVNULL
READ_CALLS = ("openat,open,read,pread64,readv,preadv,preadv2,lseek,mmap,copy_file_range,sendfile,"
              "splice,close")


def say(*a) -> None:
    print(*a, flush=True)


def section(title: str) -> None:
    say(f"\n=== {title} ===")


def out_of(*argv, cwd=None) -> str:
    """stdout (and stderr) of a command that must succeed."""
    argv = [str(a) for a in argv]
    p = subprocess.run(argv, cwd=cwd, stdin=DEVNULL, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"failed (exit {p.returncode}): {shlex.join(argv)}\n{p.stderr[-2000:]}")
    return p.stdout + p.stderr


def first_line(*argv) -> str:
    try:
        return out_of(*argv).splitlines()[0].strip()
    except (SystemExit, OSError, IndexError):
        return "?"


def rm(*paths) -> None:
    for p in map(Path, paths):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def warm(paths) -> int:
    """Read files into the page cache (untimed); returns the bytes read."""
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(4 * MIB):
                n += len(chunk)
    return n


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def size_label(count: int, size: int) -> str:
    """"20 000 × 4 KiB", as BENCHMARKS.md writes dataset shapes."""
    units = (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1024), ("B", 1))
    n, unit = next((size // s, u) for u, s in units if size % s == 0)
    return f"{count:,} × {n} {unit}".replace(",", " ")


# ---------------------------------------------------------------------------------------------
# settings, tools, checks


@dataclass
class Bench:
    name: str
    dir: Path
    rounds: int
    keep: bool
    taco: str
    profile: str  # auto: profile when a target fails; 1: always; 0: never
    small: bool
    cmdline: str
    md: Path | None  # the file --write-md rewrites, None without --write-md
    base: str | None = None  # regress: the older binary
    cat_cfr: str = ""  # whether cat copies with copy_file_range, once cat_copy_path has looked
    versions: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)  # label -> [runs, passed, first failure]

    def __post_init__(self):
        self.out, self.tmp = self.dir / "out", self.dir / "tmp"
        for d in (self.out, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    def start(self, debs=(), py=()) -> None:
        """Section "tools": installs what is missing, prints the versions and the start load."""
        section("tools")
        for binary, deb in (("/usr/bin/time", "time"), ("strace", "strace"), *debs):
            need_deb(binary, deb)
        for dist, pin_var in py:
            need_py(dist, pin_var)
        if not os.access(self.taco, os.X_OK):
            if self.taco != DEFAULT_TACO:
                raise SystemExit(f"no taco binary at {self.taco}")
            say(f"building {self.taco}")
            subprocess.run(["cargo", "build", "--release", "-p", "taco-cli", "-j2"], cwd=REPO,
                           check=True)
        built = dt.datetime.fromtimestamp(os.path.getmtime(self.taco), dt.timezone.utc)
        version = first_line(self.taco, "--version")
        self.version("taco", f"{self.taco} ({version}, built {built:%F %T} UTC)", md=False)
        self.versions.insert(0, version)
        self.version("python", f"{PY} ({sys.version.split()[0]})", md=False)
        self.version("strace", first_line("strace", "-V"), md=False)
        self.load_start = loadavg()
        say(f"loadavg at start: {self.load_start}")

    def version(self, what: str, text: str, md: bool = True) -> None:
        say(f"{what + ':':<9}{text}")
        if md:
            self.versions.append(text)

    def check(self, label: str, ok: bool, detail: str = "", quiet: bool = False) -> bool:
        """Records a PASS/FAIL under LABEL (the report counts runs of the same label); prints it
        unless QUIET (a failure is always printed)."""
        c = self.checks.setdefault(label, [0, 0, ""])
        c[0] += 1
        c[1] += bool(ok)
        if not ok and not c[2]:
            c[2] = detail
        if not quiet or not ok:
            say(f"  {label}: {'PASS' if ok else 'FAIL'}{f' ({detail})' if detail else ''}")
        return ok

    def failed(self) -> list:
        return [label for label, (n, ok, _) in self.checks.items() if ok < n]

    def want_profile(self, cases) -> bool:
        failed = any(c.ratio(s).ok is False for c in cases for s, t in c.ratios if t is not None)
        return self.profile == "1" or (self.profile == "auto" and failed)


APT_UPDATED = False


def need_deb(binary: str, package: str) -> None:
    global APT_UPDATED
    if os.access(binary, os.X_OK) or shutil.which(binary):
        return
    if not APT_UPDATED:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        APT_UPDATED = True
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)


def need_py(dist: str, pin_var: str) -> None:
    """The version scripts/setup.sh pins as PIN_VAR=..., installed with pip if another (or none)
    is installed."""
    from importlib.metadata import PackageNotFoundError, version

    m = re.search(rf"^{pin_var}=([0-9][0-9a-z.]*)", (REPO / "scripts/setup.sh").read_text(), re.M)
    try:
        have = version(dist)
    except PackageNotFoundError:
        have = None
    if have is None or (m and have != m[1]):
        spec = f"{dist}=={m[1]}" if m else dist
        subprocess.run([PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
                       check=True, env=dict(os.environ, PIP_ROOT_USER_ACTION="ignore"))


def cached(path: Path, layout: str, generate: Callable[[Path], None]) -> None:
    """Sources are generated once per layout: `generate(TMP)` fills TMP, which is renamed to PATH,
    and PATH.layout records LAYOUT; a later run with the same layout reuses PATH."""
    marker = path.with_name(path.name + ".layout")
    if path.exists() and marker.exists() and marker.read_text() == layout:
        say(f"reusing {path} ({layout})")
        return
    say(f"generating {path} ({layout})")
    tmp = path.with_name(path.name + ".tmp")
    rm(path, tmp, marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate(tmp)
    os.rename(tmp, path)
    os.sync()
    marker.write_text(layout)
    say(f"  generated (and synced) in {time.perf_counter() - t0:.1f} s")


def files_dataset(path: Path, count: int, size: int, dirs: int) -> None:
    """COUNT files of SIZE random bytes: flat when DIRS is 1, else spread evenly over DIRS
    subdirectories."""

    def gen(tmp: Path) -> None:
        per = count // dirs
        for i in range(count):
            d = tmp if dirs == 1 else tmp / f"d{i // per:02d}"
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"f{i:05d}.bin", "wb") as f:
                for left in range(size, 0, -16 * MIB):
                    f.write(os.urandom(min(left, 16 * MIB)))

    cached(path, f"v1 files={count} size={size} dirs={dirs} random", gen)


def validate_deep(b: Bench, archive: Path) -> bool:
    p = subprocess.run([b.taco, "validate", "--level", "deep", archive], capture_output=True,
                       text=True)
    for line in (p.stdout + p.stderr).splitlines()[:20]:
        say(f"    {line}")
    return b.check("taco validate --level deep", p.returncode == 0, f"exit {p.returncode}")


def ls_members(b: Bench, archive: Path) -> list:
    """The central directory (`taco ls --json`), in archive order."""
    members = json.loads(out_of(b.taco, "ls", "--json", archive))["members"]
    return sorted(members, key=lambda m: m["header_offset"])


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class Tool:
    """One command of a case. `stdout`: a file its output goes to (else /dev/null); `clean` and
    `mkdir`: removed (with any PATH.meta.json) and created before each run; `inner`: the last
    word of its stdout is a time measured inside the process; `check(round)`: after each run."""

    name: str
    cmd: list
    cwd: Path | None = None
    stdout: Path | None = None
    clean: tuple = ()
    mkdir: tuple = ()
    inner: bool = False
    check: Callable[[int], None] | None = None


@dataclass
class Run:
    wall: float
    rss: int  # peak KiB
    cpu: float  # user + sys s
    inner: float | None


@dataclass
class Ratio:
    per_round: float  # median of the per-round ratios
    medians: float  # ratio of the medians
    mins: float  # ratio of the minimum walls
    value: float  # the one the target and the table use
    target: float | None
    ok: bool | None


@dataclass
class Case:
    """Commands timed against each other. `ratios`: [("num/den", target or None)], where a key is
    a tool name, or TOOL:inner for its inner time; `stat` says which ratio the targets and the
    tables use: "per-round" (median of per-round ratios) or "medians" (ratio of the medians)."""

    name: str
    tools: list
    ratios: list = field(default_factory=list)
    warmup: bool = False
    stat: str = "per-round"
    rss_target: tuple | None = None  # (tool, MiB)
    rss: bool = True  # run under /usr/bin/time
    rounds: int | None = None
    before: Callable[[], None] | None = None
    runs: dict = field(default_factory=dict)

    def series(self, key: str) -> list:
        tool, _, part = key.partition(":")
        return [getattr(r, part or "wall") for r in self.runs[tool]]

    def med(self, key: str) -> float:
        return statistics.median(self.series(key))

    def lo(self, key: str) -> float:
        return min(self.series(key))

    def peak(self, tool: str) -> float:
        return max(self.series(f"{tool}:rss")) / 1024

    def ratio(self, spec: str) -> Ratio:
        a, b = spec.split("/")
        xa, xb = self.series(a), self.series(b)
        per = statistics.median(x / y for x, y in zip(xa, xb))
        meds, mins = statistics.median(xa) / statistics.median(xb), min(xa) / min(xb)
        value = per if self.stat == "per-round" else meds
        target = dict(self.ratios).get(spec)
        return Ratio(per, meds, mins, value, target, None if target is None else value <= target)


def run_once(b: Bench, case: Case, tool: Tool) -> Run:
    for p in tool.clean:
        rm(p, f"{p}.meta.json")
    for p in tool.mkdir:
        Path(p).mkdir(parents=True, exist_ok=True)
    os.sync()
    argv = [str(a) for a in tool.cmd]
    usage = b.tmp / "rusage"
    if case.rss:
        argv = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(usage), *argv]
    with open(tool.stdout or os.devnull, "wb") as out, open(b.tmp / "stderr", "wb") as err:
        t0 = time.perf_counter()
        rc = subprocess.run(argv, cwd=tool.cwd, stdin=DEVNULL, stdout=out, stderr=err).returncode
        wall = time.perf_counter() - t0
    rss, cpu = 0, 0.0
    if case.rss:  # the last line: time first writes "Command exited with non-zero status N"
        m, u, s = usage.read_text().split("\n")[-2].split()
        rss, cpu = int(m), float(u) + float(s)
    inner = float(Path(tool.stdout).read_text().split()[-1]) if tool.inner and rc == 0 else None
    if not b.check(f"{case.name}: commands exit 0", rc == 0, f"{tool.name}: exit {rc}", quiet=True):
        for line in (b.tmp / "stderr").read_text(errors="replace").splitlines()[:5]:
            say(f"    {line}")
    return Run(wall, rss, cpu, inner)


def measure(b: Bench, cases: list) -> None:
    """Every case: its rounds, the order of its tools rotated by one each round."""
    for case in cases:
        rounds = case.rounds or b.rounds
        section(f"{case.name}: {rounds} round{'s' * (rounds > 1)}, order rotated each round"
                + ("; round 0 warms up and is left out of the report" if case.warmup else ""))
        if case.before:
            case.before()
        case.runs = {t.name: [] for t in case.tools}
        n = len(case.tools)
        for i, rnd in enumerate(range(0 if case.warmup else 1, rounds + 1)):
            for k in range(n):
                tool = case.tools[(k + i) % n]
                r = run_once(b, case, tool)
                say(f"  round {rnd} {tool.name:<14} wall {r.wall:9.6f}s  cpu {r.cpu:6.2f}s  "
                    f"rss {r.rss:8d} KiB" + (f"  inner {r.inner:.6f}s" if r.inner is not None else "")
                    + ("   (warm-up)" if rnd == 0 else ""))
                if tool.check:
                    tool.check(rnd)
                if rnd > 0:
                    case.runs[tool.name].append(r)


# ---------------------------------------------------------------------------------------------
# strace, /proc


@dataclass
class Syscall:
    seq: int  # position of the line that started the call
    pid: str
    call: str
    args: list
    ret: int
    retpath: str | None  # the path of a returned fd (-y)
    raw: str


SYSCALL = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+)(?:<(.*?)>)?")


def split_args(s: str) -> list:
    out, depth, cur, quoted = [], 0, "", False
    for ch in s:
        if quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


def strace(b: Bench, argv, calls: str = READ_CALLS) -> list:
    """Runs ARGV under `strace -f -y -s 0 -e trace=CALLS`; returns its calls (fds with paths)."""
    trace = b.tmp / "strace.txt"
    subprocess.run(["strace", "-f", "-qq", "-y", "-s", "0", "-e", f"trace={calls}", "-o", trace,
                    *map(str, argv)], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
    out, pending = [], {}
    for seq, raw in enumerate(trace.read_text(errors="replace").splitlines()):
        if m := re.match(r"^(\d+)\s+(.*)<unfinished \.\.\.>$", raw):
            pending[m[1]] = (m[2], seq)
            continue
        at = seq
        if m := re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", raw):
            head, at = pending.pop(m[1], ("", seq))
            raw = f"{m[1]} {head}{m[2]}"
        if m := SYSCALL.match(raw):
            pid, call, args, ret, retpath = m.groups()
            out.append(Syscall(at, pid, call, split_args(args), int(ret, 0), retpath, raw))
    return out


@dataclass
class FileRead:
    seq: int
    kind: str  # read | copy | mmap
    call: str
    start: int
    length: int
    opened: int | None  # seq of the open the fd stands for
    pid: str


def file_reads(calls: list, paths) -> dict:
    """path -> the byte ranges read, copied (copy_file_range, sendfile, splice) or mmap'd from it,
    file positions followed through open, read and lseek."""
    paths = {os.path.realpath(p) for p in paths}
    pos, opened, out = {}, {}, defaultdict(list)

    def src(c, i):
        m = re.match(r"^(\d+)<(.*)>$", c.args[i]) if i < len(c.args) else None
        return (m[1], m[2]) if m and m[2] in paths else None

    def add(c, kind, k, start, length):
        out[k[1]].append(FileRead(c.seq, kind, c.call, start, length, opened.get(k), c.pid))

    for c in calls:
        if c.call in ("openat", "open"):
            if c.retpath in paths:
                pos[(str(c.ret), c.retpath)], opened[(str(c.ret), c.retpath)] = 0, c.seq
        elif c.ret < 0:
            continue
        elif c.call == "mmap" and (k := src(c, 4)):
            add(c, "mmap", k, int(c.args[5], 0), int(c.args[1]))
        elif c.call == "lseek" and (k := src(c, 0)):
            pos[k] = c.ret
        elif c.call in ("read", "readv", "pread64", "preadv", "preadv2") and (k := src(c, 0)):
            if c.call in ("read", "readv"):
                start = pos.get(k, 0)
                pos[k] = start + c.ret
            else:
                start = int(c.args[3])
            if c.ret:
                add(c, "read", k, start, c.ret)
        elif c.call in ("copy_file_range", "sendfile", "splice"):
            i_fd, i_off = (1, 2) if c.call == "sendfile" else (0, 1)
            if not (k := src(c, i_fd)):
                continue
            m = re.match(r"\[(\d+)", c.args[i_off])  # an offset pointer, else the file position
            start = int(m[1]) if m else pos.get(k, 0)
            if not m:
                pos[k] = start + c.ret
            if c.ret:
                add(c, "copy", k, start, c.ret)
    return out


def min_cover(ranges, lo: int, hi: int) -> int:
    """How many of RANGES [(start, length)] cover every byte of [lo, hi), at least."""
    d = Counter()
    for s, n in ranges:
        s, e = max(s, lo), min(s + n, hi)
        if s < e:
            d[s] += 1
            d[e] -= 1
    pts = sorted(set(d) | {lo, hi})
    return min(itertools.accumulate(d[p] for p in pts[:-1]), default=0)


def overlap(ranges, lo: int, hi: int) -> int:
    """Bytes of RANGES [(start, length)] inside [lo, hi), counted as often as they are read."""
    return sum(max(0, min(s + n, hi) - max(s, lo)) for s, n in ranges)


def proc_io(argv) -> dict:
    """/proc/PID/io of ARGV's process, read after it exits but before it is reaped."""
    p = subprocess.Popen(list(map(str, argv)), stdin=DEVNULL, stdout=DEVNULL)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    io = dict(line.split(": ") for line in Path(f"/proc/{p.pid}/io").read_text().splitlines())
    p.wait()
    return {k: int(v) for k, v in io.items()}


def strace_c(b: Bench, argv, cwd=None, stdout=None, opts=("-c", "-f")) -> tuple:
    """`strace -c` of one run: (its summary table, {syscall: calls})."""
    f = b.tmp / "strace-c.txt"
    with open(stdout or os.devnull, "wb") as out:
        subprocess.run(["strace", *opts, "-o", f, *map(str, argv)], cwd=cwd, stdin=DEVNULL,
                       stdout=out)
    text = f.read_text()
    rows = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) >= 5 and w[3].isdigit() and w[-1] != "total":
            rows[w[-1]] = int(w[3])
    return text, rows


def cat_copy_path(b: Bench, argv, cwd=None, stdout=None) -> dict:
    """strace -c -f of one cat (untimed): whether it copies in the kernel (copy_file_range)."""
    section("cat's copy path (strace -c -f of one run)")
    text, rows = strace_c(b, argv, cwd, stdout)
    say(text.rstrip())
    b.cat_cfr = ("yes (in-kernel copy; no user-space buffer)" if "copy_file_range" in rows
                 else "no (read/write through a user-space buffer)")
    say(f"cat uses copy_file_range: {b.cat_cfr}")
    return rows


def profile(b: Bench, argv, cwd=None, wall_too: bool = False) -> dict:
    """strace -c -f of one taco run (and, with WALL_TOO, the top of strace -c -w -f)."""
    t0 = time.perf_counter()
    text, rows = strace_c(b, argv, cwd)
    say(text.rstrip())
    say(f"(wall under strace: {time.perf_counter() - t0:.3f} s)")
    if wall_too:
        say("\nthe same with -w (wall time in each syscall, the threads' times added up):")
        lines = strace_c(b, argv, cwd, opts=("-c", "-w", "-f"))[0].rstrip().splitlines()
        say("\n".join(lines[:14] + lines[-2:]))
    return rows


# ---------------------------------------------------------------------------------------------
# reporting


def wall_cell(case: Case, key: str) -> str:
    return f"{case.med(key):.3f} s (min {case.lo(key):.3f})"


def ratio_cell(case: Case, spec: str) -> str:
    """The ratio; a target ratio also shows the ratio of the mins, in bold when the target is met."""
    r = case.ratio(spec)
    if r.target is None:
        return f"{r.value:.2f}"
    return f"{f'**{r.value:.2f}**' if r.ok else f'{r.value:.2f}'} (mins: {r.mins:.2f})"


def rss_cell(case: Case, tool: str) -> str:
    return f"{case.peak(tool):.1f} MiB"


def md_table(header: list, rows: list) -> list:
    line = lambda cells: "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"
    return [line(header), "|" + "---|" * len(header)] + [line(r) for r in rows]


def summarize(case: Case) -> None:
    say(f"[{case.name}]")
    say(f"  {'':<26} median wall   min wall  median user+sys  peak RSS")
    for t in case.tools:
        cpu = statistics.median(case.series(f"{t.name}:cpu"))
        usage = f"{cpu:10.2f} s {case.peak(t.name):8.1f} MiB" if case.rss else f"{'-':>12} {'-':>12}"
        say(f"  {t.name:<26} {case.med(t.name):9.3f} s {case.lo(t.name):9.3f} s {usage}")
        if t.inner:
            key = f"{t.name}:inner"
            say(f"  {t.name + ' (inner)':<26} {case.med(key):9.3f} s {case.lo(key):9.3f} s")
    for spec, target in case.ratios:
        r = case.ratio(spec)
        goal = f"   target <= {target}: {'PASS' if r.ok else 'FAIL'}" if target is not None else ""
        say(f"  {spec:<36} {r.value:6.3f}{goal}   (median of per-round ratios {r.per_round:.3f}, "
            f"ratio of medians {r.medians:.3f}, ratio of mins {r.mins:.3f})")
    if case.rss_target:
        tool, mib = case.rss_target
        peak = case.peak(tool)
        say(f"  {tool} peak RSS {peak:.1f} MiB   target <= {mib} MiB: {'PASS' if peak <= mib else 'FAIL'}")
    for t in case.tools:
        say(f"  rounds {t.name:<19} " + " ".join(f"{x:.3f}" for x in case.series(t.name)))
    if case.rss_target:
        rss = case.series(f"{case.rss_target[0]}:rss")
        say(f"  rounds {case.rss_target[0] + ' RSS':<19} " + " ".join(f"{x / 1024:.1f}" for x in rss)
            + " MiB")


def machine_line(b: Bench) -> str:
    fstype = first_line("findmnt", "-n", "-o", "FSTYPE", "-T", b.dir)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    ram = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 2**20
    balloon = ""
    for f in Path("/sys/bus/virtio/drivers/virtio_balloon").glob("virtio*/features"):
        # Feature bit 5 = free page reporting: freed guest pages go back to the host and cost a
        # host fault when the page cache touches them again, which makes write timings noisy.
        if f.read_text()[5:6] == "1":
            balloon = " VM with virtio-balloon free page reporting (write timings are noisy)."
    now = dt.datetime.now(dt.timezone.utc)
    return (f"Machine: {os.cpu_count()} CPUs ({cpu}), {ram:.0f} GiB RAM, bench dir on {fstype}, "
            f"kernel {os.uname().release}. Date: {now:%Y-%m-%d %H:%M} UTC. Load average start/end: "
            f"{b.load_start} / {loadavg()}.{balloon}")


def report(b: Bench, cases: list, tables: list, notes=(), keep_rows: bool = False) -> None:
    """Each case's numbers, the checks, then the markdown: machine, command, NOTES and TABLES
    (lists of lines); with --write-md the tables replace the bench:NAME block of the md file."""
    section("report")
    for case in cases:
        summarize(case)
        say()
    section("checks")
    for label, (n, ok, first_bad) in b.checks.items():
        say((f"  {label}: {ok} of {n} PASS" if n > 1 else f"  {label}: {'PASS' if ok else 'FAIL'}")
            + (f" (first failure: {first_bad})" if ok < n and first_bad else ""))
    checks = "all PASS" if not b.failed() else "FAIL: " + "; ".join(b.failed())
    section("markdown summary")
    say(machine_line(b))
    say()
    warmup = " after a warm-up round" if any(c.warmup for c in cases) else ""
    say(f"Command: `{b.cmdline}` ({', '.join(b.versions)}). Warm page cache; median of {b.rounds} "
        f"rounds{warmup}, order rotated every round; outputs removed and `sync`ed before each run, "
        f"outside the timings." + (f" cat uses copy_file_range: {b.cat_cfr}." if b.cat_cfr else ""))
    for n in notes:
        say()
        say(n)
    for t in tables:
        say()
        say("\n".join(t))
    say()
    say(f"Checks: {checks}.")
    if b.md:
        caption = (f"Generated by `{b.cmdline}` on {dt.date.today()} ({os.cpu_count()} CPUs, load "
                   f"{b.load_start.split()[0]} → {loadavg().split()[0]}); checks: {checks}.")
        write_block(b.md, b.name, tables, caption, keep_rows)
        say(f"\nwrote the bench:{b.name} block of {b.md}")


def write_block(path: Path, name: str, tables: list, caption: str, keep_rows: bool) -> None:
    """Replaces what is between <!-- bench:NAME:begin --> and <!-- bench:NAME:end --> with TABLES
    and CAPTION. KEEP_ROWS (one table whose first column labels runs): the old table's rows with
    other labels stay, above the new ones, when its header is the same."""
    text = path.read_text()
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{path}: no {begin} ... {end} block to rewrite")
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]
    if keep_rows:
        old = [line for line in text[i + len(begin):j].splitlines() if line.startswith("|")]
        new = tables[0]
        if old and cells(old[0]) == cells(new[0]):
            labels = {cells(r)[0] for r in new[2:]}
            tables = [new[:2] + [r for r in old[2:] if cells(r)[0] not in labels] + new[2:]]
    body = "\n\n".join("\n".join(t) for t in tables)
    path.write_text(f"{text[:i]}{begin}\n{body}\n\n{caption}\n{end}{text[j + len(end):]}")


def cleanup(b: Bench, *paths) -> None:
    if b.keep:
        say(f"kept the outputs in {b.out} (--keep)")
    else:
        rm(*b.out.glob("*"), *paths)
        say(f"deleted the outputs (--keep keeps them); sources stay in {b.dir / 'src'} for reuse")


# ---------------------------------------------------------------------------------------------
# cat / cat + sync / taco: the case the pack-* benchmarks share


def cat_case(b: Bench, name: str, cat_sh: str, cwd: Path, taco_args: list, target: float,
             cat_argv=None) -> Case:
    """CAT_SH runs in CWD with $0 = the output file (plain cat: CAT_ARGV > out, when given);
    taco runs TACO_ARGS... -o OUT. Warm-up round, taco peak RSS <= 128 MiB."""
    o = b.out
    cat = (Tool("cat", cat_argv, stdout=o / "out.bin", clean=[o / "out.bin"]) if cat_argv else
           Tool("cat", ["sh", "-c", cat_sh, o / "out.bin"], cwd=cwd, clean=[o / "out.bin"]))
    return Case(name, [
        cat,
        Tool("cat+sync", ["sh", "-c", cat_sh + ' && sync "$0"', o / "out.cs"], cwd=cwd,
             clean=[o / "out.cs"]),
        Tool("taco", [b.taco, *taco_args, "-o", o / "out.taco"], clean=[o / "out.taco"]),
    ], ratios=[("taco/cat", target), ("taco/cat+sync", None)], warmup=True, rss_target=("taco", 128))


def cat_table(case: Case, taco_name: str, label: tuple = ()) -> list:
    """The table of a cat_case; LABEL: (first column's header, this run's label), if it has one."""
    head = ["cat", "cat + sync", taco_name, "taco / cat", "taco / (cat + sync)", "taco peak RSS"]
    row = [wall_cell(case, "cat"), wall_cell(case, "cat+sync"), wall_cell(case, "taco"),
           ratio_cell(case, "taco/cat"), ratio_cell(case, "taco/cat+sync"), rss_cell(case, "taco")]
    return md_table([*label[:1], *head], [[*label[1:], *row]])


# =============================================================================================
# datasets


PY_CREATE = """
import sys, time, tacozip
with open(sys.argv[1]) as f:
    files = [line.rstrip("\\n") for line in f]
t = time.perf_counter()
tacozip.create(sys.argv[2], files, arc_files=files)
print(f"{time.perf_counter() - t:.6f}")
"""


def pack_sets(b: Bench) -> dict:
    """pack's and regress's sources: name -> (count, size, subdirectories)."""
    if b.small:
        return {"big": (10, MIB, 1), "small": (2000, 4096, 10)}
    return {"big": (100, 10 * MIB, 1), "small": (20_000, 4096, 100)}


def bench_pack(b: Bench) -> None:
    """`taco pack` vs `cat FILES > out`, `cat ... && sync out` (taco fsyncs before its rename) and
    tacozip.create (the reference; its whole process for the ratio, create() alone from inside):
    100 x 10 MiB (target taco/cat <= 1.1) and 20 000 x 4 KiB in 100 dirs (<= 2.0), taco peak RSS
    <= 64 MiB, also on 1 x 2 GiB; `taco header` of a 5 GiB archive reads exactly 157 bytes."""
    b.start(py=[("tacozip", "TACOZIP_VERSION")])
    import tacozip

    b.version("cat", first_line("cat", "--version"))
    b.version("tacozip", f"tacozip {tacozip.__version__}")
    src, o = b.dir / "src", b.out
    sets = pack_sets(b)
    one = 64 * MIB if b.small else 2048 * MIB
    section(f"sources in {src}")
    for ds, (n, size, dirs) in sets.items():
        files_dataset(src / ds, n, size, dirs)
    files_dataset(src / "one", 1, one, 1)
    pack = lambda ds: Tool("taco", [b.taco, "pack", "-q", "--force", o / "out.taco", ds], cwd=src,
                           clean=[o / "out.taco"])
    cat_sync = 'cat "$@" >"$0" && sync "$0"'
    cases = []
    for ds, target in (("big", 1.1), ("small", 2.0)):
        files = sorted(str(p.relative_to(src)) for p in (src / ds).rglob("*.bin"))
        (b.tmp / f"{ds}.list").write_text("\n".join(files) + "\n")
        cases.append(Case(ds, [
            Tool("cat", ["cat", *files], cwd=src, stdout=o / "out.cat", clean=[o / "out.cat"]),
            Tool("cat+fsync", ["sh", "-c", cat_sync, o / "out.cs", *files], cwd=src,
                 clean=[o / "out.cs"]),
            pack(ds),
            Tool("tacozip", [PY, "-c", PY_CREATE, b.tmp / f"{ds}.list", o / "out.tz"], cwd=src,
                 stdout=b.tmp / "inner", inner=True, clean=[o / "out.tz"]),
        ], ratios=[("taco/cat", target), ("taco/cat+fsync", None), ("taco/tacozip", None),
                   ("taco/tacozip:inner", None)], rss_target=("taco", 64),
            before=lambda files=files: say(f"warm-up: read {warm(src / f for f in files)} bytes")))
    cases.append(Case("one", [pack("one")], rounds=1, rss_target=("taco", 64),
                      before=lambda: warm((src / "one").glob("*"))))
    measure(b, cases)
    big_files = (b.tmp / "big.list").read_text().split()
    cat_copy_path(b, ["cat", *big_files], cwd=src, stdout=o / "out.cat")
    if b.want_profile(cases[:1]):
        section("profile: one taco pack vs one cat of the big set")
        profile(b, pack("big").cmd, cwd=src)
        for name, argv in (("taco pack", pack("big").cmd),
                           ("cat", ["sh", "-c", 'cat "$@" >"$0"', o / "out.cat", *big_files]),
                           ("cat + fsync", ["sh", "-c", cat_sync, o / "out.cat", *big_files])):
            rm(o / "out.taco", o / "out.cat")
            os.sync()
            p = subprocess.run(["perf", "stat", "-e", "task-clock,context-switches,cpu-migrations,"
                                "page-faults", "--", *map(str, argv)], cwd=src, capture_output=True,
                               text=True)
            say(f"--- perf stat {name}")
            say(re.sub(r"( big/f\d+\.bin)+", " big/*.bin", p.stderr).strip() if p.returncode == 0
                else "(perf stat unavailable here)")

    section("taco header on a big (ZIP64) archive")
    huge_src, huge = b.dir / "huge-src", b.dir / "huge.taco"
    huge_size = 256 * MIB if b.small else 5 << 30
    if huge.exists() and huge.stat().st_size > huge_size:
        say(f"reusing {huge}")
    else:
        rm(huge_src)
        huge_src.mkdir()
        with open(huge_src / "zero.bin", "wb") as f:
            f.truncate(huge_size)
        t0 = time.perf_counter()
        out_of(b.taco, "pack", "-q", "--force", huge, huge_src)
        say(f"packed a sparse {huge_size >> 20} MiB source in {time.perf_counter() - t0:.2f} s")
    say(f"archive size: {huge.stat().st_size} bytes")
    say(out_of(b.taco, "header", huge).rstrip())
    calls = strace(b, [b.taco, "header", huge])
    path = os.path.realpath(huge)
    for c in calls:
        if path in c.raw:
            say(f"  {c.raw}")
    reads = file_reads(calls, [huge])[path]
    got = sum(r.length for r in reads if r.kind == "read")
    mmap = any(r.kind == "mmap" for r in reads)
    b.check("bytes `taco header` reads from the archive == 157", got == 157 and not mmap,
            f"{got} bytes{', and an mmap' if mmap else ''}")
    if not b.keep:
        rm(huge, huge_src)
    cleanup(b)

    big, small, one_ = cases
    rows = [[size_label(*sets[c.name][:2]), wall_cell(c, "cat"), wall_cell(c, "cat+fsync"),
             wall_cell(c, "taco"), wall_cell(c, "tacozip"), ratio_cell(c, "taco/cat"),
             ratio_cell(c, "taco/cat+fsync"), ratio_cell(c, "taco/tacozip"), rss_cell(c, "taco")]
            for c in (big, small)]
    table = md_table(["dataset", "cat", "cat + fsync", "taco", "tacozip", "taco / cat",
                      "taco / (cat + fsync)", "taco / tacozip", "taco peak RSS"], rows)
    inner = lambda c: f"{c.med('tacozip:inner'):.3f} s ({c.ratio('taco/tacozip:inner').value:.2f})"
    notes = [f"tacozip.create() alone, inside python (taco / create()): {inner(big)} and "
             f"{inner(small)}. taco peak RSS against input size: {big.peak('taco'):.1f} MiB "
             f"({size_label(*sets['big'][:2])}), {small.peak('taco'):.1f} MiB "
             f"({size_label(*sets['small'][:2])}), {one_.peak('taco'):.1f} MiB "
             f"({size_label(1, one)}, packed in {one_.med('taco'):.2f} s). `taco header` on a "
             f"{huge_size >> 20} MiB archive read {got} bytes of it."]
    report(b, cases, [table], notes)


def bench_parquet(b: Bench) -> None:
    """`taco pack-parquet` of a ~1 GiB Parquet file (64 row groups of ~16 MiB, 4 columns of random
    values, snappy, no dictionaries) vs cat (target taco/cat <= 1.5, peak RSS <= 128 MiB); the
    archive validates deep, pyarrow reads every entry, entry 0's row group 0 equals the source's."""
    b.start(py=[("pyarrow", "PYARROW_VERSION")])
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    b.version("cat", first_line("cat", "--version"))
    b.version("pyarrow", f"pyarrow {pa.__version__}")
    groups, rows = (8, 16384) if b.small else (64, 262144)
    src = b.dir / "src" / "bench.parquet"

    def gen(tmp: Path) -> None:
        # Per row 8 int64 + 8 float64 + 4+28 binary + 4+16 hex string bytes = 68, random so snappy
        # barely shrinks them; one row group in memory at a time; seeded (no numpy needed).
        schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("blob", pa.binary()),
                            ("tag", pa.string())])
        rnd = random.Random(20240601)

        def fixed(typ, width, data):
            offsets = pa.array(range(0, (rows + 1) * width, width), type=pa.int32()).buffers()[1]
            return pa.Array.from_buffers(typ, rows, [None, offsets, pa.py_buffer(data)])

        with pq.ParquetWriter(tmp, schema, compression="snappy", use_dictionary=False) as w:
            for g in range(groups):
                ids = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(rnd.randbytes(rows * 8))])
                cols = [ids, pc.random(rows, initializer=g),
                        fixed(pa.binary(), 28, rnd.randbytes(rows * 28)),
                        fixed(pa.string(), 16, rnd.randbytes(rows * 8).hex().encode())]
                w.write_table(pa.table(cols, schema=schema), row_group_size=rows)

    section(f"source {src}")
    cached(src, f"v1 groups={groups} rows={rows} seed=20240601", gen)
    m = pq.read_metadata(src)
    stored = [sum(m.row_group(i).column(c).total_compressed_size for c in range(m.num_columns))
              for i in range(m.num_row_groups)]
    size = src.stat().st_size
    say(f"{size} bytes ({size / 2**30:.3f} GiB), {m.num_rows} rows, {m.num_row_groups} row groups "
        f"of {min(stored) / MIB:.1f}-{max(stored) / MIB:.1f} MiB stored, {m.num_columns} columns, "
        f"{m.row_group(0).column(0).compression}, footer {m.serialized_size} bytes")

    case = cat_case(b, "parquet", f'cat {shlex.quote(str(src))} >"$0"', b.dir,
                    ["pack-parquet", "-q", "--force", src], 1.5, cat_argv=["cat", src])
    case.before = lambda: say(f"warm-up: read {warm([src])} bytes (untimed)")
    measure(b, [case])

    section("sanity: the last archive")
    archive = b.out / "out.taco"
    say(f"archive: {archive.stat().st_size} bytes (source {size} bytes)")
    validate_deep(b, archive)
    total, first_ok = 0, False
    with open(archive, "rb") as f:
        for e in json.loads(Path(f"{archive}.meta.json").read_text())["entries"]:
            f.seek(e["offset"])
            buf = pa.BufferReader(f.read(e["length"]))
            pm = pq.read_metadata(buf)
            total += pm.num_rows
            say(f"  entry {e['index']}: offset {e['offset']} length {e['length']} "
                f"({e['length'] / MIB:.1f} MiB) {e['kind']} {e['label']!r}: {pm.num_row_groups} row "
                f"groups, {pm.num_rows} rows (index: {e['rows']})")
            b.check("pyarrow reads every entry, rows as the index says", pm.num_rows == e["rows"],
                    quiet=True)
            if e["index"] == 0:
                group = pq.ParquetFile(buf).read_row_group(0)
                first_ok = pm.num_rows > 0 and group.equals(pq.ParquetFile(src).read_row_group(0))
    b.check("entry 0 decoded by pyarrow: row group 0 equals the source's", first_ok)
    b.check("rows in all entries equal the source's", total == m.num_rows, f"{total} vs {m.num_rows}")
    cat_copy_path(b, ["cat", src], stdout=b.out / "out.bin")
    if b.want_profile([case]):
        section("profile: strace -c -f of one taco pack-parquet")
        profile(b, [b.taco, "pack-parquet", "-q", "--force", src, "-o", archive])
    cleanup(b)
    report(b, [case], [cat_table(case, "taco pack-parquet", ("run", "current"))], keep_rows=True)


TILE = re.compile(r"(?:^|/)(\d+)/(\d+)/(\d+)\.[A-Za-z0-9]+$")


def hilbert(n: int, x: int, y: int) -> int:
    """Position of cell (x, y) along the textbook n x n Hilbert curve."""
    d, s = 0, n >> 1
    while s:
        rx, ry = int(x & s > 0), int(y & s > 0)
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x, y, s = x & (s - 1), y & (s - 1), s >> 1
    return d


def hilbert_fits(cells: list, z: int) -> int:
    """Of the 8 symmetries of the square (where the curve starts, which way it turns, y up or
    down: the implementation's choice), how many make CELLS of zoom Z strictly increasing along
    the Hilbert index."""
    n, fits = 1 << z, 0
    for swap, fx, fy in itertools.product((0, 1), repeat=3):
        pts = [((n - 1 - x) if fx else x, (n - 1 - y) if fy else y) for x, y in cells]
        ds = [hilbert(n, *((q, p) if swap else (p, q))) for p, q in pts]
        fits += all(a < c for a, c in zip(ds, ds[1:]))
    return fits


def write_pyramid(tmp: Path, full: int, extra: int, lo: int, hi: int, seed: int) -> None:
    """Tiles TMP/z/x/y.png of LO-HI random bytes: zooms 0..FULL-1 complete, then EXTRA random
    tiles of zoom FULL (the same files for the same arguments)."""
    rnd = random.Random(seed)
    side = 1 << full
    cells = [(z, x, y) for z in range(full) for x in range(1 << z) for y in range(1 << z)]
    cells += sorted((full, i // side, i % side) for i in rnd.sample(range(side * side), extra))
    made = set()
    for z, x, y in cells:
        if (z, x) not in made:
            (tmp / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
            made.add((z, x))
        (tmp / f"{z}/{x}/{y}.png").write_bytes(rnd.randbytes(rnd.randint(lo, hi)))


def bench_tiles(b: Bench) -> None:
    """`taco pack-tiles` of a pyramid of 100 000 tiles of 1.5-2.5 KiB (zooms 0-8 complete + 12 619
    random tiles of zoom 9) vs `find . -type f -print0 | sort -z | xargs -0 cat > out` inside it
    (target taco/cat <= 2.0, peak RSS <= 128 MiB); validate deep, the index lists every tile, the
    central directory holds each once with its size, 2 000 random tiles read back through the
    local headers and through the index equal their files, each zoom is in Hilbert order."""
    b.start()
    b.version("cat", first_line("cat", "--version"))
    b.version("xargs", first_line("xargs", "--version"), md=False)
    full, extra = (6, 700) if b.small else (9, 12619)
    lo, hi, seed = 1536, 2560, 20240607
    n_tiles = (4 ** full - 1) // 3 + extra
    tiles = b.dir / "src" / "tiles"

    def gen(tmp: Path) -> None:
        write_pyramid(tmp, full, extra, lo, hi, seed)

    section(f"tiles in {tiles}")
    cached(tiles, f"v1 full_zooms={full} extra={extra} sizes={lo}-{hi} seed={seed} tiles={n_tiles}", gen)
    zxy = lambda name: tuple(map(int, TILE.search(name).groups()))
    src = {zxy(str(p.relative_to(tiles))): p for p in tiles.rglob("*.*")}
    src_bytes = sum(p.stat().st_size for p in src.values())
    say(f"{len(src)} tiles (zooms 0-{full - 1} complete, {extra} random tiles of zoom {full}), "
        f"{lo}-{hi} random bytes each, {src_bytes} bytes ({src_bytes / MIB:.1f} MiB)")

    cat_sh = 'find . -type f -print0 | sort -z | xargs -0 cat >"$0"'
    procs = []  # how many cat processes xargs runs

    def before():
        p = subprocess.run("find . -type f -print0 | sort -z | xargs -0 --verbose cat | wc -c",
                           shell=True, cwd=tiles, capture_output=True, text=True)
        procs.append(len(p.stderr.splitlines()))
        say(f"warm-up: read {p.stdout.strip()} bytes; xargs ran {procs[0]} cat processes for the "
            f"{n_tiles} names, all of them inside the cat timings")

    case = cat_case(b, "tiles", cat_sh, tiles, ["pack-tiles", "-q", "--force", tiles], 2.0)
    case.before = before
    measure(b, [case])

    section("sanity: the last archive")
    archive = b.out / "out.taco"
    size = archive.stat().st_size
    say(f"archive: {size} bytes (tiles {src_bytes} bytes; {(size - src_bytes) // n_tiles} bytes "
        f"per tile of ZIP headers, central directory and index)")
    validate_deep(b, archive)
    index = json.loads(Path(f"{archive}.meta.json").read_text())
    say("  index entries: " + ", ".join(f"{e['label']} {e['length']} B" for e in index["entries"]))
    b.check("the index lists every tile", len(index["members"]) == n_tiles,
            f"{len(index['members'])} of {n_tiles}")
    cd = [(m, zxy(m["name"])) for m in ls_members(b, archive) if TILE.search(m["name"])]
    b.check("central directory: every tile once, sizes equal the files'",
            len(cd) == n_tiles and {k for _, k in cd} == set(src)
            and all(src[k].stat().st_size == m["size"] for m, k in cd))
    sample = random.Random(seed + 1).sample(cd, min(2000, len(cd)))
    by_zxy = {(e["z"], e["x"], e["y"]): e for e in index["members"]}
    bad_cd = bad_ix = 0
    with open(archive, "rb") as f:
        for m, k in sample:
            f.seek(m["header_offset"] + 26)
            name_len, extra_len = struct.unpack("<HH", f.read(4))
            f.seek(m["header_offset"] + 30 + name_len + extra_len)
            want = src[k].read_bytes()
            bad_cd += f.read(m["size"]) != want
            f.seek(by_zxy[k]["data_offset"])
            bad_ix += f.read(by_zxy[k]["length"]) != want
    b.check(f"{len(sample)} random tiles read back through the local headers equal their files",
            bad_cd == 0, f"{bad_cd} differ")
    b.check("the same tiles read through the index's data_offset/length equal their files",
            bad_ix == 0, f"{bad_ix} differ")
    order = [k for _, k in cd]
    levels = defaultdict(list)
    for z, x, y in order:
        levels[z].append((x, y))
    # consecutive tiles of a complete zoom are edge neighbours
    adjacent = all(all(abs(a[0] - c[0]) + abs(a[1] - c[1]) == 1 for a, c in zip(cells, cells[1:]))
                   for z, cells in levels.items() if 0 < z and len(cells) == 4 ** z)
    fits = [hilbert_fits(cells, z) for z, cells in sorted(levels.items())]
    b.check("zoom-major; complete zooms walk edge to edge; each zoom in Hilbert order",
            [z for z, _, _ in order] == sorted(z for z, _, _ in order) and adjacent and all(fits),
            f"symmetries of the square that fit, per zoom: {fits}")
    per_tile = lambda rows: " ".join(f"{k} {v / n_tiles:.2f}" for k, v in sorted(
        rows.items(), key=lambda kv: -kv[1])[:8] if v >= n_tiles / 10)
    rows = cat_copy_path(b, ["sh", "-c", cat_sh, b.out / "out.bin"], cwd=tiles)
    say(f"calls per tile (cat pipeline): {per_tile(rows)}")
    if b.want_profile([case]):
        section("profile: strace -c -f of one taco pack-tiles")
        rows = profile(b, [b.taco, "pack-tiles", "-q", "--force", tiles, "-o", archive])
        say(f"calls per tile (taco): {per_tile(rows)}")
    cleanup(b)
    report(b, [case], [cat_table(case, "taco pack-tiles", ("", "current"))],
           [f"The cat baseline ran as {procs[0]} cat processes (xargs); archive {size} bytes."],
           keep_rows=True)


def bench_index(b: Bench) -> None:
    """Index v2 at 10^6 members (issue 12): `taco pack-tiles` of 1 000 000 tiles of 0.5-1.5 KiB
    (zooms 0-9 complete + 650 475 tiles of zoom 10) vs `find | sort | xargs cat` (+ sync)
    inside it, target taco/(cat+sync) <= 1.5 and peak RSS <= 256 MiB; then `taco get --tile`
    of 200 random tiles, one process each, vs /bin/true (target <= 5 ms a tile), the bytes of
    the archive each reads (strace pread64 of one), and the lookup directory's and the
    manifest's sizes per tile."""
    b.start()
    b.version("cat", first_line("cat", "--version"))
    full, extra = (5, 300) if b.small else (10, 650_475)
    lo, hi, seed = 512, 1536, 20261130
    n_tiles = (4 ** full - 1) // 3 + extra
    tiles = b.dir / "src" / "tiles"

    def gen(tmp: Path) -> None:
        write_pyramid(tmp, full, extra, lo, hi, seed)

    section(f"tiles in {tiles}")
    cached(tiles, f"index-v2 full_zooms={full} extra={extra} sizes={lo}-{hi} seed={seed}", gen)
    say(f"{n_tiles} tiles (zooms 0-{full - 1} complete, {extra} random tiles of zoom {full}), "
        f"{lo}-{hi} random bytes each")
    cat_sh = 'find . -type f -print0 | sort -z | xargs -0 cat >"$0"'
    case = cat_case(b, "index", cat_sh, tiles, ["pack-tiles", "-q", "--force", tiles], 1.5)
    case.ratios = [("taco/cat+sync", 1.5), ("taco/cat", None)]
    case.rss_target = ("taco", 256)
    measure(b, [case])

    section("lookups in the last archive")
    archive = b.out / "out.taco"
    size = archive.stat().st_size
    with zipfile.ZipFile(archive) as z:
        directory = z.getinfo("TACO_DIRECTORY").file_size
        manifest = z.getinfo("TACO_MANIFEST.parquet").file_size
        index_v1 = z.getinfo("TACO_INDEX.json").file_size
    say(f"archive {size} bytes; lookup directory {directory} bytes "
        f"({directory / n_tiles:.2f} a tile); manifest {manifest} bytes "
        f"({manifest / n_tiles:.1f} a tile); v1 index {index_v1} bytes "
        f"({index_v1 / n_tiles:.1f} a tile)")
    b.check("lookup directory <= 12 bytes a tile", directory / n_tiles <= 12,
            f"{directory / n_tiles:.2f}")
    rnd = random.Random(seed + 1)
    # tiles of the complete zooms from 5 on (the small run: from its lowest)
    zooms = range(min(5, full - 1), full)
    picks = []
    for _ in range(200):
        z = rnd.choice(zooms)
        picks.append((z, *divmod(rnd.randrange(4 ** z), 1 << z)))

    def per_process(argvs) -> float:
        t0 = time.perf_counter()
        for argv in argvs:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return (time.perf_counter() - t0) / len(argvs)

    gets = [[b.taco, "get", archive, "--tile", f"{z}/{x}/{y}", "-o", "/dev/null"]
            for z, x, y in picks]
    per_process(gets[:20])  # warm the page cache
    get_ms = per_process(gets) * 1000
    true_ms = per_process([["/bin/true"]] * len(gets)) * 1000
    say(f"get --tile: {get_ms:.2f} ms a tile (one process each); /bin/true {true_ms:.2f} ms")
    b.check("get --tile <= 5 ms a tile", get_ms <= 5.0, f"{get_ms:.2f} ms")
    z, x, y = picks[0]
    trace = subprocess.run(["strace", "-f", "-e", "trace=pread64,read", "-y", b.taco, "get",
                            archive, "--tile", f"{z}/{x}/{y}", "-o", "/dev/null"],
                           capture_output=True, text=True)
    read = sum(int(m.group(1)) for m in re.finditer(
        rf"(?:pread64|read)\(\d+<{re.escape(str(archive))}>.*\)\s+=\s+(\d+)", trace.stderr))
    say(f"bytes read from the archive for one tile: {read}")
    b.check("one tile reads <= 128 KiB of index plus the tile", read <= 128 * 1024 + 2 * hi,
            f"{read} bytes")
    cleanup(b)
    report(b, [case], [cat_table(case, "taco pack-tiles", ("", f"{n_tiles} tiles"))],
           [f"lookup directory {directory / n_tiles:.2f} B a tile, manifest "
            f"{manifest / n_tiles:.1f} B a tile, v1 index {index_v1 / n_tiles:.1f} B a tile; "
            f"get --tile {get_ms:.2f} ms a tile (/bin/true {true_ms:.2f} ms), {read} bytes "
            "of the archive read for one tile."], keep_rows=True)


def bench_netcdf(b: Bench) -> None:
    """`taco pack-netcdf` of 100 monthly NetCDF-4 files of ~20 MiB (daily `time` in hours since
    1900-01-01, chunked; uncompressed contiguous t2m(time, 361, 480)) vs `cat -- *.nc > out`
    (target taco/cat <= 1.3, peak RSS <= 128 MiB); validate deep, every member STORED, in month
    order with its size, the index's start/end equal each file's first/last step; and what taco
    reads of the sources (netcdf_reads)."""
    b.start(py=[("netCDF4", "NETCDF4_VERSION")])
    import netCDF4
    import numpy as np

    b.version("cat", first_line("cat", "--version"))
    b.version("netCDF4", f"netCDF4 {netCDF4.__version__} (netCDF-C {netCDF4.__netcdf4libversion__}"
                         f", HDF5 {netCDF4.__hdf5libversion__}), numpy {np.__version__}")
    n, nlat, nlon = (4, 181, 240) if b.small else (100, 361, 480)
    year0, seed = 2000, 20240701
    ncdir = b.dir / "src" / "netcdf"

    def gen(tmp: Path) -> None:
        import calendar

        tmp.mkdir()
        for i in range(n):
            y, m = year0 + i // 12, i % 12 + 1
            days = calendar.monthrange(y, m)[1]
            with netCDF4.Dataset(tmp / f"t2m_{y:04d}-{m:02d}.nc", "w", format="NETCDF4") as ds:
                ds.title = f"bench: random 2 m temperature, {y:04d}-{m:02d}"
                ds.Conventions = "CF-1.8"
                for dim, size in (("time", days), ("lat", nlat), ("lon", nlon)):
                    ds.createDimension(dim, size)
                # the coordinate: chunked (one chunk), no filters
                t = ds.createVariable("time", "f8", ("time",), chunksizes=(days,))
                t.units, t.calendar = "hours since 1900-01-01", "gregorian"
                t.standard_name, t.axis = "time", "T"
                lat = np.linspace(90, -90, nlat, dtype=np.float32)
                ds.createVariable("lat", "f4", ("lat",))[:] = lat
                lon = np.linspace(0, 360, nlon, endpoint=False, dtype=np.float32)
                ds.createVariable("lon", "f4", ("lon",))[:] = lon
                # the data: contiguous, uncompressed, so the file really is ~20 MiB
                v = ds.createVariable("t2m", "f4", ("time", "lat", "lon"), contiguous=True)
                v.units, v.long_name = "K", "2 metre temperature"
                hours = (dt.datetime(y, m, 1) - dt.datetime(1900, 1, 1)) // dt.timedelta(hours=1)
                t[:] = hours + 24.0 * np.arange(days)
                rng = np.random.default_rng(seed + i)
                v[:] = 220 + 100 * rng.random((days, nlat, nlon), dtype=np.float32)

    section(f"NetCDF files in {ncdir}")
    cached(ncdir, f"v1 files={n} start={year0}-01 daily grid={nlat}x{nlon} time=f8-chunked "
                  f"t2m=f4-contiguous-uncompressed seed={seed}", gen)
    names = sorted(p.name for p in ncdir.glob("*.nc"))
    sizes = [(ncdir / f).stat().st_size for f in names]
    say(f"{len(names)} files {names[0]} .. {names[-1]}, {min(sizes) / MIB:.1f}-"
        f"{max(sizes) / MIB:.1f} MiB each, {sum(sizes)} bytes ({sum(sizes) / 2**30:.2f} GiB)")

    case = cat_case(b, "netcdf", 'cat -- *.nc >"$0"', ncdir, ["pack-netcdf", "-q", "--force", ncdir],
                    1.3)
    case.before = lambda: say(f"warm-up: read {warm(ncdir / f for f in names)} bytes (untimed)")
    measure(b, [case])

    section("sanity: the last archive")
    archive = b.out / "out.taco"
    say(f"archive: {archive.stat().st_size} bytes (sources {sum(sizes)} bytes)")
    validate_deep(b, archive)
    truth = []  # each file's first and last time step
    for f in names:
        with netCDF4.Dataset(ncdir / f) as ds:
            t = ds["time"]
            base = dt.datetime.fromisoformat(re.fullmatch(r"hours since (\S+)", t.units)[1])
            truth.append((base + dt.timedelta(hours=float(t[0])), base + dt.timedelta(hours=float(t[-1]))))
    zf = zipfile.ZipFile(archive)
    methods = sorted({i.compress_type for i in zf.infolist()})
    b.check("every member STORED (Python's zipfile)", methods == [zipfile.ZIP_STORED],
            f"methods {methods}")
    cd = [m for m in ls_members(b, archive) if m["name"].endswith(".nc")]
    same = lambda m: zf.read(m["name"]) == (ncdir / m["name"]).read_bytes()
    b.check("central directory: the files in month order with their sizes, first and last equal",
            [m["name"] for m in cd] == names and [m["size"] for m in cd] == sizes
            and same(cd[0]) and same(cd[-1]))
    header = json.loads(out_of(b.taco, "header", "--json", archive))
    say("  TACO header: " + ", ".join(f"{e['offset']}+{e['length']}" for e in header["entries"]))
    index = json.loads(Path(f"{archive}.meta.json").read_text())
    b.check("the member TACO_INDEX.json equals OUT.meta.json (but for its `archive` facts)",
            json.loads(zf.read("TACO_INDEX.json")) == {k: v for k, v in index.items() if k != "archive"})
    items = index["members"]
    b.check("the index lists every file", len(items) == n, f"{len(items)} of {n}")
    when = lambda m: (dt.datetime.fromisoformat(m["start"]), dt.datetime.fromisoformat(m["end"]))
    bad = [m["name"] for m, t in zip(items, truth) if when(m) != t]
    b.check("index item i is file i, its start/end equal the file's first/last time step",
            not bad and [m["name"] for m in items] == names, f"wrong: {bad[:3]}")

    argv = [b.taco, "pack-netcdf", "-q", "--force", ncdir, "-o", archive]
    reads = netcdf_reads(b, argv, ncdir, names)
    cat_copy_path(b, ["sh", "-c", 'cat -- *.nc >"$0"', b.out / "out.bin"], cwd=ncdir)
    if b.want_profile([case]):
        section("profile: strace -c -f of one taco pack-netcdf")
        profile(b, argv, wall_too=True)
    cleanup(b)
    report(b, [case], [cat_table(case, "taco pack-netcdf")], [reads])


def netcdf_reads(b: Bench, argv: list, ncdir: Path, names: list) -> str:
    """What ARGV, a pack-netcdf, reads of the sources, in two extra runs: /proc/PID/io rchar
    against the source bytes, and strace byte ranges against each file's t2m data, which the time
    lookup must leave alone. Returns the line for the markdown summary."""
    import netCDF4
    import numpy as np

    archive, n = argv[-1], len(names)
    src_bytes = sum((ncdir / f).stat().st_size for f in names)
    section("what taco reads of the sources (extra runs, not in the timings)")
    rm(archive)
    os.sync()
    run, start = proc_io(argv), proc_io([b.taco, "--version"])
    extra = run["rchar"] - start["rchar"]
    passes = round(extra / src_bytes)
    rest = extra - passes * src_bytes
    say(f"  /proc/PID/io: rchar {run['rchar']} in {run['syscr']} read-like calls (taco --version: "
        f"{start['rchar']}); minus start-up = {passes} x the {src_bytes} source bytes {rest:+d} "
        f"bytes ({rest / n / 1024:+.1f} KiB per file)")
    regions = {}  # t2m's data in each file, found by its first and last values
    for f in names:
        with netCDF4.Dataset(ncdir / f) as ds:
            v = ds["t2m"]
            first, last = (np.asarray(x, dtype="<f4").tobytes() for x in (v[0, 0, :16], v[-1, -1, -16:]))
            nbytes = v.size * 4
        data = (ncdir / f).read_bytes()
        off = data.find(first)
        assert off >= 0 and data[off + nbytes - 64:off + nbytes] == last, f"t2m is not contiguous in {f}"
        regions[f] = (off, off + nbytes, len(data))
    rm(archive)
    os.sync()
    reads = file_reads(strace(b, argv), [ncdir / f for f in names])
    rows, mmaps = [], 0
    for f in names:
        lo, hi, size = regions[f]
        ev = reads.get(os.path.realpath(ncdir / f), [])
        mmaps += sum(e.length for e in ev if e.kind == "mmap")
        cp = [(e.start, e.length) for e in ev if e.kind == "copy"]
        rd = [(e.start, e.length) for e in ev if e.kind == "read"]
        # The time lookup's reads, when the copy is a copy syscall: on opens that never copy, or on
        # the copying open by the copying thread before its first copy (a CRC thread reads alongside).
        first_copy = {}
        for e in ev:
            if e.kind == "copy":
                first_copy.setdefault(e.opened, (e.seq, e.pid))
        look = [(e.start, e.length) for e in ev if cp and e.kind == "read" and (
            (fc := first_copy.get(e.opened)) is None or (e.pid == fc[1] and e.seq < fc[0]))]
        pcp, prd = min_cover(cp, 0, size), min_cover(rd, 0, size)
        rows.append(dict(passes=(pcp, prd), extra=sum(ln for _, ln in cp + rd) - (pcp + prd) * size,
                         t2m_extra=overlap(cp + rd, lo, hi) - (pcp + prd) * (hi - lo),
                         look=sum(ln for _, ln in look), look_calls=len(look),
                         look_t2m=overlap(look, lo, hi)))
    col = lambda k: [r[k] for r in rows]
    dist = lambda k: f"min {min(col(k))}, median {statistics.median(col(k)):.0f}, max {max(col(k))}"
    lo, hi, size = regions[names[0]]
    say(f"  strace: calls on the sources {dict(Counter(e.call for v in reads.values() for e in v))}; "
        f"{names[0]}: {size} bytes, t2m at [{lo}, {hi}) ({100 * (hi - lo) / size:.2f} %)")
    say(f"  whole-file passes per file (copy calls, read calls): {dict(Counter(col('passes')))}")
    say(f"  bytes read beyond those passes, per file: {dist('extra')}; inside t2m: {dist('t2m_extra')}")
    say(f"  time-lookup reads per file: bytes {dist('look')}; calls {dist('look_calls')}; inside "
        f"t2m {dist('look_t2m')}")
    limit = min(hi - lo for lo, hi, _ in regions.values()) // 100
    b.check(f"the time lookup leaves t2m alone (t2m bytes beyond the whole-file passes and read by "
            f"the lookup <= 1 % of t2m = {limit} bytes in every file; no mmap)",
            all(r["t2m_extra"] <= limit and r["look_t2m"] <= limit and sum(r["passes"]) >= 1
                for r in rows) and not mmaps,
            f"worst {max(col('t2m_extra'))} / {max(col('look_t2m'))}")
    med = lambda k: statistics.median(col(k))
    return (f"Reads of the sources (extra runs): /proc/PID/io rchar minus start-up = {passes} × the "
            f"{src_bytes} source bytes {rest:+d} bytes; strace: bytes read beyond the whole-file "
            f"passes per file median {med('extra'):.0f}, of them inside t2m at most "
            f"{max(col('t2m_extra'))}; time-lookup reads median {med('look'):.0f} bytes in "
            f"{med('look_calls'):.0f} calls per file.")


def bench_remote(b: Bench) -> None:
    """`taco get` over HTTP from a local nginx (1 worker, sendfile: tests/remote_servers.py's, plus
    /limited/ with limit_rate LIMIT_RATE, a stand-in for the per-connection cap of S3 and CDNs) of
    7 entries of 64 MiB (`taco pack-splits`): (A) one entry vs `curl -r` of its range (target
    taco/curl <= 1.2, ratio of medians) and curl + sync (taco -o FILE fsyncs); (B) all 7 with
    --jobs 7 vs --jobs 1 (target < 1), 7 separate runs (< 1) and 7 curl -r in parallel. Every
    fetched file equals the local `taco get`; nginx sees 2 requests for one entry, 1 + 7 for all,
    7 at once with --jobs 7; strace counts the fsyncs."""
    b.start(debs=[("nginx", "nginx"), ("curl", "curl")])
    b.version("curl", " ".join(first_line("curl", "--version").split()[:2]))
    b.version("nginx", first_line("nginx", "-v").replace("nginx version: ", ""))
    sys.path.insert(0, str(REPO / "tests"))
    from remote_servers import NginxServer

    limit = os.environ.get("LIMIT_RATE", "100m")

    class Nginx(NginxServer):  # the tests' nginx, plus /limited/ and tcp_nopush
        def _config(self, port):
            conf = super()._config(port)
            assert "location /forbidden/ {" in conf and "sendfile on;" in conf
            limited = f"location /limited/ {{ alias {self.www}/; limit_rate {limit}; }}"
            return (conf.replace("sendfile on;", "sendfile on;\n    tcp_nopush on;")
                    .replace("location /forbidden/ {", f"{limited}\n        location /forbidden/ {{"))

    count, mib = 7, (16 if b.small else 64)
    srv = Nginx(b.dir / "nginx")
    archive, ref = srv.www / "archive.taco", b.dir / "ref"
    section("data")
    for i in range(count):
        (b.dir / "src" / f"s{i}").mkdir(parents=True)
        (b.dir / "src" / f"s{i}" / "data.bin").write_bytes(os.urandom(mib * MIB))
    archive.parent.mkdir(parents=True)
    ref.mkdir()
    out_of(b.taco, "pack-splits", "-q", "--force", b.dir / "src", "-o", archive)
    rm(b.dir / "src")
    say(f"{count} splits of one {mib} MiB random file each, packed with taco pack-splits: "
        f"{archive.stat().st_size} bytes")
    say(out_of(b.taco, "header", archive).rstrip())
    entries = json.loads(out_of(b.taco, "header", "--json", archive))["entries"]
    ranges = [f"{e['offset']}-{e['offset'] + e['length'] - 1}" for e in entries]
    for i in range(count):
        out_of(b.taco, "get", "-q", archive, "--entry", i, "-o", ref / f"entry-{i}")
    say(f"reference: taco get ARCHIVE --entry N -o {ref}/entry-N; warm-up: read "
        f"{warm([archive])} bytes of the archive")
    section("nginx")
    srv.start()
    try:
        remote_cases(b, srv, mib, limit, ranges, ref)
    finally:
        srv.stop()
        if b.keep:
            say(f"kept {b.dir} (--keep)")
        else:
            rm(b.dir)


def remote_cases(b: Bench, srv, mib: int, limit: str, ranges: list, ref: Path) -> None:
    """bench_remote's cases, checks and report, while nginx runs."""
    count, a = len(ranges), 3
    all_entries = ",".join(map(str, range(count)))
    urls = {"as is": srv.url("archive.taco"),
            f"limit_rate {limit}": f"{srv.base_url}/limited/archive.taco"}
    say(f"nginx pid {srv.proc.pid} on {srv.base_url} (config {srv.conf}): {', '.join(urls.values())}")
    fa = lambda t: b.out / f"a-{t}"
    d = lambda t: b.out / f"b-{t}"
    cases = []
    for scen, url in urls.items():
        def tool(name, cmd, pairs, **kw):  # after every run: each fetched file equals its reference
            label = f"nginx {scen}: {name}: fetched bytes equal the local taco get"
            same = lambda: all(p.exists() and filecmp.cmp(p, r, shallow=False) for p, r in pairs)
            return Tool(name, cmd, check=lambda rnd: b.check(label, same(), f"round {rnd}", quiet=True),
                        **kw)

        a_tool = lambda name, cmd: tool(name, cmd, [(fa(name), ref / f"entry-{a}")], clean=[fa(name)])
        cases.append(Case(f"(A) one entry, nginx {scen}", [
            a_tool("curl", ["curl", "-s", "-f", "-r", ranges[a], "-o", fa("curl"), url]),
            a_tool("curl+sync", ["sh", "-c", 'curl -s -f -r "$0" -o "$1" "$2" && sync "$1"', ranges[a],
                                 fa("curl+sync"), url]),
            a_tool("taco", [b.taco, "get", "-q", url, "--entry", a, "-o", fa("taco")]),
        ], ratios=[("taco/curl", 1.2), ("taco/curl+sync", None)], warmup=True, stat="medians"))
        b_tool = lambda name, cmd: tool(name, cmd, [(d(name) / f"entry-{i}", ref / f"entry-{i}")
                                                    for i in range(count)], clean=[d(name)], mkdir=[d(name)])
        cases.append(Case(f"(B) {count} entries, nginx {scen}", [
            b_tool("jobs7", [b.taco, "get", "-q", url, "--entry", all_entries, "-o", d("jobs7"),
                             "--jobs", count]),
            b_tool("jobs1", [b.taco, "get", "-q", url, "--entry", all_entries, "-o", d("jobs1"),
                             "--jobs", 1]),
            b_tool("seq7", ["sh", "-c", 'i=0; while [ "$i" -lt "$3" ]; do "$0" get -q "$1" --entry "$i" '
                            '-o "$2/entry-$i" || exit 1; i=$((i + 1)); done', b.taco, url, d("seq7"), count]),
            b_tool("curl7", ["sh", "-c", 'url=$0 dir=$1; shift; i=0; pids=""; for r in "$@"; do curl -s -f '
                             '-r "$r" -o "$dir/entry-$i" "$url" & pids="$pids $!"; i=$((i + 1)); done; '
                             'rc=0; for p in $pids; do wait "$p" || rc=1; done; exit $rc',
                             url, d("curl7"), *ranges]),
        ], ratios=[("jobs7/jobs1", 0.999), ("jobs7/seq7", 0.999), ("jobs7/curl7", None)], warmup=True,
            stat="medians"))
    measure(b, cases)

    section("sanity: requests nginx saw (its access log), fsyncs")
    want = lambda ids: sorted([(206, "GET", "bytes=0-156")]
                              + [(206, "GET", f"bytes={ranges[i]}") for i in ids])
    gets = [(f"--entry {a} -o FILE", ["--entry", a, "-o", b.out / "one.bin"], [a]),
            (f"--entry {all_entries} -o DIR --jobs {count}",
             ["--entry", all_entries, "-o", b.out / "d7", "--jobs", count], range(count)),
            (f"--entry {all_entries} -o DIR --jobs 1",
             ["--entry", all_entries, "-o", b.out / "d1", "--jobs", 1], range(count))]
    for scen, url in urls.items():
        for label, args, ids in gets:
            mark = srv.log_mark()
            subprocess.run([b.taco, "get", "-q", "-f", url, *map(str, args)], stdout=DEVNULL)
            log = srv.requests_since(mark, len(ids) + 1)
            ev = sorted(x for r in log for x in ((r.extra["msec"] - r.extra["request_time"], 1),
                                                 (r.extra["msec"], -1)))
            conc = max(itertools.accumulate(step for _, step in ev), default=0)
            seen = f"at most {conc} at once over {len({r.extra['connection'] for r in log})} connections"
            b.check(f"{scen}: taco get {label}: header + {len(ids)} entry requests, all 206",
                    sorted((r.status, r.method, r.range) for r in log) == want(ids),
                    f"{len(log)} requests, {seen}")
            if f"--jobs {count}" in label:
                b.check(f"{scen}: --jobs {count}: nginx served {count} requests at once", conc >= count, seen)
    fsyncs = {}
    for label, args, _ in gets[:2]:
        _, rows = strace_c(b, [b.taco, "get", "-q", "-f", urls["as is"], *args],
                           opts=("-f", "-c", "-e", "trace=fsync,fdatasync"))
        fsyncs[label] = rows.get("fsync", 0) + rows.get("fdatasync", 0)
    say(f"  fsync calls (strace): {fsyncs} (-o FILE is atomic and durable, -o DIR atomic only; curl "
        f"never fsyncs)")

    rows_a, rows_b = [], []
    for scen in urls:
        ca, cb = (c for c in cases if c.name.endswith(f"nginx {scen}"))
        rows_a.append([scen, wall_cell(ca, "curl"), wall_cell(ca, "curl+sync"), wall_cell(ca, "taco"),
                       ratio_cell(ca, "taco/curl"), ratio_cell(ca, "taco/curl+sync"), rss_cell(ca, "taco")])
        rows_b.append([scen, wall_cell(cb, "jobs7"), wall_cell(cb, "jobs1"), wall_cell(cb, "seq7"),
                       wall_cell(cb, "curl7"), ratio_cell(cb, "jobs7/jobs1"), ratio_cell(cb, "jobs7/seq7"),
                       rss_cell(cb, "jobs7")])
    tables = [md_table(["nginx", "curl -r", "curl -r + sync", f"taco get --entry {a}",
                        "taco / curl (target ≤ 1.2)", "taco / (curl + sync)", "taco peak RSS"], rows_a),
              md_table(["nginx", f"--jobs {count}", "--jobs 1", f"{count} × taco get",
                        f"{count} × curl -r in parallel", "jobs7 / jobs1", "jobs7 / 7 runs",
                        f"taco peak RSS (jobs {count})"], rows_b)]
    vs_curl = ", ".join(f"{c.ratio('jobs7/curl7').value:.2f} ({c.name.split('nginx ')[1]})"
                        for c in cases[1::2])
    report(b, cases, tables, [
        f"Archive: {count} entries of {mib} MiB of random bytes (`taco pack-splits`), in the page "
        f"cache; ratios are ratios of the medians. jobs7 / (7 × curl in parallel): {vs_curl}. "
        f"fsync calls: {fsyncs}."])


def bench_regress(b: Bench) -> None:
    """Before/after: the --base build and the --taco build pack pack's two datasets (`taco pack -q
    --force`) and check the result (`validate --level deep`), with `cat` of the same files as the
    floor; no /usr/bin/time around the runs. Target: after / before within 1.05 for every step
    (ratio of medians)."""
    b.start()
    base, new = b.base, b.taco
    b.version("base", f"{base} ({first_line(base, '--version')})", md=False)
    if os.path.realpath(base) == os.path.realpath(new):
        say("base and new are the same binary: an A/A run (it shows the noise)")
    src, o = b.dir / "src", b.out
    section(f"sources in {src}")
    cases = []
    for ds, (n, size, dirs) in pack_sets(b).items():
        files_dataset(src / ds, n, size, dirs)
        files = sorted(str(p) for p in (src / ds).rglob("*.bin"))
        tools = [Tool("cat", ["cat", *files], stdout=o / "cat.out", clean=[o / "cat.out"])]
        for who, binary in (("base", base), ("new", new)):
            archive = o / f"{ds}.{who}.taco"
            tools += [Tool(f"pack {who}", [binary, "pack", "-q", "--force", archive, src / ds],
                           clean=[archive]),
                      Tool(f"validate {who}", [binary, "validate", "--level", "deep", archive])]
        cases.append(Case(size_label(n, size), tools, ratios=[
            ("pack new/pack base", 1.05), ("validate new/validate base", 1.05), ("pack new/cat", None)],
            warmup=True, stat="medians", rss=False))
    measure(b, cases)
    rows = []
    for c in cases:
        for step, label in (("pack", "`pack`"), ("validate", "`validate --level deep`")):
            rows.append([c.name, label, f"{c.med(f'{step} base'):.3f}", f"{c.med(f'{step} new'):.3f}",
                         f"{c.ratio(f'{step} new/{step} base').value:.3f}",
                         f"{c.ratio('pack new/cat').value:.2f}" if step == "pack" else "-"])
    worst = max(c.ratio(f"{s} new/{s} base").value for c in cases for s in ("pack", "validate"))
    cleanup(b)
    report(b, cases, [md_table(["dataset", "step", "before (s)", "after (s)", "after / before",
                                "after / cat"], rows)],
           [f"Before: `{base}`; after: `{new}`. Worst after / before: {worst:.3f} "
            f"({'within' if worst <= 1.05 else 'OVER'} 1.05)."])


# =============================================================================================

DATASETS = {"pack": bench_pack, "parquet": bench_parquet, "tiles": bench_tiles,
            "index": bench_index,
            "netcdf": bench_netcdf, "remote": bench_remote, "regress": bench_regress}
DEFAULT_DIRS = {"pack": "/tmp/taco-bench", "parquet": "/tmp/taco-bench-parquet",
                "tiles": "/tmp/taco-bench-tiles", "netcdf": "/tmp/taco-bench-netcdf",
                "index": "/tmp/taco-bench-index",
                "remote": "/tmp", "regress": "/tmp/taco-bench"}


def main() -> None:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="The module docstring explains the method.")
    ap.add_argument("what", choices=[*DATASETS, "all"])
    ap.add_argument("--rounds", type=int, default=int(env("ROUNDS", 5)),
                    help="timed rounds (env ROUNDS; default 5)")
    ap.add_argument("--keep", action="store_true", default=env("KEEP") == "1",
                    help="keep the outputs (env KEEP=1)")
    ap.add_argument("--dir", type=Path, default=env("BENCH_DIR"),
                    help="bench directory (env BENCH_DIR; default /tmp/taco-bench[-NAME], "
                         "-small with --small; remote: the parent of its temp dir; all: DIR/NAME)")
    ap.add_argument("--taco", default=env("TACO") or env("TACO_BIN") or DEFAULT_TACO,
                    help="the taco binary (env TACO or TACO_BIN; the default is built if missing)")
    ap.add_argument("--base", help="regress: the older taco (default: --taco itself, an A/A run)")
    ap.add_argument("--profile", choices=["auto", "0", "1"], default=env("PROFILE", "auto"),
                    help="strace/perf profile of taco: auto (when a target fails), 1, 0 (env PROFILE)")
    ap.add_argument("--small", action="store_true", help="tiny datasets for a smoke run")
    ap.add_argument("--write-md", action="store_true", help="rewrite the bench:NAME block in --md")
    ap.add_argument("--md", type=Path, default=REPO / "BENCHMARKS.md",
                    help="the file --write-md rewrites (default BENCHMARKS.md)")
    args = ap.parse_args()
    if args.write_md and args.small and args.md.resolve() == (REPO / "BENCHMARKS.md").resolve():
        ap.error("--small figures do not go into BENCHMARKS.md (give --md FILE to try --write-md)")
    taco = shutil.which(args.taco) or args.taco
    taco = str(Path(taco).resolve()) if Path(taco).exists() else str(Path(taco).absolute())
    base = str(Path(args.base).resolve()) if args.base else taco
    failed = []
    for name in DATASETS if args.what == "all" else [args.what]:
        if args.dir:  # with `all`, regress reuses pack's directory and sources
            parent = args.dir / ("pack" if name == "regress" else name) if args.what == "all" else args.dir
        else:
            parent = Path(DEFAULT_DIRS[name] + ("-small" if args.small and name != "remote" else ""))
        cmd = ["python3", "scripts/bench.py", name, "--rounds", args.rounds, "--dir", parent,
               *(["--small"] if args.small else []), *(["--keep"] if args.keep else []),
               *(["--taco", taco] if taco != DEFAULT_TACO else []),
               *(["--base", base] if name == "regress" else []),
               *(["--profile", args.profile] if args.profile != "auto" else [])]
        limit = f"LIMIT_RATE={env('LIMIT_RATE')} " if name == "remote" and env("LIMIT_RATE") else ""
        cmdline = limit + shlex.join(map(str, cmd))
        parent.mkdir(parents=True, exist_ok=True)
        bench_dir = (Path(tempfile.mkdtemp(prefix="taco-bench-remote.", dir=parent)) if name == "remote"
                     else parent)
        b = Bench(name, bench_dir, args.rounds, args.keep, taco, args.profile, args.small, cmdline,
                  args.md if args.write_md else None, base)
        say(f"\n######## {name}: {cmdline}")
        try:
            DATASETS[name](b)
        except (Exception, SystemExit) as e:  # with `all`, one failure does not stop the others
            if args.what != "all":
                raise
            failed.append(name)
            say(f"{name}: FAILED: {type(e).__name__}: {e}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
