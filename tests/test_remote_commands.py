"""Every reading command on http:// (nginx) and s3:// (moto) URLs gives what the same command
gives on the local file: header, ls, validate (quick / normal / deep), extract (all, one span),
get (--entry, --member, --tile, --extract-to, several into a directory) and query on a
pack-netcdf archive. Plus the --stats budgets of header / get --entry / ls on both servers,
and 404 on both.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

import pytest

from conftest import listing, ls_seen_remotely, tree_files
from remote_fixtures import (
    TAIL,
    LazyArchives,
    build_netcdf,
    build_plain,
    build_tiles,
    ok_stats,
    remote_error,
)

BUCKET = "taco-remote-commands"


@pytest.fixture(scope="module")
def archives(taco, tmp_path_factory):
    return LazyArchives(tmp_path_factory.mktemp("remote-commands"), {
        "plain": lambda d: build_plain(taco, d),
        # zooms 0-3 full (85 tiles): entries 0-3 are spans, one per zoom
        "tiles": lambda d: build_tiles(taco, d, range(4), seed=11, sizes=(0, 3000)),
        "climate": lambda d: build_netcdf(taco, d),
    })


@dataclass
class Backend:
    kind: str
    server: object
    uploaded: dict

    def url(self, a) -> str:
        """The URL of archive `a` on this backend (uploaded on first use)."""
        key = a.path.name
        if key not in self.uploaded:
            if self.kind == "http":
                self.uploaded[key] = self.server.put(f"cmd-{key}", a.path)
            else:
                self.uploaded[key] = self.server.upload(BUCKET, f"dir/{key}", a.path)
        return self.uploaded[key]

    def missing(self) -> str:
        if self.kind == "http":
            return self.server.url("cmd-no-such.taco")
        self.server.create_bucket(BUCKET)
        return f"s3://{BUCKET}/dir/no-such.taco"


_UPLOADED: dict[str, dict] = {"http": {}, "s3": {}}


@pytest.fixture(params=["http", "s3"])
def backend(request) -> Backend:
    if request.param == "http":
        request.getfixturevalue("remote_env")
        server = request.getfixturevalue("nginx_server")
    else:
        request.getfixturevalue("s3_env")
        server = request.getfixturevalue("s3_server")
    return Backend(request.param, server, _UPLOADED[request.param])


def same_as_local(taco, a, url, *args, binary=False, replace=()):
    """Run `taco ARGS[0] SRC ARGS[1:]` on the URL and on the local file: both exit 0 and the
    remote stdout equals the local one with the path replaced by the URL (and each (local,
    remote) pair in `replace` swapped). Returns the remote CompletedProcess."""
    cmd, *rest = args
    local = taco(cmd, a.path, *[r[0] if isinstance(r, tuple) else r for r in rest],
                 binary=binary, check=True)
    remote = taco(cmd, url, *[r[1] if isinstance(r, tuple) else r for r in rest],
                  binary=binary, check=True)
    want = local.stdout
    if not binary:
        want = want.replace(str(a.path), url)
        for lo, re_ in replace:
            want = want.replace(str(lo), str(re_))
    assert remote.stdout == want
    return remote


# ---------------------------------------------------------------------------
# header, ls, validate


@pytest.mark.parametrize("which", ["plain", "tiles"])
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_header(taco, backend, archives, which, json_flag):
    a = archives[which]
    url = backend.url(a)
    cp = same_as_local(taco, a, url, "header", *(["--json"] if json_flag else []))
    if json_flag:
        got = json.loads(cp.stdout)
        assert [(e["offset"], e["length"]) for e in got["entries"]] == a.entries
        assert got["crc_ok"] is True


@pytest.mark.parametrize("which", ["plain", "tiles", "climate"])
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_ls(taco, backend, archives, which, json_flag):
    a = archives[which]
    flags = ["--json"] if json_flag else []
    cp = taco("ls", backend.url(a), *flags, check=True)
    assert cp.stdout == ls_seen_remotely(taco, a.path, *flags)
    if json_flag:
        names = [m["name"] for m in json.loads(cp.stdout)["members"]]
        assert names == [m.name for m in a.members()]


@pytest.mark.parametrize("level", ["quick", "normal", "deep"])
@pytest.mark.parametrize("which", ["plain", "tiles"])
def test_validate(taco, backend, archives, which, level):
    a = archives[which]
    url = backend.url(a)
    cp = same_as_local(taco, a, url, "validate", "--level", level)
    assert cp.stdout.startswith(f"{url}: ok ({level}")
    cpj = same_as_local(taco, a, url, "validate", "--level", level, "--json")
    got = json.loads(cpj.stdout)
    assert (got["ok"], got["level"], got["error"]) == (True, level, None)


# ---------------------------------------------------------------------------
# extract


@pytest.mark.parametrize("which", ["plain", "tiles"])
def test_extract_all(taco, backend, archives, tmp_path, which):
    a = archives[which]
    lo, re_ = tmp_path / "local", tmp_path / "remote"
    same_as_local(taco, a, backend.url(a), "extract", "-C", (lo, re_), replace=[(lo, re_)])
    got = tree_files(re_)
    assert got == tree_files(lo)
    # taco's own members (the v1 index, the manifest) stay in the archive (`--all` adds them)
    assert got == dict(a.files)
    assert listing(re_) == listing(lo)


@pytest.mark.parametrize("entry", [2, 3])
def test_extract_one_span(taco, backend, archives, tmp_path, entry):
    """Tiles entry N is the span of zoom N."""
    a = archives["tiles"]
    lo, re_ = tmp_path / "local", tmp_path / "remote"
    same_as_local(taco, a, backend.url(a), "extract", "--entry", entry, "-C", (lo, re_),
                  replace=[(lo, re_)])
    want = {k: v for k, v in a.files.items() if k.startswith(f"{entry}/")}
    assert len(want) == 4 ** entry
    assert tree_files(re_) == tree_files(lo) == want


def test_extract_json(taco, backend, archives, tmp_path):
    a = archives["tiles"]
    lo, re_ = tmp_path / "local", tmp_path / "remote"
    cp = same_as_local(taco, a, backend.url(a), "extract", "--entry", 1, "--json",
                       "-C", (lo, re_), replace=[(lo, re_)])
    assert len(json.loads(cp.stdout)["files"]) == 4


# ---------------------------------------------------------------------------
# get


@pytest.mark.parametrize("which,entry", [("plain", 0), ("plain", 3), ("tiles", 3)])
def test_get_entry(taco, backend, archives, tmp_path, which, entry):
    a = archives[which]
    url = backend.url(a)
    cp = same_as_local(taco, a, url, "get", "--entry", entry, binary=True)
    assert cp.stdout == a.entry_bytes(entry)
    out = tmp_path / "e.bin"
    taco("get", url, "--entry", entry, "-o", out, check=True)
    assert out.read_bytes() == a.entry_bytes(entry)


def test_get_several_entries_into_dir(taco, backend, archives, tmp_path):
    a = archives["tiles"]
    taco("get", a.path, "--entry", "0,2,3", "-o", tmp_path / "local", check=True)
    taco("get", backend.url(a), "--entry", "0,2,3", "-o", tmp_path / "remote", check=True)
    got = tree_files(tmp_path / "remote")
    assert got == tree_files(tmp_path / "local")
    assert got == {f"entry-{i}": a.entry_bytes(i) for i in (0, 2, 3)}


@pytest.mark.parametrize("name", ["data/a.bin", "data/dir/empty", "data/dir/sub/c.bin"])
def test_get_member(taco, backend, archives, name):
    a = archives["plain"]
    cp = same_as_local(taco, a, backend.url(a), "get", "--member", name, binary=True)
    assert cp.stdout == a.files[name]


def test_get_several_members_into_dir(taco, backend, archives, tmp_path):
    a = archives["plain"]
    names = ["data/z.txt", "data/a.bin", "data/dir/b.txt"]
    # --jobs 1: sequential writes (concurrent ones are checked by test_several_members_concurrently)
    args = [x for n in names for x in ("--member", n)] + ["--jobs", "1"]
    taco("get", a.path, *args, "-o", tmp_path / "local", check=True)
    taco("get", backend.url(a), *args, "-o", tmp_path / "remote", check=True)
    got = tree_files(tmp_path / "remote")
    assert got == tree_files(tmp_path / "local")
    assert got == {n: a.files[n] for n in names}


@pytest.mark.parametrize("tile", ["0/0/0", "3/5/2", "2/3/3"])
def test_get_tile(taco, backend, archives, tile):
    a = archives["tiles"]
    cp = same_as_local(taco, a, backend.url(a), "get", "--tile", tile, binary=True)
    assert cp.stdout == a.files[f"{tile}.png"]


def test_get_several_tiles_into_dir(taco, backend, archives, tmp_path):
    a = archives["tiles"]
    tiles = ["3/7/7", "1/0/1", "3/0/0", "2/1/2"]
    args = [x for t in tiles for x in ("--tile", t)] + ["--jobs", "1"]
    taco("get", a.path, *args, "-o", tmp_path / "local", check=True)
    taco("get", backend.url(a), *args, "-o", tmp_path / "remote", check=True)
    got = tree_files(tmp_path / "remote")
    assert got == tree_files(tmp_path / "local")
    assert got == {f"{t}.png": a.files[f"{t}.png"] for t in tiles}


@pytest.mark.parametrize("entry", [1, 3])
def test_get_extract_to(taco, backend, archives, tmp_path, entry):
    a = archives["tiles"]
    lo, re_ = tmp_path / "local", tmp_path / "remote"
    same_as_local(taco, a, backend.url(a), "get", "--entry", entry, "--extract-to", (lo, re_),
                  replace=[(lo, re_)])
    want = {k: v for k, v in a.files.items() if k.startswith(f"{entry}/")}
    assert tree_files(re_) == tree_files(lo) == want


def test_several_members_concurrently(taco, archives, tmp_path):
    """`get` of several members into -o DIR with the default --jobs, on the local file: the
    members share DIR/data and must not trip over each other creating it. 30 runs, because
    a race does not show every time. (Remotely these members are one coalesced request; the
    remote race is test_remote_http.py::test_far_tiles_into_one_dir_concurrently.)"""
    a = archives["plain"]
    # z.txt lies 300 KiB after the other two: two groups, written concurrently
    names = ["data/z.txt", "data/a.bin", "data/dir/b.txt"]
    args = [x for n in names for x in ("--member", n)]
    failures = []
    for i in range(30):
        out = tmp_path / f"run{i}"
        cp = taco("get", a.path, *args, "-o", out)
        if cp.returncode != 0:
            failures.append(cp.stderr.strip().replace(str(out), "DIR"))
        else:
            assert tree_files(out) == {n: a.files[n] for n in names}
    assert not failures, f"{len(failures)}/30 runs failed: {sorted(set(failures))}"


# ---------------------------------------------------------------------------
# query (pack-netcdf)


@pytest.mark.parametrize("args", [["--time", "2024-02"], ["--from", "2024-02-15", "--to", "2024-04"],
                                  ["--time", "2030"]], ids=["month", "range", "none"])
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_query(taco, backend, archives, args, json_flag):
    a = archives["climate"]
    flags = ["--json"] if json_flag else []
    if args[1] == "2030":  # nothing overlaps: exit 1 and a line saying so, remote and local
        url = backend.url(a)
        remote, local = taco("query", url, *args, *flags), taco("query", a.path, *args, *flags)
        assert remote.returncode == local.returncode == 1
        assert remote.stdout == local.stdout == ('{\n  "files": []\n}\n' if json_flag else "")
        assert remote.stderr == local.stderr.replace(str(a.path), url)
        assert remote.stderr == f"taco: {url}: no file overlaps 2030\n"
        return
    cp = same_as_local(taco, a, backend.url(a), "query", *args, *flags)
    if json_flag:
        got = json.loads(cp.stdout)["files"]
        for g in got:
            assert a.raw[g["offset"]:g["offset"] + g["length"]] == a.files[g["name"]]
        want = {"month": ["m2.nc"], "range": ["m2.nc", "m3.nc", "m4.nc"], "none": []}
        key = {"2024-02": "month", "2024-02-15": "range", "2030": "none"}[args[1]]
        assert [g["name"] for g in got] == want[key]


# ---------------------------------------------------------------------------
# --stats budgets on both servers


def test_stats_header(taco, backend, archives):
    a = archives["plain"]
    assert ok_stats(taco("header", backend.url(a), "--stats")) == (1, 157)


@pytest.mark.parametrize("entry", [1, 3])
def test_stats_get_entry(taco, backend, archives, tmp_path, entry):
    a = archives["plain"]
    length = a.entries[entry][1]
    cp = taco("get", backend.url(a), "--entry", entry, "-o", tmp_path / "x", "--stats")
    assert ok_stats(cp) == (2, 157 + length)


@pytest.mark.parametrize("which", ["plain", "tiles", "climate"])
def test_stats_ls(taco, backend, archives, which):
    """The tail; for an archive with a manifest whose members start before the tail, one more
    request for taco's own members at the front (their data offsets: the manifest gives the
    others'). Without a manifest, nothing more (offsets outside the tail are not shown)."""
    a = archives[which]
    assert a.cd_offset >= a.size - TAIL
    requests, received = ok_stats(taco("ls", backend.url(a), "--stats", "-q"))
    front = a.index is not None and a.size > TAIL
    assert requests == 1 + front
    assert received >= min(TAIL, a.size)


@pytest.mark.parametrize("cmd", [["header"], ["ls"], ["validate"], ["get", "--entry", "0"],
                                 ["query", "--time", "2024"]], ids=lambda c: c[0])
def test_stats_local_is_zero(taco, archives, cmd):
    a = archives["climate"]
    cp = taco(cmd[0], a.path, *cmd[1:], "--stats", binary=True)
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr.splitlines() == ["taco: stats: requests=0 bytes=0"]


# ---------------------------------------------------------------------------
# missing object


@pytest.mark.parametrize("cmd", [["header"], ["ls"], ["get", "--entry", "0"], ["validate"],
                                 ["query", "--time", "2024"]], ids=lambda c: c[0])
def test_missing_object_404(taco, backend, work, cmd):
    url = backend.missing()
    cp = taco(cmd[0], url, *cmd[1:], cwd=work)
    line, _ = remote_error(cp)
    assert line == f"taco: {url}: not found (HTTP 404)"
    assert listing(work) == set()

