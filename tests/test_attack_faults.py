"""Fault injection with strace: the N-th write / pwrite64 / fsync / rename / openat ... fails.

(copy_file_range is injected too, in case a copy ever moves from write to it.)

For each command we first trace one clean run and number, per syscall, the calls that touch
the test's own files (its output, and for pack its inputs; the dynamic loader's opens and
writes to stdout/stderr are left alone: they fail before taco runs or have nothing to report),
then rerun the command once per such call with `strace -e inject=SYSCALL:error=E:when=N`
(E = EIO, and ENOSPC for write-like calls; at most CAP calls per syscall, spread evenly).
After every run the files on disk must be in a state the command promises:

- update-header: the header reads back as the old or the new entries, validate passes or says
  HeaderRecordMismatch, nothing outside the header and the central CRC changed;
- pack / pack-splits --force over an existing OUT: OUT is the complete old or the complete new
  archive (byte-compared with reference runs, SOURCE_DATE_EPOCH fixed), no temp file is left,
  and a sidecar that does not describe OUT is reported as StaleSidecar;
- extract: every file in DEST is complete and correct, no temp file is left;

and a failed run prints exactly one `taco: ` line naming a real path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import (
    HEADER_SIZE,
    assert_taco_error,
    central_dir_offset,
    entry_args,
    find_eocd,
    listing,
    parse_taco_header,
    payload,
    require_tool,
    tree_files,
    write_tree,
)
from tree_fixtures import assert_tree, meta_path, tree_listing

# Syscalls by what they do; a test covers one family for one command, and the command must make
# at least one call of the family on its files (else the test fails: the harness missed it).
FAMILIES = {
    "write": ["write", "pwrite64", "copy_file_range"],
    "sync": ["fsync", "fdatasync"],
    "rename": ["rename", "renameat", "renameat2"],
    "open": ["openat"],
}
SYSCALLS = [s for family in FAMILIES.values() for s in family]
WRITE_LIKE = set(FAMILIES["write"])
CAP = 40  # injected calls per syscall (and errno)
EPOCH = "1700000000"


def errnos(syscall: str) -> list[str]:
    return ["EIO", "ENOSPC"] if syscall in WRITE_LIKE else ["EIO"]


@pytest.fixture(scope="module")
def strace() -> str:
    return require_tool("strace")


@pytest.fixture(scope="module", autouse=True)
def fixed_time():
    """Reproducible archives: reference runs and injected runs write the same bytes."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        yield


# ---------------------------------------------------------------------------
# counting calls and injecting faults

TRACE_LINE = re.compile(r"^(\d+)\s+([a-z0-9_]+)\((.*)$")  # "<... resumed>" lines do not match
FDCWD = re.compile(r"AT_FDCWD<[^>]*>")


def traced_calls(taco, strace, args, under: list[Path], cwd: Path) -> dict[str, list[int]]:
    """Runs taco ARGS once under `strace -f -y` and returns, per syscall, the numbers N (counted
    per syscall and per thread, as `inject=...:when=N` counts) of the calls whose arguments or
    file descriptors name a path under one of the directories `under`. The run must succeed."""
    log = cwd / "strace.log"
    assert not any(str(log).startswith(str(u) + os.sep) for u in under)
    cp = taco(*args, cwd=cwd, timeout=120, prefix=[
        strace, "-f", "-qq", "-y", "-s", "0", "-e", "trace=" + ",".join(SYSCALLS), "-o", log])
    assert cp.returncode == 0, f"clean traced run failed: {cp.stderr}"
    # a path under u, or u itself: in a string argument ("...") or an fd annotation (<...>)
    mine = re.compile("|".join(re.escape(str(u)) + r'[/">]' for u in under))
    seen: Counter = Counter()
    calls: dict[str, set[int]] = {s: set() for s in SYSCALLS}
    for line in log.read_text(errors="replace").splitlines():
        m = TRACE_LINE.match(line)
        if not m or m.group(2) not in calls:
            continue
        pid, name, rest = m.groups()
        seen[pid, name] += 1
        if mine.search(FDCWD.sub("", rest)):
            calls[name].add(seen[pid, name])
    log.unlink()
    return {s: sorted(n) for s, n in calls.items()}


def spread(ns: list[int], cap: int = CAP) -> list[int]:
    """All of ns, or `cap` of them evenly spread (first and last included)."""
    if len(ns) <= cap:
        return list(ns)
    return sorted({ns[round(i * (len(ns) - 1) / (cap - 1))] for i in range(cap)})


@dataclass(frozen=True)
class Fault:
    syscall: str
    errno: str
    when: int

    def __str__(self):
        return f"{self.syscall}#{self.when}={self.errno}"

    def prefix(self, strace: str) -> list[str]:
        return [strace, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={self.syscall}",
                "-e", f"inject={self.syscall}:error={self.errno}:when={self.when}"]


def faults(calls: dict[str, list[int]], family: str) -> list[Fault]:
    return [Fault(syscall, e, n) for syscall in FAMILIES[family]
            for n in spread(calls[syscall]) for e in errnos(syscall)]


def run_faulted(taco, strace, args, fault: Fault, cwd: Path):
    return taco(*args, cwd=cwd, timeout=120, prefix=fault.prefix(strace))


def check_error_line(cp, fault: Fault, *paths: Path) -> str:
    """A failed run: exit 1, one `taco: ` line, naming one of `paths` (never an empty path)."""
    assert cp.returncode == 1, f"{fault}: exit {cp.returncode}, stderr {cp.stderr!r}"
    line = assert_taco_error(cp)
    assert "taco: : " not in line and ": : " not in line, f"{fault}: empty path in {line!r}"
    assert any(str(p) in line for p in paths), f"{fault}: names none of {paths}: {line!r}"
    return line


@dataclass
class Case:
    """One command to fault: its arguments, the state to restore before each run, and the
    numbered calls from traced_calls."""
    name: str
    args: list
    cwd: Path  # where taco runs and the trace log goes (not a directory the faults target)
    reset: Callable[[], None]
    calls: dict[str, list[int]]


def run_all(taco, strace, case, family: str, check) -> Counter:
    """Every fault for the syscalls of `family`: reset the case, run it faulted, check(cp,
    fault), which returns a word for the state it found (counted in the summary printed with
    -s). At least one run must fail: else the injection did not reach taco."""
    todo = faults(case.calls, family)
    assert todo, f"{case.name} made no {'/'.join(FAMILIES[family])} call on its files"
    results: Counter = Counter()
    for fault in todo:
        case.reset()
        cp = run_faulted(taco, strace, case.args, fault, case.cwd)
        state = check(cp, fault)
        results["failed" if cp.returncode else "succeeded"] += 1
        results[state] += 1
    calls = {s: case.calls[s] for s in FAMILIES[family] if case.calls[s]}
    print(f"\n[faults {case.name} {family}] calls={calls} runs={len(todo)} {dict(results)}")
    assert results["failed"], f"no injected {family} fault made {case.name} fail"
    return results


# ---------------------------------------------------------------------------
# (a) update-header

OLD_ENTRIES = [(157, 100), (300, 7)]
NEW_ENTRIES = [(157, 1), (200, 50), (400, 3)]


@dataclass
class UpdateCase(Case):
    archive: Path = None
    old: bytes = b""
    new: bytes = b""


@pytest.fixture(scope="module")
def update_case(taco, strace, tmp_path_factory) -> UpdateCase:
    base = tmp_path_factory.mktemp("fault-update")
    write_tree(base / "src", {"a.bin": payload(3000, 1), "b/c.txt": b"c" * 99, "d": b""})
    w = base / "w"
    w.mkdir()
    a = w / "A.taco"
    taco("pack", a, base / "src", *entry_args(OLD_ENTRIES), "-q", check=True)
    old = a.read_bytes()
    ref = base / "ref.taco"
    ref.write_bytes(old)
    args = ["update-header", a, *entry_args(NEW_ENTRIES)]
    taco("update-header", ref, *entry_args(NEW_ENTRIES), check=True)
    new = ref.read_bytes()
    assert parse_taco_header(new) == NEW_ENTRIES and parse_taco_header(old) == OLD_ENTRIES

    def reset():
        a.write_bytes(old)

    reset()
    calls = traced_calls(taco, strace, args, [w], base)
    reset()
    return UpdateCase("update-header", args, base, reset, calls, archive=a, old=old, new=new)


def check_update(taco, case: UpdateCase, cp, fault: Fault) -> str:
    b = case.archive.read_bytes()
    old, new = case.old, case.new
    cd = central_dir_offset(old)
    crc = slice(cd + 16, cd + 20)
    assert len(b) == len(old), f"{fault}: size changed"
    outside = lambda x: x[:14] + x[HEADER_SIZE:cd + 16] + x[cd + 20:]  # noqa: E731
    assert outside(b) == outside(old), f"{fault}: bytes outside the header and CRC changed"
    assert b[14:HEADER_SIZE] in (old[14:HEADER_SIZE], new[14:HEADER_SIZE]), (
        f"{fault}: header half old, half new")
    assert b[crc] in (old[crc], new[crc]), f"{fault}: central CRC torn"

    shown = json.loads(taco("header", case.archive, "--json", check=True).stdout)
    got = [(e["offset"], e["length"]) for e in shown["entries"]]
    assert got in (OLD_ENTRIES, NEW_ENTRIES), f"{fault}: header shows {got}"

    v = taco("validate", case.archive, "--json")
    doc = json.loads(v.stdout)
    if not doc["ok"]:
        assert v.returncode == 1
        assert doc["error"]["kind"] == "HeaderRecordMismatch", f"{fault}: {doc['error']}"
        assert b[crc] != b[14:18], f"{fault}: validate complains but the CRCs agree"
    if cp.returncode == 0:
        assert b == new, f"{fault}: exit 0 but the update is not complete"
    else:
        check_error_line(cp, fault, case.archive)
    return {old: "old", new: "new"}.get(b, "central-crc-stale")


@pytest.mark.parametrize("family", ["write", "sync", "open"])
def test_update_header_survives_faults(taco, strace, update_case, family):
    run_all(taco, strace, update_case, family,
            lambda cp, fault: check_update(taco, update_case, cp, fault))


# ---------------------------------------------------------------------------
# (b) pack-splits and pack with --force over an existing OUT

OLD_SPLITS = {
    "train/a.bin": payload(5000, 1),
    "train/deep/er/b.bin": payload(300, 2),
    "val/c.bin": payload(1234, 3),
}
NEW_SPLITS = {
    "train/a.bin": payload(7000, 11),
    "train/deep/er/b.bin": payload(10, 12),
    "val/c.bin": payload(99, 13),
    "val/d.bin": b"",
    "test/e.bin": payload(20000, 14),
    "test/big.bin": payload(3 << 20, 15),  # several buffered writes
}


def eocd_cd_range(b: bytes) -> tuple[int, int]:
    eocd = find_eocd(b)
    size, off = struct.unpack_from("<II", b, eocd + 12)
    assert off != 0xFFFFFFFF, "ZIP64 archives are not expected here"
    return off, off + size


def describes(archive_obj, b: bytes) -> bool:
    """Does a sidecar's `archive` object identify the archive bytes b? (header_crc32 taken as
    the header's CRC field or the CRC of its 157 bytes; cd_crc32 as the CRC of the central
    directory, with or without the end records.)"""
    if not isinstance(archive_obj, dict):
        return False
    lo, hi = eocd_cd_range(b)
    return (archive_obj.get("size") == len(b)
            and archive_obj.get("header_crc32") in (zlib.crc32(b[41:HEADER_SIZE]),
                                                    zlib.crc32(b[:HEADER_SIZE]))
            and archive_obj.get("cd_crc32") in (zlib.crc32(b[lo:hi]), zlib.crc32(b[lo:])))


@dataclass
class PackCase(Case):
    out: Path = None
    old: bytes = b""
    new: bytes = b""
    new_meta: bytes | None = None
    sidecar: bool = False


def make_pack_case(taco, strace, base: Path, name: str) -> PackCase:
    w = base / "w"
    w.mkdir()
    out = w / "OUT.taco"
    if name == "pack-splits":
        write_tree(base / "old", OLD_SPLITS)
        write_tree(base / "new", NEW_SPLITS)
        cmd = lambda src: ["pack-splits", src, "-o", out, "--force", "-q"]  # noqa: E731
        old_args, args = cmd(base / "old"), cmd(base / "new")
    else:
        old_files = write_tree(base / "old", {"x.bin": payload(4000, 5), "y.txt": b"y\n"})
        new_files = write_tree(base / "new", {"x.bin": payload(9000, 6), "y.txt": b"why\n",
                                               "z.bin": payload(3 << 20, 7)})
        old_args = ["pack", out, *(base / "old" / n for n in old_files), "--force", "-q"]
        args = ["pack", out, *(base / "new" / n for n in new_files), "--force", "-q"]
    sidecar = name != "pack"
    meta = meta_path(out)

    taco(*args, check=True)
    new, new_meta = out.read_bytes(), meta.read_bytes() if sidecar else None
    taco(*args, check=True)
    assert out.read_bytes() == new, "pack is not reproducible with SOURCE_DATE_EPOCH"
    taco(*old_args, check=True)
    old, old_meta = out.read_bytes(), meta.read_bytes() if sidecar else None
    assert old != new
    assert sorted(os.listdir(w)) == sorted([out.name] + ([meta.name] if sidecar else []))

    def reset():
        shutil.rmtree(w)
        w.mkdir()
        out.write_bytes(old)
        if sidecar:
            meta.write_bytes(old_meta)

    reset()
    calls = traced_calls(taco, strace, args, [w, base / "new"], base)  # output and inputs
    reset()
    return PackCase(name, args, base, reset, calls, out=out, old=old, new=new,
                    new_meta=new_meta, sidecar=sidecar)


@pytest.fixture(scope="module")
def pack_cases(taco, strace, tmp_path_factory) -> dict[str, PackCase]:
    return {n: make_pack_case(taco, strace, tmp_path_factory.mktemp(f"fault-{n}"), n)
            for n in ("pack-splits", "pack")}


def check_pack(taco, case: PackCase, cp, fault: Fault) -> str:
    out, meta = case.out, meta_path(case.out)
    left = set(os.listdir(out.parent)) - {out.name, meta.name}
    assert not left, f"{fault}: left behind {sorted(left)}"
    assert out.is_file(), f"{fault}: OUT is gone"
    b = out.read_bytes()
    assert b in (case.old, case.new), f"{fault}: OUT is neither the old nor the new archive"
    if cp.returncode == 0:
        assert b == case.new, f"{fault}: exit 0 but OUT is the old archive"
        if case.sidecar:
            assert meta.read_bytes() == case.new_meta, f"{fault}: exit 0 but the sidecar is old"
    else:
        check_error_line(cp, fault, out, meta, out.parent, case.cwd / "new")
    state = "new" if b == case.new else "old"
    if case.sidecar and meta.exists():
        try:
            doc = json.loads(meta.read_bytes())
        except ValueError:
            pytest.fail(f"{fault}: {meta.name} is not complete JSON")
        assert "archive" in doc, f"{fault}: the sidecar has no `archive` object"
        if not describes(doc["archive"], b):
            v = taco("validate", out, "--json")
            kind = (json.loads(v.stdout).get("error") or {}).get("kind")
            assert v.returncode == 1 and kind == "StaleSidecar", (
                f"{fault}: stale sidecar not reported (exit {v.returncode}, kind {kind})")
            state += "+stale-sidecar"
    return state


def test_sidecar_identifies_its_archive(pack_cases):
    """The reference sidecar's `archive` object describes the reference archive (and not the
    old one): the meaning `describes` gives the fields is the one taco writes."""
    case = pack_cases["pack-splits"]
    doc = json.loads(case.new_meta)
    assert "archive" in doc, f"no `archive` object in the sidecar: {sorted(doc)}"
    assert set(doc["archive"]) >= {"size", "header_crc32", "cd_crc32"}, doc["archive"]
    assert describes(doc["archive"], case.new), doc["archive"]
    assert not describes(doc["archive"], case.old)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("name", ["pack-splits", "pack"])
def test_pack_force_leaves_old_or_new(taco, strace, pack_cases, name, family):
    case = pack_cases[name]
    run_all(taco, strace, case, family, lambda cp, fault: check_pack(taco, case, cp, fault))


# ---------------------------------------------------------------------------
# (c) extract

EXTRACT_TREE = {
    "top.bin": payload(3000, 21),
    "d1/a.bin": payload(3 << 20, 22),
    "d1/d2/empty": b"",
    "d1/d2/c.txt": b"see\n",
    "e/f.bin": payload(70_000, 23),
}


@dataclass
class ExtractCase(Case):
    archive: Path = None
    dest: Path = None
    want: dict = None


@pytest.fixture(scope="module")
def extract_case(taco, strace, tmp_path_factory) -> ExtractCase:
    base = tmp_path_factory.mktemp("fault-extract")
    write_tree(base / "src", EXTRACT_TREE)
    w = base / "w"
    w.mkdir()
    a = w / "A.taco"
    taco("pack", a, base / "src", "-q", check=True)
    want = {f"src/{n}": d for n, d in EXTRACT_TREE.items()}
    dest = w / "dest"
    args = ["extract", a, "-C", dest]

    def reset():
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir()

    reset()
    taco(*args, check=True)
    assert_tree(dest, want, "clean extract")
    reset()
    calls = traced_calls(taco, strace, args, [w], base)
    reset()
    return ExtractCase("extract", args, base, reset, calls, archive=a, dest=dest, want=want)


def check_extract(case: ExtractCase, cp, fault: Fault) -> str:
    if cp.returncode == 0:
        assert_tree(case.dest, case.want, f"{fault}: exit 0")
        return "complete"
    check_error_line(cp, fault, case.dest, case.archive)
    got = tree_files(case.dest)
    for name, data in got.items():
        assert name in case.want, f"{fault}: stray file {name!r} (a temp file?)"
        assert data == case.want[name], f"{fault}: {name} is incomplete or wrong"
    stray = listing(case.dest) - tree_listing(case.want)
    assert not stray, f"{fault}: stray entries {sorted(stray)}"
    return f"{len(got)}-of-{len(case.want)}-files"


@pytest.mark.parametrize("family", ["write", "rename", "open"])
def test_extract_leaves_only_complete_files(taco, strace, extract_case, family):
    run_all(taco, strace, extract_case, family,
            lambda cp, fault: check_extract(extract_case, cp, fault))


# ---------------------------------------------------------------------------
# disk full


def test_disk_full_names_the_output(taco, strace, tmp_path):
    src = tmp_path / "src"
    write_tree(src, {"a.bin": payload(40_000, 31), "b.bin": payload(5000, 32)})
    a = tmp_path / "A.taco"
    taco("pack", a, src, "--entry", "157:30000", "-q", check=True)
    w = tmp_path / "w"
    w.mkdir()
    out = w / "entry.bin"
    args = ["get", a, "--entry", "0", "-o", out]
    calls = traced_calls(taco, strace, args, [w], tmp_path)
    assert out.read_bytes() == a.read_bytes()[157:30157]
    out.unlink()
    syscall = next((s for s in FAMILIES["write"] if calls[s]), None)
    assert syscall, f"no write into {w} seen: {calls}"

    fault = Fault(syscall, "ENOSPC", calls[syscall][0])
    cp = run_faulted(taco, strace, args, fault, tmp_path)
    line = check_error_line(cp, fault, out)
    assert "no space left" in line.lower(), line
    assert os.listdir(w) == [], f"left behind: {os.listdir(w)}"
