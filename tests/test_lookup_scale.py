"""Index v2 budgets at scale, counted by the servers: archives of 1 000, 100 000 and 1 000 000
tiny members (made by examples/many_members.rs through the planners' `execute`, no files on
disk), read with `taco get --member` and `get --tile` over nginx and S3 (moto):

- a directory that fits the first 64 KiB (1 000 members): 2 requests, the head then the member;
- any larger one: 3 requests — the head, one directory block of at most 64 KiB, the member —
  with at most 64 KiB + one block of index bytes read;
- a second member in the same block adds one request at most;
- the reader's memory does not grow with the member count;
- `taco query` reads the manifest's footer and only the row groups a day needs."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import REPO, run_tool, skip_or_fail
from lookup_decoder import name_key
from remote_fixtures import HEAD_RANGE, LOCAL_SLACK, ok_stats, summary

pytestmark = pytest.mark.usefixtures("remote_env")

EXAMPLE = Path(os.environ.get("TACO_MANY_MEMBERS",
                              REPO / "target/release/examples/many_members"))
HEAD = 64 * 1024
BLOCK = 65_535
LOOKUP_DATA = 157 + 30 + len("TACO_DIRECTORY")
SIZES = (1_000, 100_000, 1_000_000)


def member_name(i: int) -> str:
    return f"m/{i // 1000:04d}/{i:07d}.bin"


def hilbert_xy(z: int, d: int) -> tuple[int, int]:
    """Inverse of the Hilbert curve position (the classic d2xy, written out for the test)."""
    x = y = 0
    s = 1
    t = d
    while s < (1 << z):
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x += s * rx
        y += s * ry
        t //= 4
        s *= 2
    return x, y


def nth_tile(i: int) -> tuple[int, int, int]:
    """The i-th tile of the generator's order: zoom by zoom, Hilbert order inside a zoom."""
    z = 0
    while i >= 4 ** z:
        i -= 4 ** z
        z += 1
    x, y = hilbert_xy(z, i)
    return z, x, y


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """(kind, n) -> archive path, built on first use."""
    if not EXAMPLE.is_file():
        skip_or_fail(f"{EXAMPLE} missing: "
                     "cargo build --release -p taco-examples --example many_members")
    base = tmp_path_factory.mktemp("many")
    built = {}

    def get(kind: str, n: int) -> Path:
        if (kind, n) not in built:
            out = base / f"{kind}-{n}.taco"
            cp = run_tool(EXAMPLE, out, n, kind, timeout=600)
            assert cp.returncode == 0, cp.stderr
            built[(kind, n)] = out
        return built[(kind, n)]
    return get


def logged(taco, srv, *args):
    mark = srv.log_mark()
    cp = taco(*args)
    return cp, srv.requests_since(mark)


def check_budget(recs, n: int, member_bytes: int):
    """2 requests when the directory fits the head, else 3 within the index byte budget; the
    last request is the member's local entry and nothing more."""
    assert recs[0].range == HEAD_RANGE, summary(recs)
    if n <= 2_000:
        assert len(recs) == 2, summary(recs)
    else:
        assert len(recs) == 3, summary(recs)
        assert recs[1].body_bytes <= BLOCK, summary(recs)
    index_bytes = sum(r.body_bytes for r in recs[:-1])
    assert index_bytes <= HEAD + BLOCK, summary(recs)
    assert recs[-1].body_bytes <= member_bytes + LOCAL_SLACK, summary(recs)


@pytest.mark.parametrize("n", SIZES)
def test_member_by_name_over_http(taco, nginx_server, many, tmp_path, n):
    archive = many("names", n)
    url = nginx_server.put(f"names-{n}.taco", archive)
    i = n * 2 // 3 + 1
    out = tmp_path / "m"
    cp, recs = logged(taco, nginx_server, "get", url, "--member", member_name(i), "-o", out,
                      "--stats")
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))
    assert out.read_bytes() == f"member {i}".encode()
    check_budget(recs, n, 30 + len(member_name(i)) + len(f"member {i}"))


@pytest.mark.parametrize("n", SIZES)
def test_tile_over_http(taco, nginx_server, many, tmp_path, n):
    archive = many("tiles", n)
    url = nginx_server.put(f"tiles-{n}.taco", archive)
    z, x, y = nth_tile(n - 7)
    out = tmp_path / "t"
    cp, recs = logged(taco, nginx_server, "get", url, "--tile", f"{z}/{x}/{y}", "-o", out,
                      "--stats")
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))
    body = f"tile {z}/{x}/{y}".encode()
    assert out.read_bytes() == body
    check_budget(recs, n, 30 + len(f"{z}/{x}/{y}.pbf") + len(body))


@pytest.mark.parametrize("n", (1_000, 1_000_000))
@pytest.mark.parametrize("kind", ("names", "tiles"))
def test_member_and_tile_over_s3(taco, s3_env, s3_server, many, tmp_path, kind, n):
    """The same budgets counted in moto's log: only ranged GETs, no listing, no HEAD."""
    archive = many(kind, n)
    uri = s3_server.upload("scale", f"{kind}-{n}.taco", archive)
    out = tmp_path / "m"
    if kind == "names":
        i = n - 3
        args, body = ["--member", member_name(i)], f"member {i}".encode()
        entry_name = member_name(i)
    else:
        z, x, y = nth_tile(n - 3)
        args, body = ["--tile", f"{z}/{x}/{y}"], f"tile {z}/{x}/{y}".encode()
        entry_name = f"{z}/{x}/{y}.pbf"
    cp, recs = logged(taco, s3_server, "get", uri, *args, "-o", out, "--stats")
    ok_stats(cp)
    assert out.read_bytes() == body
    gets = [r for r in recs if r.method == "GET"]
    assert len(gets) == len(recs), summary(recs)  # no listing, no HEAD
    check_budget(gets, n, 30 + len(entry_name) + len(body))


def test_a_second_member_in_the_same_block_adds_one_request_at_most(taco, nginx_server, many,
                                                                   tmp_path):
    n = 1_000_000
    archive = many("names", n)
    url = nginx_server.put(f"names-{n}.taco", archive)
    with open(archive, "rb") as f:
        head = f.read(HEAD)
    # the root's leaf count (docs/FORMAT.md §4.2), at +16 of TACO_DIRECTORY's data
    (leaves,) = struct.unpack_from("<I", head, LOOKUP_DATA + 16)
    assert leaves > 1, "fixture: a directory with leaves"

    def leaf(i: int) -> int:  # §4.3: a name's leaf is its key's top bits
        return name_key(member_name(i)) * leaves >> 64

    first = 500_000
    same = next(i for i in range(n) if i != first and leaf(i) == leaf(first))
    other = next(i for i in range(n) if leaf(i) != leaf(first))
    counts = {}
    for label, picked in (("one", [first]), ("same-leaf", [first, same]),
                          ("other-leaf", [first, other])):
        out = tmp_path / label
        args = [a for i in picked for a in ("--member", member_name(i))]
        cp, recs = logged(taco, nginx_server, "get", url, *args, "-o", out, "--jobs", 1)
        assert cp.returncode == 0, cp.stderr
        for i in picked:  # one item goes to the file -o names, several under it
            got = out if len(picked) == 1 else out / member_name(i)
            assert got.read_bytes() == f"member {i}".encode()
        counts[label] = len(recs)
    assert counts["one"] == 3, counts
    assert counts["same-leaf"] <= counts["one"] + 1, counts
    assert counts["other-leaf"] == counts["one"] + 2, counts  # its leaf, then the member


@pytest.mark.parametrize("kind", ("names", "tiles"))
def test_reader_memory_does_not_grow_with_the_member_count(taco_bin, many, tmp_path, kind):
    rss = {}
    for n in (1_000, 1_000_000):
        archive = many(kind, n)
        if kind == "names":
            args = ["--member", member_name(n - 1)]
        else:
            z, x, y = nth_tile(n - 1)
            args = ["--tile", f"{z}/{x}/{y}"]
        cp = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", str(taco_bin), "get",
                             str(archive), *args, "-o", str(tmp_path / f"{kind}-{n}")],
                            capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        rss[n] = int(re.search(r"maxrss=(\d+)", cp.stderr).group(1))
    # KiB: the 1 000 000-member archive may cost a directory block more, not its size
    assert rss[1_000_000] <= rss[1_000] + 4 * 1024, rss


@pytest.mark.parametrize("n", SIZES)
def test_query_reads_only_the_manifest_row_groups_it_needs(taco, nginx_server, many, n):
    """`taco query` of an archive with a manifest and no v1 index: the tail (the manifest's
    central record), then the whole manifest when it is small, else its local header, its
    footer and the one row group (or two neighbours) whose time statistics cover the day."""
    archive = many("times", n)
    url = nginx_server.put(f"times-{n}.taco", archive)
    epoch = datetime(2000, 1, 1)
    i = n * 2 // 3
    day = (epoch + timedelta(hours=i)).date()
    first = (day - epoch.date()).days * 24
    want = [f"t/{k:07d}.nc" for k in range(first, min(first + 24, n))]
    cp, recs = logged(taco, nginx_server, "query", url, "--time", day.isoformat(), "--json",
                      "--stats")
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))
    got = json.loads(cp.stdout)["files"]
    assert [f["name"] for f in got] == want
    raw = archive.read_bytes()
    for f in got:  # each range is that member's bytes
        k = int(f["name"][2:9])
        assert raw[f["offset"]:f["offset"] + f["length"]] == f"hour {k}".encode()
    with zipfile.ZipFile(archive) as z:
        assert "TACO_INDEX.json" not in z.namelist(), "fixture: the manifest is the only index"
        manifest = z.getinfo("TACO_MANIFEST.parquet").file_size
    if manifest <= 1 << 20:
        assert len(recs) <= 2, summary(recs)
    else:
        assert len(recs) <= 4, summary(recs)
        # one row group of 65 536 rows out of 2 (100 000 members) or 16 (1 000 000)
        groups = -(-n // 65_536)
        limit = manifest // 2 if groups == 2 else manifest // 8
        assert sum(r.body_bytes for r in recs) < limit, (manifest, summary(recs))


@pytest.mark.parametrize("n", (1_000, 1_000_000))
def test_query_over_s3(taco, s3_env, s3_server, many, n):
    """`taco query` against moto: the same files, in at most 4 ranged GETs."""
    archive = many("times", n)
    uri = s3_server.upload("scale", f"times-{n}.taco", archive)
    epoch = datetime(2000, 1, 1)
    day = (epoch + timedelta(hours=n // 3)).date()
    first = (day - epoch.date()).days * 24
    cp, recs = logged(taco, s3_server, "query", uri, "--time", day.isoformat(), "--json",
                      "--stats")
    ok_stats(cp)
    got = [f["name"] for f in json.loads(cp.stdout)["files"]]
    assert got == [f"t/{k:07d}.nc" for k in range(first, min(first + 24, n))]
    gets = [r for r in recs if r.method == "GET"]
    assert len(gets) == len(recs) <= 4, summary(recs)
