"""Remote reading over HTTP, measured with nginx's access log: the request budgets of the
contract (method, Range, status and body bytes of every request), `--stats` agreeing with the
log, outputs byte-identical to the same command on the local file, and the error lines for a
server that ignores Range (/norange/), 403 (/forbidden/) and 404.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import listing, ls_seen_remotely, tree_files, zip_members
from remote_fixtures import (
    COALESCE_GAP,
    HEAD_RANGE,
    HEADER_RANGE,
    TAIL,
    TAIL_RANGE,
    build_many,
    build_plain,
    assert_tile_entry_request,
    build_tiles,
    byte_range,
    ok_stats,
    tile_header_offset,
    ranges,
    remote_error,
    summary,
)

pytestmark = pytest.mark.usefixtures("remote_env")

NORANGE_MSG = ("server ignored the Range request (answered 200 with the whole object); "
               "refusing to download it")


@pytest.fixture(scope="module")
def archives(taco, tmp_path_factory):
    base = tmp_path_factory.mktemp("remote-http")
    plain = build_plain(taco, base / "p")
    many = build_many(taco, base / "m")
    # ~980 tiles: the central directory (~55 KB) fits in the tail, the index (~93 KB) does not
    mid = build_tiles(taco, base / "t1", range(6), seed=3, density={5: 0.6}, name="mid")
    # 5461 tiles (zooms 0-6 full): directory ~300 KB and index ~520 KB, both before the tail
    large = build_tiles(taco, base / "t2", range(7), seed=5, sizes=(150, 350), name="large")
    return {"plain": plain, "many": many, "mid": mid, "large": large}


@pytest.fixture(scope="module")
def served(nginx_server, archives):
    """name -> (Archive, URL) on nginx."""
    return {k: (a, nginx_server.put(f"http-{a.path.name}", a.path)) for k, a in archives.items()}


def run_logged(taco, srv, *args, count=None, **kw):
    """Run taco; return (CompletedProcess, the requests nginx logged meanwhile)."""
    mark = srv.log_mark()
    cp = taco(*args, **kw)
    return cp, srv.requests_since(mark, count=count)


def local_same(cp_remote, cp_local, local_path, url):
    """stdout of a command on the URL equals the local run's with the path replaced."""
    assert cp_local.returncode == 0, cp_local.stderr
    want = cp_local.stdout.replace(str(local_path), url)
    assert cp_remote.stdout == want


def index_member(a):
    return a.members()[-1]


def far_tiles(a, k: int) -> list[dict]:
    """k tiles in archive order, each more than a coalescing gap (64 KiB) + 4 KiB after the previous one."""
    tiles = sorted(a.index["members"], key=lambda m: m["data_offset"])
    out = [tiles[0]]
    for m in tiles:
        if m["data_offset"] > out[-1]["data_offset"] + out[-1]["length"] + COALESCE_GAP + 4096:
            out.append(m)
        if len(out) == k:
            return out
    raise AssertionError(f"fixture: only {len(out)} far-apart tiles, wanted {k}")


def tile_arg(m: dict) -> str:
    return f"{m['z']}/{m['x']}/{m['y']}"


# ---------------------------------------------------------------------------
# header: one 157-byte range


@pytest.mark.parametrize("cmd", [("header",), ("header", "--json"), ("validate", "--level", "quick")],
                         ids=["header", "header-json", "validate-quick"])
def test_header_is_one_157_byte_request(taco, nginx_server, served, cmd):
    a, url = served["plain"]
    cp, recs = run_logged(taco, nginx_server, *cmd, url, "--stats", count=1)
    assert ok_stats(cp) == (1, 157)
    assert summary(recs) == [("GET", HEADER_RANGE, 206, 157)]
    assert recs[0].extra["content_range"] == f"bytes 0-156/{a.size}"
    local_same(cp, taco(*cmd, a.path), a.path, url)


# ---------------------------------------------------------------------------
# get --entry: header, then exactly the entry's bytes


@pytest.mark.parametrize("i", [0, 1, 3, 4])
def test_get_entry_is_two_requests(taco, nginx_server, served, tmp_path, i):
    a, url = served["plain"]
    off, length = a.entries[i]
    assert length > 0
    out = tmp_path / "out.bin"
    cp, recs = run_logged(taco, nginx_server, "get", url, "--entry", i, "-o", out, "--stats",
                          count=2)
    assert summary(recs) == [
        ("GET", HEADER_RANGE, 206, 157),
        ("GET", byte_range(off, length), 206, length),
    ]
    etag = recs[0].extra["etag"]
    assert etag == nginx_server.etag(f"http-{a.path.name}")
    assert recs[1].if_match == etag, "the entry request must be tied to the header's version"
    assert ok_stats(cp) == (2, 157 + length)
    assert out.read_bytes() == a.raw[off:off + length]
    assert out.read_bytes() == taco("get", a.path, "--entry", i, binary=True, check=True).stdout


def test_get_zero_length_entry(taco, nginx_server, served, tmp_path):
    """Entry 2 is the empty member's data: nothing to fetch after the header (a zero-length
    Range cannot even be written)."""
    a, url = served["plain"]
    assert a.entries[2][1] == 0
    out = tmp_path / "empty.bin"
    cp, recs = run_logged(taco, nginx_server, "get", url, "--entry", 2, "-o", out, "--stats")
    assert summary(recs) == [("GET", HEADER_RANGE, 206, 157)]
    assert ok_stats(cp) == (1, 157)
    assert out.read_bytes() == b""


def test_get_entry_to_stdout(taco, nginx_server, served):
    a, url = served["plain"]
    cp, recs = run_logged(taco, nginx_server, "get", url, "--entry", 3, binary=True, count=2)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == a.entry_bytes(3) == a.files["data/dir/sub/c.bin"]
    assert ranges(recs) == [HEADER_RANGE, byte_range(*a.entries[3])]


# ---------------------------------------------------------------------------
# ls: one suffix range, +1 when the central directory starts before it


def test_ls_small_archive_is_one_request(taco, nginx_server, served):
    a, url = served["plain"]
    assert a.cd_offset >= a.size - TAIL, "fixture: directory inside the tail"
    for extra in ((), ("--json",)):
        cp, recs = run_logged(taco, nginx_server, "ls", url, *extra, "--stats", "-q", count=1)
        tail = min(TAIL, a.size)
        assert summary(recs) == [("GET", TAIL_RANGE, 206, tail)]
        assert recs[0].extra["content_range"] == f"bytes {a.size - tail}-{a.size - 1}/{a.size}"
        assert ok_stats(cp) == (1, tail)
        assert cp.stdout == ls_seen_remotely(taco, a.path, *extra)
    # without -q a note says why some data offsets are not shown
    note = taco("ls", url).stderr
    assert note.startswith("taco: note: ") and "shown as -" in note and "no manifest" in note


def test_validate_deep_is_one_pass(taco, nginx_server, served):
    """Deep validation reads every local header and all data in one sequential request,
    from the first member to the central directory, not a request or two per member."""
    a, url = served["many"]
    assert a.cd_offset < a.size - TAIL, "fixture: directory bigger than the tail"
    cp, recs = run_logged(taco, nginx_server, "validate", url, "--level", "deep", "--stats",
                          count=4)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == f"{url}: ok (deep: {len(a.entries)} entries, {len(a.files)} members)\n"
    assert [r.range for r in recs] == [
        "bytes=0-156",
        TAIL_RANGE,
        byte_range(a.cd_offset, a.size - TAIL - a.cd_offset),
        byte_range(0, a.cd_offset),  # TACO_HEADER at 0 is a member too: its CRC is checked
    ], summary(recs)
    assert ok_stats(cp) == (4, sum(r.body_bytes for r in recs))


def test_validate_normal_reads_neighbouring_headers_together(taco, nginx_server, served):
    """Normal validation of a remote archive of small members reads their local headers with
    one request (the small data between them comes along), not one request per member."""
    a, url = served["many"]
    cp, recs = run_logged(taco, nginx_server, "validate", url, "--stats", count=4)
    assert cp.stdout == f"{url}: ok (normal: {len(a.entries)} entries, {len(a.files)} members)\n"
    last = max(a.members(), key=lambda m: m.header_offset)
    room = last.header_offset + 30 + len(last.name.encode()) + 65535
    assert [r.range for r in recs] == [
        "bytes=0-156",
        TAIL_RANGE,
        byte_range(a.cd_offset, a.size - TAIL - a.cd_offset),
        # from TACO_HEADER's to the last local header (with room for its extra field)
        byte_range(0, min(a.cd_offset, room)),
    ], summary(recs)
    assert ok_stats(cp) == (4, sum(r.body_bytes for r in recs))


def test_extract_all_of_small_members_is_one_pass(taco, nginx_server, served, tmp_path):
    """Extracting an archive of small members fetches them with one request after the
    directory, not two requests per member; the files equal the local extraction."""
    a, url = served["many"]
    out = tmp_path / "remote"
    cp, recs = run_logged(taco, nginx_server, "extract", url, "-C", out, "--stats", count=3)
    assert cp.returncode == 0, cp.stderr
    assert [r.range for r in recs][:2] == [TAIL_RANGE,
                                          byte_range(a.cd_offset, a.size - TAIL - a.cd_offset)]
    assert len(recs) == 3, summary(recs)
    first = min(m.header_offset for m in a.members() if m.name != "TACO_HEADER")
    assert recs[2].range.startswith(f"bytes={first}-"), summary(recs)
    assert ok_stats(cp) == (3, sum(r.body_bytes for r in recs))
    for name, data in a.files.items():
        assert (out / name).read_bytes() == data, name


def test_ls_big_directory_is_two_requests(taco, nginx_server, served):
    a, url = served["many"]
    cd, eocd = a.cd_offset, a.eocd_offset
    assert cd < a.size - TAIL
    cp, recs = run_logged(taco, nginx_server, "ls", url, "--stats", "-q", count=2)
    assert len(recs) == 2, summary(recs)
    assert summary(recs[:1]) == [("GET", TAIL_RANGE, 206, TAIL)]
    # the second request starts exactly at the directory and stays inside [CD, EOCD)
    second = recs[1]
    assert second.status == 206
    assert second.range.startswith(f"bytes={cd}-"), second.range
    end = int(second.range.rsplit("-", 1)[1])
    assert a.size - TAIL - 1 <= end < eocd, f"second range {second.range} (EOCD at {eocd})"
    assert second.body_bytes == end - cd + 1
    assert second.if_match == recs[0].extra["etag"]
    assert ok_stats(cp) == (2, sum(r.body_bytes for r in recs))
    assert cp.stdout == ls_seen_remotely(taco, a.path)
    assert len(cp.stdout.splitlines()) == 1 + 1 + len(a.files)  # title + TACO_HEADER + files


def test_ls_json_big_directory_equals_local(taco, served):
    a, url = served["many"]
    cp = taco("ls", url, "--json", check=True)
    assert cp.stdout == ls_seen_remotely(taco, a.path, "--json")


# ---------------------------------------------------------------------------
# get --member: at most 3 (tail, the rest of a big directory, local header + data in one)

# Bytes taco may read past a member's data: room for a local extra field it cannot know yet.
LOCAL_SLACK = 256


def assert_member_request(rec, m, cd_offset):
    """One request from the member's local header through its data, plus at most the room for
    an extra field (never past the central directory)."""
    first, last = (int(v) for v in rec.range.removeprefix("bytes=").split("-"))
    assert first == m.header_offset, (rec.range, m)
    assert m.data_end - 1 <= last <= m.data_end - 1 + 30 + len(m.name.encode()) + LOCAL_SLACK
    assert last < cd_offset


@pytest.mark.parametrize("name", ["data/a.bin", "data/dir/sub/c.bin", "data/z.txt"])
def test_get_member_without_index_at_most_three(taco, nginx_server, served, tmp_path, name):
    """An archive without index v2 (`--no-index`, or written by tacozip): the head says there
    is no lookup directory, then the tail's central directory places the member."""
    a, url = served["plain"]
    m = a.member(name)
    out = tmp_path / "m.bin"
    cp, recs = run_logged(taco, nginx_server, "get", url, "--member", name, "-o", out, "--stats")
    assert out.read_bytes() == a.files[name]
    assert [r.range for r in recs[:2]] == [HEAD_RANGE, TAIL_RANGE], summary(recs)
    if m.header_offset >= a.size - TAIL:
        assert len(recs) == 2, summary(recs)  # header and data were in the tail already
    else:
        assert len(recs) == 3, summary(recs)
        assert_member_request(recs[2], m, a.cd_offset)
    assert all(r.status == 206 for r in recs)
    assert all(r.if_match == recs[0].extra["etag"] for r in recs[1:])
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))


def test_get_member_with_a_long_local_extra_field(taco, nginx_server, tmp_path):
    """taco reads 256 bytes past a member's name for its local extra field, in the same request
    as the data; a longer extra field (here 1004 bytes, written by Python's zipfile) costs one
    more request (of exactly its header and data), never a failure or wrong bytes."""
    import struct
    import zipfile

    path = tmp_path / "extra.zip"
    data = b"payload " * 10
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("first.txt", b"x" * 100)
        info = zipfile.ZipInfo("long-extra.txt")
        info.extra = struct.pack("<HH", 0xCAFE, 1000) + bytes(1000)
        z.writestr(info, data)
        z.writestr("after.bin", bytes(100_000))  # pushes the member out of the 64 KiB tail
    url = nginx_server.put("extra.zip", path)
    for src in (path, url):
        out = tmp_path / f"out-{len(str(src))}"
        cp, recs = run_logged(taco, nginx_server, "get", src, "--member", "long-extra.txt",
                              "-o", out, "--stats")
        assert cp.returncode == 0, cp.stderr
        assert out.read_bytes() == data
        if src == url:
            # head (no lookup directory), tail, the read-ahead (too short for header and
            # data), exactly header and data
            member = next(m for m in zip_members(path) if m.name == "long-extra.txt")
            assert len(recs) == 4, summary(recs)
            assert recs[0].range == HEAD_RANGE
            assert recs[3].range == byte_range(member.header_offset,
                                               member.data_end - member.header_offset)
            assert ok_stats(cp) == (4, sum(r.body_bytes for r in recs))


def test_get_member_big_directory(taco, nginx_server, served, tmp_path):
    """With a directory bigger than the tail the name can only be found after reading the
    rest of it (the `ls` +1); then the local header and the data come with one request."""
    a, url = served["many"]
    name = sorted(a.files)[1503]
    m = a.member(name)
    out = tmp_path / "m.txt"
    cp, recs = run_logged(taco, nginx_server, "get", url, "--member", name, "-o", out, "--stats")
    assert out.read_bytes() == a.files[name]
    assert len(recs) == 4, summary(recs)
    assert recs[0].range == HEAD_RANGE  # no lookup directory (`--no-index`)
    assert recs[1].range == TAIL_RANGE
    # Only the part of the directory before the tail: the rest came with the tail.
    assert recs[2].range == byte_range(a.cd_offset, a.size - TAIL - a.cd_offset)
    assert_member_request(recs[3], m, a.cd_offset)
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))


# ---------------------------------------------------------------------------
# get --tile (index v2): the head (header + lookup directory root), at most one directory
# block, then the tile with its local header; +1 per further far-away tile


@pytest.mark.parametrize("which", ["mid", "large"])
def test_get_tile_is_head_then_tile(taco, nginx_server, served, tmp_path, which):
    """~980 and 5461 tiles: the whole lookup directory fits in the head's root, so a tile is
    two requests whatever the index and central directory sizes (v1 needed the tail and the
    index, 3)."""
    a, url = served[which]
    t = far_tiles(a, 3)[-1]  # a tile far from the start of the archive and from the tail
    out = tmp_path / "tile"
    cp, recs = run_logged(taco, nginx_server, "get", url, "--tile", tile_arg(t), "-o", out,
                          "--stats", count=2)
    assert out.read_bytes() == a.files[t["name"]]
    assert out.read_bytes() == taco("get", a.path, "--tile", tile_arg(t), binary=True,
                                    check=True).stdout
    assert len(recs) == 2, summary(recs)
    assert recs[0].range == HEAD_RANGE
    assert_tile_entry_request(recs[1], [t])
    assert [r.status for r in recs] == [206] * 2
    assert ok_stats(cp) == (2, sum(r.body_bytes for r in recs))


@pytest.mark.parametrize("which", ["mid", "large"])
def test_each_further_far_tile_adds_one_request(taco, nginx_server, served, tmp_path, which):
    a, url = served[which]
    tiles = far_tiles(a, 4)
    counts = []
    for k in range(1, len(tiles) + 1):
        out = tmp_path / f"k{k}"
        args = [x for t in tiles[:k] for x in ("--tile", tile_arg(t))]
        if k == 1:
            args += ["-o", out / "one"]
            out.mkdir()
        else:
            # --jobs 1: a sequential fetch, independent of the concurrent-mkdir check below
            args += ["-o", out, "--jobs", 1]
        cp, recs = run_logged(taco, nginx_server, "get", url, *args, "--stats")
        assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))
        counts.append(len(recs))
        # the last k requests are the k tiles' local entries (any order)
        by_start = {int(r.range[len("bytes="):].split("-")[0]): r for r in recs[-k:]}
        for t in tiles[:k]:
            assert_tile_entry_request(by_start[tile_header_offset(t)], [t])
        if k == 1:
            assert (out / "one").read_bytes() == a.files[tiles[0]["name"]]
        else:
            assert tree_files(out) == {t["name"]: a.files[t["name"]] for t in tiles[:k]}
    assert counts == [counts[0] + k for k in range(len(tiles))], counts


def test_near_tiles_one_coalesced_request(taco, nginx_server, served, tmp_path):
    a, url = served["mid"]
    by_off = sorted(a.index["members"], key=lambda m: m["data_offset"])
    z5 = [m for m in by_off if m["z"] == 5]
    near = z5[100:105]  # five neighbours along the Hilbert curve, a few hundred bytes apart
    start, end = near[0]["data_offset"], near[-1]["data_offset"] + near[-1]["length"]
    assert end - start < COALESCE_GAP
    assert [tile_header_offset(b) for b in near[1:]] == [
        m["data_offset"] + m["length"] for m in near[:-1]], "fixture: neighbours in the archive"
    single_cp, single = run_logged(taco, nginx_server, "get", url, "--tile", tile_arg(near[0]),
                                   "-o", tmp_path / "single")
    assert single_cp.returncode == 0, single_cp.stderr
    out = tmp_path / "near"
    args = [x for t in near for x in ("--tile", tile_arg(t))]
    cp, recs = run_logged(taco, nginx_server, "get", url, *args, "-o", out, "--stats")
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))
    assert len(recs) == len(single), f"{summary(recs)} vs one tile {summary(single)}"
    assert_tile_entry_request(recs[-1], near)
    assert tree_files(out) == {t["name"]: a.files[t["name"]] for t in near}


def test_far_tiles_into_one_dir_concurrently(taco, served, tmp_path):
    """Sixteen far-apart tiles of one zoom fetched concurrently (default --jobs) into -o DIR:
    every run must succeed. The writers share DIR/6 (and some DIR/6/X) and must not trip over
    each other creating them; 40 runs, because a race does not show every time."""
    a, url = served["large"]
    z6 = sorted((m for m in a.index["members"] if m["z"] == 6), key=lambda m: m["data_offset"])
    tiles = [z6[i * len(z6) // 16] for i in range(16)]
    args = [x for t in tiles for x in ("--tile", tile_arg(t))]
    want = {t["name"]: a.files[t["name"]] for t in tiles}
    failures = []
    runs = 40
    for i in range(runs):
        out = tmp_path / f"run{i}"
        cp = taco("get", url, *args, "-o", out)
        if cp.returncode != 0:
            failures.append(cp.stderr.strip().replace(str(out), "DIR"))
        else:
            assert tree_files(out) == want
        shutil.rmtree(out, ignore_errors=True)
    assert not failures, f"{len(failures)}/{runs} runs failed: {sorted(set(failures))}"


def test_several_entries_coalesced_into_dir(taco, nginx_server, served, tmp_path):
    """Entries 0,1,3,4 of the plain archive lie within 64 KiB of each other: one request after
    the header, files DIR/entry-N."""
    a, url = served["plain"]
    out = tmp_path / "d"
    cp, recs = run_logged(taco, nginx_server, "get", url, "--entry", "0,1,3,4", "-o", out,
                          "--stats", count=2)
    assert ok_stats(cp) == (2, sum(r.body_bytes for r in recs))
    first, last = a.entries[0], a.entries[4]
    assert ranges(recs) == [HEADER_RANGE, f"bytes={first[0]}-{last[0] + last[1] - 1}"]
    assert tree_files(out) == {f"entry-{i}": a.entry_bytes(i) for i in (0, 1, 3, 4)}


# ---------------------------------------------------------------------------
# errors: Range ignored, 403, 404


def fails_remote(taco, work, *args):
    before = listing(work)
    cp = taco(*args, cwd=work)
    line, stats = remote_error(cp)
    assert listing(work) == before, f"left behind: {sorted(listing(work) - before)}"
    return line, stats


COMMANDS = {
    "header": lambda url: ("header", url),
    "ls": lambda url: ("ls", url),
    "validate": lambda url: ("validate", url),
    "extract": lambda url: ("extract", url, "-C", "out"),
    "get-entry": lambda url: ("get", url, "--entry", "1", "-o", "out.bin"),
    "get-member": lambda url: ("get", url, "--member", "data/a.bin", "-o", "out.bin"),
    "get-tile": lambda url: ("get", url, "--tile", "0/0/0", "-o", "out.bin"),
}


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_range_ignored_refused(taco, nginx_server, served, work, cmd):
    a, _url = served["plain"]
    url = nginx_server.norange_url(f"http-{a.path.name}")
    mark = nginx_server.log_mark()
    line, stats = fails_remote(taco, work, *COMMANDS[cmd](url), "--stats")
    assert line == f"taco: {url}: {NORANGE_MSG}"
    assert stats == (1, 0), "nothing of the 200 body may be taken"
    recs = nginx_server.requests_since(mark, count=1)
    assert [(r.status, r.extra["content_range"]) for r in recs] == [(200, None)]
    assert recs[0].range in (HEADER_RANGE, TAIL_RANGE, HEAD_RANGE)


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_forbidden(taco, nginx_server, served, work, cmd):
    a, _url = served["plain"]
    url = nginx_server.forbidden_url(f"http-{a.path.name}")
    line, stats = fails_remote(taco, work, *COMMANDS[cmd](url), "--stats")
    assert line == f"taco: {url}: access denied (HTTP 403)"
    assert stats[0] == 1, "a 403 is not retried"


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_not_found(taco, nginx_server, work, cmd):
    url = nginx_server.url("no-such-archive.taco")
    mark = nginx_server.log_mark()
    line, stats = fails_remote(taco, work, *COMMANDS[cmd](url), "--stats")
    assert line == f"taco: {url}: not found (HTTP 404)"
    assert stats[0] == 1, "a 404 is not retried"
    assert [r.status for r in nginx_server.requests_since(mark, count=1)] == [404]


def test_query_errors(taco, nginx_server, work):
    url = nginx_server.url("no-such-climate.taco")
    line, _ = fails_remote(taco, work, "query", url, "--time", "2024")
    assert line == f"taco: {url}: not found (HTTP 404)"
