"""Archives and checks shared by the remote-reading tests (test_remote_*.py).

The archives are built by the local `taco pack*` commands (tested elsewhere); what a remote
command must return is what the same command returns on the local file, and where bytes sit
in an archive is read with Python's zipfile / our own parsing (conftest), never asked of taco.
Request lists come from the servers' own logs (remote_servers.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from conftest import (
    assert_taco_error,
    central_dir_offset,
    entry_args,
    find_eocd,
    parse_taco_header,
    payload,
    write_tree,
    zip_members,
)

HEADER_RANGE = "bytes=0-156"
# `taco ls` / `get --member` / `get --tile` start with one suffix-range GET: the last 64 KiB
# plus 97 bytes of room for the end records
TAIL = 65633
TAIL_RANGE = f"bytes=-{TAIL}"
# index v2: `get --tile` on a planned archive starts with the head, the first 64 KiB, which holds
# the header and the lookup directory's root; a tile then comes with its local header
HEAD_RANGE = "bytes=0-65535"
# room read after a tile's local header fixed part and "z/x/y": its extension and a ZIP64 extra
LOCAL_SLACK = 36
# coalescing rule of `taco get` with several items: gaps up to 64 KiB, groups up to 8 MiB
COALESCE_GAP = 64 * 1024

STATS_RE = re.compile(r"^taco: stats: requests=(\d+) bytes=(\d+)$")


# ---------------------------------------------------------------------------
# reading a command's result


def split_stats(stderr: str) -> tuple[tuple[int, int] | None, list[str]]:
    """(requests, bytes) of the one `taco: stats:` line (None when absent) and the other lines."""
    lines = stderr.splitlines()
    found = [m for m in map(STATS_RE.match, lines) if m]
    assert len(found) <= 1, f"more than one stats line: {stderr!r}"
    rest = [ln for ln in lines if not STATS_RE.match(ln)]
    stats = (int(found[0].group(1)), int(found[0].group(2))) if found else None
    return stats, rest


def ok_stats(cp) -> tuple[int, int]:
    """A successful `--stats` run: exit 0 and stderr is exactly the one stats line."""
    assert cp.returncode == 0, f"exit {cp.returncode}: {cp.stderr!r}"
    stats, rest = split_stats(cp.stderr)
    assert stats is not None, f"no `taco: stats:` line on stderr: {cp.stderr!r}"
    assert rest == [], f"unexpected stderr besides the stats line: {rest}"
    return stats


def remote_error(cp, *needles: str) -> tuple[str, tuple[int, int] | None]:
    """A failed remote command: exit 1, and apart from the (optional) stats line stderr is
    exactly one `taco: ` line holding every needle. Returns (line, stats)."""
    assert cp.returncode == 1, f"expected exit 1, got {cp.returncode}: {cp.stderr!r}"
    stats, rest = split_stats(cp.stderr)
    fake = SimpleNamespace(returncode=cp.returncode, stdout=cp.stdout,
                           stderr="".join(ln + "\n" for ln in rest))
    return assert_taco_error(fake, *needles), stats


def byte_range(off: int, length: int) -> str:
    return f"bytes={off}-{off + length - 1}"


def tile_header_offset(t: dict) -> int:
    """Local header offset of index record `t` of a tile (no ZIP64 extra in these fixtures)."""
    return t["data_offset"] - 30 - len(t["name"])


def assert_tile_entry_request(rec, tiles: list[dict]) -> None:
    """`rec` fetched the local entries of `tiles` (in archive order) in one request: from the
    first one's local header through the last one's data, plus at most LOCAL_SLACK bytes."""
    first, last = map(int, rec.range[len("bytes="):].split("-"))
    start = tile_header_offset(tiles[0])
    end = tiles[-1]["data_offset"] + tiles[-1]["length"]
    assert first == start, (rec.range, start)
    z, x, y = tiles[-1]["name"].split(".")[0].split("/")
    slack = len(tiles[-1]["name"]) - len(f"{z}/{x}/{y}")
    assert end - 1 <= last <= end - 1 + LOCAL_SLACK - slack, (rec.range, end)


def summary(recs) -> list[tuple]:
    """(method, Range, status, body bytes) of each request, the fields most tests compare."""
    return [(r.method, r.range, r.status, r.body_bytes) for r in recs]


def ranges(recs) -> list[str]:
    return [r.range for r in recs]


def requests_begun(server) -> int:
    """How many requests a FaultServer has started handling (it decides a request's 5xx /
    ignore-Range / ETag generation when the request starts, and its body cut only when the
    body is about to be sent, after set_delay's pause)."""
    with server._cond:
        return server._n_requests


def arm_when(server, ready, action) -> threading.Thread:
    """Run `action()` in a thread as soon as `ready()` is true (polled every 2 ms, at most
    20 s). With server.set_delay(d) each GET pauses d seconds before its body, which leaves
    the thread ample time to set a fault that must hit one particular later request."""

    def run():
        deadline = time.monotonic() + 20
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.002)
        action()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def arm_after_logged(server, count: int, action) -> threading.Thread:
    """action() once `count` more requests are complete (logged): for a body cut that must hit
    the next request's body and not an earlier one (the earlier bodies are all sent)."""
    mark = server.log_mark()
    return arm_when(server, lambda: server.log_mark() >= mark + count, action)


def arm_after_begun(server, count: int, action) -> threading.Thread:
    """action() once `count` more requests have started: for faults decided when a request
    starts (fail_times, ignore_range, change_etag_after), so they hit the requests after."""
    mark = requests_begun(server)
    return arm_when(server, lambda: requests_begun(server) >= mark + count, action)


# ---------------------------------------------------------------------------
# archives


@dataclass
class Archive:
    path: Path
    files: dict[str, bytes] = field(default_factory=dict)  # member name -> data
    index: dict | None = None  # OUT.meta.json of planner archives

    @property
    def raw(self) -> bytes:
        return self.path.read_bytes()

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def entries(self) -> list[tuple[int, int]]:
        with open(self.path, "rb") as f:
            return parse_taco_header(f.read(157))

    def entry_bytes(self, i: int) -> bytes:
        off, length = self.entries[i]
        return self.raw[off:off + length]

    def members(self):
        return zip_members(self.path)

    def member(self, name: str):
        return {m.name: m for m in self.members()}[name]

    @property
    def cd_offset(self) -> int:
        return central_dir_offset(self.raw)

    @property
    def eocd_offset(self) -> int:
        return find_eocd(self.raw)

    def tile(self, z: int, x: int, y: int) -> dict:
        """The index record (name, data_offset, length, crc32, z, x, y) of tile z/x/y."""
        hits = [m for m in self.index["members"] if (m.get("z"), m.get("x"), m.get("y")) == (z, x, y)]
        assert len(hits) == 1, f"tile {z}/{x}/{y}: {hits}"
        return hits[0]


class LazyArchives:
    """name -> Archive, each built on first use by builders[name](base / name) and kept.

    A module-scoped fixture returns one of these, so an archive whose builder needs a missing
    package (netCDF4, pyarrow) skips only the tests that use it."""

    def __init__(self, base: Path, builders: dict):
        self.base = base
        self.builders = builders
        self._built: dict = {}

    def __getitem__(self, name: str):
        if name not in self._built:
            where = self.base / name if self.base is not None else None
            self._built[name] = self.builders[name](where)
        return self._built[name]


def _meta(out: Path) -> dict:
    return json.loads(out.with_name(out.name + ".meta.json").read_bytes())


def build_plain(taco, base: Path, name: str = "plain.taco") -> Archive:
    """`taco pack --entry-per-file --no-index` of five files in nested dirs, one of them empty
    (a zero-length entry) and one of 300 KiB; entry i = data of member i. Without index v2,
    members are found through the central directory, as in archives tacozip writes."""
    src = base / "data"
    files = write_tree(src, {
        "a.bin": payload(3000, 1),
        "dir/b.txt": b"hello remote\n" * 40,
        "dir/empty": b"",
        "dir/sub/c.bin": payload(300 * 1024, 2),
        "z.txt": b"last\n",
    })
    out = base / name
    taco("pack", "-q", out, src, "--entry-per-file", "--no-index", check=True)
    return Archive(out, {f"data/{k}": v for k, v in files.items()})


def build_tiles(taco, base: Path, zooms, *, seed: int, density=None, sizes=(100, 400),
                name: str = "tiles") -> Archive:
    """`taco pack-tiles` of a random pyramid (tree_fixtures.random_pyramid)."""
    from tree_fixtures import random_pyramid

    src = base / name
    files = random_pyramid(src, zooms, seed=seed, density=density, sizes=sizes)
    out = base / f"{name}.taco"
    taco("pack-tiles", "-q", src, "-o", out, check=True)
    return Archive(out, files, _meta(out))


def build_many(taco, base: Path, n: int = 3000) -> Archive:
    """`taco pack --no-index` of n tiny files with 80-character names: a central directory of
    ~375 KB, far more than the 64 KiB tail, and no lookup directory to avoid reading it."""
    src = base / "many"
    files = {}
    for i in range(n):
        rel = f"dir-{i % 10:02d}/a-rather-long-file-name-to-make-the-central-directory-big-{i:05d}.txt"
        files[rel] = b"x%d\n" % i
    write_tree(src, files)
    out = base / "many.taco"
    taco("pack", "-q", out, src, "--no-index", check=True)
    a = Archive(out, {f"many/{k}": v for k, v in files.items()})
    assert a.size - a.cd_offset > 4 * TAIL, "fixture: central directory must exceed the tail"
    return a


def build_spaced(taco, base: Path, n: int = 7, entry_size: int = 256 * 1024,
                 gap: int = 2 * COALESCE_GAP) -> Archive:
    """n entries of entry_size bytes each, separated by filler members of `gap` bytes, so
    no two entries are close enough to be fetched with one coalesced request."""
    src = base / "spaced"
    files = {}
    order = []
    for i in range(n):
        files[f"e{i}.bin"] = payload(entry_size, 500 + i)
        order.append(f"e{i}.bin")
        if i < n - 1:
            files[f"pad{i}.bin"] = payload(gap, 900 + i)
            order.append(f"pad{i}.bin")
    write_tree(src, files)
    out = base / "spaced.taco"
    taco("pack", "-q", out, *[src / f for f in order], check=True)
    by_name = {m.name: m for m in zip_members(out)}
    entries = [(by_name[f"e{i}.bin"].data_offset, entry_size) for i in range(n)]
    taco("update-header", out, *entry_args(entries), check=True)
    a = Archive(out, files)
    assert a.entries == entries
    for (o1, l1), (o2, _l2) in zip(entries, entries[1:]):
        assert o2 - (o1 + l1) > COALESCE_GAP, "fixture: entries must not be coalesced"
    return a


def build_netcdf(taco, base: Path) -> Archive:
    """`taco pack-netcdf` of four monthly NetCDF-4 files (written by netCDF4), Jan-Apr 2024."""
    from netcdf_fixtures import write_nc

    src = base / "climate"
    for m in range(1, 5):
        write_nc(src / f"m{m}.nc", [24 * d for d in range(28)],
                 units=f"hours since 2024-{m:02d}-01 00:00:00")
    out = base / "climate.taco"
    taco("pack-netcdf", "-q", src, "-o", out, check=True)
    return Archive(out, {p.name: p.read_bytes() for p in src.iterdir()}, _meta(out))


def build_parquet(taco, base: Path) -> tuple[Archive, Path]:
    """`taco pack-parquet` (split layout) of a 12-row-group file; returns (archive, input)."""
    from parquet_fixtures import rows_for, write_parquet

    base.mkdir(parents=True, exist_ok=True)
    src = write_parquet(base / "obs.parquet", rows_for(12), seed=3)
    out = base / "obs.taco"
    taco("pack-parquet", "-q", src, "-o", out, check=True)
    return Archive(out, {}, _meta(out)), src

