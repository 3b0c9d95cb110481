"""A racing attacker against extraction: nothing is ever written outside DEST.

While taco extracts into DEST, another process keeps swapping the directories taco creates
under DEST for a symlink to OUTSIDE and back, as fast as it can (renameat2 RENAME_EXCHANGE with
a prepared symlink: the directory goes aside and the symlink takes its name in one step, so
there is never a moment without either), and now and then holds a name taco is about to create
with such a symlink. Whatever the timing, nothing new may appear in OUTSIDE, and taco either
succeeds or fails with exactly one `taco: ` line.

OUTSIDE is not empty: for every directory level the attacker swaps, it already holds the rest
of that member's directory chain (OUTSIDE/q2/q3 for a swap of DEST/q1), so an extractor that
follows a swapped-in symlink at any level finds its directories there and writes its file (or
its hidden temp file) into OUTSIDE, where the check after every run sees it. (An extractor that
checks each component with lstat and then opens by path, as bsdtar does, lets something
through within a few dozen runs.)

Run with -s to see how often the race was actually hit.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import re
import shutil
import time
import zipfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import assert_taco_error, listing, payload, tree_files, write_tree
from tree_fixtures import INDEX_MEMBER, assert_tree, cut


# Member directories at depth 1, 3 and 6. Every directory name is unique, so OUTSIDE can hold
# the tail of every chain at once without collisions.
CHAINS = {1: "p1", 3: "q1/q2/q3", 6: "r1/r2/r3/r4/r5/r6"}
FILES_PER_DIR = 6
SIZES = [0, 1, 700, 4096, 20000, 65537]

RUNS_PER_MODE = 200  # 4 modes: 800 extractions
MIN_RUNS_PER_MODE = 50  # >= 200 in all
SECONDS_PER_MODE = 15.0
MIN_SWAPS_PER_MODE = 1000
TACO_TIMEOUT = 30

# What a run that ran into a swapped-in symlink reports.
HIT = re.compile(r"symlink|symbolic link|unsafe|not a directory", re.IGNORECASE)


def top(chain: str) -> str:
    return chain.split("/", 1)[0]


def dir_prefixes(chain: str) -> list[str]:
    """q1/q2/q3 -> [q1, q1/q2, q1/q2/q3]: every directory taco creates for the chain."""
    parts = chain.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def make_outside(outside: Path) -> set[str]:
    """OUTSIDE with the tail of every chain below each level (no files); returns its listing."""
    outside.mkdir()
    for chain in CHAINS.values():
        parts = chain.split("/")
        for k in range(1, len(parts)):
            (outside / "/".join(parts[k:])).mkdir(parents=True, exist_ok=True)
    return listing(outside)


def assert_outside_untouched(outside: Path, skeleton: set[str], what: str) -> None:
    """Nothing new under OUTSIDE (os.walk sees hidden temp files too) and no file at all."""
    now = listing(outside)
    files = [os.path.join(r, f) for r, _d, fs in os.walk(outside) for f in fs]
    assert now == skeleton and not files, (
        f"{what}: written outside DEST: {sorted(now - skeleton)[:10]} files={files[:10]}")


# ---------------------------------------------------------------------------
# the attacker (a forked process, driven over a pipe)

NAME, DIR = "name", "dir"  # the two kinds of swap
SQUAT_EVERY = 8  # a name not created yet is squatted on every 8th visit only

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2


def exchange(a: str, b: str) -> bool:
    """Atomically swap two names (renameat2 RENAME_EXCHANGE): never a moment without either."""
    return _libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) == 0


def swap_once(target: str, outside: str, visit: int) -> str | int:
    """One swap at `target`: DIR (the directory taco made is exchanged with a symlink to
    OUTSIDE, which keeps the name for a moment, then exchanged back), NAME (a name taco is about
    to create is held by such a symlink for a moment) or 0 (nothing to do, or lost a race with
    taco, which is fine: every step may fail)."""
    link = target + ".swap"  # a symlink to OUTSIDE beside the target, made once
    if not os.path.islink(link):
        try:
            os.symlink(outside, link)
        except OSError:
            return 0  # the parent does not exist yet
    if exchange(target, link):
        exchange(target, link)
        return DIR
    if visit % SQUAT_EVERY or os.path.lexists(target):
        return 0
    try:
        os.symlink(outside, target)
    except OSError:
        return 0
    try:
        os.unlink(target)
    except OSError:
        pass
    return NAME


def attacker_main(conn, outside: str, deadline: float, max_swaps_per_run: int) -> None:
    """Waits for ("go", dest, [relative dirs]), swaps until ("stop",), answers with
    {NAME: n, DIR: m}, the swaps made. Bounded by `deadline` (monotonic) and
    `max_swaps_per_run`."""
    while time.monotonic() < deadline:
        if not conn.poll(1.0):
            continue
        msg = conn.recv()
        if msg[0] == "quit":
            return
        _, dest, rels = msg
        targets = [os.path.join(dest, r) for r in rels]
        conn.send("ready")
        swaps = {NAME: 0, DIR: 0, 0: 0}
        tries = 0
        while tries < max_swaps_per_run and time.monotonic() < deadline:
            n = len(targets)
            swaps[swap_once(targets[tries % n], outside, tries // n)] += 1
            tries += 1
            if tries % 8 == 0 and conn.poll():
                break
        conn.recv()  # ("stop",) -- possibly already waiting
        conn.send({NAME: swaps[NAME], DIR: swaps[DIR]})


class Attacker:
    """A forked attacker process; `with attacker.during(dest, rels):` swaps while inside."""

    def __init__(self, outside: Path, seconds: float):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=attacker_main,
            args=(child, str(outside), time.monotonic() + seconds, 5_000_000),
            daemon=True,
        )
        self.proc.start()
        self.total = Counter()

    @contextmanager
    def during(self, dest: Path, rels: list[str]):
        self.conn.send(("go", str(dest), rels))
        assert self.conn.poll(10), "attacker did not start"
        assert self.conn.recv() == "ready"
        swaps = Counter()
        try:
            yield swaps
        finally:
            self.conn.send(("stop",))
            assert self.conn.poll(10), "attacker did not stop"
            swaps.update(self.conn.recv())
            self.total.update(swaps)

    def close(self):
        try:
            self.conn.send(("quit",))
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


# ---------------------------------------------------------------------------
# the archive: pack-splits of one split per chain, so each entry is a span holding one chain


@dataclass
class Arch:
    path: Path
    files: dict[str, bytes]  # member name -> bytes (without taco's own members)
    index: bytes  # TACO_INDEX.json
    entry_of: dict[str, int]  # split (chain's top directory) -> entry number
    span_of: dict[str, Path]  # split -> span file cut from the archive

    def of_chain(self, chain: str) -> dict[str, bytes]:
        return {n: d for n, d in self.files.items() if n.startswith(chain + "/")}


@pytest.fixture(scope="module")
def arch(taco, tmp_path_factory) -> Arch:
    base = tmp_path_factory.mktemp("race")
    files = {
        f"{chain}/x{i}.bin": payload(SIZES[i % len(SIZES)], seed=depth * 100 + i)
        for depth, chain in CHAINS.items()
        for i in range(FILES_PER_DIR)
    }
    write_tree(base / "ds", files)
    out = base / "ds.taco"
    taco("pack-splits", base / "ds", "-o", out, "-q", check=True)
    with zipfile.ZipFile(out) as z:
        index = z.read(INDEX_MEMBER)
    entries = json.loads(index)["entries"]
    entry_of = {e["split"]: e["index"] for e in entries}
    assert sorted(entry_of) == sorted(top(c) for c in CHAINS.values()), entries
    span_of = {}
    for e in entries:
        span_of[e["split"]] = cut(out, e["offset"], e["length"], base / f"span-{e['split']}.bin")
    return Arch(out, files, index, entry_of, span_of)


@dataclass
class Job:
    args: list  # taco arguments
    rels: list[str]  # directories under DEST the attacker swaps
    want: dict[str, bytes]  # what DEST holds after an unattacked run


def all_dirs() -> list[str]:
    return [d for c in CHAINS.values() for d in dir_prefixes(c)]


def job_extract(a: Arch, dest: Path, i: int) -> Job:
    # a whole extraction writes the user's files, not taco's own members (`--all` would)
    return Job(["extract", a.path, "-C", dest], all_dirs(), dict(a.files))


def job_range(a: Arch, dest: Path, i: int) -> Job:
    chain = list(CHAINS.values())[i % len(CHAINS)]
    return Job(["extract", "--range", a.span_of[top(chain)], "-C", dest], dir_prefixes(chain),
               a.of_chain(chain))


def job_get_member(a: Arch, dest: Path, i: int) -> Job:
    names = [f"{chain}/x{k}.bin" for chain in CHAINS.values() for k in (i % FILES_PER_DIR, 4)]
    names = list(dict.fromkeys(names))
    args = ["get", a.path]
    for n in names:
        args += ["--member", n]
    return Job([*args, "-o", dest], all_dirs(), {n: a.files[n] for n in names})


def job_get_entry(a: Arch, dest: Path, i: int) -> Job:
    chain = list(CHAINS.values())[i % len(CHAINS)]
    return Job(["get", a.path, "--entry", a.entry_of[top(chain)], "--extract-to", dest],
               dir_prefixes(chain), a.of_chain(chain))


MODES = {
    "extract": job_extract,
    "extract-range": job_range,
    "get-member": job_get_member,
    "get-entry-extract-to": job_get_entry,
}


def fresh_dir(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def outcome(cp) -> str:
    """'ok', 'hit' (refused a swapped-in symlink) or 'other: <error>'; asserts the error form."""
    if cp.returncode == 0:
        return "ok"
    assert cp.returncode == 1, f"exit {cp.returncode}: {cp.stderr!r}"
    line = assert_taco_error(cp)
    if HIT.search(line):
        return "hit"
    # group errors by their text without paths, so the summary stays short
    return "other: " + re.sub(r"/\S*", "PATH", line)[:100]


# ---------------------------------------------------------------------------
# tests


@pytest.mark.parametrize("mode", list(MODES))
def test_unattacked_run_extracts_everything(taco, arch, tmp_path, mode):
    """Control: without the attacker each job extracts exactly what the race test expects."""
    for i in range(len(CHAINS)):
        dest = fresh_dir(tmp_path / "dest")
        job = MODES[mode](arch, dest, i)
        taco(*job.args, check=True, timeout=TACO_TIMEOUT)
        assert_tree(dest, job.want, f"{mode} #{i}")
        assert set(job.rels) <= listing(dest), "the attacker's targets are directories taco creates"


@pytest.mark.parametrize("mode", list(MODES))
def test_racing_symlink_swaps_never_escape_dest(taco, arch, tmp_path, mode):
    outside = tmp_path / "outside"
    skeleton = make_outside(outside)
    dest = tmp_path / "dest"
    attacker = Attacker(outside, seconds=SECONDS_PER_MODE + 30)
    results: Counter[str] = Counter()
    runs_overlapped = 0  # runs that hit a symlink, or while a directory taco made was swapped
    deadline = time.monotonic() + SECONDS_PER_MODE
    try:
        for i in range(RUNS_PER_MODE):
            if time.monotonic() > deadline:
                break
            fresh_dir(dest)
            job = MODES[mode](arch, dest, i)
            with attacker.during(dest, job.rels) as swaps:
                cp = taco(*job.args, timeout=TACO_TIMEOUT)
            assert_outside_untouched(outside, skeleton, f"{mode} run {i} (exit {cp.returncode}, "
                                                        f"stderr {cp.stderr.strip()!r})")
            result = outcome(cp)
            results[result] += 1
            runs_overlapped += result == "hit" or swaps[DIR] > 0
    finally:
        attacker.close()
        if dest.exists():
            shutil.rmtree(dest)

    runs = sum(results.values())
    swaps = attacker.total[NAME] + attacker.total[DIR]
    print(f"\n[race {mode}] runs={runs} ok={results['ok']} hit-symlink={results['hit']} "
          f"swaps={swaps} (of directories taco made: {attacker.total[DIR]}) "
          f"overlapped={runs_overlapped}")
    for what, n in sorted(results.items()):
        if what.startswith("other"):
            print(f"[race {mode}]   {n} x {what}")
    assert runs >= MIN_RUNS_PER_MODE, f"only {runs} runs in {SECONDS_PER_MODE} s"
    assert swaps >= MIN_SWAPS_PER_MODE, (
        f"the attacker made only {swaps} swaps: the race was not exercised")
    assert runs_overlapped >= runs // 2, (
        f"the attacker got in the way of only {runs_overlapped} of {runs} runs")


# --- deterministic: a symlink already in place


def deep_job(a: Arch, dest: Path, mode: str) -> Job:
    """The MODES job that writes under the depth-6 chain r1/.../r6."""
    deep = CHAINS[6]
    if mode == "get-member":
        names = [f"{deep}/x1.bin", f"{deep}/x4.bin"]
        args = ["get", a.path, "--member", names[0], "--member", names[1], "-o", dest]
        return Job(args, [], {n: a.files[n] for n in names})
    return MODES[mode](a, dest, list(CHAINS).index(6))


@pytest.mark.parametrize("mode", list(MODES))
def test_symlink_at_deep_component_is_refused(taco, arch, tmp_path, mode):
    """DEST/r1/r2/r3 is a symlink to OUTSIDE, which holds r4/r5/r6: following it would work,
    so only refusing it keeps OUTSIDE clean."""
    outside = tmp_path / "outside"
    skeleton = make_outside(outside)
    dest = tmp_path / "dest"
    (dest / "r1" / "r2").mkdir(parents=True)
    link = dest / "r1" / "r2" / "r3"
    os.symlink(outside, link)
    job = deep_job(arch, dest, mode)
    assert any(n.startswith("r1/r2/r3/") for n in job.want)

    cp = taco(*job.args, timeout=TACO_TIMEOUT)
    assert cp.returncode == 1, f"exit {cp.returncode}: {cp.stderr!r}"
    line = assert_taco_error(cp)
    assert "r1/r2/r3" in line, f"the error should name the symlinked path: {line!r}"
    assert_outside_untouched(outside, skeleton, mode)
    assert os.readlink(link) == str(outside), "the symlink itself is left alone"


@pytest.mark.parametrize("force", [False, True], ids=["no-force", "force"])
@pytest.mark.parametrize("target", ["existing", "dangling"])
@pytest.mark.parametrize("mode", list(MODES))
def test_symlink_at_final_name_is_not_written_through(taco, arch, tmp_path, mode, target, force):
    """DEST/r1/.../r6/x1.bin is a symlink to OUTSIDE/victim (existing, or not yet there): the
    run is refused, or the symlink itself is replaced by the member; the victim is untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    if target == "existing":
        victim.write_bytes(b"precious")
    before = tree_files(outside)
    dest = tmp_path / "dest"
    name = f"{CHAINS[6]}/x1.bin"
    link = dest / name
    link.parent.mkdir(parents=True)
    os.symlink(victim, link)
    job = deep_job(arch, dest, mode)
    assert name in job.want
    args = [*job.args, "--force"] if force else job.args

    cp = taco(*args, timeout=TACO_TIMEOUT)
    assert tree_files(outside) == before and listing(outside) == set(before), (
        f"written through the symlink: {listing(outside)}")
    if cp.returncode == 0:
        assert not link.is_symlink(), "exit 0 but the symlink is still there"
        assert link.read_bytes() == job.want[name], "the symlink was replaced by the wrong bytes"
    else:
        assert cp.returncode == 1
        assert_taco_error(cp)
        assert link.is_symlink() and os.readlink(link) == str(victim)
