"""Index v2 request and byte budgets, counted in nginx's access log: a tile of a pyramid whose
lookup directory fits the first 64 KiB is 2 requests; of one with leaves (87 381 tiles) 3, with
at most 64 KiB + one block of index read; a second tile in a block already read adds 1 request,
one elsewhere 2; a corrupted directory block is one named error, never another tile's bytes."""

from __future__ import annotations

import json
import zipfile

import pytest

from lookup_decoder import _entries, read_lookup, tile_key
from remote_fixtures import HEAD_RANGE, LOCAL_SLACK, ok_stats, summary
from tree_fixtures import meta_path, tiny_full_pyramid

pytestmark = pytest.mark.usefixtures("remote_env")

HEAD = 64 * 1024


def run_logged(taco, srv, *args, **kw):
    mark = srv.log_mark()
    cp = taco(*args, **kw)
    return cp, srv.requests_since(mark)


@pytest.fixture(scope="module")
def pyramids(taco, tmp_path_factory):
    """name -> (archive path, tile files, index members by name)."""
    out = {}
    for name, zoom in (("small", 4), ("leaves", 8)):  # 341 and 87 381 tiles
        base = tmp_path_factory.mktemp(f"lookup-{name}")
        files = tiny_full_pyramid(base / "tiles", zoom)
        archive = base / f"{name}.taco"
        taco("pack-tiles", base / "tiles", "-o", archive, "-q", check=True, timeout=600)
        index = json.loads(meta_path(archive).read_bytes())
        out[name] = (archive, files, {m["name"]: m for m in index["members"]})
    return out


@pytest.fixture(scope="module")
def served(nginx_server, pyramids):
    return {k: nginx_server.put(f"lookup-{k}.taco", v[0]) for k, v in pyramids.items()}


def leaf_of(archive, z, x, y) -> int:
    """Which leaf of the archive's lookup directory holds tile z/x/y (decoded independently)."""
    kind, entries, facts = read_lookup(archive.read_bytes())
    assert kind == 1 and facts["leaves"], "fixture: a tile directory with leaves"
    key = tile_key(z, x, y)
    # tile leaves hold runs of keys in order: count the entries before this key
    keys = sorted(e[0] for e in entries)
    before = keys.index(key)
    seen = 0
    raw = archive.read_bytes()
    at = facts["base"] + facts["root_len"]
    for i, length in enumerate(facts["leaves"]):
        n = len(_entries(1, raw[at + 4:at + length]))
        if seen <= before < seen + n:
            return i
        seen += n
        at += length
    raise AssertionError("tile not in any leaf")


def test_small_pyramid_tile_is_two_requests(taco, nginx_server, pyramids, served, tmp_path):
    archive, files, _ = pyramids["small"]
    out = tmp_path / "t"
    cp, recs = run_logged(taco, nginx_server, "get", served["small"], "--tile", "4/9/3",
                          "-o", out, "--stats")
    assert cp.returncode == 0, cp.stderr
    assert out.read_bytes() == files["4/9/3.pbf"]
    assert len(recs) == 2, summary(recs)
    assert recs[0].range == HEAD_RANGE
    assert ok_stats(cp) == (2, sum(r.body_bytes for r in recs))


def test_tile_of_87381_is_three_requests_within_the_byte_budget(
        taco, nginx_server, pyramids, served, tmp_path):
    archive, files, members = pyramids["leaves"]
    name = "8/200/77.pbf"
    out = tmp_path / "t"
    cp, recs = run_logged(taco, nginx_server, "get", served["leaves"], "--tile", "8/200/77",
                          "-o", out, "--stats")
    assert cp.returncode == 0, cp.stderr
    assert out.read_bytes() == files[name]
    assert len(recs) == 3, summary(recs)
    assert recs[0].range == HEAD_RANGE
    index_bytes = recs[0].body_bytes + recs[1].body_bytes
    assert index_bytes <= HEAD + 65_535, summary(recs)
    tile = members[name]
    assert recs[2].body_bytes <= 30 + len("8/200/77") + LOCAL_SLACK + tile["length"]
    assert ok_stats(cp) == (3, sum(r.body_bytes for r in recs))


def test_a_second_tile_reuses_a_block_already_read(taco, nginx_server, pyramids, served,
                                                   tmp_path):
    archive, files, _ = pyramids["leaves"]
    a, near, far = (8, 200, 77), (8, 200, 76), (8, 3, 250)
    assert leaf_of(archive, *a) == leaf_of(archive, *near), "fixture: neighbours share a leaf"
    assert leaf_of(archive, *a) != leaf_of(archive, *far), "fixture: far tile elsewhere"
    arg = lambda t: "/".join(map(str, t))  # noqa: E731
    counts = {}
    for label, tiles in (("one", [a]), ("same-leaf", [a, near]), ("other-leaf", [a, far])):
        out = tmp_path / label
        args = [x for t in tiles for x in ("--tile", arg(t))]
        cp, recs = run_logged(taco, nginx_server, "get", served["leaves"], *args, "-o", out,
                              "--jobs", 1, "--stats")
        assert cp.returncode == 0, cp.stderr
        counts[label] = len(recs)
        if len(tiles) > 1:
            for t in tiles:
                assert (out / f"{arg(t)}.pbf").read_bytes() == files[f"{arg(t)}.pbf"]
    # a neighbour in the same leaf: its bytes may even come with the first tile's request
    assert counts["same-leaf"] <= counts["one"] + 1, counts
    assert counts["other-leaf"] == counts["one"] + 2, counts  # its leaf, then the tile


def test_a_corrupted_leaf_is_a_named_error_never_another_tile(taco, nginx_server, pyramids,
                                                              tmp_path):
    archive, _, _ = pyramids["leaves"]
    raw = bytearray(archive.read_bytes())
    _, _, facts = read_lookup(bytes(raw))
    leaf = leaf_of(archive, 8, 200, 77)
    at = facts["base"] + facts["root_len"] + sum(facts["leaves"][:leaf]) + 100
    raw[at] ^= 0x40
    url = nginx_server.put("lookup-corrupt.taco", bytes(raw))
    out = tmp_path / "t"
    cp = taco("get", url, "--tile", "8/200/77", "-o", out)
    assert cp.returncode == 1
    assert "lookup directory" in cp.stderr and "leaf CRC mismatch" in cp.stderr, cp.stderr
    assert not out.exists()


def test_extract_entry_checks_the_span_against_the_lookup_directory(taco, nginx_server,
                                                                    pyramids, served, tmp_path):
    """`extract --entry` of a zoom span: the head, the directory's leaves (one request), the
    span; never the central directory (here ~5 MB), and every file as the tree holds it."""
    archive, files, _ = pyramids["leaves"]
    with zipfile.ZipFile(archive) as z:
        cd_size = sum(46 + len(i.filename.encode()) + len(i.extra) for i in z.infolist())
    out = tmp_path / "zoom6"
    cp, recs = run_logged(taco, nginx_server, "extract", served["leaves"], "--entry", "6",
                          "-C", out, "--stats")
    assert ok_stats(cp) == (len(recs), sum(r.body_bytes for r in recs))
    want = {k: v for k, v in files.items() if k.startswith("6/")}
    assert len(want) == 4 ** 6
    got = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == want
    assert recs[0].range == HEAD_RANGE
    assert len(recs) == 3, summary(recs)
    span = json.loads(taco("header", archive, "--json", check=True).stdout)["entries"][6]
    index_bytes = recs[0].body_bytes + recs[1].body_bytes
    assert index_bytes < cd_size // 4, (cd_size, summary(recs))
    assert recs[2].body_bytes == span["length"]


def test_a_hidden_local_entry_in_a_span_is_refused_by_the_lookup_check(taco, pyramids,
                                                                       tmp_path):
    """A span member the lookup directory does not list at that offset (its name changed in
    the local header only) is one named error, and nothing is left behind."""
    archive, _, _ = pyramids["small"]
    raw = bytearray(archive.read_bytes())
    span = json.loads(taco("header", archive, "--json", check=True).stdout)["entries"][3]
    at = span["offset"]
    assert raw[at:at + 4] == b"PK\x03\x04"
    name_len = int.from_bytes(raw[at + 26:at + 28], "little")
    name = bytes(raw[at + 30:at + 30 + name_len])
    assert name.startswith(b"3/"), name
    raw[at + 30:at + 32] = b"2/"  # another zoom's tile, as far as the local header says
    bad = tmp_path / "bad.taco"
    bad.write_bytes(bytes(raw))
    out = tmp_path / "x"
    cp = taco("extract", bad, "--entry", "3", "-C", out)
    assert cp.returncode == 1
    assert cp.stderr.count("\n") == 1, cp.stderr
    assert 'local entry "2/' in cp.stderr and "is not listed there" in cp.stderr, cp.stderr
    assert not out.exists() or not any(out.rglob("*"))
